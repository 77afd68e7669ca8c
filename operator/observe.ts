// What the operator sees: informer caches of the WorkerPools, GpuOfferings, LiveEvents, the pools' Deployments and
// pods and the nodes, plus, read at each pass, the node groups the offerings drive, the demand (the workers' load,
// the room directory) and, where it sizes them, the job workers' Deployment and queue. `look()` turns them into one
// Snapshot for a pass to decide on; nothing here writes.
import {
  AppsV1Api,
  CoreV1Api,
  CustomObjectsApi,
  type CoreV1Event,
  type KubeConfig,
  type KubernetesListObject,
  type V1Deployment,
  type V1Node,
  type V1Pod,
} from "@kubernetes/client-node";
import type { Logger } from "../observability/index.js";
import type { DemandSource, RoomDirectoryView, WorkerLoad } from "./demand.js";
import { isNotFound } from "./errors.js";
import { ObjectCacheWatch } from "./informer.js";
import type { JobQueueSource } from "./job-queue.js";
import type { JobWorkersSeen } from "./job-workers.js";
import {
  group,
  version,
  type CapacityLaneSpec,
  type CapacityType,
  type Condition,
  type GpuOffering,
  type LiveEvent,
  type WorkerKindName,
  type WorkerPool,
} from "./resources.js";
import { checkGpuOffering } from "./validate.js";
import { gpuResource, gpuTypeLabel, managedBy } from "./workload.js";

export interface CapacityError {
  message: string;
  /** When the condition last changed (ms), if it says. */
  at: number | undefined;
}

/** What a Karpenter NodePool says that the operator checks and keeps: its GPU limit and what its nodes may be. */
export interface NodePoolSeen {
  limitGpus: number | undefined;
  /** Values its requirements allow for karpenter.sh/capacity-type; undefined when it does not restrict them. */
  capacityTypes: readonly string[] | undefined;
  /** The livehost.io/gpu-type its nodes get (template label or a single-valued requirement), if any. */
  gpuType: string | undefined;
  /** The taints its nodes get (pods placed there must tolerate them). */
  taints: readonly { key: string; value?: string; effect: string }[];
}

/**
 * A node group as read for this pass: its size (a MachineDeployment's replicas; a NodePool's NodeClaims not being
 * deleted) and any capacity error; or gone.
 */
export type NodeGroupSeen =
  | {
      found: true;
      size: number | undefined;
      /** Of those, nodes the cloud has accepted (a NodeClaim Launched); undefined where the group does not say. */
      launched?: number;
      capacityError: CapacityError | undefined;
      nodePool?: NodePoolSeen;
      /** A MachineDeployment's annotations (the cluster autoscaler's bounds live there). */
      annotations?: Readonly<Record<string, string>>;
    }
  | { found: false };

export interface ObservedOffering {
  object: GpuOffering;
  /** The node group of each lane, for an offering whose spec is valid (none for an invalid one). */
  nodeGroups: ReadonlyMap<CapacityType, NodeGroupSeen>;
}

/** The world as one pass sees it. */
export interface Snapshot {
  now: number;
  pools: readonly WorkerPool[];
  offerings: readonly ObservedOffering[];
  liveEvents: readonly LiveEvent[];
  /** The operator's Deployments and their pods (managed-by livehost-operator), in its namespace. */
  deployments: readonly V1Deployment[];
  pods: readonly V1Pod[];
  nodes: readonly V1Node[];
  /** Workers alive now, by kind (from their announcements). */
  workers: Readonly<Record<WorkerKindName, readonly WorkerLoad[]>>;
  /** The room directory, where the demand source reads one. */
  roomDirectory: RoomDirectoryView | undefined;
  /** Nodes Karpenter was told the cloud takes back (its SpotInterrupted Events of the last 10 minutes). */
  interruptedNodes?: ReadonlySet<string>;
  /** The job workers' Deployment and queue, where the operator sizes them. */
  jobWorkers?: JobWorkersSeen;
}

export interface ObserverOptions {
  kubeConfig: KubeConfig;
  namespace: string;
  demand: DemandSource;
  logger: Logger;
  /** Called on every change a watch delivers. */
  onChange: () => void;
  /** The job workers' Deployment (in `namespace`) and their queue, read at each pass where the operator sizes them. */
  jobWorkers?: { deployment: string; queue: JobQueueSource };
}

