// The operator as a role: its options in human units compiled into settings (a bad one named by its flag), and its
// start on the connection the role runner (cli/role.ts) made: the Kubernetes client from a kubeconfig file or the
// pod's service account, worker load, the room directory and the onboarding job queue from NATS, and the control loop;
// close releases the Lease.
import { hostname } from "node:os";
import { randomUUID } from "node:crypto";
import { InvalidArgumentError } from "../errors/index.js";
import {
  AsyncDisposableStack,
  parseDuration,
  type Duration,
  type Logger,
  type Registry,
} from "../observability/index.js";
import { parseNatsServers, parsePort, type NatsConnection } from "../transport/index.js";
import { NatsWorkerDemand } from "./demand.js";
import { RoomDirectoryDemand } from "./room-demand.js";
import { NatsJobQueue } from "./job-queue.js";
import { jobWorkerDefaults, type JobWorkerSettings } from "./job-workers.js";
import { workerPodDefaults, type WorkerPodSettings } from "./workload.js";
import { PolicyFile } from "../trust/index.js";
import { capacityDefaults, type CapacitySettings } from "./capacity.js";

/** The operator's own options, as `livehost operator` takes them (each is the camelCase of its flag). */
export interface OperatorOptions {
  /** Path of a kubeconfig file; "in-cluster" (the default) uses the pod's service account. */
  kubeconfig?: string;
  namespace: string;
  leaseName: string;
  /** This replica's identity in the Lease. Default: hostname and a random suffix. */
  id?: string;
  /** NATS the workers announce on: nats:// or tls:// URLs, comma-separated. */
  natsUrl: string;
  /** NATS URL given to worker pods; defaults to natsUrl. */
  workerNatsUrl?: string;
  /** Secret with one NATS password per role; workers then connect as tts-worker / lipsync-worker. */
  workerNatsAuthSecret?: string;
  /** Keys of that Secret for each worker kind (default: the role names, tts-worker and lipsync-worker). */
  workerNatsTtsKey?: string;
  workerNatsLipsyncKey?: string;
  /** Secret with ca.crt of the NATS servers' CA, mounted into worker pods. */
  workerNatsTlsSecret?: string;
  /** kubernetes.io/tls Secret with the workers' gRPC server certificate. */
  workerGrpcTlsSecret?: string;
  /** Workers require client certificates signed by that Secret's ca.crt (mTLS). */
  workerGrpcClientAuth?: boolean;
  workerGrpcPort?: number | string;
  workerMetricsPort?: number | string;
  /** Names, as a list or comma-separated. */
  workerImagePullSecrets?: string[] | string;
  /** Copied into every worker pod (the CLI passes its own LIVEHOST_LOG_LEVEL and OTLP exporter settings). */
  workerEnv?: Record<string, string>;
  /** A reconcile pass at least this often: a bare number is milliseconds. Default 15 s. */
  reconcileInterval?: Duration;
  /** Capacity for a scheduled room is up this long before it starts, on top of node boot: a bare number is
   * seconds. Default 5 min. */
  roomWarmup?: Duration;
  /** The gateway's policy file: pools are sized for every tier with the shares lower tiers leave to higher ones. */
  tenantPolicy?: string;
  /** Image of Karpenter placeholder pods (a pause image). */
  placeholderImage?: string;
  /** PriorityClass of placeholder pods, below the workers' (the chart makes it). */
  placeholderPriorityClass?: string;
  /** Taint keys that mean a spot node has an interruption notice, as a list or comma-separated. */
  spotNoticeTaints?: string[] | string;
  /** The onboarding job workers' Deployment (in `namespace`) to size from their queue; none: left alone. */
  jobWorkersDeployment?: string;
  /** Job workers at least (default 1) and at most (default 10). */
  jobWorkersMin?: number | string;
  jobWorkersMax?: number | string;
  /** Job workers follow a fall in jobs only after this long: a bare number is seconds. Default 5 min. */
  jobWorkersScaleDownDelay?: Duration;
}

/** The operator's options, compiled: what its start and the worker Deployments see. */
export interface OperatorRunSettings {
  kubeconfig: string;
  namespace: string;
  leaseName: string;
  identity: string;
  workers: WorkerPodSettings;
  reconcileIntervalMs: number;
  roomWarmupMs: number;
  tenantPolicy?: string;
  capacity: CapacitySettings;
  /** The job workers' Deployment and its bounds, where the operator sizes it. */
  jobWorkers?: JobWorkerSettings;
}

const dnsLabel = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const dnsSubdomain = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;
/** Secret data keys: alphanumerics, '-', '_' and '.'. */
const secretKey = /^[-._a-zA-Z0-9]{1,253}$/;

