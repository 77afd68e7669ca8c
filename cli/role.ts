// Running one role as a process, the same way for every role and the operator: logger, tracing, gRPC TLS, /metrics
// and the NATS connection around the role, a "ready" report to the parent (livehost up) or the log, and a clean
// stop on SIGTERM or SIGINT that undoes the set-up in reverse order.
import {
  AsyncDisposableStack,
  createLogger,
  createRegistry,
  startMetricsServer,
  startTracing,
  type Logger,
  type Registry,
} from "../observability/index.js";
import { checkNatsFiles, configureGrpcTls, connectNats, type NatsConnection } from "../transport/index.js";
import type { ProcessSettings, RoleName } from "./config.js";

export type { RoleName } from "./config.js";

/** What the runner hands a role's start: its connection, metrics and logger. */
export interface RoleContext {
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

/** A role started in this process: where it serves, whether /readyz says ready, and its stop. */
export interface RunningRole extends AsyncDisposable {
  endpoints: Record<string, string>;
  logger: Logger;
  /** What /readyz answers: true once the role serves, false again as soon as it starts stopping. */
  ready(): boolean;
  /** Stops the role: not ready at once, then the role's close (a worker's drain), NATS, metrics and tracing. */
  stop(reason: string): Promise<void>;
}

/** Starts a role with its logger, tracing, TLS, metrics server and NATS connection; no signal handling. */
export async function startRole(
  role: RoleName,
  settings: ProcessSettings,
  start: (ctx: RoleContext) => Promise<StartedRole>,
): Promise<RunningRole> {
  // A missing file is named by its flag before anything starts.
  await checkNatsFiles(settings.nats);
  // gRPC servers and channels made from here on use the deployment's TLS (plaintext when none is given).
  await configureGrpcTls(settings.grpcTls);
  // Whatever is set up is undone, last first, if a later step fails; on success the stack moves to `stop`.
  await using undo = new AsyncDisposableStack();
  const logger = createLogger({ base: { role } });
  const tracing = await startTracing({ serviceName: `livehost-${role}`, attributes: { "livehost.role": role } });
  undo.defer(() => tracing.shutdown());
  const registry = createRegistry({ role });
  let serving = false;
  let stopping: Promise<void> | undefined;
  // Metrics come up before NATS (so they outlive it at stop); `serving` is set only once `nats` is.
  const ready = () => serving && stopping === undefined && !nats.isClosed();
  const metrics = await startMetricsServer({ registry, host: settings.metricsHost, port: settings.metricsPort, ready });
  undo.defer(() => metrics.close());
  const nats = await connectNats({ ...settings.nats, registry, logger });
  undo.defer(() => nats.drain());
  const started = await start({ nats, registry, logger });
  undo.defer(() => started.close());
  serving = true;
  const endpoints = { ...started.endpoints, metrics: `${metrics.url}/metrics` };
  logger.info({ endpoints, id: settings.id }, "role ready");

  const teardown = undo.move();
  const stop = (reason: string) =>
    (stopping ??= (async () => {
      // /readyz answers 503 from here on, so Kubernetes takes the pod out of its Services while it drains.
      logger.info({ reason }, "role stopping");
      await teardown.disposeAsync();
      logger.info("role stopped");
    })());
  return { endpoints, logger, ready, stop, [Symbol.asyncDispose]: () => stop("disposed") };
}

/** Runs a role until SIGTERM, SIGINT or its parent (`livehost up`) going away, then stops it and exits. */
export async function runRole(
  role: RoleName,
  settings: ProcessSettings,
  start: (ctx: RoleContext) => Promise<StartedRole>,
): Promise<void> {
  const running = await startRole(role, settings, start);
  const report: RoleReady = { type: "ready", role, pid: process.pid, endpoints: running.endpoints };
  process.send?.(report);

  let stopping = false;
  const stop = (reason: string) => {
    if (stopping) return;
    stopping = true;
    // A second signal during the drain means "now".
    process.once("SIGINT", () => process.exit(130));
    running.stop(reason).then(
      () => process.exit(0),
      (err: unknown) => {
        running.logger.error({ err }, "role did not stop cleanly");
        process.exit(1);
      },
    );
  };
  process.once("SIGTERM", () => stop("SIGTERM"));
  process.once("SIGINT", () => stop("SIGINT"));
  // Started by `livehost up`: if the parent goes away (even by SIGKILL), do not linger as an orphan.
  process.channel?.unref();
  process.once("disconnect", () => stop("parent exited"));
}
