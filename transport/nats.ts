// Connecting a livehost process to NATS: reconnect forever with jitter, name the connection after the role,
// credentials from options (user/password, token, creds file, TLS), and status changes in the log.
import { readFile } from "node:fs/promises";
import { connect, credsAuthenticator, type NatsConnection, type NodeConnectionOptions } from "@nats-io/transport-node";
import { Gauge, rootLogger, type Logger, type Registry } from "../observability/index.js";
import { UnavailableError } from "../errors/index.js";

export type { NatsConnection } from "@nats-io/transport-node";

export interface NatsSettings {
  /** One or more nats:// URLs. */
  servers: string | string[];
  /** Shown in the server's connz, e.g. "livehost-gateway/host-a". */
  name: string;
  user?: string;
  pass?: string;
  token?: string;
  /** Path to a .creds file (JWT + nkey seed). */
  credsFile?: string;
  tls?: { caFile?: string; certFile?: string; keyFile?: string };
  logger?: Logger;
  /** Where `livehost_nats_connected` (1 while connected, 0 while reconnecting) goes; not recorded without one. */
  registry?: Registry;
  /** Give up the first connection attempt after this many ms. Default 10 s. */
  timeoutMs?: number;
}

export async function connectNats(settings: NatsSettings): Promise<NatsConnection> {
  const log = (settings.logger ?? rootLogger()).child({ component: "nats" });
  const options: NodeConnectionOptions = {
    servers: settings.servers,
    name: settings.name,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 250,
    reconnectJitter: 250,
    timeout: settings.timeoutMs ?? 10_000,
    pingInterval: 10_000,
    user: settings.user,
    pass: settings.pass,
    token: settings.token,
  };
  if (settings.credsFile) options.authenticator = credsAuthenticator(await readFile(settings.credsFile));
  if (settings.tls) options.tls = { ...settings.tls };
  const nc = await connect(options).catch((err: unknown) => {
    // The servers named, and why: the NATS client's own error reads as a stack of its internals.
    throw new UnavailableError(`NATS at ${String(settings.servers)}: ${(err as Error).message}`, { cause: err });
  });
  log.debug({ server: nc.getServer() }, "nats connected");
  const connected = settings.registry
    ? new Gauge({
        name: "livehost_nats_connected",
        help: "1 while this process is connected to NATS, 0 while it is disconnected and reconnecting.",
        registers: [settings.registry],
      })
    : undefined;
  connected?.set(1);
  void nc.closed().then(() => connected?.set(0));
  void (async () => {
    for await (const status of nc.status()) {
      switch (status.type) {
        case "disconnect":
        case "reconnect":
          connected?.set(status.type === "reconnect" ? 1 : 0);
          log.info({ server: status.server, event: status.type }, "nats connection changed");
          break;
        case "error":
          log.warn({ err: status.error }, "nats error");
          break;
        case "slowConsumer":
          log.warn({ subject: status.sub.getSubject() }, "nats slow consumer");
          break;
        default:
          break;
      }
    }
  })();
  return nc;
}
