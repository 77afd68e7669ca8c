// Who is calling: a bearer token verified offline (a JWT signed by a key in the configured JWKS: Kubernetes'
// service-account issuer for projected tokens, an identity provider's keys, or local mode's development key), or
// the client certificate that mTLS already verified. Nothing is looked up over the network on a call.
import { X509Certificate } from "node:crypto";
import { readFile } from "node:fs/promises";
import { watchFile, unwatchFile } from "node:fs";
import type { Metadata } from "@grpc/grpc-js";
import { createLocalJWKSet, errors as joseErrors, jwtVerify, type JSONWebKeySet } from "jose";
import { InvalidArgumentError, UnauthenticatedError } from "../errors/index.js";
import { rootLogger, type Logger } from "../observability/index.js";

export interface Identity {
  /** The token's `sub`, or the certificate's first URI SAN (else its first DNS SAN, else its CN). */
  subject: string;
  by: "token" | "certificate";
}

/** What grpc-js tells a handler about the connection (ServerSurfaceCall.getAuthContext()). */
export interface PeerAuth {
  transportSecurityType?: string;
  sslPeerCertificate?: { raw?: Buffer; subjectaltname?: string; subject?: { CN?: string | string[] } };
}

export interface AuthenticatorOptions {
  /** JWKS file whose keys sign accepted tokens; without one, tokens are refused. Re-read when it changes. */
  jwksFile?: string;
  /** The `aud` a token must carry. Default "livehost". */
  audience?: string;
  /** The `iss` a token must carry; any when unset. */
  issuer?: string;
  /** Accept a verified client certificate as an identity (the server must require client certificates). */
  certificates?: boolean;
  logger?: Logger;
}

/** Asymmetric signatures only: a shared secret on every gateway would let any of them mint tokens. */
const algorithms = ["RS256", "RS384", "RS512", "PS256", "ES256", "ES384", "EdDSA"];

/** Tokens already verified, until they expire: a service sends the same token on every call for its lifetime. */
const rememberedTokens = 10_000;

export class Authenticator implements Disposable {
  readonly #options: AuthenticatorOptions;
  readonly #log: Logger;
  #keys: ReturnType<typeof createLocalJWKSet> | undefined;
  /** Token → its subject and expiry (ms); cleared when the keys change, so a key taken out stops working at once. */
  readonly #verified = new Map<string, { subject: string; expiresAt: number }>();

  private constructor(options: AuthenticatorOptions) {
    this.#options = options;
    this.#log = (options.logger ?? rootLogger()).child({ component: "authenticator" });
  }

  /** Reads the JWKS (an error names the file) and follows its changes: key rotation needs no restart. */
  static async open(options: AuthenticatorOptions): Promise<Authenticator> {
    if (!options.jwksFile && !options.certificates) {
      throw new InvalidArgumentError("--auth-jwks", "no way to authenticate callers: give a JWKS, or require mTLS");
    }
    const authenticator = new Authenticator(options);
    if (options.jwksFile) {
      authenticator.#keys = createLocalJWKSet(await readJwks(options.jwksFile));
      const file = options.jwksFile;
      watchFile(file, { interval: 5_000, persistent: false }, () => {
        readJwks(file).then(
          (jwks) => {
            authenticator.#keys = createLocalJWKSet(jwks);
            authenticator.#verified.clear();
            authenticator.#log.info({ file }, "token signing keys reloaded");
          },
          (err: unknown) => authenticator.#log.error({ err, file }, "token signing keys unreadable; keeping the old"),
        );
      });
    }
    return authenticator;
  }

