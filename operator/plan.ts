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
  placeNodes,
  planPool,
  type Lane,
  type LaneHealth,
  type LaneVerdict,
  type Recommendation,
  type RoomsSeen,
  type ScheduledPeak,
  type WorkerReplica,
} from "./decide.js";
import type { RoomDirectoryView, WorkerLoad } from "./demand.js";
import type { CapacityError, ObservedOffering, Snapshot } from "./observe.js";
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
import { deploymentName, poolLabel, templateHashKey, workerDeployment, type WorkerPodSettings } from "./workload.js";

/** What the loop remembers from one pass to the next. */
export class Memory {
  /** Each pool's recommendations over its cooldown window (planPool's history). */
  readonly history = new Map<string, Recommendation[]>();
  /** Each lane's health, by laneKey. */
  readonly laneHealth = new Map<string, LaneHealth>();
  /** When each lane was last asked for more nodes: a capacity condition older than that is about an earlier ask. */
  readonly raisedAt = new Map<string, number>();

  rememberPools(plan: WorkloadPlan): void {
    for (const [pool, history] of plan.history) this.history.set(pool, history);
  }

  rememberLanes(plan: NodePlan): void {
    for (const lane of plan.lanes) this.laneHealth.set(laneKey(lane), lane.verdict.health);
  }
}

export interface PlanSettings {
  /** Namespace of the worker Deployments. */
  namespace: string;
  workers: WorkerPodSettings;
  /** Capacity for a scheduled room is up this long before it starts, on top of node boot. */
  roomWarmupMs: number;
}

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
  nodeGroups: ReadonlyMap<CapacityType, { size: number | undefined; capacityError: CapacityError | undefined }>;
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
  /** Replicas per valid pool, counted whatever happens to its writes, so a refused write never shrinks its nodes. */
  sized: { spec: WorkerPoolSpec; replicas: number }[];
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
}

/** The second half of a pass: GPU nodes for the replicas the first half sized. */
export interface NodePlan {
  now: number;
  lanes: LanePlan[];
  offerings: ValidOffering[];
}

const deletionCost = "controller.kubernetes.io/pod-deletion-cost";
const doNotDisrupt = "karpenter.sh/do-not-disrupt";

const isReady = (node: V1Node) =>
  !node.spec?.unschedulable && (node.status?.conditions ?? []).some((c) => c.type === "Ready" && c.status === "True");

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
  const groups = new Map<CapacityType, { size: number | undefined; capacityError: CapacityError | undefined }>();
  for (const type of ["onDemand", "spot"] as const) {
    const lane = checked.spec[type];
    if (!lane) continue;
    const seen = nodeGroups.get(type);
    if (seen?.found) {
      groups.set(type, seen);
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
): (WorkerReplica & { nodeName?: string })[] {
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
      };
    });
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
  const sized: { spec: WorkerPoolSpec; replicas: number }[] = [];
  const busyNodes = new Set<string>();
  const pools = world.pools.map((pool): InvalidObject<WorkerPool> | PoolPlan => {
    const checked = checkWorkerPool(pool, gpuTypes);
    if (!checked.ok) return invalid(pool, checked.problems, t);
    const spec = checked.spec;
    const name = pool.metadata.name!;
    const replicas = replicasOf(name, world.pods, world.workers[spec.kind]);
    for (const r of replicas) if (r.activeStreams > 0 && r.nodeName) busyNodes.add(r.nodeName);
    const deployment = world.deployments.find((d) => d.metadata?.name === deploymentName(name));
    const current = deployment?.spec?.replicas ?? 0;
    const bootMs =
      Math.max(0, ...validOfferings.filter((o) => o.spec.gpuType === spec.gpu.type).map((o) => o.spec.bootSeconds)) *
      1000;
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
      now: t,
    });
    history.set(name, decision.history);
    const target = decision.plan.replicas;
    sized.push({ spec, replicas: target });

    const wanted = workerDeployment(pool, spec, target, settings.namespace, settings.workers);
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
    const peakAhead = decision.streamsNeeded > Math.max(liveStreams, decision.roomStreams);
    const why =
      `${decision.streamsNeeded} streams needed (${liveStreams} active${roomsPart}` +
      `${peakAhead ? ", a scheduled peak ahead" : ""}) at ${spec.streamsPerReplica} per replica` +
      ` + ${spec.headroomPercent}% headroom`;
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

  return { now: t, offerings, liveEvents, pools, roomDirectory: directory, history, sized, busyNodes };
}