/** Environment variables of the operator that every worker gets as well. */
export const inheritedWorkerEnv = ["LIVEHOST_LOG_LEVEL", "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_TRACES_EXPORTER"];

function objectName(value: string | undefined, field: string): string | undefined {
  if (value === undefined || value === "") return undefined;
  if (!dnsSubdomain.test(value)) throw new InvalidArgumentError(field, `"${value}" is not a Kubernetes object name`);
  return value;
}

function compileWorkers(options: OperatorOptions): WorkerPodSettings {
  const natsUrl = options.workerNatsUrl || options.natsUrl;
  parseNatsServers(natsUrl, options.workerNatsUrl ? "--worker-nats-url" : "--nats-url");
  const authSecret = objectName(options.workerNatsAuthSecret, "--worker-nats-auth-secret");
  const keys = {
    tts: options.workerNatsTtsKey ?? workerPodDefaults.natsAuthKeys.tts,
    lipsync: options.workerNatsLipsyncKey ?? workerPodDefaults.natsAuthKeys.lipsync,
  };
  for (const [kind, key] of Object.entries(keys)) {
    if (!secretKey.test(key)) {
      throw new InvalidArgumentError(`--worker-nats-${kind}-key`, `"${key}" is not a Secret key`);
    }
  }
  const grpcTlsSecret = objectName(options.workerGrpcTlsSecret, "--worker-grpc-tls-secret");
  if (options.workerGrpcClientAuth && !grpcTlsSecret) {
    throw new InvalidArgumentError("--worker-grpc-client-auth", "needs --worker-grpc-tls-secret");
  }
  const pullSecrets = options.workerImagePullSecrets ?? [];
  const imagePullSecrets = (typeof pullSecrets === "string" ? pullSecrets.split(",") : pullSecrets)
    .map((s) => s.trim())
    .filter(Boolean)
    .map((name) => objectName(name, "--worker-image-pull-secrets")!);
  const grpcPort = parsePort(options.workerGrpcPort ?? workerPodDefaults.grpcPort, "--worker-grpc-port", 1);
  const metricsPort = parsePort(options.workerMetricsPort ?? workerPodDefaults.metricsPort, "--worker-metrics-port", 1);
  if (grpcPort === metricsPort) {
    throw new InvalidArgumentError("--worker-metrics-port", `must differ from --worker-grpc-port (${grpcPort})`);
  }
  return {
    natsUrl,
    natsAuth: authSecret ? { secretName: authSecret, keys } : undefined,
    natsTlsSecret: objectName(options.workerNatsTlsSecret, "--worker-nats-tls-secret"),
    grpcTls: grpcTlsSecret
      ? { secretName: grpcTlsSecret, requireClientCert: options.workerGrpcClientAuth ?? false }
      : undefined,
    grpcPort,
    metricsPort,
    terminationGracePeriodSeconds: workerPodDefaults.terminationGracePeriodSeconds,
    imagePullSecrets,
    env: options.workerEnv ?? {},
  };
}

/** Options checked and defaults filled; a bad one throws InvalidArgumentError naming its flag. */
export function compileOperatorOptions(options: OperatorOptions): OperatorRunSettings {
  if (!dnsLabel.test(options.namespace)) {
    throw new InvalidArgumentError("--namespace", `"${options.namespace}" is not a Kubernetes namespace name`);
  }
  if (!dnsLabel.test(options.leaseName)) {
    throw new InvalidArgumentError("--lease-name", `"${options.leaseName}" is not a Kubernetes object name`);
  }
  return {
    kubeconfig: options.kubeconfig ?? "in-cluster",
    namespace: options.namespace,
    leaseName: options.leaseName,
    identity: options.id ?? `${hostname()}-${randomUUID().slice(0, 8)}`,
    workers: compileWorkers(options),
    reconcileIntervalMs: parseDuration(options.reconcileInterval ?? 15_000, "--reconcile-interval", {
      bare: "ms",
      minMs: 100,
    }),
    roomWarmupMs: parseDuration(options.roomWarmup ?? 300, "--room-warmup", { bare: "s" }),
    tenantPolicy: options.tenantPolicy || undefined,
    capacity: compileCapacity(options),
    jobWorkers: compileJobWorkers(options),
  };
}

/** A whole number of replicas from a flag ("4") or a number. */
function replicaCount(value: number | string, field: string): number {
  const n = typeof value === "number" ? value : value.trim() === "" ? NaN : Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 10_000) {
    throw new InvalidArgumentError(field, `must be a whole number of replicas from 0 to 10000, got "${value}"`);
  }
  return n;
}

