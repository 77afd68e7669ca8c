// The operator as a process: `livehost operator`. Options in (flags, environment variables), compiled settings out;
// the Kubernetes client from a kubeconfig file or the pod's service account; worker load and the room directory from
// NATS; /metrics; and a
// clean stop on SIGTERM that releases the leader Lease so a standby takes over at once.
import { constants } from "node:fs";
import { access } from "node:fs/promises";
import { hostname } from "node:os";
import { randomUUID } from "node:crypto";
import { Option, type Command } from "commander";
import { KubeConfig } from "@kubernetes/client-node";
import { createLogger, createRegistry, startMetricsServer, startTracing } from "../observability/index.js";
import { InvalidArgumentError, connectNats, type NatsSettings } from "../transport/index.js";
import { startOperator } from "./controller.js";
import { NatsWorkerDemand } from "./demand.js";
import { RoomDirectoryDemand } from "./room-demand.js";
import type { WorkerKindName } from "./resources.js";
import { workerPodDefaults, type WorkerPodSettings } from "./workload.js";

export interface OperatorOptions {
  /** Path of a kubeconfig file; "in-cluster" (the default) uses the pod's service account. */
  kubeconfig?: string;
  namespace: string;
  leaseName: string;
  /** Default: hostname and a random suffix. */
  identity?: string;
  /** NATS the workers announce on: nats:// or tls:// URLs, comma-separated. */
  natsUrl: string;
  natsUser?: string;
  natsPassword?: string;
  /** A .creds file (JWT and nkey seed), instead of a user and password. */
  natsCreds?: string;
  /** PEM CA of the NATS servers' certificates. */
  natsTlsCa?: string;
  /** Client certificate and key, where NATS asks for one. */
  natsTlsCert?: string;
  natsTlsKey?: string;
  /** NATS URL given to worker pods; defaults to natsUrl. */
  workerNatsUrl?: string;
  /** Secret with one NATS password per role; workers then connect as tts-worker / lipsync-worker. */
  workerNatsAuthSecret?: string;
  /** Keys of that Secret for each worker kind (default: the role names, tts-worker and lipsync-worker). */
  workerNatsAuthKeys?: Partial<Record<WorkerKindName, string>>;
  /** Secret with ca.crt of the NATS servers' CA, mounted into worker pods. */
  workerNatsTlsSecret?: string;
  /** kubernetes.io/tls Secret with the workers' gRPC server certificate. */
  workerGrpcTlsSecret?: string;
  /** Workers require client certificates signed by that Secret's ca.crt (mTLS). */
  workerGrpcClientAuth?: boolean;
  workerGrpcPort?: number;
  workerMetricsPort?: number;
  workerImagePullSecrets?: string[];
  /** Copied into every worker pod (the CLI passes its own LIVEHOST_LOG_LEVEL and OTLP exporter settings). */
  workerEnv?: Record<string, string>;
  metricsHost?: string;
  metricsPort?: number;
  reconcileIntervalMs?: number;
  /** Capacity for a scheduled room is up this long before it starts, on top of node boot. Default 300. */
  roomWarmupSeconds?: number;
}

export interface OperatorProcessSettings {
  kubeconfig: string;
  namespace: string;
  leaseName: string;
  identity: string;
  /** connectNats's settings, less the logger and registry. */
  nats: Omit<NatsSettings, "logger" | "registry">;
  workers: WorkerPodSettings;
  metricsHost: string;
  metricsPort: number;
  reconcileIntervalMs: number;
  roomWarmupMs: number;
}

const dnsLabel = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const dnsSubdomain = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;
/** Secret data keys: alphanumerics, '-', '_' and '.'. */
const secretKey = /^[-._a-zA-Z0-9]{1,253}$/;

/** Environment variables of the operator that every worker gets as well. */
export const inheritedWorkerEnv = ["LIVEHOST_LOG_LEVEL", "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_TRACES_EXPORTER"];

function port(value: number | undefined, fallback: number, option: string, min = 0): number {
  const p = value ?? fallback;
  if (!Number.isInteger(p) || p < min || p > 65_535) {
    throw new InvalidArgumentError(option, `must be a port number from ${min} to 65535, got "${p}"`);
  }
  return p;
}

