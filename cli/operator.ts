// `livehost operator`: the operator's flags (with the environment variables the chart sets) become its options, one
// compile names a bad one, and the operator runs through the same role runner as every other role; SIGTERM stops
// actuating and releases the leader Lease so a standby takes over at once.
import { Option, type Command } from "commander";
import {
  capacityDefaults,
  compileOperatorOptions,
  inheritedWorkerEnv,
  jobWorkerDefaults,
  startOperatorRole,
  workerPodDefaults,
  type OperatorOptions,
  type OperatorRunSettings,
} from "../operator/index.js";
import { addProcessOptions, compileProcessOptions, type ProcessOptions, type ProcessSettings } from "./config.js";
import { runRole, startRole, type RoleContext, type RunningRole, type StartedRole } from "./role.js";

/** Everything `livehost operator` takes: the process's options (NATS, /metrics) and the operator's own. */
export type OperatorCommandOptions = ProcessOptions & OperatorOptions;

export interface OperatorCommandSettings {
  process: ProcessSettings;
  operator: OperatorRunSettings;
}

/** Compiles the operator's options; workers inherit the variables in `inheritedWorkerEnv` from `env`. */
export function compileOperatorCommand(
  options: OperatorCommandOptions,
  env: NodeJS.ProcessEnv = process.env,
): OperatorCommandSettings {
  const workerEnv =
    options.workerEnv ??
    Object.fromEntries(inheritedWorkerEnv.flatMap((name) => (env[name] ? [[name, env[name]] as const] : [])));
  const operator = compileOperatorOptions({ ...options, workerEnv });
  const nats = {
    servers: options.natsUrl,
    field: "--nats-url",
    name: `livehost-operator/${operator.identity}`,
  } as const;
  // The operator serves no gRPC, so it has no gRPC TLS of its own.
  return { process: { ...compileProcessOptions(options, nats), grpcTls: undefined }, operator };
}

function startWith(settings: OperatorRunSettings) {
  return async (ctx: RoleContext): Promise<StartedRole> => {
    const operator = await startOperatorRole(settings, ctx);
    return { endpoints: {}, close: () => operator.close() };
  };
}

/** Starts the operator in this process (tests, and any embedding); `stop` releases the Lease. */
export async function startOperatorProcess(options: OperatorCommandOptions): Promise<RunningRole> {
  const settings = compileOperatorCommand(options);
  return startRole("operator", settings.process, startWith(settings.operator));
}

/** Adds `livehost operator` to the CLI. */
export function registerOperatorCommand(program: Command): Command {
  const option = (flags: string, description: string, env: string, fallback?: string) => {
    const o = new Option(flags, description).env(env);
    return fallback === undefined ? o : o.default(fallback);
  };
  const command = program
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
    );
  return addProcessOptions(command, "--nats-url", "NATS the workers announce on (nats:// or tls://, comma-separated)")
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
    .addOption(
      option(
        "--reconcile-interval <ms>",
        'a reconcile pass at least this often (milliseconds, or with a unit: "15s")',
        "LIVEHOST_RECONCILE_INTERVAL_MS",
        "15000",
      ),
    )
    .addOption(
      option(
        "--room-warmup <seconds>",
        'capacity for a scheduled room is up this long before it starts, on top of node boot (or with a unit: "5m")',
        "LIVEHOST_ROOM_WARMUP_SECONDS",
        "300",
      ),
    )
    .addOption(
      option(
        "--placeholder-image <image>",
        "image of the placeholder pods that hold Karpenter capacity ahead of the workers (a pause image)",
        "LIVEHOST_PLACEHOLDER_IMAGE",
        capacityDefaults.placeholderImage,
      ),
    )
    .addOption(
      option(
        "--placeholder-priority-class <name>",
        "PriorityClass of the placeholder pods, below the workers' (the chart makes it)",
        "LIVEHOST_PLACEHOLDER_PRIORITY_CLASS",
        capacityDefaults.placeholderPriorityClass,
      ),
    )
    .addOption(
      option(
        "--spot-notice-taints <keys>",
        "taint keys that mean a spot node has an interruption notice, comma-separated",
        "LIVEHOST_SPOT_NOTICE_TAINTS",
        capacityDefaults.spotNoticeTaints.join(","),
      ),
    )
    .addOption(
      option(
        "--job-workers-deployment <name>",
        "the onboarding job workers' Deployment to size from their queue (JOB_QUEUE); none: left alone",
        "LIVEHOST_JOB_WORKERS_DEPLOYMENT",
      ),
    )
    .addOption(
      option(
        "--job-workers-min <n>",
        "job workers at least",
        "LIVEHOST_JOB_WORKERS_MIN",
        String(jobWorkerDefaults.minReplicas),
      ),
    )
    .addOption(
      option(
        "--job-workers-max <n>",
        "job workers at most (one job runs on one worker)",
        "LIVEHOST_JOB_WORKERS_MAX",
        String(jobWorkerDefaults.maxReplicas),
      ),
    )
    .addOption(
      option(
        "--job-workers-scale-down-delay <seconds>",
        'job workers follow a fall in jobs only after this long (or with a unit: "5m")',
        "LIVEHOST_JOB_WORKERS_SCALE_DOWN_DELAY",
        String(jobWorkerDefaults.scaleDownDelaySeconds),
      ),
    )
    .addOption(
      option(
        "--tenant-policy <file>",
        "the gateway's policy (YAML): rooms are sized by their tenant's tier (re-read when it changes)",
        "LIVEHOST_TENANT_POLICY",
      ),
    )
    .action(async (options: OperatorCommandOptions) => {
      const settings = compileOperatorCommand(options);
      await runRole("operator", settings.process, startWith(settings.operator));
    });
}
