// The control loop. Informers keep the WorkerPools, GpuOfferings, LiveEvents, the pools' Deployments and pods, and
// the nodes in memory; each pass (on a change, and every interval) checks the specs, runs the pure decisions of
// decide.ts and, only while this process holds the leader Lease, actuates: the pools' Deployments (created, scaled,
// pods marked so the idle ones go first and busy ones are not disrupted), the offerings' node groups (Cluster API
// MachineDeployment scale, Karpenter NodePool GPU limit, idle nodes cordoned before a scale-down), status conditions
// and Kubernetes Events explaining each decision. A bad object gets a Valid=False condition and nothing else. Demand
// is the workers' load, the rooms of the room directory (where the demand source reads it) and the LiveEvents.
import {
  AppsV1Api,
  CoordinationV1Api,
  CoreV1Api,
  CustomObjectsApi,
  PatchStrategy,
  setHeaderOptions,
  type KubeConfig,
  type KubernetesListObject,
  type V1Deployment,
  type V1Node,
  type V1Pod,
} from "@kubernetes/client-node";
import { SpanStatusCode } from "@opentelemetry/api";
import { tracer, type Logger, type Registry } from "../observability/index.js";
import { subjects } from "../proto/index.js";
import {
  compilePeak,
  decidePool,
  gpuDemand,
  healthyLane,
  judgeLane,
  laneKey,
  pickNodesToRemove,
  placeNodes,
  type Lane,
  type LaneHealth,
  type Recommendation,
  type RoomsSeen,
  type ScheduledPeak,
  type WorkerReplica,
} from "./decide.js";
import type { DemandSource, RoomDirectoryView, WorkerLoad } from "./demand.js";
import { NotLeaderError, isConflict, isNotFound } from "./errors.js";
import { ObjectCacheWatch } from "./informer.js";
import { LeaderElector } from "./leader.js";
import { operatorMetrics, type OperatorMetrics } from "./metrics.js";
import {
  apiVersion,
  group,
  version,
  type CapacityLaneSpec,
  type CapacityType,
  type Condition,
  type GpuOffering,
  type GpuOfferingSpec,
  type LaneStatus,
  type LiveEvent,
  type WorkerPool,
  type WorkerPoolSpec,
} from "./resources.js";
import { checkGpuOffering, checkLiveEvent, checkWorkerPool, describeProblems, type Problem } from "./validate.js";
import {
  deploymentName,
  gpuResource,
  managedBy,
  poolLabel,
  templateHashKey,
  workerDeployment,
  type WorkerPodSettings,
} from "./workload.js";

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

const deletionCost = "controller.kubernetes.io/pod-deletion-cost";
const doNotDisrupt = "karpenter.sh/do-not-disrupt";
const mergePatch = setHeaderOptions("Content-Type", PatchStrategy.MergePatch);

/** A condition list with one condition set; lastTransitionTime moves only when the status changes. */
export function setCondition(
  conditions: readonly Condition[] | undefined,
  next: Omit<Condition, "lastTransitionTime">,
  now: number,
): Condition[] {
  const previous = conditions?.find((c) => c.type === next.type);
  const lastTransitionTime =
    previous && previous.status === next.status ? previous.lastTransitionTime : new Date(now).toISOString();
  return [...(conditions ?? []).filter((c) => c.type !== next.type), { ...next, lastTransitionTime }];
}

const isReady = (node: V1Node) =>
  !node.spec?.unschedulable && (node.status?.conditions ?? []).some((c) => c.type === "Ready" && c.status === "True");

const matchesSelector = (labels: Record<string, string> | undefined, selector: Record<string, string>) =>
  Object.keys(selector).length > 0 && Object.entries(selector).every(([k, v]) => labels?.[k] === v);

interface CapacityError {
  message: string;
  /** When the condition last changed (ms), if it says. */
  at: number | undefined;
}

