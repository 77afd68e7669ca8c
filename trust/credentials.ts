// Local mode's development credential: a signing key kept in the user's livehost directory (LIVEHOST_HOME, default
// ~/.livehost, readable by the user only), the JWKS a local gateway trusts, and a token the CLI finds by itself, so
// that `livehost up` and `livehost room ...` just work while every call is still authenticated.
import { randomUUID } from "node:crypto";
import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { homedir, userInfo } from "node:os";
import { join } from "node:path";
import { SignJWT, exportJWK, generateKeyPair, importJWK, type JWK } from "jose";

export const developmentIssuer = "livehost-development";
const algorithm = "ES256";

export interface DevelopmentCredential {
  /** The JWKS a local gateway verifies tokens with. */
  jwksFile: string;
  /** The token the CLI sends (re-minted when it nears its expiry). */
  tokenFile: string;
  /** The identity the token carries; local mode's policy makes it an admin. */
  subject: string;
}

/** Where local credentials live: LIVEHOST_HOME, else ~/.livehost. */
export function credentialDir(): string {
  return process.env.LIVEHOST_HOME ?? join(homedir(), ".livehost");
}

/**
 * Makes (or reuses) the development key and a token valid for 30 days. Safe when several processes start at once:
 * the key is created exclusively (the loser reads the winner's), and files are replaced by rename.
 */
export async function ensureDevelopmentCredential(dir = credentialDir()): Promise<DevelopmentCredential> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const keyFile = join(dir, "dev-signing-key.json");
  const jwksFile = join(dir, "dev-jwks.json");
  const tokenFile = join(dir, "token");
  const subject = `dev:${userInfo().username}`;
  const privateJwk = await readOrCreateKey(keyFile);
  const { d: _private, ...publicJwk } = privateJwk;
  await replace(jwksFile, JSON.stringify({ keys: [publicJwk] }), 0o644);
  const current = await readFile(tokenFile, "utf8").catch(() => "");
  if (!stillGood(current, privateJwk.kid!)) {
    const key = await importJWK(privateJwk, algorithm);
    const token = await new SignJWT({})
      .setProtectedHeader({ alg: algorithm, kid: privateJwk.kid })
      .setSubject(subject)
      .setAudience("livehost")
      .setIssuer(developmentIssuer)
      .setIssuedAt()
      .setExpirationTime("30d")
      .sign(key);
    await replace(tokenFile, token, 0o600);
  }
  return { jwksFile, tokenFile, subject };
}

/** The token a client sends: given, LIVEHOST_TOKEN, the file LIVEHOST_TOKEN_FILE names, or local mode's. */
export async function findToken(options: { token?: string; tokenFile?: string } = {}): Promise<string | undefined> {
  const token = options.token ?? process.env.LIVEHOST_TOKEN;
  if (token) return token.trim();
  const file = options.tokenFile ?? process.env.LIVEHOST_TOKEN_FILE ?? join(credentialDir(), "token");
  const text = await readFile(file, "utf8").catch(() => undefined);
  return text?.trim() || undefined;
}

async function readOrCreateKey(file: string): Promise<JWK> {
  const existing = await readFile(file, "utf8").catch(() => undefined);
  if (existing) return JSON.parse(existing) as JWK;
  const { privateKey } = await generateKeyPair(algorithm, { extractable: true });
  const jwk = { ...(await exportJWK(privateKey)), kid: randomUUID(), alg: algorithm, use: "sig" };
  try {
    await writeFile(file, JSON.stringify(jwk), { mode: 0o600, flag: "wx" });
    return jwk;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    return JSON.parse(await readFile(file, "utf8")) as JWK;
  }
}

/** A token signed by this key with more than a day left. */
function stillGood(token: string, kid: string): boolean {
  const [header, payload] = token.split(".");
  if (!header || !payload) return false;
  try {
    const { kid: signedBy } = JSON.parse(Buffer.from(header, "base64url").toString()) as { kid?: string };
    const { exp } = JSON.parse(Buffer.from(payload, "base64url").toString()) as { exp?: number };
    return signedBy === kid && typeof exp === "number" && exp * 1000 - Date.now() > 24 * 3600_000;
  } catch {
    return false;
  }
}

async function replace(file: string, content: string, mode: number): Promise<void> {
  const temporary = `${file}.${process.pid}.${randomUUID()}`;
  await writeFile(temporary, content, { mode });
  await rename(temporary, file);
}
