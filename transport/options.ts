// Connection options as every livehost process takes them (flags and their environment variables), checked once:
// NATS server URLs, a user and password or a creds file, TLS files, and ports. (nats.js `parseOptions`.)
import { constants } from "node:fs";
import { access } from "node:fs/promises";
import { InvalidArgumentError } from "../errors/index.js";
import type { NatsSettings } from "./nats.js";

/** How a process authenticates to NATS and checks its servers: `--nats-user`, `--nats-pass`, `--nats-creds`, … */
export interface NatsOptions {
  natsUser?: string;
  natsPass?: string;
  /** A .creds file (JWT and nkey seed), instead of a user and password. */
  natsCreds?: string;
  /** PEM CA of the NATS servers' certificates. */
  natsTlsCa?: string;
  /** Client certificate and key, where NATS asks for one. */
  natsTlsCert?: string;
  natsTlsKey?: string;
}

/** connectNats's settings as options compile them; the process adds its logger and registry. */
export type NatsConnectSettings = Omit<NatsSettings, "logger" | "registry">;

/** A port from a flag ("9464") or a number; 0 (where `min` allows it) lets the system pick a free one. */
export function parsePort(value: number | string, field: string, min = 0): number {
  const port = typeof value === "number" ? value : value.trim() === "" ? NaN : Number(value);
  if (!Number.isInteger(port) || port < min || port > 65_535) {
    const free = min === 0 ? " (0 picks a free one)" : "";
    throw new InvalidArgumentError(field, `must be a port number from ${min} to 65535${free}, got "${value}"`);
  }
  return port;
}

/** NATS server URLs, comma-separated, each nats:// or tls:// (ws:// and wss:// pass for a websocket gateway). */
export function parseNatsServers(value: string, field: string): string[] {
  const servers = value
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  if (servers.length === 0) throw new InvalidArgumentError(field, "needs at least one nats:// or tls:// URL");
  for (const server of servers) {
    const protocol = URL.canParse(server) ? new URL(server).protocol : "";
    if (!["nats:", "tls:", "ws:", "wss:"].includes(protocol)) {
      throw new InvalidArgumentError(field, `"${server}" is not a nats:// or tls:// URL`);
    }
  }
  return servers;
}

/**
 * The NATS connection a process makes: `servers` from the flag named `serversField` (`--nats` for roles,
 * `--nats-url` for the operator), credentials and TLS from the shared flags. A bad combination names its flag.
 */
export function compileNatsOptions(
  servers: string,
  serversField: string,
  options: NatsOptions,
  name: string,
): NatsConnectSettings {
  // Empty variables (a chart that renders `value: ""`) count as unset.
  const user = options.natsUser || undefined;
  const pass = options.natsPass || undefined;
  const credsFile = options.natsCreds || undefined;
  if (pass && !user) throw new InvalidArgumentError("--nats-user", "a NATS password needs its user");
  if (credsFile && user) {
    throw new InvalidArgumentError("--nats-creds", "give a creds file or a user and password, not both");
  }
  if (Boolean(options.natsTlsCert) !== Boolean(options.natsTlsKey)) {
    throw new InvalidArgumentError(
      options.natsTlsCert ? "--nats-tls-key" : "--nats-tls-cert",
      "a certificate and its key go together",
    );
  }
  const tls =
    options.natsTlsCa || options.natsTlsCert
      ? { caFile: options.natsTlsCa, certFile: options.natsTlsCert, keyFile: options.natsTlsKey }
      : undefined;
  return { servers: parseNatsServers(servers, serversField), name, user, pass, credsFile, tls };
}

/** The files a NATS connection needs, readable now: a missing one is named by its flag instead of failing later. */
export async function checkNatsFiles(settings: NatsConnectSettings): Promise<void> {
  const files: [string | undefined, string][] = [
    [settings.credsFile, "--nats-creds"],
    [settings.tls?.caFile, "--nats-tls-ca"],
    [settings.tls?.certFile, "--nats-tls-cert"],
    [settings.tls?.keyFile, "--nats-tls-key"],
  ];
  for (const [path, field] of files) {
    if (path === undefined) continue;
    await access(path, constants.R_OK).catch((err: NodeJS.ErrnoException) => {
      throw new InvalidArgumentError(field, `cannot read "${path}": ${err.code ?? err.message}`, { cause: err });
    });
  }
}