function compileJobWorkers(options: OperatorOptions): JobWorkerSettings | undefined {
  const deployment = objectName(options.jobWorkersDeployment, "--job-workers-deployment");
  if (!deployment) return undefined;
  const minReplicas = replicaCount(options.jobWorkersMin ?? jobWorkerDefaults.minReplicas, "--job-workers-min");
  const maxReplicas = replicaCount(options.jobWorkersMax ?? jobWorkerDefaults.maxReplicas, "--job-workers-max");
  if (maxReplicas < 1) throw new InvalidArgumentError("--job-workers-max", "must be at least 1");
  if (minReplicas > maxReplicas) {
    throw new InvalidArgumentError(
      "--job-workers-min",
      `must not exceed --job-workers-max (${minReplicas} > ${maxReplicas})`,
    );
  }
  return {
    deployment,
    minReplicas,
    maxReplicas,
    jobsPerWorker: jobWorkerDefaults.jobsPerWorker,
    scaleDownDelayMs: parseDuration(
      options.jobWorkersScaleDownDelay ?? jobWorkerDefaults.scaleDownDelaySeconds,
      "--job-workers-scale-down-delay",
      { bare: "s", maxMs: 24 * 3_600_000 },
    ),
  };
}

/** Taint keys: an optional DNS-subdomain prefix and a name (as Kubernetes checks them). */
const taintKey = /^([a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;

function compileCapacity(options: OperatorOptions): CapacitySettings {
  const taints = options.spotNoticeTaints ?? capacityDefaults.spotNoticeTaints;
  const spotNoticeTaints = (typeof taints === "string" ? taints.split(",") : taints)
    .map((t) => t.trim())
    .filter(Boolean);
  for (const key of spotNoticeTaints) {
    if (!taintKey.test(key)) throw new InvalidArgumentError("--spot-notice-taints", `"${key}" is not a taint key`);
  }
  const image = options.placeholderImage || capacityDefaults.placeholderImage;
  if (/\s/.test(image)) throw new InvalidArgumentError("--placeholder-image", `"${image}" is not an image reference`);
  return {
    placeholderImage: image,
    placeholderPriorityClass:
      objectName(options.placeholderPriorityClass, "--placeholder-priority-class") ??
      capacityDefaults.placeholderPriorityClass,
    spotNoticeTaints,
  };
}

export interface OperatorRole extends AsyncDisposable {
  /** Stops actuating and releases the Lease, then stops reading demand from NATS. */
  close(): Promise<void>;
}

/** Starts the operator on a NATS connection the caller owns (the role runner's). */
export async function startOperatorRole(
  settings: OperatorRunSettings,
  ctx: { nats: NatsConnection; registry: Registry; logger: Logger },
): Promise<OperatorRole> {
  // The Kubernetes client (most of a second to load) and the control loop are loaded here, where the operator runs:
  // every role process and CLI command imports this folder for the operator's options.
  const [{ KubeConfig }, { startOperator }] = await Promise.all([
    import("@kubernetes/client-node"),
    import("./controller.js"),
  ]);
  const kubeConfig = new KubeConfig();
  if (settings.kubeconfig === "in-cluster") kubeConfig.loadFromCluster();
  else kubeConfig.loadFromFile(settings.kubeconfig);
  await using undo = new AsyncDisposableStack();
  const workerDemand = undo.use(new NatsWorkerDemand(ctx));
  const policy = settings.tenantPolicy
    ? undo.use(await PolicyFile.open(settings.tenantPolicy, { logger: ctx.logger }))
    : undefined;
  const tierOf = policy && ((tenant: string) => policy.current.tenants.get(tenant)?.tier);
  const demand = undo.use(new RoomDirectoryDemand({ ...ctx, workers: workerDemand, tierOf }));
  const operator = await startOperator({
    kubeConfig,
    namespace: settings.namespace,
    leaseName: settings.leaseName,
    identity: settings.identity,
    demand,
    registry: ctx.registry,
    logger: ctx.logger,
    workers: settings.workers,
    reconcileIntervalMs: settings.reconcileIntervalMs,
    roomWarmupMs: settings.roomWarmupMs,
    capacity: settings.capacity,
    jobWorkers: settings.jobWorkers && { ...settings.jobWorkers, queue: new NatsJobQueue({ nats: ctx.nats }) },
  });
  undo.use(operator);
  const teardown = undo.move();
  const close = () => teardown.disposeAsync();
  return { close, [Symbol.asyncDispose]: close };
}
