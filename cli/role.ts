// Running one role as a process: logger, metrics endpoint, tracing and the NATS connection around the role, a
// "ready" report to the parent (livehost up) or the log, and a clean stop on SIGTERM or SIGINT.
import {
  createLogger,
  createRegistry,
  startMetricsServer,
  startTracing,
  type Logger,
  type Registry,
} from "../observability/index.js";
import { configureGrpcTls, connectNats, type NatsConnection } from "../transport/index.js";
import type { RoleSettings } from "./config.js";

export type RoleName = "room-host" | "gateway" | "tts-worker" | "lipsync-worker";

export interface RoleContext {
  settings: RoleSettings;
  nats: NatsConnection;
  registry: Registry;
  logger: Logger;
}

export interface StartedRole {
  /** What the role serves, e.g. { grpc: "127.0.0.1:50051" }, reported with the metrics URL. */
  endpoints: Record<string, string>;
  close(): Promise<void>;
}

/** The message a role child sends its parent over IPC once it serves. */
export interface RoleReady {
  type: "ready";
  role: RoleName;
  pid: number;
  endpoints: Record<string, string>;
}

export async function runRole(
  role: RoleName,
  settings: RoleSettings,
  start: (ctx: RoleContext) => Promise<StartedRole>,
): Promise<void> {
  const logger = createLogger({ base: { role } });
  const tracing = startTracing({ serviceName: `livehost-${role}`, attributes: { "livehost.role": role } });
  const registry = createRegistry({ role });
  // gRPC servers and channels made from here on use the deployment's TLS (plaintext when none is given).
  await configureGrpcTls(settings.grpcTls);
  const nats = await connectNats({
    servers: settings.natsServers,
    name: `livehost-${role}`,
    user: settings.natsUser,
    pass: settings.natsPass,
    credsFile: settings.natsCreds,
    tls: settings.natsTls,
    registry,
    logger,
  });
  let ready = false;
  const metrics = await startMetricsServer({
    registry,
    host: settings.metricsHost,
    port: settings.metricsPort,
    ready: () => ready && !nats.isClosed(),
  });
  const started = await start({ settings, nats, registry, logger });
  ready = true;
  const endpoints = { ...started.endpoints, metrics: `${metrics.url}/metrics` };
  logger.info({ endpoints }, "role ready");
  const report: RoleReady = { type: "ready", role, pid: process.pid, endpoints };
  process.send?.(report);

  let stopping = false;
  const stop = async (reason: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ reason }, "role stopping");
    // A second signal during the drain means "now".
    process.once("SIGINT", () => process.exit(130));
    try {
      await started.close();
      await nats.drain();
      await metrics.close();
      await tracing.shutdown();
      logger.info("role stopped");
      process.exit(0);
    } catch (err) {
      logger.error({ err }, "role did not stop cleanly");
      process.exit(1);
    }
  };
  process.once("SIGTERM", () => void stop("SIGTERM"));
  process.once("SIGINT", () => void stop("SIGINT"));
  // Started by `livehost up`: if the parent goes away (even by SIGKILL), do not linger as an orphan.
  process.channel?.unref();
  process.once("disconnect", () => void stop("parent exited"));
}
