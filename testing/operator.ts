// startTestOperator(): the real operator (startOperator) against the Kubernetes API test server, with its demand from
// worker announcements on a real nats-server (and, when asked, the room directory in its KV bucket and the onboarding
// job queue), short lease and reconcile periods, and everything stopped in reverse order with `await using`. The
// operator module (and client-node) is loaded on first use, so tests that import testing/ for something else do not
// pay for it.
import type { NatsConnection } from "@nats-io/transport-node";
import { AsyncDisposableStack, createLogger, createRegistry, type Registry } from "../observability/index.js";
import type { JobWorkerSettings, Operator } from "../operator/internal.js";
import { WorkerAnnouncement, WorkerKind, WorkerState, subjects } from "../proto/index.js";
import { connectNats } from "../transport/index.js";
import { KubeApiTestServer, type KubeObject } from "./kube-api-server.js";
import { startNatsServer } from "./nats.js";

export interface TestOperatorOptions {
  /** Namespace of the custom resources, Deployments, Lease and Events. Default "livehost". */
  namespace?: string;
  /** JetStream on the nats-server (the room directory needs it). Default false. */
  jetstream?: boolean;
  /**
   * Demand from the room directory as well as from the workers (RoomDirectoryDemand, as `livehost operator` runs
   * it), retrying an unreadable directory after 0.1 s and 0.5 s. Default: the workers' announcements alone.
   */
  roomDirectory?: boolean;
  /** Objects in the API before the operator starts, as [plural, object]. */
  objects?: readonly (readonly [plural: string, object: KubeObject])[];
  /**
   * Size this job-worker Deployment from the JOB_QUEUE consumer on the nats-server (NatsJobQueue, as `livehost
   * operator` runs it; needs `jetstream`). Default bounds 1 to 10, one job per worker, a 1 s scale-down delay.
   */
  jobWorkers?: Partial<JobWorkerSettings> & { deployment: string };
}

export interface TestOperator extends AsyncDisposable {
  kube: KubeApiTestServer;
  /** A connection to the operator's nats-server. */
  nats: NatsConnection;
  /** Its URL, e.g. for the workers' settings. */
  natsUrl: string;
  operator: Operator;
  registry: Registry;
  namespace: string;
  /** A TTS worker's announcement: READY, `activeStreams` of 4, for a minute. */
  announce(workerId: string, activeStreams: number): Promise<void>;
  /** The operator's metrics in the Prometheus text format. */
  metrics(): Promise<string>;
}

/** Lease name and identity of the operator it starts. */
export const testOperatorLease = { name: "livehost-operator", identity: "operator-1" } as const;

/** The GpuOffering spec the operator tests start from (its capacity lanes are each test's own). */
export const testGpuOfferingSpec = {
  cloud: "aliyun",
  region: "cn-hangzhou",
  instanceType: "ecs.gn7i",
  gpuType: "L4",
  gpusPerNode: 4,
  quota: { maxNodes: 10 },
} as const;

/** The WorkerPool spec the operator tests start from: a TTS pool of 4 streams per L4 replica, 1 to 20 replicas. */
export const testWorkerPoolSpec = {
  kind: "tts",
  image: "livehost:test",
  gpu: { type: "L4" },
  streamsPerReplica: 4,
  minReplicas: 1,
  maxReplicas: 20,
  headroomPercent: 0,
  scaleDownCooldownSeconds: 0,
} as const;

export async function startTestOperator(options: TestOperatorOptions = {}): Promise<TestOperator> {
  const { NatsJobQueue, NatsWorkerDemand, RoomDirectoryDemand, startOperator, workerPodDefaults } =
    await import("../operator/internal.js");
  const namespace = options.namespace ?? "livehost";
  await using stack = new AsyncDisposableStack();
  const kube = stack.use(await KubeApiTestServer.start());
  const server = stack.use(await startNatsServer({ jetstream: options.jetstream ?? false }));
  const nats = await connectNats({ servers: [server.url], name: "test" });
  stack.defer(() => nats.close());
  const logger = createLogger({ level: "silent" });
  const registry = createRegistry();
  const workers = stack.use(new NatsWorkerDemand({ nats, logger, registry }));
  const demand = options.roomDirectory
    ? stack.use(new RoomDirectoryDemand({ nats, workers, logger, registry, retryMs: [100, 500] }))
    : workers;
  for (const [plural, object] of options.objects ?? []) kube.put(plural, object);
  const operator = stack.use(
    await startOperator({
      kubeConfig: kube.kubeConfig(namespace),
      namespace,
      leaseName: testOperatorLease.name,
      identity: testOperatorLease.identity,
      demand,
      registry,
      logger,
      workers: {
        natsUrl: server.url,
        grpcPort: workerPodDefaults.grpcPort,
        metricsPort: workerPodDefaults.metricsPort,
        terminationGracePeriodSeconds: workerPodDefaults.terminationGracePeriodSeconds,
        imagePullSecrets: [],
        env: {},
      },
      reconcileIntervalMs: 200,
      jobWorkers: options.jobWorkers && {
        minReplicas: 1,
        maxReplicas: 10,
        jobsPerWorker: 1,
        scaleDownDelayMs: 1000,
        ...options.jobWorkers,
        queue: new NatsJobQueue({ nats }),
      },
      leaseDurationMs: 3000,
      renewDeadlineMs: 2000,
      retryPeriodMs: 200,
    }),
  );
  const teardown = stack.move();
  return {
    kube,
    nats,
    natsUrl: server.url,
    operator,
    registry,
    namespace,
    async announce(workerId, activeStreams) {
      const announcement = WorkerAnnouncement.create({
        workerId,
        kind: WorkerKind.WORKER_KIND_TTS,
        state: WorkerState.WORKER_STATE_READY,
        maxStreams: 4,
        activeStreams,
        ttlMs: 60_000,
      });
      nats.publish(subjects.workerAnnounce("tts"), WorkerAnnouncement.encode(announcement).finish());
      await nats.flush();
    },
    metrics: () => registry.metrics(),
    [Symbol.asyncDispose]: () => teardown.disposeAsync(),
  };
}
