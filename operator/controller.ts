// The control loop, as observe → decide → actuate. The Observer keeps the WorkerPools, GpuOfferings, LiveEvents, the
// pools' Deployments and pods and the nodes in memory and hands each pass a Snapshot; plan.ts decides on it (pure,
// over decide.ts) and the Actuator writes the result, first for the workers, then for the GPU nodes they need, then
// (where it sizes them) for the onboarding job workers. Passes run on a change and every interval, one at a time, and
// write only while this process holds the leader Lease.
import { CoordinationV1Api, type KubeConfig } from "@kubernetes/client-node";
import { SpanStatusCode } from "@opentelemetry/api";
import { tracer, type Logger, type Registry } from "../observability/index.js";
import { Actuator } from "./actuate.js";
import type { DemandSource } from "./demand.js";
import { NotLeaderError } from "./errors.js";
import type { JobQueueSource } from "./job-queue.js";
import { planJobWorkerDeployment, type JobWorkerSettings } from "./job-workers.js";
import { LeaderElector } from "./leader.js";
import { operatorMetrics } from "./metrics.js";
import { Observer } from "./observe.js";
import { capacityDefaults, type CapacitySettings } from "./capacity.js";
import { Memory, planNodes, planWorkloads } from "./plan.js";
import type { WorkerPodSettings } from "./workload.js";

export interface OperatorSettings {
  kubeConfig: KubeConfig;
  /** Namespace of the custom resources, the worker Deployments, the Lease and the Events. */
  namespace: string;
  leaseName: string;
  identity: string;
  demand: DemandSource;
  registry: Registry;
  logger: Logger;
  /** What every worker pod gets: NATS URL and credentials, TLS Secrets, ports (workload.ts). */
  workers: WorkerPodSettings;
  reconcileIntervalMs?: number;
  /** Capacity for a scheduled room is up this long before it starts, on top of node boot. Default 300 s. */
  roomWarmupMs?: number;
  /** Karpenter placeholders and spot notices (capacity.ts); default capacityDefaults. */
  capacity?: Partial<CapacitySettings>;
  /** The onboarding job workers' Deployment, sized from their queue; absent: the operator leaves it alone. */
  jobWorkers?: JobWorkerSettings & { queue: JobQueueSource };
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  now?: () => number;
}

export interface Operator extends AsyncDisposable {
  isLeader(): boolean;
  /** One reconcile pass now (tests; the loop runs them on its own). */
  reconcile(): Promise<void>;
  close(): Promise<void>;
}

/**
 * Runs passes one at a time: a pass asked for while one runs makes one more run after it, and changes in a burst
 * are gathered into one pass 100 ms after the first.
 */
class Passes {
  readonly #pass: () => Promise<void>;
  #scheduled: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #again = false;
  #closed = false;

  constructor(pass: () => Promise<void>) {
    this.#pass = pass;
  }

  schedule(): void {
    if (this.#closed || this.#scheduled) return;
    this.#scheduled = setTimeout(() => {
      this.#scheduled = undefined;
      void this.run();
    }, 100);
  }

  async run(): Promise<void> {
    if (this.#running) {
      this.#again = true;
      return this.#running;
    }
    this.#running = (async () => {
      do {
        this.#again = false;
        await this.#pass();
      } while (this.#again && !this.#closed);
    })();
    try {
      await this.#running;
    } finally {
      this.#running = undefined;
    }
  }

  /** No pass starts from now on; resolves when the running one ends. */
  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#scheduled);
    await this.#running;
  }
}