/**
 * A quota or capacity failure reported in a node group's status conditions (Cluster API, Karpenter's NodePool) or a
 * NodeClaim's (Launched=False with an insufficient-capacity reason).
 */
function capacityErrorOf(object: unknown): CapacityError | undefined {
  const conditions = (object as { status?: { conditions?: Condition[] } } | undefined)?.status?.conditions ?? [];
  const failing = conditions.find(
    (c) => c.status === "False" && /insufficient|quota|capacity|limit|unfulfillable/i.test(`${c.reason} ${c.message}`),
  );
  if (!failing) return undefined;
  const at = Date.parse(String(failing.lastTransitionTime));
  return { message: `${failing.reason}: ${failing.message}`, at: Number.isNaN(at) ? undefined : at };
}

/** An informer cache as the Observer uses it (ObjectCacheWatch). */
interface Cache<T> {
  start(): Promise<void>;
  stop(): Promise<void>;
  readonly synced: boolean;
  list(): readonly T[];
}

/** When an Event last happened (ms), if it says. */
function eventTime(e: CoreV1Event): number | undefined {
  const t = e.lastTimestamp ?? e.eventTime ?? e.firstTimestamp ?? e.metadata?.creationTimestamp;
  return t === undefined ? undefined : new Date(t).getTime();
}

/** The parts of a Karpenter v1 NodePool the operator reads. */
interface KarpenterNodePool {
  spec?: {
    limits?: Record<string, string>;
    template?: {
      metadata?: { labels?: Record<string, string> };
      spec?: {
        requirements?: { key: string; operator: string; values?: string[] }[];
        taints?: { key: string; value?: string; effect: string }[];
      };
    };
  };
}

export class Observer {
  readonly #custom: CustomObjectsApi;
  readonly #core: CoreV1Api;
  readonly #apps: AppsV1Api;
  readonly #namespace: string;
  readonly #demand: DemandSource;
  readonly #jobWorkers: ObserverOptions["jobWorkers"];
  readonly #pools: Cache<WorkerPool>;
  readonly #offerings: Cache<GpuOffering>;
  readonly #liveEvents: Cache<LiveEvent>;
  readonly #deployments: Cache<V1Deployment>;
  readonly #pods: Cache<V1Pod>;
  readonly #nodes: Cache<V1Node>;
  readonly #caches: readonly Cache<unknown>[];