function objectName(value: string | undefined, option: string): string | undefined {
  if (value === undefined || value === "") return undefined;
  if (!dnsSubdomain.test(value)) throw new InvalidArgumentError(option, `"${value}" is not a Kubernetes object name`);
  return value;
}

export function parseNatsUrls(value: string, option: string): string[] {
  const servers = value
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  if (servers.length === 0) throw new InvalidArgumentError(option, "needs at least one nats:// or tls:// URL");
  for (const server of servers) {
    const protocol = URL.canParse(server) ? new URL(server).protocol : "";
    if (protocol !== "nats:" && protocol !== "tls:") {
      throw new InvalidArgumentError(option, `"${server}" is not a nats:// or tls:// URL`);
    }
  }
  return servers;
}

function compileNats(options: OperatorOptions, identity: string): OperatorProcessSettings["nats"] {
  if (options.natsPassword && !options.natsUser) {
    throw new InvalidArgumentError("--nats-user", "a NATS password needs its user");
  }
  if (options.natsCreds && options.natsUser) {
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
  return {
    servers: parseNatsUrls(options.natsUrl, "--nats-url"),
    name: `livehost-operator/${identity}`,
    user: options.natsUser || undefined,
    pass: options.natsPassword || undefined,
    credsFile: options.natsCreds || undefined,
    tls,
  };
}

function compileWorkers(options: OperatorOptions): WorkerPodSettings {
  const natsUrl = options.workerNatsUrl || options.natsUrl;
  parseNatsUrls(natsUrl, options.workerNatsUrl ? "--worker-nats-url" : "--nats-url");
  const authSecret = objectName(options.workerNatsAuthSecret, "--worker-nats-auth-secret");
  const keys = { ...workerPodDefaults.natsAuthKeys, ...options.workerNatsAuthKeys };
  for (const [kind, key] of Object.entries(keys)) {
    if (!secretKey.test(key)) {
      throw new InvalidArgumentError(`--worker-nats-${kind}-key`, `"${key}" is not a Secret key`);
    }
  }
  const grpcTlsSecret = objectName(options.workerGrpcTlsSecret, "--worker-grpc-tls-secret");
  if (options.workerGrpcClientAuth && !grpcTlsSecret) {
    throw new InvalidArgumentError("--worker-grpc-client-auth", "needs --worker-grpc-tls-secret");
  }
  const imagePullSecrets = (options.workerImagePullSecrets ?? []).map((name) =>
    objectName(name, "--worker-image-pull-secrets")!,
  );
  return {
    natsUrl,
    natsAuth: authSecret ? { secretName: authSecret, keys } : undefined,
    natsTlsSecret: objectName(options.workerNatsTlsSecret, "--worker-nats-tls-secret"),
    grpcTls: grpcTlsSecret
      ? { secretName: grpcTlsSecret, requireClientCert: options.workerGrpcClientAuth ?? false }
      : undefined,
    grpcPort: port(options.workerGrpcPort, workerPodDefaults.grpcPort, "--worker-grpc-port", 1),
    metricsPort: port(options.workerMetricsPort, workerPodDefaults.metricsPort, "--worker-metrics-port", 1),
    terminationGracePeriodSeconds: workerPodDefaults.terminationGracePeriodSeconds,
    imagePullSecrets,
    env: options.workerEnv ?? {},
  };
}

/** Options checked and defaults filled; a bad one throws InvalidArgumentError naming its flag. */
export function compileOperatorOptions(options: OperatorOptions): OperatorProcessSettings {
  if (!dnsLabel.test(options.namespace)) {
    throw new InvalidArgumentError("--namespace", `"${options.namespace}" is not a Kubernetes namespace name`);
  }
  if (!dnsLabel.test(options.leaseName)) {
    throw new InvalidArgumentError("--lease-name", `"${options.leaseName}" is not a Kubernetes object name`);
  }
  const interval = options.reconcileIntervalMs ?? 15_000;
  if (!Number.isInteger(interval) || interval < 100) {
    throw new InvalidArgumentError("--reconcile-interval", `must be at least 100 ms, got "${interval}"`);
  }
  const roomWarmupSeconds = options.roomWarmupSeconds ?? 300;
  if (!Number.isFinite(roomWarmupSeconds) || roomWarmupSeconds < 0) {
    throw new InvalidArgumentError(
      "--room-warmup",
      `must be a number of seconds, 0 or more, got "${roomWarmupSeconds}"`,
    );
  }
  const identity = options.identity ?? `${hostname()}-${randomUUID().slice(0, 8)}`;
  const nats = compileNats(options, identity);
  const workers = compileWorkers(options);
  if (workers.grpcPort === workers.metricsPort) {
    throw new InvalidArgumentError(
      "--worker-metrics-port",
      `must differ from --worker-grpc-port (${workers.grpcPort})`,
    );
  }
  return {
    kubeconfig: options.kubeconfig ?? "in-cluster",
    namespace: options.namespace,
    leaseName: options.leaseName,
    identity,
    nats,
    workers,
    metricsHost: options.metricsHost ?? "127.0.0.1",
    metricsPort: port(options.metricsPort, 0, "--metrics-port"),
    reconcileIntervalMs: interval,
    roomWarmupMs: roomWarmupSeconds * 1000,
  };
}

/** A file the operator needs, readable now: a missing one is named by its option instead of failing later. */
async function checkReadable(path: string | undefined, option: string): Promise<void> {
  if (path === undefined) return;
  await access(path, constants.R_OK).catch((err: NodeJS.ErrnoException) => {
    throw new InvalidArgumentError(option, `cannot read "${path}": ${err.code ?? err.message}`, { cause: err });
  });
}

export interface OperatorProcess extends AsyncDisposable {
  /** e.g. http://127.0.0.1:9464 (/metrics, /livez, /readyz). */
  metricsUrl: string;
  /** Stops actuating, releases the Lease and closes NATS, metrics and tracing. */
  close(): Promise<void>;
}

/** Starts the operator with its NATS connection, metrics server and tracing. */
export async function startOperatorProcess(options: OperatorOptions): Promise<OperatorProcess> {
  const settings = compileOperatorOptions(options);
  await checkReadable(settings.nats.credsFile, "--nats-creds");
  await checkReadable(settings.nats.tls?.caFile, "--nats-tls-ca");
  await checkReadable(settings.nats.tls?.certFile, "--nats-tls-cert");
  await checkReadable(settings.nats.tls?.keyFile, "--nats-tls-key");
  const logger = createLogger({ base: { role: "operator" } });
  const tracing = startTracing({ serviceName: "livehost-operator", attributes: { "livehost.role": "operator" } });
  const registry = createRegistry({ role: "operator" });
  const kubeConfig = new KubeConfig();
  if (settings.kubeconfig === "in-cluster") kubeConfig.loadFromCluster();
  else kubeConfig.loadFromFile(settings.kubeconfig);
  const nats = await connectNats({ ...settings.nats, logger, registry }).catch(async (err: unknown) => {
    await tracing.shutdown();
    throw err;
  });
  const workerDemand = new NatsWorkerDemand({ nats, logger, registry });
  const demand = new RoomDirectoryDemand({ nats, workers: workerDemand, logger, registry });
  const operator = await startOperator({
    kubeConfig,
    namespace: settings.namespace,
    leaseName: settings.leaseName,
    identity: settings.identity,
    demand,
    registry,
    logger,
    workers: settings.workers,
    reconcileIntervalMs: settings.reconcileIntervalMs,
    roomWarmupMs: settings.roomWarmupMs,
  }).catch(async (err: unknown) => {
    await demand.close();
    await workerDemand.close();
    await nats.close();
    await tracing.shutdown();
    throw err;
  });
  const metrics = await startMetricsServer({
    registry,
    host: settings.metricsHost,
    port: settings.metricsPort,
    ready: () => !nats.isClosed(),
  });
  logger.info({ metrics: `${metrics.url}/metrics`, identity: settings.identity }, "operator ready");
  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      logger.info("operator stopping");
      await operator.close();
      await demand.close();
      await workerDemand.close();
      await nats.drain();
      await metrics.close();
      await tracing.shutdown();
      logger.info("operator stopped");
    })());
  return { metricsUrl: metrics.url, close, [Symbol.asyncDispose]: close };
}

