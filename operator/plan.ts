// One pass's decisions as pure functions of a Snapshot (observe.ts) and of what the loop remembers between passes
// (Memory): which objects are invalid and why; each pool's size (decide.planPool), Deployment, pod marks, Events and
// status; then the GPU nodes of each offering lane and the offerings' status. decide.ts holds the arithmetic, this
// file maps Kubernetes objects onto it and back, and actuate.ts carries a plan out.
import type { V1Deployment, V1Node, V1Pod } from "@kubernetes/client-node";
import { invalidCondition, roomDirectoryCondition, setCondition, validCondition } from "./conditions.js";
import {
  compilePeak,
  gpuDemand,
  healthyLane,
  judgeLane,
  laneKey,
  pickNodesToRemove,
  urgentShortfall,
  placeNodes,
  planPool,
  type Lane,
  type LaneHealth,
  type LaneVerdict,
  type Observation,
  type Recommendation,
  type RoomsSeen,
  type ScheduledPeak,
  type WorkerReplica,
} from "./decide.js";
import type { RoomDirectoryView, WorkerLoad } from "./demand.js";
import type { NodeGroupSeen, ObservedOffering, Snapshot } from "./observe.js";
import type {
  CapacityLaneSpec,
  CapacityType,
  GpuOffering,
  GpuOfferingSpec,
  GpuOfferingStatus,
  LaneStatus,
  LiveEvent,
  LiveEventStatus,
  WorkerKindName,
  WorkerPool,
  WorkerPoolSpec,
  WorkerPoolStatus,
} from "./resources.js";
import { checkLiveEvent, checkWorkerPool, describeProblems, checkGpuOffering, type Problem } from "./validate.js";
import {
  deploymentName,
  gpuTypeLabel,
  poolLabel,
  templateHashKey,
  workerDeployment,
  type WorkerPodSettings,
} from "./workload.js";
import {
  interruptionNotice,
  LeadTimes,
  placeholderDeployment,
  placeholderGpus,
  placeholderName,
  podGpus,
  podLeads,
  trueSince,
  type CapacitySettings,
  type LeadSample,
} from "./capacity.js";

/** What the loop remembers from one pass to the next. */
export class Memory {
  /** Each pool's recommendations over its cooldown window (planPool's history). */
  readonly history = new Map<string, Recommendation[]>();
  /** Each lane's health, by laneKey. */
  readonly laneHealth = new Map<string, LaneHealth>();
  /** When each lane was last asked for more nodes: a capacity condition older than that is about an earlier ask. */
  readonly raisedAt = new Map<string, number>();
  /** Each pool's streams at earlier passes (planPool's observed), for the trend. */
  readonly observed = new Map<string, Observation[]>();
  /** Each lane's target as last planned (for Karpenter, the nodes asked for: NodeClaims come and go). */
  readonly targets = new Map<string, number>();
  /** Spot interruption notices seen, by node: when, and on which lane. */
  readonly notices = new Map<string, { at: number; lane: string }>();
  /** The pools' lead times, measured from their nodes and pods. */
  readonly leads = new LeadTimes();
  /** The job workers' recommendations over their scale-down delay (decide.planJobWorkers' history). */
  jobWorkerHistory: Recommendation[] = [];

  /** GPU nodes first seen not Ready: the ask that made each (its lane's last ask before it appeared). */
  readonly #bootingNodes = new Map<string, { gpuType: string; askedAt: number | undefined }>();
  /** Worker pods first seen not Ready, by uid. */
  readonly #startingPods = new Set<string>();