  constructor(options: ObserverOptions) {
    const { kubeConfig: kc, namespace, logger, onChange } = options;
    const custom = kc.makeApiClient(CustomObjectsApi);
    const apps = kc.makeApiClient(AppsV1Api);
    const core = kc.makeApiClient(CoreV1Api);
    this.#custom = custom;
    this.#core = core;
    this.#apps = apps;
    this.#namespace = namespace;
    this.#demand = options.demand;
    this.#jobWorkers = options.jobWorkers;
    const cacheOf = <T extends { metadata?: object }>(
      path: string,
      list: () => Promise<KubernetesListObject<T>>,
      labelSelector?: string,
    ) => new ObjectCacheWatch<T>({ kubeConfig: kc, path, list, labelSelector, onChange, logger });
    const customCache = <T extends { metadata: object }>(plural: string) =>
      cacheOf<T>(
        `/apis/${group}/${version}/namespaces/${namespace}/${plural}`,
        () =>
          custom.listNamespacedCustomObject({ group, version, namespace, plural }) as Promise<KubernetesListObject<T>>,
      );
    const selector = Object.entries(managedBy)
      .map(([k, v]) => `${k}=${v}`)
      .join(",");
    this.#pools = customCache<WorkerPool>("workerpools");
    this.#offerings = customCache<GpuOffering>("gpuofferings");
    this.#liveEvents = customCache<LiveEvent>("liveevents");
    this.#deployments = cacheOf<V1Deployment>(
      `/apis/apps/v1/namespaces/${namespace}/deployments`,
      () => apps.listNamespacedDeployment({ namespace, labelSelector: selector }),
      selector,
    );
    this.#pods = cacheOf<V1Pod>(
      `/api/v1/namespaces/${namespace}/pods`,
      () => core.listNamespacedPod({ namespace, labelSelector: selector }),
      selector,
    );
    this.#nodes = cacheOf<V1Node>("/api/v1/nodes", () => core.listNode());
    this.#caches = [this.#pools, this.#offerings, this.#liveEvents, this.#deployments, this.#pods, this.#nodes];
  }

  /** Lists and watches everything; resolves once every first list is in. */
  async start(): Promise<void> {
    await Promise.all(this.#caches.map((c) => c.start()));
  }

  /** True once every cache has its first list: a pass before that would see objects missing. */
  get synced(): boolean {
    return this.#caches.every((c) => c.synced);
  }

  /**
   * The snapshot one pass decides on. Reads the node groups of the valid offerings now (a missing one is recorded
   * as such; any other failure fails the pass, which the next one retries).
   */
  async look(now: number): Promise<Snapshot> {
    const offerings: ObservedOffering[] = [];
    const valid = this.#offerings.list().map((object) => ({ object, checked: checkGpuOffering(object) }));
    const karpenter = valid.some(
      ({ checked }) =>
        checked.ok && [checked.spec.onDemand, checked.spec.spot].some((l) => l?.nodeGroup.karpenterNodePool),
    );
    const iceEvents = karpenter ? await this.#karpenterEvents("InsufficientCapacityError", now) : [];
    const spotEvents = karpenter ? await this.#karpenterEvents("SpotInterrupted", now) : [];
    const jobWorkers = this.#jobWorkers && (await this.#readJobWorkers(this.#jobWorkers));
    const claimNodes = new Map<string, string>();
    for (const { object, checked } of valid) {
      const nodeGroups = new Map<CapacityType, NodeGroupSeen>();
      if (checked.ok) {
        for (const type of ["onDemand", "spot"] as const) {
          const lane = checked.spec[type];
          if (lane) nodeGroups.set(type, await this.#readNodeGroup(lane, iceEvents, claimNodes));
        }
      }
      offerings.push({ object, nodeGroups });
    }
    // Karpenter's interruption handling tells of a spot interruption by an Event on the Node and its NodeClaim.
    const interruptedNodes = new Set<string>();
    for (const e of spotEvents) {
      const name = e.involvedObject?.name;
      if (!name) continue;
      if (e.involvedObject.kind === "Node") interruptedNodes.add(name);
      else if (e.involvedObject.kind === "NodeClaim" && claimNodes.has(name))
        interruptedNodes.add(claimNodes.get(name)!);
    }
    return {
      now,
      pools: this.#pools.list(),
      offerings,
      liveEvents: this.#liveEvents.list(),
      deployments: this.#deployments.list(),
      pods: this.#pods.list(),
      nodes: this.#nodes.list(),
      workers: { tts: this.#demand.workers("tts"), lipsync: this.#demand.workers("lipsync") },
      roomDirectory: this.#demand.rooms?.(),
      interruptedNodes,
      ...(jobWorkers ? { jobWorkers } : {}),
    };
  }

  /**
   * The job workers' queue and Deployment, read together. Neither failure fails the pass (the GPU pools do not wait
   * on onboarding): the plan leaves the job workers as they are and says why.
   */
  async #readJobWorkers(jobWorkers: NonNullable<ObserverOptions["jobWorkers"]>): Promise<JobWorkersSeen> {
    const [queue, deployment] = await Promise.all([
      jobWorkers.queue.read(),
      this.#apps.readNamespacedDeployment({ name: jobWorkers.deployment, namespace: this.#namespace }).then(
        (object): JobWorkersSeen["deployment"] => ({ found: true, object }),
        (err: unknown): JobWorkersSeen["deployment"] =>
          isNotFound(err)
            ? { found: false }
            : { found: false, error: err instanceof Error ? err.message : String(err) },
      ),
    ]);
    return { queue, deployment };
  }

  /**
   * Karpenter's Events of one reason over the last 10 minutes, recorded in "default" as for every cluster-scoped
   * object: InsufficientCapacityError (the cloud had no capacity for a NodeClaim, which Karpenter then deletes) and
   * SpotInterrupted (its interruption queue got the cloud's spot notice for a node).
   */
  async #karpenterEvents(reason: string, now: number): Promise<CoreV1Event[]> {
    const list = await this.#core.listNamespacedEvent({ namespace: "default", fieldSelector: `reason=${reason}` });
    return list.items.filter((e) => e.reason === reason && (eventTime(e) ?? 0) >= now - 600_000);
  }

  /** The node group an offering lane drives, read now: its size, and a capacity error if it reports one. */
  async #readNodeGroup(
    lane: CapacityLaneSpec,
    iceEvents: readonly CoreV1Event[],
    claimNodes: Map<string, string>,
  ): Promise<NodeGroupSeen> {
    const ref = lane.nodeGroup;
    try {
      if (ref.machineDeployment) {
        const { name, namespace } = ref.machineDeployment;
        const id = { group: "cluster.x-k8s.io", version: "v1beta1", namespace, plural: "machinedeployments", name };
        const md = (await this.#custom.getNamespacedCustomObject(id)) as {
          metadata?: { annotations?: Record<string, string> };
          spec?: { replicas?: number };
        };
        return {
          found: true,
          size: md.spec?.replicas ?? 0,
          capacityError: capacityErrorOf(md),
          annotations: md.metadata?.annotations ?? {},
        };
      }
      const name = ref.karpenterNodePool!.name;
      const np = (await this.#custom.getClusterCustomObject({
        group: "karpenter.sh",
        version: "v1",
        plural: "nodepools",
        name,
      })) as KarpenterNodePool;
      // Karpenter's own record of the nodes it is making or has made for this NodePool.
      const claims = (await this.#custom.listClusterCustomObject({
        group: "karpenter.sh",
        version: "v1",
        plural: "nodeclaims",
        labelSelector: `karpenter.sh/nodepool=${name}`,
      })) as {
        items?: {
          metadata?: { name?: string; deletionTimestamp?: string };
          status?: { nodeName?: string; conditions?: { type?: string; status?: string }[] };
        }[];
      };
      for (const c of claims.items ?? []) {
        if (c.metadata?.name && c.status?.nodeName) claimNodes.set(c.metadata.name, c.status.nodeName);
      }
      const live = (claims.items ?? []).filter((c) => !c.metadata?.deletionTimestamp);
      // Karpenter deletes a NodeClaim the cloud had no capacity for, leaving a Warning Event on it. NodeClaims are
      // named after their NodePool and five random characters (so NodePool "l4" is not taken for "l4-spot").
      const ours = new RegExp(`^${name.replace(/[.]/g, "\\.")}-[a-z0-9]{5}$`);
      const ice = iceEvents
        .filter((e) => e.involvedObject?.kind === "NodeClaim" && ours.test(e.involvedObject.name ?? ""))
        .map((e) => ({ message: `${e.reason}: ${e.message}`, at: eventTime(e) }))
        .sort((a, b) => (b.at ?? 0) - (a.at ?? 0))[0];
      const limit = Number(np.spec?.limits?.[gpuResource] ?? NaN);
      const requirements = np.spec?.template?.spec?.requirements ?? [];
      const capacityTypes = requirements.find((r) => r.key === "karpenter.sh/capacity-type" && r.operator === "In");
      const gpuRequirement = requirements.find((r) => r.key === gpuTypeLabel && r.operator === "In");
      return {
        found: true,
        size: live.length,
        // Launched: the cloud made its instance; it is booting or Ready, and a capacity error later is not about it.
        launched: live.filter((c) => c.status?.conditions?.some((x) => x.type === "Launched" && x.status === "True"))
          .length,
        capacityError: capacityErrorOf(np) ?? live.map(capacityErrorOf).find((e) => e !== undefined) ?? ice,
        nodePool: {
          limitGpus: Number.isFinite(limit) ? limit : undefined,
          capacityTypes: capacityTypes?.values,
          gpuType:
            np.spec?.template?.metadata?.labels?.[gpuTypeLabel] ??
            (gpuRequirement?.values?.length === 1 ? gpuRequirement.values[0] : undefined),
          taints: np.spec?.template?.spec?.taints ?? [],
        },
      };
    } catch (err) {
      if (!isNotFound(err)) throw err;
      return { found: false };
    }
  }

  async stop(): Promise<void> {
    await Promise.all(this.#caches.map((c) => c.stop()));
  }
}