/** Lanes observed and judged, the pools' GPUs placed on them cheapest first, and each lane's resize. */
export function planNodes(world: Snapshot, workloads: WorkloadPlan, memory: Memory): NodePlan {
  const t = world.now;
  const { busyNodes } = workloads;
  const offerings = workloads.offerings.filter((o) => o.valid);
  const lanes: LanePlan[] = [];
  const nodesOf = new Map<string, V1Node[]>();
  for (const { object, spec, nodeGroups } of offerings) {
    for (const type of ["onDemand", "spot"] as const) {
      const laneSpec = spec[type];
      const group = nodeGroups.get(type);
      if (!laneSpec || !group) continue;
      const key = laneKey({ offering: object.metadata.name!, capacityType: type });
      const laneNodes = world.nodes.filter((n) => matchesSelector(n.metadata?.labels, laneSpec.nodeGroup.nodeSelector));
      nodesOf.set(key, laneNodes);
      const ready = laneNodes.filter(isReady).length;
      const size = group.size ?? ready;
      const stored = object.status?.[type];
      const health = memory.laneHealth.get(key) ?? {
        ...healthyLane(),
        failures: stored?.failures ?? 0,
        unavailableUntil: stored?.unavailableUntil ? Date.parse(stored.unavailableUntil) : 0,
      };
      const error = group.capacityError;
      const fresh = error && (error.at === undefined || error.at >= (memory.raisedAt.get(key) ?? 0));
      const verdict = judgeLane(
        health,
        { desiredNodes: size, readyNodes: ready, capacityError: fresh ? error.message : undefined },
        t,
        spec.provisionTimeoutSeconds * 1000,
      );
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
        busyNodes: laneNodes.filter((n) => busyNodes.has(n.metadata!.name!)).length,
        newNodeLimit: verdict.newNodeLimit,
        object,
        gpuOffering: spec,
        spec: laneSpec,
        verdict,
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

  const placed = placeNodes(gpuDemand(workloads.sized), lanes);
  for (const lane of lanes) {
    const size = lane.desiredNodes;
    const laneNodes = nodesOf.get(laneKey(lane))!;
    let want = placed.get(laneKey(lane)) ?? 0;
    let remove: string[] = [];
    if (want < size) {
      const candidates = laneNodes.map((n) => ({
        name: n.metadata!.name!,
        ready: isReady(n),
        busy: busyNodes.has(n.metadata!.name!),
      }));
      // Nodes that never registered (still booting) go without a cordon; registered ones are cordoned first.
      const unregistered = Math.max(0, size - laneNodes.length);
      remove = pickNodesToRemove(candidates, size - want - unregistered);
      want = Math.max(want, size - unregistered - remove.length);
    }
    if (want === size) continue;
    lane.resize = {
      to: want,
      remove: remove.map((node) => ({
        node,
        machine: laneNodes.find((n) => n.metadata?.name === node)?.metadata?.annotations?.["cluster.x-k8s.io/machine"],
      })),
      event: {
        type: "Normal",
        reason: want > size ? "NodesRequested" : "NodesReleased",
        message: `${lane.capacityType} nodes ${size} -> ${want} (${lane.readyNodes} Ready; ${lane.gpuType} demand placed cheapest first)`,
      },
    };
  }
  return { now: t, lanes, offerings };
}

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
