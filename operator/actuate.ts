// Carries a pass's plan (plan.ts) out through the Kubernetes API: status conditions, the pools' Deployments and pod
// marks, the node groups (Cluster API MachineDeployment scale, Karpenter NodePool GPU limit, nodes cordoned first),
// the job workers' Deployment scale (job-workers.ts), Events, and the metrics that report each. Every write first
// checks leadership; one object the API refuses is logged and left to the next pass, so it does not hold up the
// others.
import {
  AppsV1Api,
  CoreV1Api,
  CustomObjectsApi,
  PatchStrategy,
  setHeaderOptions,
  type KubeConfig,
} from "@kubernetes/client-node";
import type { Logger } from "../observability/index.js";
import { laneKey } from "./decide.js";
import { NotLeaderError, isConflict, isNotFound } from "./errors.js";
import { EventRecorder } from "./events.js";
import type { JobWorkerPlan } from "./job-workers.js";
import type { OperatorMetrics } from "./metrics.js";
import {
  cordonedByOperator,
  offeringStatus,
  type InvalidObject,
  type LanePlan,
  type NodePlan,
  type PodMark,
  type PoolPlan,
  type WorkloadPlan,
} from "./plan.js";
import { group, version, type GpuOffering, type LiveEvent, type WorkerPool } from "./resources.js";
import { deploymentName, gpuResource } from "./workload.js";

const mergePatchHeader = setHeaderOptions("Content-Type", PatchStrategy.MergePatch);

export interface ActuatorOptions {
  kubeConfig: KubeConfig;
  /** Namespace of the custom resources, the worker Deployments and the Events. */
  namespace: string;
  identity: string;
  logger: Logger;
  metrics: OperatorMetrics;
  now: () => number;
  /** Every write checks it first: a process that lost the Lease writes nothing more. */
  isLeader: () => boolean;
  /** A lane's node group was asked for more nodes (its capacity conditions before then are about an earlier ask). */
  onNodesRequested: (laneKey: string, at: number) => void;
}

type Plural = "workerpools" | "gpuofferings" | "liveevents";

export class Actuator {
  readonly #options: ActuatorOptions;
  readonly #custom: CustomObjectsApi;
  readonly #apps: AppsV1Api;
  readonly #core: CoreV1Api;
  readonly #events: EventRecorder;
  /** When each lane started waiting for nodes, for the provisioning-time histogram. */
  readonly #provisioningSince = new Map<string, number>();
  /** Each Karpenter lane's placeholder GPUs as last written. */
  readonly #placeholderGpus = new Map<string, number>();
  /** Why the job workers were last left unsized (logged once per cause). */
  #jobWorkersProblem: string | undefined;

