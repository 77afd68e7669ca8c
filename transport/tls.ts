// Who may talk to whom over gRPC: TLS material from the deployment's files (a Kubernetes TLS Secret: tls.crt,
// tls.key, ca.crt) turned into grpc-js server and channel credentials, mTLS when client certificates are required.
// A role configures it once at start-up (configureGrpcTls); servers and channels made afterwards use it unless
// given credentials of their own. Without it everything stays plaintext, as on loopback and in tests.
//
// Rooms dial workers at their pod IPs, which no one shared certificate can list; with a server name configured
// (--tls-server-name), clients check every peer's certificate against that name instead of the address dialled.
import { readFile } from "node:fs/promises";
import { isIP } from "node:net";
import { checkServerIdentity } from "node:tls";
import {
  ServerCredentials,
  credentials as grpcCredentials,
  type ChannelCredentials,
  type ChannelOptions,
} from "@grpc/grpc-js";
import { InvalidArgumentError } from "../errors/index.js";

export interface GrpcTlsFiles {
  /** PEM CA bundle: servers are checked against it, and with requireClientCert, clients too. */
  caFile?: string;
  /** PEM certificate this process presents (as a server, and as a client under mTLS). */
  certFile?: string;
  keyFile?: string;
  /** Servers refuse clients without a certificate signed by caFile (mTLS). */
  requireClientCert?: boolean;
  /**
   * DNS name every server's certificate must carry, whatever address a client dials (e.g. a worker's pod IP).
   * Default: the dialled host, as TLS does.
   */
  serverName?: string;
}

export interface GrpcTlsMaterial {
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  requireClientCert: boolean;
  serverName?: string;
}

/** Option names the errors use, so a bad setting is reported as the flag the operator typed. */
const optionNames = {
  caFile: "--tls-ca",
  certFile: "--tls-cert",
  keyFile: "--tls-key",
  serverName: "--tls-server-name",
} as const;

/** A DNS name as certificates carry it: dot-separated labels of letters, digits and hyphens. */
const dnsName = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/i;

function checkServerName(name: string): void {
  if (isIP(name) || !dnsName.test(name) || name.length > 253) {
    throw new InvalidArgumentError(
      optionNames.serverName,
      `"${name}" is not a DNS name (no port, no IP address), e.g. livehost-grpc.livehost.svc`,
    );
  }
}

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
  if (files.serverName !== undefined) checkServerName(files.serverName);
  const read = async (key: "caFile" | "certFile" | "keyFile"): Promise<Buffer | undefined> => {
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
  return { ca, cert, key, requireClientCert: files.requireClientCert ?? false, serverName: files.serverName };
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

/**
 * Channel credentials: servers checked against the CA (the system's when none) and, with a serverName, against
 * that name rather than the address dialled; our certificate for mTLS.
 */
export function channelCredentialsFrom(material: GrpcTlsMaterial): ChannelCredentials {
  const { serverName } = material;
  return grpcCredentials.createSsl(
    material.ca ?? null,
    material.key ?? null,
    material.cert ?? null,
    serverName ? { checkServerIdentity: (_dialled, cert) => checkServerIdentity(serverName, cert) } : {},
  );
}

/**
 * Channel options that go with the credentials: with a serverName, TLS asks for it (SNI) and checks it, and calls
 * carry it as their :authority. Empty otherwise.
 */
export function channelOptionsFrom(material: GrpcTlsMaterial): ChannelOptions {
  return material.serverName
    ? { "grpc.ssl_target_name_override": material.serverName, "grpc.default_authority": material.serverName }
    : {};
}

interface ProcessTls {
  material: GrpcTlsMaterial;
  /** Made once, so channels to the same address share their connection (grpc-js compares credentials). */
  channelCredentials: ChannelCredentials;
}

let processTls: ProcessTls | undefined;

/**
 * Sets the TLS every later gRPC server and channel of this process uses by default (a role calls it once, before
 * starting its servers). undefined goes back to plaintext.
 */
export async function configureGrpcTls(files: GrpcTlsFiles | undefined): Promise<void> {
  if (!files || (!files.caFile && !files.certFile)) {
    if (files?.serverName) {
      throw new InvalidArgumentError(optionNames.serverName, "checks TLS peers: it needs --tls-ca (or --tls-cert)");
    }
    processTls = undefined;
    return;
  }
  const material = await loadGrpcTls(files);
  processTls = { material, channelCredentials: channelCredentialsFrom(material) };
}

/** The server credentials configureGrpcTls set, plaintext otherwise. */
export function defaultServerCredentials(): ServerCredentials {
  return processTls ? serverCredentialsFrom(processTls.material) : ServerCredentials.createInsecure();
}

/** The channel credentials configureGrpcTls set, plaintext otherwise. */
export function defaultChannelCredentials(): ChannelCredentials {
  return processTls?.channelCredentials ?? grpcCredentials.createInsecure();
}

/** The server name configureGrpcTls set, if any. */
export function defaultTlsServerName(): string | undefined {
  return processTls?.material.serverName;
}

/** The channel options configureGrpcTls's server name calls for (see channelOptionsFrom); empty otherwise. */
export function defaultChannelOptions(): ChannelOptions {
  return processTls ? channelOptionsFrom(processTls.material) : {};
}