export async function startOperator(settings: OperatorSettings): Promise<Operator> {
  const { kubeConfig, namespace, identity, logger } = settings;
  const now = settings.now ?? Date.now;
  const metrics = operatorMetrics(settings.registry);
  const span = tracer("operator");
  const memory = new Memory();
  const planSettings = {
    namespace,
    workers: settings.workers,
    roomWarmupMs: settings.roomWarmupMs ?? 300_000,
    capacity: { ...capacityDefaults, ...settings.capacity },
  };

  const passes = new Passes(reconcile);
  const observer = new Observer({
    kubeConfig,
    namespace,
    demand: settings.demand,
    logger,
    onChange: () => passes.schedule(),
    jobWorkers: settings.jobWorkers && { deployment: settings.jobWorkers.deployment, queue: settings.jobWorkers.queue },
  });
  const elector = new LeaderElector({
    api: kubeConfig.makeApiClient(CoordinationV1Api),
    namespace,
    name: settings.leaseName,
    identity,
    leaseDurationMs: settings.leaseDurationMs ?? 15_000,
    renewDeadlineMs: settings.renewDeadlineMs ?? 10_000,
    retryPeriodMs: settings.retryPeriodMs ?? 2_000,
    logger,
    onChange: (leader) => {
      metrics.leader.set(leader ? 1 : 0);
      if (leader) passes.schedule();
      else {
        // The leader's figures only: a standby's would be stale (the job workers' alert reads them).
        metrics.onboardingJobs.reset();
        metrics.jobWorkerReplicas.reset();
      }
    },
  });
  const actuator = new Actuator({
    kubeConfig,
    namespace,
    identity,
    logger,
    metrics,
    now,
    isLeader: () => elector.isLeader(),
    onNodesRequested: (laneKey, at) => memory.raisedAt.set(laneKey, at),
  });

  /**
   * Observe, decide and actuate the workers; then decide and actuate the GPU nodes they need. A decision is remembered
   * (the cooldown's recommendations, the lanes' health) before its writes, as it is made whatever the API answers.
   */
  async function pass(): Promise<void> {
    const world = await observer.look(now());
    for (const { gpuType, sample } of memory.observeLeads(world)) {
      metrics.lead.observe({ gpu_type: gpuType, phase: sample.phase }, sample.seconds);
    }
    const workloads = planWorkloads(world, memory, planSettings);
    memory.rememberPools(workloads);
    await actuator.applyWorkloads(workloads);
    const nodes = planNodes(world, workloads, memory, planSettings);
    memory.rememberLanes(nodes);
    await actuator.applyNodes(nodes);
    // After the writes: a notice whose Event and eviction could not be written is told again next pass.
    memory.rememberNotices(nodes);
    if (settings.jobWorkers && world.jobWorkers) {
      const jobs = planJobWorkerDeployment(world.jobWorkers, memory.jobWorkerHistory, settings.jobWorkers, world.now);
      if (jobs.history) memory.jobWorkerHistory = jobs.history;
      await actuator.applyJobWorkers(jobs);
    }
  }

  async function reconcile(): Promise<void> {
    if (!elector.isLeader() || !observer.synced) {
      metrics.reconciles.inc({ result: "not_leader" });
      return;
    }
    await span.startActiveSpan("operator.reconcile", async (s) => {
      try {
        await pass();
        metrics.reconciles.inc({ result: "ok" });
      } catch (err) {
        const notLeader = err instanceof NotLeaderError;
        metrics.reconciles.inc({ result: notLeader ? "not_leader" : "error" });
        if (!notLeader) {
          s.recordException(err as Error);
          s.setStatus({ code: SpanStatusCode.ERROR });
          logger.warn({ err }, "reconcile failed; retrying on the next pass");
        }
      } finally {
        s.end();
      }
    });
  }

  const stop = new AbortController();
  const election = elector.run(stop.signal);
  await observer.start();
  const interval = setInterval(() => void passes.run(), settings.reconcileIntervalMs ?? 15_000);

  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    clearInterval(interval);
    stop.abort();
    await passes.close();
    await election;
    await observer.stop();
  };
  return {
    isLeader: () => elector.isLeader(),
    reconcile: () => passes.run(),
    close,
    [Symbol.asyncDispose]: close,
  };
}