/** A quota or capacity failure reported in a node group's status conditions (Cluster API, Karpenter). */
function capacityErrorOf(object: unknown): CapacityError | undefined {
  const conditions = (object as { status?: { conditions?: Condition[] } } | undefined)?.status?.conditions ?? [];
  const failing = conditions.find(
    (c) => c.status === "False" && /insufficient|quota|capacity|limit/i.test(`${c.reason} ${c.message}`),
  );
  if (!failing) return undefined;
  const at = Date.parse(String(failing.lastTransitionTime));
  return { message: `${failing.reason}: ${failing.message}`, at: Number.isNaN(at) ? undefined : at };
}

interface CheckedOffering {
  object: GpuOffering;
  spec: GpuOfferingSpec;
}

export async function startOperator(settings: OperatorSettings): Promise<Operator> {
  const { kubeConfig: kc, namespace, logger } = settings;
  const now = settings.now ?? Date.now;
  const metrics: OperatorMetrics = operatorMetrics(settings.registry);
  const custom = kc.makeApiClient(CustomObjectsApi);
  const apps = kc.makeApiClient(AppsV1Api);
  const core = kc.makeApiClient(CoreV1Api);
  const span = tracer("operator");

  // Remembered between passes: recommendations for the cooldown window, lane health, what was last announced.
  const history = new Map<string, Recommendation[]>();
  const laneHealth = new Map<string, LaneHealth>();
  const provisioningSince = new Map<string, number>();
  const lastEvent = new Map<string, string>();
  const offeringGroups = new Map<
    string,
    Map<CapacityType, { size: number | undefined; capacityError: CapacityError | undefined }>
  >();
  /** When each lane was last asked for more nodes: a capacity condition older than that is about an earlier ask. */
  const raisedAt = new Map<string, number>();
  const laneWants = new Map<string, number>();

  let scheduled: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  let again = false;
  let closed = false;
  const schedule = () => {
    if (closed || scheduled) return;
    scheduled = setTimeout(() => {
      scheduled = undefined;
      void runPass();
    }, 100);
  };

  const crPath = (plural: string) => `/apis/${group}/${version}/namespaces/${namespace}/${plural}`;
  const crList =
    <T>(plural: string) =>
    () =>
      custom.listNamespacedCustomObject({ group, version, namespace, plural }) as Promise<
        KubernetesListObject<T & { metadata: object }>
      >;
  const selector = Object.entries(managedBy)
    .map(([k, v]) => `${k}=${v}`)
    .join(",");
  const cacheOf = <T extends { metadata?: object }>(
    path: string,
    list: () => Promise<KubernetesListObject<T>>,
    labelSelector?: string,
  ) => new ObjectCacheWatch<T>({ kubeConfig: kc, path, list, labelSelector, onChange: schedule, logger });
  const pools = cacheOf<WorkerPool>(crPath("workerpools"), crList<WorkerPool>("workerpools"));
  const offerings = cacheOf<GpuOffering>(crPath("gpuofferings"), crList<GpuOffering>("gpuofferings"));
  const events = cacheOf<LiveEvent>(crPath("liveevents"), crList<LiveEvent>("liveevents"));
  const deployments = cacheOf<V1Deployment>(
    `/apis/apps/v1/namespaces/${namespace}/deployments`,
    () => apps.listNamespacedDeployment({ namespace, labelSelector: selector }),
    selector,
  );
  const pods = cacheOf<V1Pod>(
    `/api/v1/namespaces/${namespace}/pods`,
    () => core.listNamespacedPod({ namespace, labelSelector: selector }),
    selector,
  );
  const nodes = cacheOf<V1Node>("/api/v1/nodes", () => core.listNode());
  const caches = [pools, offerings, events, deployments, pods, nodes];

  const elector = new LeaderElector({
    api: kc.makeApiClient(CoordinationV1Api),
    namespace,
    name: settings.leaseName,
    identity: settings.identity,
    leaseDurationMs: settings.leaseDurationMs ?? 15_000,
    renewDeadlineMs: settings.renewDeadlineMs ?? 10_000,
    retryPeriodMs: settings.retryPeriodMs ?? 2_000,
    logger,
    onChange: (leader) => {
      metrics.leader.set(leader ? 1 : 0);
      if (leader) schedule();
    },
  });
  /** Every write goes through this: a process that lost the Lease writes nothing more. */
  const guard = () => {
    if (!elector.isLeader()) throw new NotLeaderError();
  };

  async function emit(
    object: { apiVersion?: string; kind?: string; metadata: { name?: string; uid?: string } },
    type: "Normal" | "Warning",
    reason: string,
    message: string,
  ): Promise<void> {
    const key = `${object.kind}/${object.metadata.name}/${reason}`;
    if (lastEvent.get(key) === message) return;
    guard();
    const at = new Date(now());
    await core.createNamespacedEvent({
      namespace,
      body: {
        metadata: { generateName: `${object.metadata.name}.`, namespace },
        involvedObject: {
          apiVersion: object.apiVersion ?? apiVersion,
          kind: object.kind,
          name: object.metadata.name,
          namespace,
          uid: object.metadata.uid,
        },
        type,
        reason,
        message,
        source: { component: "livehost-operator" },
        reportingComponent: "livehost-operator",
        reportingInstance: settings.identity,
        firstTimestamp: at,
        lastTimestamp: at,
        count: 1,
      },
    });
    if (lastEvent.size > 10_000) lastEvent.clear();
    lastEvent.set(key, message);
  }

  async function writeStatus(
    plural: string,
    object: { metadata: { name?: string; resourceVersion?: string } },
    status: object,
  ) {
    const current = JSON.stringify((object as { status?: unknown }).status ?? {});
    if (current === JSON.stringify(status)) return;
    guard();
    try {
      await custom.replaceNamespacedCustomObjectStatus({
        group,
        version,
        namespace,
        plural,
        name: object.metadata.name!,
        body: { ...object, status },
      });
    } catch (err) {
      // A stale resourceVersion: the informer brings the newer object and the next pass writes again.
      if (!isConflict(err) && !isNotFound(err)) throw err;
    }
  }

  /** Marks an object invalid (condition + Warning Event) and changes nothing else. */
  async function markInvalid(
    plural: string,
    object: WorkerPool | GpuOffering | LiveEvent,
    problems: Problem[],
  ): Promise<void> {
    const message = describeProblems(problems);
    const conditions = setCondition(
      object.status?.conditions,
      {
        type: "Valid",
        status: "False",
        reason: "InvalidSpec",
        message,
        observedGeneration: object.metadata.generation,
      },
      now(),
    );
    await writeStatus(plural, object, { ...object.status, observedGeneration: object.metadata.generation, conditions });
    await emit(object, "Warning", "InvalidSpec", message);
  }

  const valid = (generation: number | undefined) => ({
    type: "Valid",
    status: "True" as const,
    reason: "SpecAccepted",
    message: "spec is valid",
    observedGeneration: generation,
  });

  /** The node group an offering lane drives, read now: its size, and a capacity error if it reports one. */
  async function readNodeGroup(spec: GpuOfferingSpec, lane: CapacityLaneSpec) {
    const ref = lane.nodeGroup;
    if (ref.machineDeployment) {
      const { name, namespace: ns } = ref.machineDeployment;
      const id = { group: "cluster.x-k8s.io", version: "v1beta1", namespace: ns, plural: "machinedeployments", name };
      const md: unknown = await custom.getNamespacedCustomObject(id);
      const replicas = (md as { spec?: { replicas?: number } }).spec?.replicas ?? 0;
      return { size: replicas, capacityError: capacityErrorOf(md) };
    }
    const np: unknown = await custom.getClusterCustomObject({
      group: "karpenter.sh",
      version: "v1",
      plural: "nodepools",
      name: ref.karpenterNodePool!.name,
    });
    const limit = Number((np as { spec?: { limits?: Record<string, string> } }).spec?.limits?.[gpuResource] ?? NaN);
    return {
      size: Number.isFinite(limit) ? Math.floor(limit / spec.gpusPerNode) : undefined,
      capacityError: capacityErrorOf(np),
    };
  }

  async function resizeNodeGroup(spec: GpuOfferingSpec, lane: CapacityLaneSpec, nodesToRemove: string[], size: number) {
    guard();
    for (const name of nodesToRemove) {
      // Drain first: nothing new lands on a node that is about to go.
      await core.patchNode({ name, body: { spec: { unschedulable: true } } }, mergePatch);
      const machine = nodes.get(name)?.metadata?.annotations?.["cluster.x-k8s.io/machine"];
      const md = lane.nodeGroup.machineDeployment;
      if (machine && md) {
        await custom.patchNamespacedCustomObject(
          {
            group: "cluster.x-k8s.io",
            version: "v1beta1",
            namespace: md.namespace,
            plural: "machines",
            name: machine,
            body: { metadata: { annotations: { "cluster.x-k8s.io/delete-machine": "true" } } },
          },
          mergePatch,
        );
      }
    }
    const md = lane.nodeGroup.machineDeployment;
    if (md) {
      const id = {
        group: "cluster.x-k8s.io",
        version: "v1beta1",
        namespace: md.namespace,
        plural: "machinedeployments",
        name: md.name,
      };
      const scale = (await custom.getNamespacedCustomObjectScale(id)) as { spec?: { replicas?: number } };
      await custom.replaceNamespacedCustomObjectScale({
        ...id,
        body: { ...scale, spec: { ...scale.spec, replicas: size } },
      });
      return;
    }
    const id = {
      group: "karpenter.sh",
      version: "v1",
      plural: "nodepools",
      name: lane.nodeGroup.karpenterNodePool!.name,
    };
    const np = (await custom.getClusterCustomObject(id)) as { spec?: { limits?: Record<string, string> } };
    const limits = { ...np.spec?.limits, [gpuResource]: String(size * spec.gpusPerNode) };
    await custom.replaceClusterCustomObject({ ...id, body: { ...np, spec: { ...np.spec, limits } } });
  }

  /** The worker behind each pod of a pool, matched by the pod name its id starts with (hostname-suffix). */
  function replicasOf(poolName: string, loads: readonly WorkerLoad[]): (WorkerReplica & { nodeName?: string })[] {
    return pods
      .list()
      .filter((p) => p.metadata?.labels?.[poolLabel] === poolName && !p.metadata?.deletionTimestamp)
      .map((p) => {
        const name = p.metadata!.name!;
        const load = loads.find(
          (w) => w.labels.pod === name || w.workerId === name || w.workerId.startsWith(`${name}-`),
        );
        return {
          pod: name,
          activeStreams: load?.activeStreams ?? 0,
          ready: load?.ready ?? false,
          nodeName: p.spec?.nodeName,
        };
      });
  }

  async function markPods(replicas: readonly WorkerReplica[], removeFirst: readonly string[]): Promise<void> {
    for (const r of replicas) {
      const pod = pods.get(r.pod, namespace);
      const annotations = pod?.metadata?.annotations ?? {};
      const cost = removeFirst.includes(r.pod) ? "-1000" : r.activeStreams > 0 ? "1000" : "0";
      const keep = r.activeStreams > 0 ? "true" : undefined;
      if (annotations[deletionCost] === cost && annotations[doNotDisrupt] === keep) continue;
      guard();
      await core.patchNamespacedPod(
        {
          name: r.pod,
          namespace,
          body: { metadata: { annotations: { [deletionCost]: cost, [doNotDisrupt]: keep ?? null } } },
        },
        mergePatch,
      );
    }
  }

  /**
   * Runs one object's writes; a failure is logged and left to the next pass, so one object the API refuses does not
   * hold up the others. Losing the Lease still stops the whole pass.
   */
  async function isolated(kind: string, name: string | undefined, write: () => Promise<void>): Promise<void> {
    try {
      await write();
    } catch (err) {
      if (err instanceof NotLeaderError) throw err;
      metrics.reconciles.inc({ result: "error" });
      logger.warn({ err, kind, name }, "object not reconciled; the next pass retries");
    }
  }

  const roomDirectoryCondition = (directory: RoomDirectoryView): Omit<Condition, "lastTransitionTime"> =>
    directory.state === "watching"
      ? {
          type: "RoomDirectory",
          status: "True",
          reason: "Watching",
          message: `rooms on air and scheduled in KV bucket ${subjects.roomDirectoryBucket} count in the demand`,
        }
      : directory.state === "syncing"
        ? {
            type: "RoomDirectory",
            status: "Unknown",
            reason: "Syncing",
            message: "loading the room directory; demand is the workers' load until then",
          }
        : {
            type: "RoomDirectory",
            status: "False",
            reason: "Unreachable",
            message: `${directory.message}; demand falls back to the workers' load`,
          };

  /** A Warning Event when the room directory becomes unreadable, and a Normal one when it is read again. */
  async function reportRoomDirectory(pool: WorkerPool, directory: RoomDirectoryView): Promise<void> {
    const lostKey = `${pool.kind}/${pool.metadata.name}/RoomDirectoryUnreachable`;
    if (directory.state === "unreachable") {
      await emit(pool, "Warning", "RoomDirectoryUnreachable", roomDirectoryCondition(directory).message);
    } else if (directory.state === "watching" && lastEvent.has(lostKey)) {
      lastEvent.delete(lostKey);
      await emit(pool, "Normal", "RoomDirectoryWatching", roomDirectoryCondition(directory).message);
    }
  }

  async function reconcilePass(): Promise<void> {
    const t = now();

    // Offerings first: they say which GPU types exist and how long nodes take.
    const validOfferings: CheckedOffering[] = [];
    let invalidOfferings = 0;
    for (const object of offerings.list()) {
      const checked = checkGpuOffering(object);
      const problems = checked.ok ? [] : checked.problems;
      const groups = new Map<CapacityType, Awaited<ReturnType<typeof readNodeGroup>>>();
      if (checked.ok) {
        for (const type of ["onDemand", "spot"] as const) {
          const lane = checked.spec[type];
          if (!lane) continue;
          try {
            groups.set(type, await readNodeGroup(checked.spec, lane));
          } catch (err) {
            if (!isNotFound(err)) throw err;
            const ref = lane.nodeGroup.machineDeployment;
            problems.push({
              field: `spec.${type}.nodeGroup`,
              message: ref
                ? `MachineDeployment ${ref.namespace}/${ref.name} not found`
                : `NodePool ${lane.nodeGroup.karpenterNodePool!.name} not found`,
            });
          }
        }
      }
      if (!checked.ok || problems.length > 0) {
        invalidOfferings++;
        await isolated("GpuOffering", object.metadata.name, () => markInvalid("gpuofferings", object, problems));
        continue;
      }
      validOfferings.push({ object, spec: checked.spec });
      offeringGroups.set(object.metadata.name!, groups);
    }
    metrics.invalid.set({ kind: "GpuOffering" }, invalidOfferings);
    const gpuTypes = new Set(validOfferings.map((o) => o.spec.gpuType));

    const peaks: ScheduledPeak[] = [];
    let invalidEvents = 0;
    for (const object of events.list()) {
      const checked = checkLiveEvent(object);
      if (!checked.ok) {
        invalidEvents++;
        await isolated("LiveEvent", object.metadata.name, () => markInvalid("liveevents", object, checked.problems));
        continue;
      }
      const peak = compilePeak(checked.spec);
      peaks.push(peak);
      const leadMs = peak.warmupMs + Math.max(0, ...validOfferings.map((o) => o.spec.bootSeconds)) * 1000;
      const phase =
        t >= peak.endMs ? "Done" : t >= peak.startMs ? "Live" : t >= peak.startMs - leadMs ? "Warming" : "Scheduled";
      await isolated("LiveEvent", object.metadata.name, () =>
        writeStatus("liveevents", object, {
          observedGeneration: object.metadata.generation,
          phase,
          conditions: setCondition(object.status?.conditions, valid(object.metadata.generation), t),
        }),
      );
    }
    metrics.invalid.set({ kind: "LiveEvent" }, invalidEvents);

    // Rooms from the room directory, where the demand source reads one; without it, the workers' load alone.
    const directory = settings.demand.rooms?.();
    const rooms: RoomsSeen | undefined = directory?.state === "watching" ? directory.rooms : undefined;
    const roomWarmupMs = settings.roomWarmupMs ?? 300_000;

    // Pools: replicas.
    const sized: { spec: WorkerPoolSpec; replicas: number }[] = [];
    const busyNodes = new Set<string>();
    let invalidPools = 0;
    for (const pool of pools.list()) {
      const checked = checkWorkerPool(pool, gpuTypes);
      if (!checked.ok) {
        invalidPools++;
        await isolated("WorkerPool", pool.metadata.name, () => markInvalid("workerpools", pool, checked.problems));
        continue;
      }
      const spec = checked.spec;
      const name = pool.metadata.name!;
      const loads = settings.demand.workers(spec.kind);
      const replicas = replicasOf(name, loads);
      for (const r of replicas) if (r.activeStreams > 0 && r.nodeName) busyNodes.add(r.nodeName);
      const deployment = deployments.get(deploymentName(name), namespace);
      const current = deployment?.spec?.replicas ?? 0;
      const bootMs =
        Math.max(0, ...validOfferings.filter((o) => o.spec.gpuType === spec.gpu.type).map((o) => o.spec.bootSeconds)) *
        1000;
      const liveStreams = replicas.reduce((sum, r) => sum + r.activeStreams, 0);
      const decision = decidePool({
        spec,
        currentReplicas: deployment ? current : spec.minReplicas,
        liveStreams,
        workers: replicas,
        peaks,
        bootMs,
        rooms,
        roomWarmupMs,
        history: history.get(name) ?? [],
        now: t,
      });
      const h = [...(history.get(name) ?? []), { at: t, replicas: decision.recommended }].filter(
        (r) => r.at > t - spec.scaleDownCooldownSeconds * 1000,
      );
      history.set(name, h.slice(-1000));
      const target = decision.plan.replicas;
      sized.push({ spec, replicas: target });

      // Its GPUs are counted above whatever happens to its writes, so a refused write never shrinks its nodes.
      await isolated("WorkerPool", name, async () => {
        const wanted = workerDeployment(pool, spec, target, namespace, settings.workers);
        if (!deployment) {
          guard();
          await apps.createNamespacedDeployment({ namespace, body: wanted });
          await emit(pool, "Normal", "Created", `Deployment ${deploymentName(name)} created with ${target} replicas`);
        } else {
          await markPods(replicas, decision.plan.removeFirst);
          if (deployment.metadata?.annotations?.[templateHashKey] !== wanted.metadata!.annotations![templateHashKey]) {
            // The pool's spec (image, model, GPU, streams, podTemplate) or the worker settings changed: roll the workers, keeping the replica count.
            guard();
            try {
              await apps.replaceNamespacedDeployment({
                name: deploymentName(name),
                namespace,
                body: {
                  ...wanted,
                  metadata: { ...wanted.metadata, resourceVersion: deployment.metadata?.resourceVersion },
                  spec: { ...wanted.spec!, replicas: current },
                },
              });
              await emit(pool, "Normal", "Updated", `Deployment ${deploymentName(name)} updated to the pool's spec`);
            } catch (err) {
              if (!isConflict(err)) throw err;
            }
          } else if (target !== current) {
            guard();
            const scale = await apps.readNamespacedDeploymentScale({ name: deploymentName(name), namespace });
            await apps.replaceNamespacedDeploymentScale({
              name: deploymentName(name),
              namespace,
              body: { ...scale, spec: { replicas: target } },
            });
          }
        }
        const roomsPart = rooms
          ? `, ${decision.roomStreams} for rooms on air or starting within ${Math.round((bootMs + roomWarmupMs) / 1000)}s`
          : "";
        const peakAhead = decision.streamsNeeded > Math.max(liveStreams, decision.roomStreams);
        const why =
          `${decision.streamsNeeded} streams needed (${liveStreams} active${roomsPart}` +
          `${peakAhead ? ", a scheduled peak ahead" : ""}) at ${spec.streamsPerReplica} per replica` +
          ` + ${spec.headroomPercent}% headroom`;
        if (directory) await reportRoomDirectory(pool, directory);
        if (target !== current && deployment) {
          await emit(pool, "Normal", decision.reason, `replicas ${current} -> ${target}: ${why}`);
        } else if (decision.reason === "HeldForActiveStreams" || decision.reason === "HeldForCooldown") {
          await emit(
            pool,
            "Normal",
            decision.reason,
            decision.reason === "HeldForActiveStreams"
              ? `${decision.plan.heldBusy} replica(s) above the target of ${decision.target} kept: they carry streams`
              : `kept at ${target} replicas for the ${spec.scaleDownCooldownSeconds}s scale-down cooldown`,
          );
        }
        let conditions = setCondition(pool.status?.conditions, valid(pool.metadata.generation), t);
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
        await writeStatus("workerpools", pool, {
          observedGeneration: pool.metadata.generation,
          desiredReplicas: target,
          replicas: deployment?.status?.replicas ?? 0,
          readyReplicas: deployment?.status?.readyReplicas ?? 0,
          activeStreams: liveStreams,
          streamsNeeded: decision.streamsNeeded,
          conditions,
        });
      });
      const labels = { pool: name, kind: spec.kind };
      metrics.poolReplicas.set({ ...labels, state: "desired" }, target);
      metrics.poolReplicas.set({ ...labels, state: "actual" }, deployment?.status?.replicas ?? 0);
      metrics.poolReplicas.set({ ...labels, state: "ready" }, deployment?.status?.readyReplicas ?? 0);
      metrics.poolStreams.set({ ...labels, state: "active" }, liveStreams);
      metrics.poolStreams.set({ ...labels, state: "needed" }, decision.streamsNeeded);
    }
    metrics.invalid.set({ kind: "WorkerPool" }, invalidPools);

    // Nodes: lanes observed, judged, placed, actuated.
    const lanes: (Lane & { spec: CapacityLaneSpec; offering: string; nodes: V1Node[]; size: number })[] = [];
    for (const { object, spec } of validOfferings) {
      const groups = offeringGroups.get(object.metadata.name!)!;
      for (const type of ["onDemand", "spot"] as const) {
        const laneSpec = spec[type];
        const group = groups.get(type);
        if (!laneSpec || !group) continue;
        const key = laneKey({ offering: object.metadata.name!, capacityType: type });
        const laneNodes = nodes
          .list()
          .filter((n) => matchesSelector(n.metadata?.labels, laneSpec.nodeGroup.nodeSelector));
        const ready = laneNodes.filter(isReady).length;
        const size = group.size ?? ready;
        const stored = object.status?.[type];
        const health = laneHealth.get(key) ?? {
          ...healthyLane(),
          failures: stored?.failures ?? 0,
          unavailableUntil: stored?.unavailableUntil ? Date.parse(stored.unavailableUntil) : 0,
        };
        const error = group.capacityError;
        const fresh = error && (error.at === undefined || error.at >= (raisedAt.get(key) ?? 0));
        const verdict = judgeLane(
          health,
          { desiredNodes: size, readyNodes: ready, capacityError: fresh ? error.message : undefined },
          t,
          spec.provisionTimeoutSeconds * 1000,
        );
        laneHealth.set(key, verdict.health);
        const labels = { offering: object.metadata.name!, capacity_type: type };
        if (verdict.failedNow) {
          metrics.failovers.inc(labels);
          await isolated("GpuOffering", object.metadata.name, () =>
            emit(
              object,
              "Warning",
              "CapacityUnavailable",
              `${type} nodes unavailable until ${new Date(verdict.health.unavailableUntil).toISOString()} ` +
                `(${verdict.health.message}); their demand moves to the next offering`,
            ),
          );
        }
        if (size > ready) {
          if (!provisioningSince.has(key)) provisioningSince.set(key, t);
        } else if (provisioningSince.has(key)) {
          metrics.provisioning.observe(labels, (t - provisioningSince.get(key)!) / 1000);
          provisioningSince.delete(key);
        }
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
          spec: laneSpec,
          nodes: laneNodes,
          size,
        });
      }
    }
    const placed = placeNodes(gpuDemand(sized), lanes);
    for (const lane of lanes) {
      let want = placed.get(laneKey(lane)) ?? 0;
      const offering = validOfferings.find((o) => o.object.metadata.name === lane.offering)!;
      let remove: string[] = [];
      if (want < lane.size) {
        const candidates = lane.nodes.map((n) => ({
          name: n.metadata!.name!,
          ready: isReady(n),
          busy: busyNodes.has(n.metadata!.name!),
        }));
        // Nodes that never registered (still booting) go without a cordon; registered ones are cordoned first.
        const unregistered = Math.max(0, lane.size - lane.nodes.length);
        remove = pickNodesToRemove(candidates, lane.size - want - unregistered);
        want = Math.max(want, lane.size - unregistered - remove.length);
      }
      if (want !== lane.size) {
        const from = lane.size;
        const to = want;
        want = from;
        await isolated("GpuOffering", lane.offering, async () => {
          await resizeNodeGroup(offering.spec, lane.spec, remove, to);
          want = to;
          if (to > from) raisedAt.set(laneKey(lane), t);
          await emit(
            offering.object,
            "Normal",
            to > from ? "NodesRequested" : "NodesReleased",
            `${lane.capacityType} nodes ${from} -> ${to} (${lane.readyNodes} Ready; ${lane.gpuType} demand placed cheapest first)`,
          );
        });
      }
      const labels = { offering: lane.offering, capacity_type: lane.capacityType };
      metrics.laneNodes.set({ ...labels, state: "desired" }, want);
      metrics.laneNodes.set({ ...labels, state: "ready" }, lane.readyNodes);
      metrics.laneAvailable.set(labels, lane.available ? 1 : 0);
      metrics.costRate.set(labels, want * lane.pricePerHour);
      laneWants.set(laneKey(lane), want);
    }
    for (const { object } of validOfferings) {
      const laneStatus = (type: CapacityType): LaneStatus | undefined => {
        const lane = lanes.find((l) => l.offering === object.metadata.name && l.capacityType === type);
        if (!lane) return undefined;
        const health = laneHealth.get(laneKey(lane))!;
        return {
          desiredNodes: laneWants.get(laneKey(lane)) ?? lane.size,
          readyNodes: lane.readyNodes,
          available: lane.available,
          failures: health.failures,
          ...(health.unavailableUntil > t ? { unavailableUntil: new Date(health.unavailableUntil).toISOString() } : {}),
          ...(health.message ? { message: health.message } : {}),
        };
      };
      const onDemand = laneStatus("onDemand");
      const spot = laneStatus("spot");
      const unavailable = [onDemand, spot].filter((l) => l && !l.available).length;
      let conditions = setCondition(object.status?.conditions, valid(object.metadata.generation), t);
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
        t,
      );
      await isolated("GpuOffering", object.metadata.name, () =>
        writeStatus("gpuofferings", object, {
          observedGeneration: object.metadata.generation,
          ...(onDemand ? { onDemand } : {}),
          ...(spot ? { spot } : {}),
          conditions,
        }),
      );
    }
  }

  async function reconcile(): Promise<void> {
    if (!elector.isLeader() || !caches.every((c) => c.synced)) {
      metrics.reconciles.inc({ result: "not_leader" });
      return;
    }
    await span.startActiveSpan("operator.reconcile", async (s) => {
      try {
        await reconcilePass();
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

  async function runPass(): Promise<void> {
    if (running) {
      again = true;
      return running;
    }
    running = (async () => {
      do {
        again = false;
        await reconcile();
      } while (again && !closed);
    })();
    try {
      await running;
    } finally {
      running = undefined;
    }
  }

  const stop = new AbortController();
  const election = elector.run(stop.signal);
  await Promise.all(caches.map((c) => c.start()));
  const interval = setInterval(() => void runPass(), settings.reconcileIntervalMs ?? 15_000);

  const close = async () => {
    if (closed) return;
    closed = true;
    clearInterval(interval);
    clearTimeout(scheduled);
    stop.abort();
    await running;
    await election;
    await Promise.all(caches.map((c) => c.stop()));
  };
  return {
    isLeader: () => elector.isLeader(),
    reconcile: () => runPass(),
    close,
    [Symbol.asyncDispose]: close,
  };
}