/** Runs the operator until the signal aborts; then stops actuating, releases the Lease and closes everything. */
export async function runOperator(options: OperatorOptions, signal: AbortSignal): Promise<void> {
  const running = await startOperatorProcess(options);
  if (!signal.aborted) await new Promise((resolve) => signal.addEventListener("abort", resolve, { once: true }));
  await running.close();
}

interface OperatorFlags {
  kubeconfig: string;
  namespace: string;
  leaseName: string;
  id?: string;
  natsUrl: string;
  natsUser?: string;
  natsPass?: string;
  natsCreds?: string;
  natsTlsCa?: string;
  natsTlsCert?: string;
  natsTlsKey?: string;
  workerNatsUrl?: string;
  workerNatsAuthSecret?: string;
  workerNatsTtsKey: string;
  workerNatsLipsyncKey: string;
  workerNatsTlsSecret?: string;
  workerGrpcTlsSecret?: string;
  workerGrpcClientAuth?: boolean;
  workerGrpcPort: string;
  workerMetricsPort: string;
  workerImagePullSecrets?: string;
  metricsHost: string;
  metricsPort: string;
  reconcileInterval: string;
  roomWarmup: string;
}

/** The operator's options from its flags (and their environment variables), as `livehost operator` reads them. */
export function operatorOptionsFromFlags(flags: OperatorFlags, env: NodeJS.ProcessEnv = process.env): OperatorOptions {
  return {
    kubeconfig: flags.kubeconfig,
    namespace: flags.namespace,
    leaseName: flags.leaseName,
    identity: flags.id,
    natsUrl: flags.natsUrl,
    natsUser: flags.natsUser,
    natsPassword: flags.natsPass,
    natsCreds: flags.natsCreds,
    natsTlsCa: flags.natsTlsCa,
    natsTlsCert: flags.natsTlsCert,
    natsTlsKey: flags.natsTlsKey,
    workerNatsUrl: flags.workerNatsUrl,
    workerNatsAuthSecret: flags.workerNatsAuthSecret,
    workerNatsAuthKeys: { tts: flags.workerNatsTtsKey, lipsync: flags.workerNatsLipsyncKey },
    workerNatsTlsSecret: flags.workerNatsTlsSecret,
    workerGrpcTlsSecret: flags.workerGrpcTlsSecret,
    workerGrpcClientAuth: flags.workerGrpcClientAuth,
    workerGrpcPort: Number(flags.workerGrpcPort),
    workerMetricsPort: Number(flags.workerMetricsPort),
    workerImagePullSecrets: flags.workerImagePullSecrets
      ?.split(",")
      .map((s) => s.trim())
      .filter(Boolean),
    workerEnv: Object.fromEntries(
      inheritedWorkerEnv.flatMap((name) => (env[name] ? [[name, env[name]] as const] : [])),
    ),
    metricsHost: flags.metricsHost,
    metricsPort: Number(flags.metricsPort),
    reconcileIntervalMs: Number(flags.reconcileInterval),
    roomWarmupSeconds: Number(flags.roomWarmup),
  };
}

