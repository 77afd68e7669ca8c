// Who may talk to whom over gRPC: TLS material from the deployment's files (a Kubernetes TLS Secret: tls.crt,
// tls.key, ca.crt) turned into grpc-js server and channel credentials, mTLS when client certificates are required.
// A role configures it once at start-up (configureGrpcTls); servers and channels made afterwards use it unless
// given credentials of their own. Without it everything stays plaintext, as on loopback and in tests.
import { readFile } from "node:fs/promises";
import { ServerCredentials, credentials as grpcCredentials, type ChannelCredentials } from "@grpc/grpc-js";
import { InvalidArgumentError } from "./errors.js";

export interface GrpcTlsFiles {
  /** PEM CA bundle: servers are checked against it, and with requireClientCert, clients too. */
  caFile?: string;
  /** PEM certificate this process presents (as a server, and as a client under mTLS). */
  certFile?: string;
  keyFile?: string;
  /** Servers refuse clients without a certificate signed by caFile (mTLS). */
  requireClientCert?: boolean;
}

export interface GrpcTlsMaterial {
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  requireClientCert: boolean;
}

/** Option names the errors use, so a bad setting is reported as the flag the operator typed. */
const optionNames: Record<keyof Omit<GrpcTlsFiles, "requireClientCert">, string> = {
  caFile: "--tls-ca",
  certFile: "--tls-cert",
  keyFile: "--tls-key",
};

/** Reads and checks the files; errors name the option (missing file, cert without key, mTLS without a CA). */
export async function loadGrpcTls(files: GrpcTlsFiles): Promise<GrpcTlsMaterial> {
  if (Boolean(files.certFile) !== Boolean(files.keyFile)) {
    throw new InvalidArgumentError(
      files.certFile ? optionNames.keyFile : optionNames.certFile,
      "a certificate and its key go together",
    );
  }
  if (files.requireClientCert && !files.caFile) {
    throw new InvalidArgumentError(optionNames.caFile, "requiring client certificates needs the CA that signs them");
  }
  const read = async (key: keyof typeof optionNames): Promise<Buffer | undefined> => {
    const path = files[key];
    if (!path) return undefined;
    const pem = await readFile(path).catch((err: NodeJS.ErrnoException) => {
      throw new InvalidArgumentError(optionNames[key], `cannot read "${path}": ${err.code ?? err.message}`, {
        cause: err,
      });
    });
    if (!pem.includes("-----BEGIN ")) {
      throw new InvalidArgumentError(optionNames[key], `"${path}" is not a PEM file`);
    }
    return pem;
  };
  const [ca, cert, key] = await Promise.all([read("caFile"), read("certFile"), read("keyFile")]);
  return { ca, cert, key, requireClientCert: files.requireClientCert ?? false };
}

/** Server credentials: TLS with this process's certificate; client certificates checked when required. */
export function serverCredentialsFrom(material: GrpcTlsMaterial): ServerCredentials {
  if (!material.cert || !material.key) {
    throw new InvalidArgumentError(optionNames.certFile, "a gRPC server over TLS needs its certificate and key");
  }
  return ServerCredentials.createSsl(
    material.ca ?? null,
    [{ cert_chain: material.cert, private_key: material.key }],
    material.requireClientCert,
  );
}

/** Channel credentials: servers checked against the CA (the system's when none); our certificate for mTLS. */
export function channelCredentialsFrom(material: GrpcTlsMaterial): ChannelCredentials {
  return grpcCredentials.createSsl(material.ca ?? null, material.key ?? null, material.cert ?? null);
}

let processTls: GrpcTlsMaterial | undefined;

/**
 * Sets the TLS every later gRPC server and channel of this process uses by default (a role calls it once, before
 * starting its servers). undefined goes back to plaintext.
 */
export async function configureGrpcTls(files: GrpcTlsFiles | undefined): Promise<void> {
  processTls = files && (files.caFile || files.certFile) ? await loadGrpcTls(files) : undefined;
}

/** The server credentials configureGrpcTls set, plaintext otherwise. */
export function defaultServerCredentials(): ServerCredentials {
  return processTls ? serverCredentialsFrom(processTls) : ServerCredentials.createInsecure();
}

/** The channel credentials configureGrpcTls set, plaintext otherwise. */
export function defaultChannelCredentials(): ChannelCredentials {
  return processTls ? channelCredentialsFrom(processTls) : grpcCredentials.createInsecure();
}
