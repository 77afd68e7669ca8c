// What every command that calls the gateway shares: the --gateway and --token-file options, and a client of one of
// its services dialled with the caller's token (--token-file, LIVEHOST_TOKEN or LIVEHOST_TOKEN_FILE, else the one
// `livehost up` made in LIVEHOST_HOME) and, where LIVEHOST_TLS_* say so, the gateway's TLS (mTLS: the client
// certificate can be the identity instead), closed when the command is done.
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { ChannelCredentials, Client, ClientOptions } from "@grpc/grpc-js";
import { Command, Option } from "commander";
import { InvalidArgumentError } from "../errors/index.js";
import { bearerToken, channelCredentials, configureGrpcTls } from "../transport/index.js";
import { credentialDir, findToken } from "../trust/index.js";

export interface ClientFlags {
  gateway?: string;
  tokenFile?: string;
  json?: boolean;
}

/** Where no --gateway or LIVEHOST_GATEWAY says otherwise and no local stack is up. */
const defaultGateway = "127.0.0.1:50051";

export const gatewayOption = () =>
  new Option(
    "--gateway <host:port>",
    `the gateway's gRPC address (default: the local stack's, which \`livehost up\` records in LIVEHOST_HOME, else ${defaultGateway})`,
  ).env("LIVEHOST_GATEWAY");

/** The file in LIVEHOST_HOME where `livehost up` records its gateway's address for the commands that call it. */
const localGatewayFile = () => join(credentialDir(), "gateway");

/** Records the local stack's gateway address; the returned function removes it again if it still names this one. */
export async function recordLocalGateway(address: string): Promise<() => Promise<void>> {
  await mkdir(credentialDir(), { recursive: true, mode: 0o700 });
  await writeFile(localGatewayFile(), `${address}\n`, { mode: 0o644 });
  return async () => {
    if ((await readLocalGateway()) === address) await rm(localGatewayFile(), { force: true });
  };
}

/** The local stack's gateway address, if one is up (recorded by `livehost up`). */
async function readLocalGateway(): Promise<string | undefined> {
  const text = await readFile(localGatewayFile(), "utf8").catch(() => undefined);
  return text?.trim() || undefined;
}
/** --tenant: the merchant a call is for; empty (the default) for the caller's only tenant. */
export const tenantOption = (description = "the merchant") =>
  new Option("--tenant <tenant>", description).default("", "the caller's only tenant");

export const tokenOption = () =>
  new Option("--token-file <file>", "bearer token to call with (default: LIVEHOST_TOKEN, else local mode's)").env(
    "LIVEHOST_TOKEN_FILE",
  );

type ClientClass<C extends Client> = new (
  address: string,
  credentials: ChannelCredentials,
  options: ClientOptions,
) => C;

/** An action run with a client of `Service` for the command's flags, the client closed after. */
export function withGatewayClient<C extends Client, A extends unknown[]>(
  Service: ClientClass<C>,
  action: (client: C, ...args: A) => Promise<void>,
): (...args: A) => Promise<void> {
  return async (...args: A) => {
    // The gateway's TLS (mTLS) from the same variables the roles read, e.g. in a `helm test` pod.
    const env = process.env;
    if (env.LIVEHOST_TLS_CA || env.LIVEHOST_TLS_CERT) {
      await configureGrpcTls({
        caFile: env.LIVEHOST_TLS_CA,
        certFile: env.LIVEHOST_TLS_CERT,
        keyFile: env.LIVEHOST_TLS_KEY,
        serverName: env.LIVEHOST_TLS_SERVER_NAME,
      });
    }
    const command = args.findLast((a): a is Command => a instanceof Command);
    const flags = command!.opts<ClientFlags>();
    if (flags.tokenFile !== undefined) {
      const field = command!.getOptionValueSource("tokenFile") === "env" ? "LIVEHOST_TOKEN_FILE" : "--token-file";
      await checkTokenFile(flags.tokenFile, field);
    }
    const token = await findToken({ tokenFile: flags.tokenFile });
    const address = flags.gateway || (await readLocalGateway()) || defaultGateway;
    const client = new Service(address, channelCredentials(), {
      interceptors: token ? [bearerToken(token)] : [],
    });
    try {
      await action(client, ...args);
    } finally {
      client.close();
    }
  };
}

/**
 * A token file the caller named must hold a token: left alone, findToken would call without one (for the local
 * credential's sake, whose file may not exist yet), and the gateway's "no credential" would hide the typo.
 */
async function checkTokenFile(file: string, field: string): Promise<void> {
  const text = await readFile(file, "utf8").catch((err: NodeJS.ErrnoException) => {
    throw new InvalidArgumentError(field, `cannot read "${file}": ${err.code ?? err.message}`, { cause: err });
  });
  if (text.trim() === "") throw new InvalidArgumentError(field, `"${file}" holds no token: it is empty`);
}