  constructor(options: ActuatorOptions) {
    this.#options = options;
    const kc = options.kubeConfig;
    this.#custom = kc.makeApiClient(CustomObjectsApi);
    this.#apps = kc.makeApiClient(AppsV1Api);
    this.#core = kc.makeApiClient(CoreV1Api);
    this.#events = new EventRecorder({
      core: this.#core,
      namespace: options.namespace,
      identity: options.identity,
      now: options.now,
      guard: () => this.#guard(),
    });
  }

  #guard(): void {
    if (!this.#options.isLeader()) throw new NotLeaderError();
  }

  /** The custom resources' validity and status, and the pools' Deployments. */
  async applyWorkloads(plan: WorkloadPlan): Promise<void> {
    const { metrics } = this.#options;
    let invalidOfferings = 0;
    for (const offering of plan.offerings) {
      if (offering.valid) continue;
      invalidOfferings++;
      await this.#isolated("GpuOffering", offering.object.metadata.name, () =>
        this.#markInvalid("gpuofferings", offering),
      );
    }
    metrics.invalid.set({ kind: "GpuOffering" }, invalidOfferings);

    let invalidEvents = 0;
    for (const event of plan.liveEvents) {
      if (!event.valid) invalidEvents++;
      await this.#isolated("LiveEvent", event.object.metadata.name, () =>
        event.valid
          ? this.#writeStatus("liveevents", event.object, event.status)
          : this.#markInvalid("liveevents", event),
      );
    }
    metrics.invalid.set({ kind: "LiveEvent" }, invalidEvents);

    let invalidPools = 0;
    for (const pool of plan.pools) {
      if (!pool.valid) {
        invalidPools++;
        await this.#isolated("WorkerPool", pool.object.metadata.name, () => this.#markInvalid("workerpools", pool));
        continue;
      }
      await this.#isolated("WorkerPool", pool.name, () => this.#applyPool(pool, plan));
      const labels = { pool: pool.name, kind: pool.kind };
      metrics.poolReplicas.set({ ...labels, state: "desired" }, pool.replicas.desired);
      metrics.poolReplicas.set({ ...labels, state: "actual" }, pool.replicas.actual);
      metrics.poolReplicas.set({ ...labels, state: "ready" }, pool.replicas.ready);
      metrics.poolStreams.set({ ...labels, state: "active" }, pool.streams.active);
      metrics.poolStreams.set({ ...labels, state: "needed" }, pool.streams.needed);
    }
    metrics.invalid.set({ kind: "WorkerPool" }, invalidPools);
  }

  async #applyPool(pool: PoolPlan, plan: WorkloadPlan): Promise<void> {
    const { namespace } = this.#options;
    const step = pool.deployment;
    if (step.action === "create") {
      this.#guard();
      await this.#apps.createNamespacedDeployment({ namespace, body: step.body });
      await this.#events.emit(pool.object, step.event);
    } else {
      await this.#markPods(pool.podMarks);
      if (step.action === "roll") {
        this.#guard();
        try {
          await this.#apps.replaceNamespacedDeployment({ name: deploymentName(pool.name), namespace, body: step.body });
          await this.#events.emit(pool.object, step.event);
        } catch (err) {
          // A stale resourceVersion: the informer brings the newer Deployment and the next pass rolls it.
          if (!isConflict(err)) throw err;
        }
      } else if (step.action === "scale") {
        this.#guard();
        const name = deploymentName(pool.name);
        const scale = await this.#apps.readNamespacedDeploymentScale({ name, namespace });
        await this.#apps.replaceNamespacedDeploymentScale({
          name,
          namespace,
          body: { ...scale, spec: { replicas: step.replicas } },
        });
      }
    }
    if (plan.roomDirectory) await this.#events.roomDirectory(pool.object, plan.roomDirectory);
    for (const event of pool.events) await this.#events.emit(pool.object, event);
    await this.#writeStatus("workerpools", pool.object, pool.status);
  }

  async #markPods(marks: readonly PodMark[]): Promise<void> {
    for (const mark of marks) {
      this.#guard();
      await this.#core.patchNamespacedPod(
        { name: mark.pod, namespace: this.#options.namespace, body: { metadata: { annotations: mark.annotations } } },
        mergePatchHeader,
      );
    }
  }

  /** The lanes' failovers and node groups, then the offerings' status with the node counts as written. */
  async applyNodes(plan: NodePlan): Promise<void> {
    const { metrics } = this.#options;
    const t = plan.now;
    for (const lane of plan.lanes) {
      const key = laneKey(lane);
      const labels = { offering: lane.offering, capacity_type: lane.capacityType };
      if (lane.failover) {
        metrics.failovers.inc(labels);
        const failover = lane.failover;
        await this.#isolated("GpuOffering", lane.offering, () => this.#events.emit(lane.object, failover));
      }
      if (lane.desiredNodes > lane.readyNodes) {
        if (!this.#provisioningSince.has(key)) this.#provisioningSince.set(key, t);
      } else if (this.#provisioningSince.has(key)) {
        metrics.provisioning.observe(labels, (t - this.#provisioningSince.get(key)!) / 1000);
        this.#provisioningSince.delete(key);
      }
    }

    for (const [gpuType, gpus] of plan.shortfall) metrics.urgentShortfall.set({ gpu_type: gpuType }, gpus);
    const written = new Map<string, number>();
    for (const lane of plan.lanes) {
      const key = laneKey(lane);
      const labels = { offering: lane.offering, capacity_type: lane.capacityType };
      let nodes = lane.desiredNodes;
      await this.#isolated("GpuOffering", lane.offering, async () => {
        // The replacement for a node under notice is asked for first; its workers are drained after.
        if (lane.placeholders) await this.#applyPlaceholders(lane.placeholders);
        if (lane.limitGpus !== undefined) await this.#setNodePoolLimit(lane, lane.limitGpus);
        const resize = lane.resize;
        if (resize) {
          await this.#resizeMachineDeployment(lane, resize.remove, resize.to);
          if (resize.to > lane.desiredNodes) this.#options.onNodesRequested(key, t);
          await this.#events.emit(lane.object, resize.event);
        }
        // The autoscaler's bounds once the size is written: its minimum never runs ahead of the replicas.
        if (lane.bounds) await this.#annotateMachineDeployment(lane, lane.bounds);
        // A Karpenter lane asked for more: a capacity Event from before this is about an earlier ask.
        if (lane.spec.nodeGroup.karpenterNodePool && lane.target > lane.desiredNodes) {
          this.#options.onNodesRequested(key, t);
        }
        nodes = lane.target;
        for (const uncordon of lane.uncordon) await this.#uncordon(lane, uncordon);
        for (const notice of lane.newNotices) {
          metrics.spotInterruptions.inc(labels);
          await this.#events.emit(lane.object, notice.event);
        }
        for (const pod of lane.evict) {
          this.#guard();
          // One pod refused (a disruption budget, a server error) does not keep the others from draining.
          try {
            if (await this.#evict(pod)) metrics.evictions.inc(labels);
          } catch (err) {
            this.#options.logger.warn(
              { err, pod },
              "worker pod on a node under notice not evicted; the next pass retries",
            );
          }
        }
      });
      metrics.laneNodes.set({ ...labels, state: "desired" }, nodes);
      metrics.laneNodes.set({ ...labels, state: "ready" }, lane.readyNodes);
      const ceiling = lane.verdict.health.ceiling;
      if (ceiling) metrics.laneNodes.set({ ...labels, state: "ceiling" }, ceiling.nodes);
      else metrics.laneNodes.remove({ ...labels, state: "ceiling" });
      metrics.laneAvailable.set(labels, lane.available ? 1 : 0);
      metrics.costRate.set(labels, nodes * lane.pricePerHour);
      if (lane.spec.nodeGroup.karpenterNodePool) {
        metrics.placeholders.set(labels, lane.placeholders?.replicas ?? this.#placeholderGpus.get(key) ?? 0);
        if (lane.placeholders) this.#placeholderGpus.set(key, lane.placeholders.replicas);
      }
      written.set(key, nodes);
    }

    for (const offering of plan.offerings) {
      await this.#isolated("GpuOffering", offering.object.metadata.name, () =>
        this.#writeStatus("gpuofferings", offering.object, offeringStatus(offering, plan.lanes, written, t)),
      );
    }
  }

  /** The job workers' Deployment scaled to the queue (through its scale subresource), its Events, the metrics. */
  async applyJobWorkers(plan: JobWorkerPlan): Promise<void> {
    const { metrics, logger, namespace } = this.#options;
    if (plan.queue.state === "read") {
      metrics.onboardingJobs.set({ state: "queued" }, plan.queue.queued);
      metrics.onboardingJobs.set({ state: "running" }, plan.queue.running);
    } else {
      // Unknown is not zero: no series rather than a stale one.
      metrics.onboardingJobs.reset();
    }
    metrics.jobWorkerMaxReplicas.set(plan.replicas.max);
    if (plan.problem !== this.#jobWorkersProblem) {
      if (plan.problem) logger.warn({ deployment: plan.deployment, problem: plan.problem }, "job workers not sized");
      else logger.info({ deployment: plan.deployment }, "sizing job workers from their queue");
      this.#jobWorkersProblem = plan.problem;
    }
    const object = plan.object;
    if (!object) {
      metrics.jobWorkerReplicas.reset();
      return;
    }
    const target = {
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: object.metadata ?? { name: plan.deployment },
    };
    await this.#isolated("Deployment", plan.deployment, async () => {
      await this.#events.jobQueue(target, plan.queue);
      if (plan.scale !== undefined) {
        this.#guard();
        const name = plan.deployment;
        const scale = await this.#apps.readNamespacedDeploymentScale({ name, namespace });
        await this.#apps.replaceNamespacedDeploymentScale({
          name,
          namespace,
          body: { ...scale, spec: { replicas: plan.scale } },
        });
      }
      for (const event of plan.events) await this.#events.emit(target, event);
    });
    metrics.jobWorkerReplicas.set({ state: "desired" }, plan.replicas.desired);
    metrics.jobWorkerReplicas.set({ state: "actual" }, plan.replicas.actual);
    metrics.jobWorkerReplicas.set({ state: "ready" }, plan.replicas.ready);
  }

  /** Makes a node the operator cordoned schedulable again, and takes back its Machine's mark for deletion. */
  async #uncordon(lane: LanePlan, node: { node: string; machine: string | undefined }): Promise<void> {
    this.#guard();
    await this.#core.patchNode(
      {
        name: node.node,
        body: { spec: { unschedulable: null }, metadata: { annotations: { [cordonedByOperator]: null } } },
      },
      mergePatchHeader,
    );
    const md = lane.spec.nodeGroup.machineDeployment;
    if (node.machine && md) {
      await this.#custom.patchNamespacedCustomObject(
        {
          group: "cluster.x-k8s.io",
          version: "v1beta1",
          namespace: md.namespace,
          plural: "machines",
          name: node.machine,
          body: { metadata: { annotations: { "cluster.x-k8s.io/delete-machine": null } } },
        },
        mergePatchHeader,
      );
    }
  }

  /** Evicts a worker pod (its worker drains on SIGTERM); false when it is already gone. */
  async #evict(pod: string): Promise<boolean> {
    const { namespace } = this.#options;
    try {
      await this.#core.createNamespacedPodEviction({
        name: pod,
        namespace,
        body: { apiVersion: "policy/v1", kind: "Eviction", metadata: { name: pod, namespace } },
      });
      return true;
    } catch (err) {
      if (isNotFound(err)) return false;
      throw err;
    }
  }

  /** A Karpenter lane's placeholders: the Deployment created, or scaled through its scale subresource. */
  async #applyPlaceholders(placeholders: NonNullable<LanePlan["placeholders"]>): Promise<void> {
    const { namespace } = this.#options;
    this.#guard();
    if (!placeholders.exists) {
      await this.#apps.createNamespacedDeployment({ namespace, body: placeholders.body });
      return;
    }
    const name = placeholders.body.metadata!.name!;
    if (placeholders.replace) {
      try {
        await this.#apps.replaceNamespacedDeployment({ name, namespace, body: placeholders.body });
      } catch (err) {
        // A stale resourceVersion: the informer brings the newer Deployment and the next pass replaces it.
        if (!isConflict(err)) throw err;
      }
      return;
    }
    const scale = await this.#apps.readNamespacedDeploymentScale({ name, namespace });
    await this.#apps.replaceNamespacedDeploymentScale({
      name,
      namespace,
      body: { ...scale, spec: { replicas: placeholders.replicas } },
    });
  }

  /** A NodePool's GPU limit: the offering's quota, a budget guard for whatever Karpenter makes. */
  async #setNodePoolLimit(lane: LanePlan, gpus: number): Promise<void> {
    this.#guard();
    await this.#custom.patchClusterCustomObject(
      {
        group: "karpenter.sh",
        version: "v1",
        plural: "nodepools",
        name: lane.spec.nodeGroup.karpenterNodePool!.name,
        body: { spec: { limits: { [gpuResource]: String(gpus) } } },
      },
      mergePatchHeader,
    );
  }

  async #annotateMachineDeployment(lane: LanePlan, annotations: Record<string, string>): Promise<void> {
    const md = lane.spec.nodeGroup.machineDeployment!;
    this.#guard();
    await this.#custom.patchNamespacedCustomObject(
      {
        group: "cluster.x-k8s.io",
        version: "v1beta1",
        namespace: md.namespace,
        plural: "machinedeployments",
        name: md.name,
        body: { metadata: { annotations } },
      },
      mergePatchHeader,
    );
  }

  /** Cordons the nodes to go (marking their Machines for deletion first), then sets the replicas. */
  async #resizeMachineDeployment(
    lane: LanePlan,
    remove: readonly { node: string; machine: string | undefined }[],
    size: number,
  ): Promise<void> {
    this.#guard();
    const md = lane.spec.nodeGroup.machineDeployment!;
    for (const { node, machine } of remove) {
      // Drain first: nothing new lands on a node that is about to go. Marked, so a called-off scale-down undoes it.
      await this.#core.patchNode(
        {
          name: node,
          body: {
            spec: { unschedulable: true },
            metadata: { annotations: { [cordonedByOperator]: new Date(this.#options.now()).toISOString() } },
          },
        },
        mergePatchHeader,
      );
      if (machine) {
        await this.#custom.patchNamespacedCustomObject(
          {
            group: "cluster.x-k8s.io",
            version: "v1beta1",
            namespace: md.namespace,
            plural: "machines",
            name: machine,
            body: { metadata: { annotations: { "cluster.x-k8s.io/delete-machine": "true" } } },
          },
          mergePatchHeader,
        );
      }
    }
    const id = {
      group: "cluster.x-k8s.io",
      version: "v1beta1",
      namespace: md.namespace,
      plural: "machinedeployments",
      name: md.name,
    };
    const scale = (await this.#custom.getNamespacedCustomObjectScale(id)) as { spec?: { replicas?: number } };
    await this.#custom.replaceNamespacedCustomObjectScale({
      ...id,
      body: { ...scale, spec: { ...scale.spec, replicas: size } },
    });
  }

  /** Valid=False and a Warning Event, nothing else. */
  async #markInvalid(plural: Plural, invalid: InvalidObject<WorkerPool | GpuOffering | LiveEvent>): Promise<void> {
    await this.#writeStatus(plural, invalid.object, invalid.status);
    await this.#events.emit(invalid.object, invalid.event);
  }

  /** Replaces an object's status, unless it already says this; conditional on the resourceVersion the cache has. */
  async #writeStatus(
    plural: Plural,
    object: { metadata: { name?: string; resourceVersion?: string }; status?: unknown },
    status: object,
  ): Promise<void> {
    if (JSON.stringify(object.status ?? {}) === JSON.stringify(status)) return;
    this.#guard();
    try {
      await this.#custom.replaceNamespacedCustomObjectStatus({
        group,
        version,
        namespace: this.#options.namespace,
        plural,
        name: object.metadata.name!,
        body: { ...object, status },
      });
    } catch (err) {
      // A stale resourceVersion: the informer brings the newer object and the next pass writes again.
      if (!isConflict(err) && !isNotFound(err)) throw err;
    }
  }

  /**
   * Runs one object's writes; a failure is logged and left to the next pass, so one object the API refuses does not
   * hold up the others. Losing the Lease still stops the whole pass.
   */
  async #isolated(kind: string, name: string | undefined, write: () => Promise<void>): Promise<void> {
    try {
      await write();
    } catch (err) {
      if (err instanceof NotLeaderError) throw err;
      this.#options.metrics.reconciles.inc({ result: "error" });
      this.#options.logger.warn({ err, kind, name }, "object not reconciled; the next pass retries");
    }
  }
}