  /** The caller's identity; UnauthenticatedError saying why when there is none. A token, when sent, must verify. */
  async authenticate(metadata: Metadata, peer: PeerAuth | null): Promise<Identity> {
    const header = metadata.get("authorization")[0];
    if (header !== undefined) return { subject: await this.#verify(String(header)), by: "token" };
    const certificate = this.#options.certificates ? certificateIdentity(peer) : undefined;
    if (certificate) return { subject: certificate, by: "certificate" };
    throw new UnauthenticatedError(
      this.#options.certificates
        ? "no credential: present a client certificate, or send 'authorization: Bearer <token>'"
        : "no credential: send 'authorization: Bearer <token>' (locally, `livehost up` writes one the CLI uses)",
    );
  }

  async #verify(header: string): Promise<string> {
    const match = /^Bearer ([A-Za-z0-9_.-]{1,8192})$/.exec(header);
    if (!match) throw new UnauthenticatedError("the authorization metadata must be 'Bearer <JWT>'");
    if (!this.#keys) throw new UnauthenticatedError("this gateway accepts no tokens (client certificates only)");
    const token = match[1]!;
    const known = this.#verified.get(token);
    // The same 30 s of grace as a fresh verification gives.
    if (known && known.expiresAt + 30_000 > Date.now()) return known.subject;
    this.#verified.delete(token);
    try {
      const { payload } = await jwtVerify(token, this.#keys, {
        audience: this.#options.audience ?? "livehost",
        issuer: this.#options.issuer,
        algorithms,
        clockTolerance: 30,
        requiredClaims: ["sub", "exp"],
      });
      if (this.#verified.size >= rememberedTokens) this.#verified.delete(this.#verified.keys().next().value!);
      this.#verified.set(token, { subject: payload.sub!, expiresAt: payload.exp! * 1000 });
      return payload.sub!;
    } catch (err) {
      throw new UnauthenticatedError(`token not accepted: ${reason(err)}`, { cause: err });
    }
  }

  [Symbol.dispose](): void {
    if (this.#options.jwksFile) unwatchFile(this.#options.jwksFile);
  }
}

function reason(err: unknown): string {
  if (err instanceof joseErrors.JWTExpired) return "it has expired";
  if (err instanceof joseErrors.JWTClaimValidationFailed) return `its "${err.claim}" claim is not accepted`;
  if (err instanceof joseErrors.JWKSNoMatchingKey) return "no trusted key signed it";
  if (err instanceof joseErrors.JWSSignatureVerificationFailed) return "its signature does not verify";
  if (err instanceof joseErrors.JOSEAlgNotAllowed) return "its algorithm is not allowed";
  return "it is not a valid JWT";
}

async function readJwks(file: string): Promise<JSONWebKeySet> {
  const text = await readFile(file, "utf8").catch((err: NodeJS.ErrnoException) => {
    throw new InvalidArgumentError("--auth-jwks", `cannot read "${file}": ${err.code ?? err.message}`, { cause: err });
  });
  let jwks: unknown;
  try {
    jwks = JSON.parse(text);
  } catch (err) {
    throw new InvalidArgumentError("--auth-jwks", `"${file}" is not JSON`, { cause: err });
  }
  if (!Array.isArray((jwks as JSONWebKeySet | null)?.keys)) {
    throw new InvalidArgumentError("--auth-jwks", `"${file}" is not a JWKS ({"keys": [...]})`);
  }
  return jwks as JSONWebKeySet;
}

/** A verified peer certificate's identity: its first URI SAN (SPIFFE), else its first DNS SAN, else its CN. */
function certificateIdentity(peer: PeerAuth | null): string | undefined {
  const certificate = peer?.sslPeerCertificate;
  if (!certificate || peer?.transportSecurityType !== "ssl") return undefined;
  // Node has already parsed the SANs of a peer certificate; parse the raw one only when it has not.
  const sans =
    certificate.subjectaltname ?? (certificate.raw ? new X509Certificate(certificate.raw).subjectAltName : undefined);
  const names = sans
    ?.split(", ")
    .map((name) => name.split(":"))
    .map(([kind, ...rest]) => ({ kind, value: rest.join(":") }));
  const uri = names?.find((n) => n.kind === "URI")?.value;
  const dns = names?.find((n) => n.kind === "DNS")?.value;
  const cn = certificate.subject?.CN;
  return uri ?? dns ?? (Array.isArray(cn) ? cn[0] : cn);
}