/** Adds `livehost operator` to the CLI; SIGTERM or SIGINT stops it cleanly. */
export function registerOperatorCommand(program: Command): Command {
  const option = (flags: string, description: string, env: string, fallback?: string) => {
    const o = new Option(flags, description).env(env);
    return fallback === undefined ? o : o.default(fallback);
  };
  return program
    .command("operator")
    .description("scale GPU worker pools and GPU nodes across clouds (Kubernetes operator)")
    .addOption(
      option(
        "--kubeconfig <file>",
        'kubeconfig file, or "in-cluster" for the service account',
        "KUBECONFIG",
        "in-cluster",
      ),
    )
    .addOption(
      option(
        "--namespace <ns>",
        "namespace of WorkerPools, GpuOfferings, LiveEvents, worker Deployments and the Lease",
        "LIVEHOST_NAMESPACE",
        "livehost",
      ),
    )
    .addOption(
      option(
        "--lease-name <name>",
        "coordination.k8s.io Lease for leader election",
        "LIVEHOST_LEASE_NAME",
        "livehost-operator",
      ),
    )
    .addOption(option("--id <id>", "this replica's identity in the Lease", "LIVEHOST_ID"))
    .addOption(
      option(
        "--nats-url <urls>",
        "NATS the workers announce on (nats:// or tls://, comma-separated)",
        "LIVEHOST_NATS_URL",
        "nats://127.0.0.1:4222",
      ),
    )
    .addOption(option("--nats-user <user>", "NATS user of the operator", "LIVEHOST_NATS_USER"))
    .addOption(option("--nats-pass <password>", "its password", "LIVEHOST_NATS_PASSWORD"))
    .addOption(option("--nats-creds <file>", "NATS .creds file (instead of a user)", "LIVEHOST_NATS_CREDS"))
    .addOption(option("--nats-tls-ca <file>", "CA of the NATS servers' certificates", "LIVEHOST_NATS_TLS_CA"))
    .addOption(option("--nats-tls-cert <file>", "client certificate for NATS", "LIVEHOST_NATS_TLS_CERT"))
    .addOption(option("--nats-tls-key <file>", "key of --nats-tls-cert", "LIVEHOST_NATS_TLS_KEY"))
    .addOption(
      option(
        "--worker-nats-url <urls>",
        "NATS URLs given to worker pods (default: --nats-url)",
        "LIVEHOST_WORKER_NATS_URL",
      ),
    )
    .addOption(
      option(
        "--worker-nats-auth-secret <name>",
        "Secret with the workers' NATS passwords (they connect as tts-worker / lipsync-worker); none: no credentials",
        "LIVEHOST_WORKER_NATS_AUTH_SECRET",
      ),
    )
    .addOption(
      option(
        "--worker-nats-tts-key <key>",
        "key of the TTS workers' password in that Secret",
        "LIVEHOST_WORKER_NATS_TTS_KEY",
        workerPodDefaults.natsAuthKeys.tts,
      ),
    )
    .addOption(
      option(
        "--worker-nats-lipsync-key <key>",
        "key of the lip-sync workers' password in that Secret",
        "LIVEHOST_WORKER_NATS_LIPSYNC_KEY",
        workerPodDefaults.natsAuthKeys.lipsync,
      ),
    )
    .addOption(
      option(
        "--worker-nats-tls-secret <name>",
        "Secret whose ca.crt the workers trust for NATS",
        "LIVEHOST_WORKER_NATS_TLS_SECRET",
      ),
    )
    .addOption(
      option(
        "--worker-grpc-tls-secret <name>",
        "kubernetes.io/tls Secret with the workers' gRPC certificate (tls.crt, tls.key, ca.crt); none: plaintext",
        "LIVEHOST_WORKER_GRPC_TLS_SECRET",
      ),
    )
    .addOption(
      new Option("--worker-grpc-client-auth", "workers require client certificates signed by that ca.crt (mTLS)").env(
        "LIVEHOST_WORKER_GRPC_CLIENT_AUTH",
      ),
    )
    .addOption(
      option(
        "--worker-grpc-port <port>",
        "workers' gRPC port",
        "LIVEHOST_WORKER_GRPC_PORT",
        String(workerPodDefaults.grpcPort),
      ),
    )
    .addOption(
      option(
        "--worker-metrics-port <port>",
        "workers' /metrics port (container port `metrics`)",
        "LIVEHOST_WORKER_METRICS_PORT",
        String(workerPodDefaults.metricsPort),
      ),
    )
    .addOption(
      option(
        "--worker-image-pull-secrets <names>",
        "image pull Secrets of worker pods, comma-separated",
        "LIVEHOST_WORKER_IMAGE_PULL_SECRETS",
      ),
    )
    .addOption(option("--metrics-host <address>", "address /metrics binds", "LIVEHOST_METRICS_HOST", "127.0.0.1"))
    .addOption(option("--metrics-port <port>", "port of /metrics; 0 picks a free one", "LIVEHOST_METRICS_PORT", "0"))
    .addOption(
      option(
        "--reconcile-interval <ms>",
        "a reconcile pass at least this often",
        "LIVEHOST_RECONCILE_INTERVAL_MS",
        "15000",
      ),
    )
    .addOption(
      option(
        "--room-warmup <seconds>",
        "capacity for a scheduled room is up this long before it starts, on top of node boot",
        "LIVEHOST_ROOM_WARMUP_SECONDS",
        "300",
      ),
    )
    .action(async (flags: OperatorFlags) => {
      const stop = new AbortController();
      process.once("SIGTERM", () => stop.abort());
      process.once("SIGINT", () => stop.abort());
      await runOperator(operatorOptionsFromFlags(flags), stop.signal);
      process.exit(0);
    });
}
