// What the operator sees: informer caches of the WorkerPools, GpuOfferings, LiveEvents, the pools' Deployments and
// pods and the nodes, plus, read at each pass, the node groups the offerings drive and the demand (the workers' load,
// the room directory). `look()` turns them into one Snapshot for a pass to decide on; nothing here writes.
import {
  AppsV1Api,
  CoreV1Api,
  CustomObjectsApi,
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
import {
  group,
  version,
  type CapacityLaneSpec,
  type CapacityType,
  type Condition,
  type GpuOffering,
  type GpuOfferingSpec,
  type LiveEvent,
  type WorkerKindName,
  type WorkerPool,
} from "./resources.js";
import { checkGpuOffering } from "./validate.js";
import { gpuResource, managedBy } from "./workload.js";

export interface CapacityError {
  message: string;
  /** When the condition last changed (ms), if it says. */
  at: number | undefined;
}

/** A node group as read for this pass: its size (undefined where it states none) and any capacity error; or gone. */
export type NodeGroupSeen =
  { found: true; size: number | undefined; capacityError: CapacityError | undefined } | { found: false };

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
}

export interface ObserverOptions {
  kubeConfig: KubeConfig;
  namespace: string;
  demand: DemandSource;
  logger: Logger;
  /** Called on every change a watch delivers. */
  onChange: () => void;
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

/** An informer cache as the Observer uses it (ObjectCacheWatch). */
interface Cache<T> {
  start(): Promise<void>;
  stop(): Promise<void>;
  readonly synced: boolean;
  list(): readonly T[];
}

export class Observer {
  readonly #custom: CustomObjectsApi;
  readonly #demand: DemandSource;
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
    this.#demand = options.demand;
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
    for (const object of this.#offerings.list()) {
      const checked = checkGpuOffering(object);
      const nodeGroups = new Map<CapacityType, NodeGroupSeen>();
      if (checked.ok) {
        for (const type of ["onDemand", "spot"] as const) {
          const lane = checked.spec[type];
          if (lane) nodeGroups.set(type, await this.#readNodeGroup(checked.spec, lane));
        }
      }
      offerings.push({ object, nodeGroups });
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
    };
  }

  /** The node group an offering lane drives, read now: its size, and a capacity error if it reports one. */
  async #readNodeGroup(spec: GpuOfferingSpec, lane: CapacityLaneSpec): Promise<NodeGroupSeen> {
    const ref = lane.nodeGroup;
    try {
      if (ref.machineDeployment) {
        const { name, namespace } = ref.machineDeployment;
        const id = { group: "cluster.x-k8s.io", version: "v1beta1", namespace, plural: "machinedeployments", name };
        const md: unknown = await this.#custom.getNamespacedCustomObject(id);
        const replicas = (md as { spec?: { replicas?: number } }).spec?.replicas ?? 0;
        return { found: true, size: replicas, capacityError: capacityErrorOf(md) };
      }
      const np: unknown = await this.#custom.getClusterCustomObject({
        group: "karpenter.sh",
        version: "v1",
        plural: "nodepools",
        name: ref.karpenterNodePool!.name,
      });
      const limit = Number((np as { spec?: { limits?: Record<string, string> } }).spec?.limits?.[gpuResource] ?? NaN);
      return {
        found: true,
        size: Number.isFinite(limit) ? Math.floor(limit / spec.gpusPerNode) : undefined,
        capacityError: capacityErrorOf(np),
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