  /**
   * Measures the lead time from what the pool's own nodes and pods do, on objects the operator saw come up (seen first
   * not Ready), never from one first seen long after (a restart of the operator, a Ready condition that flapped):
   * boot, from the operator's ask to the node Ready (a node that appears without a known ask, or past the offering's
   * provisioning timeout, gives none); pull and load from the worker pod's conditions. Returns the new samples.
   */
  observeLeads(world: Snapshot): { gpuType: string; sample: LeadSample }[] {
    const added: { gpuType: string; sample: LeadSample }[] = [];
    const lanes = laneSelectors(world);
    const seenNodes = new Set<string>();
    for (const node of world.nodes) {
      const name = node.metadata?.name;
      const gpuType = node.metadata?.labels?.[gpuTypeLabel];
      if (!name || !gpuType) continue;
      seenNodes.add(name);
      const readyAt = trueSince(node.status?.conditions, "Ready");
      const booting = this.#bootingNodes.get(name);
      if (readyAt === undefined) {
        if (!booting) {
          const lane = lanes.find((l) => matchesSelector(node.metadata?.labels, l.selector));
          const asked = lane && this.raisedAt.get(lane.key);
          const created = node.metadata?.creationTimestamp ? new Date(node.metadata.creationTimestamp).getTime() : 0;
          this.#bootingNodes.set(name, {
            gpuType,
            askedAt: asked !== undefined && asked <= created + 1000 ? asked : undefined,
          });
        }
        continue;
      }
      if (!booting) continue;
      this.#bootingNodes.delete(name);
      const lane = lanes.find((l) => matchesSelector(node.metadata?.labels, l.selector));
      const seconds = booting.askedAt === undefined ? NaN : (readyAt - booting.askedAt) / 1000;
      if (seconds >= 0 && seconds <= (lane?.timeoutSeconds ?? 3600)) {
        const sample: LeadSample = { id: `node/${name}`, phase: "boot", seconds };
        this.leads.record(gpuType, sample);
        added.push({ gpuType, sample });
      }
    }
    for (const name of this.#bootingNodes.keys()) if (!seenNodes.has(name)) this.#bootingNodes.delete(name);

    const seenPods = new Set<string>();
    for (const pod of world.pods) {
      const uid = pod.metadata?.uid ?? pod.metadata?.name;
      const gpuType = pod.spec?.nodeSelector?.[gpuTypeLabel];
      if (!uid || !gpuType || !pod.metadata?.labels?.[poolLabel]) continue;
      seenPods.add(uid);
      const ready = trueSince(pod.status?.conditions, "Ready") !== undefined;
      if (!ready) {
        this.#startingPods.add(uid);
        continue;
      }
      if (!this.#startingPods.delete(uid)) continue;
      for (const sample of podLeads(pod)) {
        this.leads.record(gpuType, sample);
        added.push({ gpuType, sample });
      }
    }
    for (const uid of this.#startingPods) if (!seenPods.has(uid)) this.#startingPods.delete(uid);
    return added;
  }

  /**
   * Notes the notices of this pass (first sighting: counted and told once), and forgets a node once its notice is
   * gone (the node with it) and the burst window has passed.
   */
  rememberNotices(plan: NodePlan): void {
    const current = new Set<string>();
    for (const lane of plan.lanes) {
      for (const node of lane.notices) {
        current.add(node);
        if (!this.notices.has(node)) this.notices.set(node, { at: plan.now, lane: laneKey(lane) });
      }
    }
    for (const [node, seen] of this.notices) {
      if (!current.has(node) && seen.at < plan.now - noticeWindowMs) this.notices.delete(node);
    }
  }

  rememberPools(plan: WorkloadPlan): void {
    for (const [pool, history] of plan.history) this.history.set(pool, history);
    for (const [pool, observed] of plan.observed) this.observed.set(pool, observed);
  }

  rememberLanes(plan: NodePlan): void {
    for (const lane of plan.lanes) {
      this.laneHealth.set(laneKey(lane), lane.verdict.health);
      this.targets.set(laneKey(lane), lane.target);
    }
  }
}

export interface PlanSettings {
  /** Namespace of the worker Deployments. */
  namespace: string;
  workers: WorkerPodSettings;
  /** Capacity for a scheduled room is up this long before it starts, on top of node boot. */
  roomWarmupMs: number;
  /** Karpenter placeholders and spot notices. */
  capacity: CapacitySettings;
}

/** Notices within this window count towards a lane's burst (decide.interruptionBurst). */
const noticeWindowMs = 600_000;
/** Marks a node the operator cordoned itself, so it may undo it. */
export const cordonedByOperator = "livehost.io/cordoned-at";

export interface PlannedEvent {
  type: "Normal" | "Warning";
  reason: string;
  message: string;
}

/** An object whose spec is invalid: a Valid=False condition and a Warning Event, and nothing else. */
export interface InvalidObject<T> {
  valid: false;
  object: T;
  status: object;
  event: PlannedEvent;
}

export interface ValidOffering {
  valid: true;
  object: GpuOffering;
  spec: GpuOfferingSpec;
  nodeGroups: ReadonlyMap<CapacityType, Extract<NodeGroupSeen, { found: true }>>;
}

export interface LiveEventPlan {
  valid: true;
  object: LiveEvent;
  status: LiveEventStatus;
}

/** What happens to a pool's Deployment: made, rolled to a new template (keeping its replicas), scaled, or left. */
export type DeploymentStep =
  | { action: "create"; body: V1Deployment; event: PlannedEvent }
  | { action: "roll"; body: V1Deployment; event: PlannedEvent }
  | { action: "scale"; replicas: number }
  | { action: "keep" };

/** Annotations to merge into a worker pod (null removes one). */
export interface PodMark {
  pod: string;
  annotations: Record<string, string | null>;
}

export interface PoolPlan {
  valid: true;
  object: WorkerPool;
  name: string;
  kind: WorkerKindName;
  deployment: DeploymentStep;
  /** Pods whose marks change; set once the Deployment exists, before it is rolled or scaled. */
  podMarks: PodMark[];
  /** The decision explained, after the Deployment's own Event. */
  events: PlannedEvent[];
  status: WorkerPoolStatus;
  replicas: { desired: number; actual: number; ready: number };
  streams: { active: number; needed: number };
}

/** The first half of a pass: the custom resources and the workers. */
export interface WorkloadPlan {
  now: number;
  offerings: (InvalidObject<GpuOffering> | ValidOffering)[];
  liveEvents: (InvalidObject<LiveEvent> | LiveEventPlan)[];
  pools: (InvalidObject<WorkerPool> | PoolPlan)[];
  roomDirectory: RoomDirectoryView | undefined;
  /** Each valid pool's recommendations to remember. */
  history: ReadonlyMap<string, Recommendation[]>;
  /** Each valid pool's streams seen, to remember for the trend. */
  observed: ReadonlyMap<string, Observation[]>;
  /** Replicas per valid pool, counted whatever happens to its writes, so a refused write never shrinks its nodes. */
  sized: { spec: WorkerPoolSpec; replicas: number; urgentReplicas?: number }[];
  /** Nodes running a worker that carries a stream: never removed. */
  busyNodes: ReadonlySet<string>;
}

export interface LanePlan extends Lane {
  object: GpuOffering;
  gpuOffering: GpuOfferingSpec;
  spec: CapacityLaneSpec;
  verdict: LaneVerdict;
  /** Set when this pass found the lane failing: a Warning, and a failover counted. */
  failover?: PlannedEvent;
  /** The node group's new size, the nodes to cordon (and their Cluster API Machines) first, and the Event. */
  resize?: { to: number; remove: { node: string; machine: string | undefined }[]; event: PlannedEvent };
  /** The nodes this lane should have, as placed this pass (what status and metrics report as desired). */
  target: number;
  /** Nodes the operator cordoned for a scale-down that did not happen (or was called off): schedulable again. */
  uncordon: { node: string; machine: string | undefined }[];
  /** Nodes with an interruption notice (a spot lane's), and the Event and eviction of the worker pods on them. */
  notices: string[];
  /** Notices first seen this pass: counted, told as a Warning Event, their workers drained. */
  newNotices: { node: string; taint: string; event: PlannedEvent }[];
  /** Worker pods on nodes under notice, to evict (their workers drain to others). */
  evict: string[];
  /** A Karpenter lane's placeholder Deployment: created or scaled to this many one-GPU pods. */
  placeholders?: { replicas: number; body: V1Deployment; exists: boolean; replace: boolean };
  /** A Karpenter NodePool's GPU limit, set to the offering's quota (a budget guard, not a size). */
  limitGpus?: number;
  /** A MachineDeployment's cluster-autoscaler bounds, where one runs beside (annotations to merge). */
  bounds?: Record<string, string>;
}

/** The second half of a pass: GPU nodes for the replicas the first half sized. */
export interface NodePlan {
  now: number;
  lanes: LanePlan[];
  offerings: ValidOffering[];
  /** Per GPU type, GPUs needed at once that are not Ready: asked for twice over this pass (urgentShortfall). */
  shortfall: Map<string, number>;
}

const deletionCost = "controller.kubernetes.io/pod-deletion-cost";
const doNotDisrupt = "karpenter.sh/do-not-disrupt";

const isReady = (node: V1Node) =>
  !node.spec?.unschedulable && (node.status?.conditions ?? []).some((c) => c.type === "Ready" && c.status === "True");

/** Each capacity lane of the valid offerings: its key, node selector and provisioning timeout. */
function laneSelectors(world: Snapshot) {
  return world.offerings.flatMap(({ object }) => {
    const checked = checkGpuOffering(object);
    if (!checked.ok) return [];
    return (["onDemand", "spot"] as const).flatMap((type) => {
      const lane = checked.spec[type];
      if (!lane) return [];
      return [
        {
          key: laneKey({ offering: object.metadata.name!, capacityType: type }),
          selector: lane.nodeGroup.nodeSelector,
          timeoutSeconds: checked.spec.provisionTimeoutSeconds,
        },
      ];
    });
  });
}

const matchesSelector = (labels: Record<string, string> | undefined, selector: Record<string, string>) =>
  Object.keys(selector).length > 0 && Object.entries(selector).every(([k, v]) => labels?.[k] === v);

function invalid<T extends WorkerPool | GpuOffering | LiveEvent>(
  object: T,
  problems: Problem[],
  now: number,
): InvalidObject<T> {
  const message = describeProblems(problems);
  const conditions = setCondition(
    object.status?.conditions,
    invalidCondition(object.metadata.generation, message),
    now,
  );
  return {
    valid: false,
    object,
    status: { ...object.status, observedGeneration: object.metadata.generation, conditions },
    event: { type: "Warning", reason: "InvalidSpec", message },
  };
}

/** An offering is valid when its spec is and every node group it names exists. */
function checkOffering(
  { object, nodeGroups }: ObservedOffering,
  now: number,
): InvalidObject<GpuOffering> | ValidOffering {
  const checked = checkGpuOffering(object);
  if (!checked.ok) return invalid(object, checked.problems, now);
  const problems: Problem[] = [];
  const groups = new Map<CapacityType, Extract<NodeGroupSeen, { found: true }>>();
  for (const type of ["onDemand", "spot"] as const) {
    const lane = checked.spec[type];
    if (!lane) continue;
    const seen = nodeGroups.get(type);
    if (seen?.found) {
      groups.set(type, seen);
      // A NodePool decides what its nodes are: it must be able to make this lane's capacity type and GPU type.
      const pool = seen.nodePool;
      const name = lane.nodeGroup.karpenterNodePool?.name;
      const wanted = type === "spot" ? "spot" : "on-demand";
      const allowed = pool?.capacityTypes ?? ["on-demand"];
      if (pool && !allowed.includes(wanted)) {
        problems.push({
          field: `spec.${type}.nodeGroup.karpenterNodePool`,
          message: `NodePool ${name} makes ${allowed.join(", ")} nodes, not ${wanted} (requirement karpenter.sh/capacity-type)`,
        });
      }
      if (pool && pool.gpuType !== checked.spec.gpuType) {
        problems.push({
          field: `spec.${type}.nodeGroup.karpenterNodePool`,
          message:
            `NodePool ${name} must label its nodes ${gpuTypeLabel}=${checked.spec.gpuType} ` +
            `(template label or requirement), it gives ${pool.gpuType ?? "none"}`,
        });
      }
      continue;
    }
    const ref = lane.nodeGroup.machineDeployment;
    problems.push({
      field: `spec.${type}.nodeGroup`,
      message: ref
        ? `MachineDeployment ${ref.namespace}/${ref.name} not found`
        : `NodePool ${lane.nodeGroup.karpenterNodePool!.name} not found`,
    });
  }
  if (problems.length > 0) return invalid(object, problems, now);
  return { valid: true, object, spec: checked.spec, nodeGroups: groups };
}

/** The worker behind each pod of a pool, matched by the pod name its id starts with (hostname-suffix). */
function replicasOf(
  poolName: string,
  pods: readonly V1Pod[],
  loads: readonly WorkerLoad[],
): (WorkerReplica & { nodeName?: string; announcedMax?: number })[] {
  return pods
    .filter((p) => p.metadata?.labels?.[poolLabel] === poolName && !p.metadata?.deletionTimestamp)
    .map((p) => {
      const name = p.metadata!.name!;
      const load = loads.find((w) => w.labels.pod === name || w.workerId === name || w.workerId.startsWith(`${name}-`));
      return {
        pod: name,
        activeStreams: load?.activeStreams ?? 0,
        ready: load?.ready ?? false,
        nodeName: p.spec?.nodeName,
        announcedMax: load?.ready && load.maxStreams > 0 ? load.maxStreams : undefined,
      };
    });
}

/**
 * Streams one replica takes: what the pool's serving workers announce they sustain (each measures it on its own
 * hardware, capacity.ts), the median of them, never above the spec's streamsPerReplica (their cap); the spec's figure
 * while none serves yet.
 */
function streamsPerReplicaOf(spec: WorkerPoolSpec, replicas: readonly { announcedMax?: number }[]): number {
  const announced = replicas
    .map((r) => r.announcedMax)
    .filter((m): m is number => m !== undefined)
    .sort((a, b) => a - b);
  if (announced.length === 0) return spec.streamsPerReplica;
  return Math.min(spec.streamsPerReplica, announced[Math.floor((announced.length - 1) / 2)]!);
}

/** Idle pods to go first are cheapest to delete; busy ones dearest, and Karpenter must not disrupt their nodes. */
function podMarks(
  replicas: readonly WorkerReplica[],
  removeFirst: readonly string[],
  pods: readonly V1Pod[],
): PodMark[] {
  const marks: PodMark[] = [];
  for (const r of replicas) {
    const annotations = pods.find((p) => p.metadata?.name === r.pod)?.metadata?.annotations ?? {};
    const cost = removeFirst.includes(r.pod) ? "-1000" : r.activeStreams > 0 ? "1000" : "0";
    const keep = r.activeStreams > 0 ? "true" : undefined;
    if (annotations[deletionCost] === cost && annotations[doNotDisrupt] === keep) continue;
    marks.push({ pod: r.pod, annotations: { [deletionCost]: cost, [doNotDisrupt]: keep ?? null } });
  }
  return marks;
}

/** The custom resources checked, the LiveEvents' phases, and each valid pool sized and its writes planned. */
export function planWorkloads(world: Snapshot, memory: Memory, settings: PlanSettings): WorkloadPlan {
  const t = world.now;

  // Offerings first: they say which GPU types exist and how long nodes take.
  const offerings = world.offerings.map((o) => checkOffering(o, t));
  const validOfferings = offerings.filter((o) => o.valid);
  const gpuTypes = new Set(validOfferings.map((o) => o.spec.gpuType));

  const peaks: ScheduledPeak[] = [];
  const liveEvents = world.liveEvents.map((object): InvalidObject<LiveEvent> | LiveEventPlan => {
    const checked = checkLiveEvent(object);
    if (!checked.ok) return invalid(object, checked.problems, t);
    const peak = compilePeak(checked.spec);
    peaks.push(peak);
    const leadMs = peak.warmupMs + Math.max(0, ...validOfferings.map((o) => o.spec.bootSeconds)) * 1000;
    const phase =
      t >= peak.endMs ? "Done" : t >= peak.startMs ? "Live" : t >= peak.startMs - leadMs ? "Warming" : "Scheduled";
    return {
      valid: true,
      object,
      status: {
        observedGeneration: object.metadata.generation,
        phase,
        conditions: setCondition(object.status?.conditions, validCondition(object.metadata.generation), t),
      },
    };
  });

  // Rooms from the room directory, where the demand source reads one; without it, the workers' load alone.
  const directory = world.roomDirectory;
  const rooms: RoomsSeen | undefined = directory?.state === "watching" ? directory.rooms : undefined;

  const history = new Map<string, Recommendation[]>();
  const observedStreams = new Map<string, Observation[]>();
  const sized: { spec: WorkerPoolSpec; replicas: number; urgentReplicas?: number }[] = [];
  const busyNodes = new Set<string>();
  const pools = world.pools.map((pool): InvalidObject<WorkerPool> | PoolPlan => {
    const checked = checkWorkerPool(pool, gpuTypes);
    if (!checked.ok) return invalid(pool, checked.problems, t);
    const name = pool.metadata.name!;
    const replicas = replicasOf(name, world.pods, world.workers[checked.spec.kind]);
    // Sized on what the workers announce they sustain; their Deployment keeps the spec's cap.
    const spec = { ...checked.spec, streamsPerReplica: streamsPerReplicaOf(checked.spec, replicas) };
    for (const r of replicas) if (r.activeStreams > 0 && r.nodeName) busyNodes.add(r.nodeName);
    const deployment = world.deployments.find((d) => d.metadata?.name === deploymentName(name));
    const current = deployment?.spec?.replicas ?? 0;
    // The lead time: the offerings' stated boot, or what the pool's own nodes and pods took, where longer.
    const statedBootMs =
      Math.max(0, ...validOfferings.filter((o) => o.spec.gpuType === spec.gpu.type).map((o) => o.spec.bootSeconds)) *
      1000;
    const bootMs = memory.leads.leadMs(spec.gpu.type, statedBootMs);
    const liveStreams = replicas.reduce((sum, r) => sum + r.activeStreams, 0);
    const decision = planPool({
      spec,
      currentReplicas: deployment ? current : spec.minReplicas,
      liveStreams,
      workers: replicas,
      peaks,
      bootMs,
      rooms,
      roomWarmupMs: settings.roomWarmupMs,
      history: memory.history.get(name) ?? [],
      observed: memory.observed.get(name) ?? [],
      now: t,
    });
    history.set(name, decision.history);
    observedStreams.set(name, decision.observed);
    const target = decision.plan.replicas;
    sized.push({ spec, replicas: target, urgentReplicas: decision.urgentReplicas });

    const wanted = workerDeployment(pool, checked.spec, target, settings.namespace, settings.workers);
    let step: DeploymentStep = { action: "keep" };
    if (!deployment) {
      step = {
        action: "create",
        body: wanted,
        event: {
          type: "Normal",
          reason: "Created",
          message: `Deployment ${deploymentName(name)} created with ${target} replicas`,
        },
      };
    } else if (deployment.metadata?.annotations?.[templateHashKey] !== wanted.metadata!.annotations![templateHashKey]) {
      // The pool's spec (image, model, GPU, streams, podTemplate) or the worker settings changed: roll the workers,
      // keeping the replica count.
      step = {
        action: "roll",
        body: {
          ...wanted,
          metadata: { ...wanted.metadata, resourceVersion: deployment.metadata?.resourceVersion },
          spec: { ...wanted.spec!, replicas: current },
        },
        event: {
          type: "Normal",
          reason: "Updated",
          message: `Deployment ${deploymentName(name)} updated to the pool's spec`,
        },
      };
    } else if (target !== current) {
      step = { action: "scale", replicas: target };
    }

    const roomsPart = rooms
      ? `, ${decision.roomStreams} for rooms on air or starting within ${Math.round((bootMs + settings.roomWarmupMs) / 1000)}s`
      : "";
    const carried = Math.max(liveStreams, decision.roomStreams, decision.trendStreams);
    const peakAhead = decision.streamsNeeded > carried;
    const rising = decision.trendStreams > Math.max(liveStreams, decision.roomStreams);
    const why =
      `${decision.streamsNeeded} streams needed (${liveStreams} active${roomsPart}` +
      `${rising ? `, ${decision.trendStreams} by the trend` : ""}` +
      `${peakAhead ? ", a scheduled peak ahead" : ""}) at ${spec.streamsPerReplica} per replica` +
      `${spec.streamsPerReplica < checked.spec.streamsPerReplica ? " (as the workers announce)" : ""}` +
      ` + ${spec.headroomPercent}% headroom, lead time ${Math.round(bootMs / 1000)}s`;
    const events: PlannedEvent[] = [];
    if (target !== current && deployment) {
      events.push({ type: "Normal", reason: decision.reason, message: `replicas ${current} -> ${target}: ${why}` });
    } else if (decision.reason === "HeldForActiveStreams" || decision.reason === "HeldForCooldown") {
      events.push({
        type: "Normal",
        reason: decision.reason,
        message:
          decision.reason === "HeldForActiveStreams"
            ? `${decision.plan.heldBusy} replica(s) above the target of ${decision.target} kept: they carry streams`
            : `kept at ${target} replicas for the ${spec.scaleDownCooldownSeconds}s scale-down cooldown`,
      });
    }

    let conditions = setCondition(pool.status?.conditions, validCondition(pool.metadata.generation), t);
    if (directory) conditions = setCondition(conditions, roomDirectoryCondition(directory), t);
    conditions = setCondition(
      conditions,
      {
        type: "Scaled",
        status: "True",
        reason: decision.reason,
        message: `${target} replicas: ${why}`,
        observedGeneration: pool.metadata.generation,
      },
      t,
    );
    const actual = deployment?.status?.replicas ?? 0;
    const ready = deployment?.status?.readyReplicas ?? 0;
    return {
      valid: true,
      object: pool,
      name,
      kind: spec.kind,
      deployment: step,
      podMarks: deployment ? podMarks(replicas, decision.plan.removeFirst, world.pods) : [],
      events,
      status: {
        observedGeneration: pool.metadata.generation,
        desiredReplicas: target,
        replicas: actual,
        readyReplicas: ready,
        activeStreams: liveStreams,
        streamsNeeded: decision.streamsNeeded,
        conditions,
      },
      replicas: { desired: target, actual, ready },
      streams: { active: liveStreams, needed: decision.streamsNeeded },
    };
  });

  return {
    now: t,
    offerings,
    liveEvents,
    pools,
    roomDirectory: directory,
    history,
    observed: observedStreams,
    sized,
    busyNodes,
  };
}

/**
 * Lanes observed and judged, the pools' GPUs placed on them cheapest first, and what each lane's node group is told:
 * a Cluster API MachineDeployment is resized (nodes to remove cordoned first); a Karpenter lane gets placeholder pods
 * for the GPUs the worker pods do not ask for yet, and its NodePool's GPU limit is the offering's quota. Nodes with a
 * spot interruption notice count for nothing (their replacement is asked for now) and their workers are drained.
 */
export function planNodes(world: Snapshot, workloads: WorkloadPlan, memory: Memory, settings: PlanSettings): NodePlan {
  const t = world.now;
  const { busyNodes } = workloads;
  const offerings = workloads.offerings.filter((o) => o.valid);
  const lanes: LanePlan[] = [];
  const nodesOf = new Map<string, V1Node[]>();
  const noticedOf = new Map<string, V1Node[]>();
  for (const { object, spec, nodeGroups } of offerings) {
    for (const type of ["onDemand", "spot"] as const) {
      const laneSpec = spec[type];
      const group = nodeGroups.get(type);
      if (!laneSpec || !group) continue;
      const key = laneKey({ offering: object.metadata.name!, capacityType: type });
      const laneNodes = world.nodes.filter((n) => matchesSelector(n.metadata?.labels, laneSpec.nodeGroup.nodeSelector));
      const noticed =
        type === "spot"
          ? laneNodes.filter((n) => interruptionNotice(n, settings.capacity, world.interruptedNodes))
          : [];
      nodesOf.set(key, laneNodes);
      noticedOf.set(key, noticed);
      const counted = (n: V1Node) => !noticed.includes(n);
      const ready = laneNodes.filter((n) => isReady(n) && counted(n)).length;
      // A Karpenter lane was asked for what the operator placed there last pass; its NodeClaims may lag that, or be
      // gone already (Karpenter deletes one the cloud had no capacity for).
      const claimed = Math.max(0, (group.size ?? ready) - noticed.length);
      const size = laneSpec.nodeGroup.karpenterNodePool ? Math.max(claimed, memory.targets.get(key) ?? 0) : claimed;
      const stored = object.status?.[type];
      const health = memory.laneHealth.get(key) ?? {
        ...healthyLane(),
        failures: stored?.failures ?? 0,
        unavailableUntil: stored?.unavailableUntil ? Date.parse(stored.unavailableUntil) : 0,
      };
      const error = group.capacityError;
      // Kubernetes times are whole seconds: an error stamped in the second of the ask is about that ask.
      const raised = Math.floor((memory.raisedAt.get(key) ?? 0) / 1000) * 1000;
      const fresh = error && (error.at === undefined || error.at >= raised);
      const noticeNames = noticed.map((n) => n.metadata!.name!);
      const recentNotices = new Set(noticeNames);
      // When the lane's latest notice was first seen: a storm that has passed leaves its other nodes counted again.
      const firstSeen = noticeNames.map((node) => memory.notices.get(node)?.at ?? t);
      for (const [node, seen] of memory.notices) {
        if (seen.lane !== key) continue;
        firstSeen.push(seen.at);
        if (seen.at > t - noticeWindowMs) recentNotices.add(node);
      }
      const lastNoticeAt = firstSeen.length > 0 ? Math.max(...firstSeen) : undefined;
      const verdict = judgeLane(
        health,
        {
          desiredNodes: size,
          readyNodes: ready,
          capacityError: fresh ? error.message : undefined,
          interruptions: recentNotices.size,
          ...(lastNoticeAt === undefined ? {} : { lastNoticeAt }),
        },
        t,
        spec.provisionTimeoutSeconds * 1000,
      );
      const newNotices = noticed
        .filter((n) => !memory.notices.has(n.metadata!.name!))
        .map((n) => {
          const node = n.metadata!.name!;
          const taint = interruptionNotice(n, settings.capacity, world.interruptedNodes)!;
          const workers = world.pods.filter((p) => p.spec?.nodeName === node && p.metadata?.labels?.[poolLabel]);
          return {
            node,
            taint,
            event: {
              type: "Warning" as const,
              reason: "SpotInterruption",
              message:
                `node ${node} has an interruption notice (${taint}): ${workers.length} worker pod(s) drained to ` +
                `others, its replacement asked for now`,
            },
          };
        });
      lanes.push({
        offering: object.metadata.name!,
        capacityType: type,
        gpuType: spec.gpuType,
        gpusPerNode: spec.gpusPerNode,
        pricePerHour: laneSpec.pricePerHour,
        preference: spec.preference,
        maxNodes: spec.quota.maxNodes,
        available: verdict.available,
        readyNodes: ready,
        desiredNodes: size,
        ...(group.launched === undefined ? {} : { launchedNodes: Math.max(ready, group.launched - noticed.length) }),
        busyNodes: laneNodes.filter((n) => counted(n) && busyNodes.has(n.metadata!.name!)).length,
        newNodeLimit: verdict.newNodeLimit,
        draining: verdict.draining,
        object,
        gpuOffering: spec,
        spec: laneSpec,
        verdict,
        target: size,
        uncordon: [],
        notices: noticeNames,
        newNotices,
        evict: world.pods
          .filter(
            (p) =>
              p.metadata?.labels?.[poolLabel] &&
              !p.metadata.deletionTimestamp &&
              noticeNames.includes(p.spec?.nodeName ?? ""),
          )
          .map((p) => p.metadata!.name!),
        ...(verdict.failedNow
          ? {
              failover: {
                type: "Warning",
                reason: "CapacityUnavailable",
                message:
                  `${type} nodes unavailable until ${new Date(verdict.health.unavailableUntil).toISOString()} ` +
                  `(${verdict.health.message}); their demand moves to the next offering`,
              },
            }
          : {}),
      });
    }
  }

  const demands = gpuDemand(workloads.sized);
  const placed = placeNodes(demands, lanes);
  const shortfall = new Map(demands.map((d) => [d.gpuType, urgentShortfall(d, lanes)]));

  // Karpenter lanes: the GPUs placed there that no worker pod asks for become placeholders. The workers are counted
  // as this pass sized them (their Deployment is scaled in this same pass, before its pods exist): those already on
  // a Karpenter lane's nodes count there, those elsewhere (a Cluster API lane) nowhere, and the rest (pending, or not
  // made yet) against the Karpenter lanes cheapest first, since Karpenter makes their nodes anyway.
  const workerPods = world.pods.filter((p) => p.metadata?.labels?.[poolLabel] && !p.metadata.deletionTimestamp);
  const karpenter = lanes
    .filter((l) => l.spec.nodeGroup.karpenterNodePool)
    .sort((a, b) => a.preference - b.preference || a.pricePerHour / a.gpusPerNode - b.pricePerHour / b.gpusPerNode);
  for (const gpuType of new Set(karpenter.map((l) => l.gpuType))) {
    const typed = karpenter.filter((l) => l.gpuType === gpuType);
    const ofType = workerPods.filter((p) => p.spec?.nodeSelector?.[gpuTypeLabel] === gpuType);
    const sizedGpus = workloads.sized
      .filter((p) => p.spec.gpu.type === gpuType)
      .reduce((sum, p) => sum + p.replicas * p.spec.gpu.count, 0);
    const onLanes = typed.map((l) => {
      const key = laneKey(l);
      const held = new Set(
        nodesOf
          .get(key)!
          .filter((n) => !noticedOf.get(key)!.includes(n))
          .map((n) => n.metadata!.name!),
      );
      const onLane = ofType.filter((p) => p.spec?.nodeName && held.has(p.spec.nodeName));
      return { key, gpus: onLane.reduce((sum, p) => sum + podGpus(p), 0), held };
    });
    const elsewhere = ofType
      .filter((p) => p.spec?.nodeName && !onLanes.some((l) => l.held.has(p.spec!.nodeName!)))
      .reduce((sum, p) => sum + podGpus(p), 0);
    const placedOnLanes = onLanes.reduce((sum, l) => sum + l.gpus, 0);
    const pending = Math.max(0, sizedGpus - elsewhere - placedOnLanes);
    const gpus = placeholderGpus(
      typed.map((l, i) => ({
        key: laneKey(l),
        wantGpus: (placed.get(laneKey(l)) ?? 0) * l.gpusPerNode,
        workerGpusOnLane: onLanes[i]!.gpus,
      })),
      pending,
    );
    for (const lane of typed) {
      lane.target = placed.get(laneKey(lane)) ?? 0;
      const replicas = gpus.get(laneKey(lane)) ?? 0;
      const name = placeholderName(lane.offering, lane.capacityType);
      const current = world.deployments.find((d) => d.metadata?.name === name);
      const group = offerings.find((o) => o.object === lane.object)!.nodeGroups.get(lane.capacityType)!;
      const body = placeholderDeployment(
        lane.object,
        lane.capacityType,
        lane.gpuType,
        lane.spec.nodeGroup.nodeSelector,
        replicas,
        settings.namespace,
        settings.capacity,
        group.nodePool?.taints,
      );
      // The lane's selector, the NodePool's taints or the settings changed: the pods are made anew.
      const stale =
        current !== undefined &&
        current.metadata?.annotations?.[templateHashKey] !== body.metadata!.annotations![templateHashKey];
      if (stale || ((current?.spec?.replicas ?? 0) !== replicas && (current || replicas > 0))) {
        lane.placeholders = {
          replicas,
          exists: current !== undefined,
          replace: stale,
          body: stale
            ? { ...body, metadata: { ...body.metadata, resourceVersion: current.metadata?.resourceVersion } }
            : body,
        };
      }
      const limit = lane.maxNodes * lane.gpusPerNode;
      if (group.nodePool?.limitGpus !== limit) lane.limitGpus = limit;
    }
  }

  // Cluster API lanes: the MachineDeployment's replicas, nodes under notice kept counted until they go.
  for (const lane of lanes) {
    const md = lane.spec.nodeGroup.machineDeployment;
    if (!md) continue;
    const key = laneKey(lane);
    const laneNodes = nodesOf.get(key)!;
    const noticed = noticedOf.get(key)!;
    const size = lane.desiredNodes + noticed.length;
    let want = placed.get(key) ?? 0;
    let remove: string[] = [];
    if (want < lane.desiredNodes) {
      const candidates = laneNodes
        .filter((n) => !noticed.includes(n))
        .map((n) => ({ name: n.metadata!.name!, ready: isReady(n), busy: busyNodes.has(n.metadata!.name!) }));
      // Nodes that never registered (still booting) go without a cordon; registered ones are cordoned first.
      const unregistered = Math.max(0, size - laneNodes.length);
      remove = pickNodesToRemove(candidates, lane.desiredNodes - want - unregistered);
      want = Math.max(want, lane.desiredNodes - unregistered - remove.length);
    }
    // Machines of nodes under notice are the first the MachineSet deletes once they are gone.
    const to = want + noticed.length;
    lane.target = to;
    const machineOf = (node: string) =>
      laneNodes.find((n) => n.metadata?.name === node)?.metadata?.annotations?.["cluster.x-k8s.io/machine"];
    const unmarked = noticed.filter((n) => n.metadata?.annotations?.[cordonedByOperator] === undefined);
    if (to !== size || unmarked.length > 0) {
      lane.resize = {
        to,
        remove: [...remove, ...unmarked.map((n) => n.metadata!.name!)].map((node) => ({
          node,
          machine: machineOf(node),
        })),
        event: {
          type: "Normal",
          reason: to > size ? "NodesRequested" : to < size ? "NodesReleased" : "NodesReplaced",
          message:
            `${lane.capacityType} nodes ${size} -> ${to} (${lane.readyNodes} Ready` +
            `${noticed.length > 0 ? `, ${noticed.length} under interruption notice` : ""}; ` +
            `${lane.gpuType} demand placed cheapest first)`,
        },
      };
    }
    // A scale-down that was called off leaves nodes the operator cordoned: as many as the group keeps come back.
    const removing = new Set(remove);
    const cordoned = laneNodes.filter(
      (n) => n.spec?.unschedulable && n.metadata?.annotations?.[cordonedByOperator] && !removing.has(n.metadata.name!),
    );
    const kept = Math.max(0, to - (laneNodes.length - cordoned.length));
    lane.uncordon = cordoned
      .filter((n) => !noticed.includes(n) && !n.metadata?.deletionTimestamp)
      .slice(0, kept)
      .map((n) => ({ node: n.metadata!.name!, machine: machineOf(n.metadata!.name!) }));
    if (lane.gpuOffering.clusterAutoscaler) {
      const bounds = {
        [autoscalerMin]: String(to),
        [autoscalerMax]: String(Math.max(to, lane.maxNodes)),
      };
      const group = offerings.find((o) => o.object === lane.object)!.nodeGroups.get(lane.capacityType)!;
      if (
        group.annotations?.[autoscalerMin] !== bounds[autoscalerMin] ||
        group.annotations?.[autoscalerMax] !== bounds[autoscalerMax]
      ) {
        lane.bounds = bounds;
      }
    }
  }
  return { now: t, lanes, offerings, shortfall };
}

/** The cluster autoscaler's Cluster API node-group bounds. */
const autoscalerMin = "cluster.x-k8s.io/cluster-api-autoscaler-node-group-min-size";
const autoscalerMax = "cluster.x-k8s.io/cluster-api-autoscaler-node-group-max-size";

/** An offering's status once its lanes were actuated: `desiredNodes` holds each lane's node count as written. */
export function offeringStatus(
  offering: ValidOffering,
  lanes: readonly LanePlan[],
  desiredNodes: ReadonlyMap<string, number>,
  now: number,
): GpuOfferingStatus {
  const { object } = offering;
  const laneStatus = (type: CapacityType): LaneStatus | undefined => {
    const lane = lanes.find((l) => l.offering === object.metadata.name && l.capacityType === type);
    if (!lane) return undefined;
    const health = lane.verdict.health;
    return {
      desiredNodes: desiredNodes.get(laneKey(lane)) ?? lane.desiredNodes,
      readyNodes: lane.readyNodes,
      available: lane.available,
      failures: health.failures,
      ...(health.unavailableUntil > now ? { unavailableUntil: new Date(health.unavailableUntil).toISOString() } : {}),
      ...(health.message ? { message: health.message } : {}),
    };
  };
  const onDemand = laneStatus("onDemand");
  const spot = laneStatus("spot");
  const unavailable = [onDemand, spot].filter((l) => l && !l.available).length;
  let conditions = setCondition(object.status?.conditions, validCondition(object.metadata.generation), now);
  conditions = setCondition(
    conditions,
    unavailable === 0
      ? { type: "Available", status: "True", reason: "Delivering", message: "nodes arrive when asked for" }
      : {
          type: "Available",
          status: "False",
          reason: "BackingOff",
          message: [onDemand, spot].find((l) => l && !l.available)?.message ?? "backing off",
        },
    now,
  );
  return {
    observedGeneration: object.metadata.generation,
    ...(onDemand ? { onDemand } : {}),
    ...(spot ? { spot } : {}),
    conditions,
  };
}
