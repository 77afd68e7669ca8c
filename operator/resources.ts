// The operator's custom resources (livehost.io/v1alpha1): their TypeScript shapes and OpenAPI schemas, in one place.
// The CRD manifests in operator/crds/ are generated from the schemas here (crds.ts), so the two cannot drift.
import type { WorkerKindName } from "../proto/index.js";

export const group = "livehost.io";
export const version = "v1alpha1";
export const apiVersion = `${group}/${version}`;

/** WorkerPool.spec.kind: the contract's worker kinds by name (proto/), re-exported for the operator's files. */
export type { WorkerKindName };

/** Kubernetes object metadata, as much of it as the operator reads. */
export interface ObjectMeta {
  name?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  creationTimestamp?: string | Date;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

export interface Condition {
  type: string;
  status: "True" | "False" | "Unknown";
  reason: string;
  message: string;
  lastTransitionTime: string;
  observedGeneration?: number;
}

export interface WorkerPoolSpec {
  /** Which worker this pool runs. */
  kind: WorkerKindName;
  image: string;
  /** Model the worker loads (a voice, an avatar model), passed as LIVEHOST_MODEL. */
  model?: string;
  gpu: { type: string; count: number };
  /** Concurrent streams one replica serves within its SLO (its --max-streams). */
  streamsPerReplica: number;
  minReplicas: number;
  maxReplicas: number;
  /** Spare capacity kept above the streams in use, in percent of them. */
  headroomPercent: number;
  slo: { ttsFirstChunkMs: number; lipsyncFpsHeadroomPercent: number };
  scaleDownCooldownSeconds: number;
  spot: { allowed: boolean; maxFraction: number };
  /**
   * Merged into the generated pod template (metadata and spec) of the pool's Deployment: objects merge, null removes
   * a key, lists of named items (containers, env, volumes, volumeMounts) merge by name, other lists are replaced.
   */
  podTemplate?: { metadata?: Record<string, unknown>; spec?: Record<string, unknown> };
}

export interface WorkerPoolStatus {
  observedGeneration?: number;
  desiredReplicas?: number;
  replicas?: number;
  readyReplicas?: number;
  activeStreams?: number;
  streamsNeeded?: number;
  conditions?: Condition[];
}

export interface WorkerPool {
  apiVersion?: string;
  kind?: "WorkerPool";
  metadata: ObjectMeta;
  spec: WorkerPoolSpec;
  status?: WorkerPoolStatus;
}

/** Where nodes of one capacity type (on-demand or spot) of an offering come from. */
export interface NodeGroupRef {
  /** A Cluster API MachineDeployment, scaled through its scale subresource. */
  machineDeployment?: { name: string; namespace: string };
  /** A Karpenter NodePool, whose GPU limit the operator sets. */
  karpenterNodePool?: { name: string };
  /** Labels that select this group's nodes (e.g. karpenter.sh/nodepool: gpu-l4-spot). */
  nodeSelector: Record<string, string>;
}

export interface CapacityLaneSpec {
  /** Price of one node-hour in the billing currency. */
  pricePerHour: number;
  nodeGroup: NodeGroupRef;
}

export interface GpuOfferingSpec {
  cloud: string;
  region: string;
  instanceType: string;
  gpuType: string;
  gpusPerNode: number;
  /** Lower is tried first; within one preference, the cheapest GPU-hour first. */
  preference: number;
  quota: { maxNodes: number };
  /** Expected time from request to a Ready node with the worker image pulled. */
  bootSeconds: number;
  /** A requested node not Ready after this long marks the lane unavailable. */
  provisionTimeoutSeconds: number;
  /**
   * A cluster autoscaler runs beside the operator on these MachineDeployments: each is annotated with its node-group
   * bounds (min = the nodes the operator wants, max = the quota), so the autoscaler never takes away what the operator
   * asked for.
   */
  clusterAutoscaler: boolean;
  onDemand?: CapacityLaneSpec;
  spot?: CapacityLaneSpec;
}

export type CapacityType = "onDemand" | "spot";

export interface LaneStatus {
  desiredNodes?: number;
  readyNodes?: number;
  available?: boolean;
  /** RFC 3339; the lane is skipped until then. */
  unavailableUntil?: string;
  failures?: number;
  message?: string;
}

export interface GpuOfferingStatus {
  observedGeneration?: number;
  onDemand?: LaneStatus;
  spot?: LaneStatus;
  conditions?: Condition[];
}

export interface GpuOffering {
  apiVersion?: string;
  kind?: "GpuOffering";
  metadata: ObjectMeta;
  spec: GpuOfferingSpec;
  status?: GpuOfferingStatus;
}

export interface LiveEventSpec {
  /** RFC 3339 start time. */
  start: string;
  expectedRooms: number;
  /** Rooms go from none to expectedRooms over this many seconds after start. */
  rampSeconds: number;
  durationSeconds: number;
  /** Streams one room keeps open on each worker kind. */
  streamsPerRoom: { tts: number; lipsync: number };
  /**
   * Capacity is asked for this much earlier than the pool's lead time alone requires: set it to how early the peak
   * may come.
   */
  warmupSeconds: number;
  /**
   * How far the real peak may be from expectedRooms, in percent: capacity ahead of the event is for the upper end,
   * and is corrected to what the rooms show once the ramp is under way.
   */
  forecastErrorPercent: number;
}

export interface LiveEventStatus {
  observedGeneration?: number;
  phase?: "Scheduled" | "Warming" | "Live" | "Done";
  conditions?: Condition[];
}

export interface LiveEvent {
  apiVersion?: string;
  kind?: "LiveEvent";
  metadata: ObjectMeta;
  spec: LiveEventSpec;
  status?: LiveEventStatus;
}

/** One custom resource: names and the OpenAPI schema of its spec and status. */
export interface ResourceDefinition {
  kind: string;
  plural: string;
  singular: string;
  shortNames: string[];
  specSchema: JsonSchema;
  statusSchema: JsonSchema;
  printerColumns: { name: string; type: string; jsonPath: string; description?: string }[];
}

/** The subset of OpenAPI v3 structural schemas Kubernetes accepts in a CRD. */
export interface JsonSchema {
  type?: "object" | "string" | "integer" | "number" | "boolean" | "array";
  description?: string;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  items?: JsonSchema;
  additionalProperties?: JsonSchema | boolean;
  enum?: string[];
  default?: unknown;
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
  pattern?: string;
  format?: string;
  maxProperties?: number;
  "x-kubernetes-list-type"?: string;
  "x-kubernetes-list-map-keys"?: string[];
  "x-kubernetes-preserve-unknown-fields"?: boolean;
}

const str = (description: string, extra: Partial<JsonSchema> = {}): JsonSchema => ({
  type: "string",
  description,
  ...extra,
});
const int = (description: string, extra: Partial<JsonSchema> = {}): JsonSchema => ({
  type: "integer",
  description,
  ...extra,
});
const num = (description: string, extra: Partial<JsonSchema> = {}): JsonSchema => ({
  type: "number",
  description,
  ...extra,
});

const conditions: JsonSchema = {
  type: "array",
  description: "Why the operator did what it did, newest state of each condition type.",
  "x-kubernetes-list-type": "map",
  "x-kubernetes-list-map-keys": ["type"],
  items: {
    type: "object",
    required: ["type", "status", "reason", "message", "lastTransitionTime"],
    properties: {
      type: str("e.g. Valid, Scaled, Available"),
      status: str("True, False or Unknown", { enum: ["True", "False", "Unknown"] }),
      reason: str("CamelCase reason"),
      message: str("human-readable explanation"),
      lastTransitionTime: str("when status last changed", { format: "date-time" }),
      observedGeneration: int("generation the condition was set for"),
    },
  },
};

/** Kubernetes object and label names: DNS-1123 subdomain. */
const dnsName = "^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$";

const nodeGroup: JsonSchema = {
  type: "object",
  description: "Exactly one of machineDeployment or karpenterNodePool, and the labels of its nodes.",
  required: ["nodeSelector"],
  properties: {
    machineDeployment: {
      type: "object",
      description: "Cluster API MachineDeployment scaled through its scale subresource.",
      required: ["name", "namespace"],
      properties: { name: str("name", { pattern: dnsName }), namespace: str("namespace", { pattern: dnsName }) },
    },
    karpenterNodePool: {
      type: "object",
      description: "Karpenter NodePool whose nvidia.com/gpu limit the operator sets.",
      required: ["name"],
      properties: { name: str("name", { pattern: dnsName }) },
    },
    nodeSelector: {
      type: "object",
      description: "Labels selecting this group's nodes, to count the Ready ones.",
      additionalProperties: { type: "string" },
    },
  },
};

const lane = (what: string): JsonSchema => ({
  type: "object",
  description: `${what} nodes of this offering.`,
  required: ["pricePerHour", "nodeGroup"],
  properties: { pricePerHour: num("price of one node-hour", { minimum: 0 }), nodeGroup },
});

const laneStatus: JsonSchema = {
  type: "object",
  properties: {
    desiredNodes: int("nodes the operator asked for"),
    readyNodes: int("nodes Ready now"),
    available: { type: "boolean", description: "false while backing off after a failure to deliver" },
    unavailableUntil: str("end of the backoff", { format: "date-time" }),
    failures: int("failures to deliver in a row"),
    message: str("the last failure"),
  },
};

export const workerPoolDefinition: ResourceDefinition = {
  kind: "WorkerPool",
  plural: "workerpools",
  singular: "workerpool",
  shortNames: ["wp"],
  specSchema: {
    type: "object",
    required: ["kind", "image", "gpu", "streamsPerReplica", "maxReplicas"],
    properties: {
      kind: str("worker kind", { enum: ["tts", "lipsync"] }),
      image: str("container image of the worker", { minLength: 1 }),
      model: str("model the worker loads (LIVEHOST_MODEL)", { default: "" }),
      gpu: {
        type: "object",
        required: ["type"],
        properties: {
          type: str("GPU type, as offered by a GpuOffering (e.g. L4, A10G)", { minLength: 1 }),
          count: int("GPUs per replica", { minimum: 1, maximum: 16, default: 1 }),
        },
      },
      streamsPerReplica: int("concurrent streams one replica serves within its SLO", { minimum: 1 }),
      minReplicas: int("never fewer replicas", { minimum: 0, default: 1 }),
      maxReplicas: int("never more replicas", { minimum: 1 }),
      headroomPercent: int("spare capacity above the streams in use, in percent", {
        minimum: 0,
        maximum: 400,
        default: 15,
      }),
      slo: {
        type: "object",
        default: {},
        properties: {
          ttsFirstChunkMs: int("TTS first-chunk latency target", { minimum: 1, default: 100 }),
          lipsyncFpsHeadroomPercent: int("lip-sync frames per second above the stream fps, in percent", {
            minimum: 0,
            default: 20,
          }),
        },
      },
      scaleDownCooldownSeconds: int("scale down only on the highest need over this window", {
        minimum: 0,
        default: 300,
      }),
      spot: {
        type: "object",
        default: {},
        properties: {
          allowed: { type: "boolean", description: "replicas may run on spot nodes", default: false },
          maxFraction: num("largest share of this pool's GPUs on spot", { minimum: 0, maximum: 1, default: 0.5 }),
        },
      },
      podTemplate: {
        type: "object",
        description:
          "Merged into the workers' generated pod template: objects merge, null removes a key, lists of named items " +
          "(containers, env, volumes, volumeMounts) merge by name, other lists are replaced.",
        properties: {
          metadata: {
            type: "object",
            description: "labels and annotations added to the workers' pods",
            "x-kubernetes-preserve-unknown-fields": true,
          },
          spec: {
            type: "object",
            description: "a partial PodSpec",
            "x-kubernetes-preserve-unknown-fields": true,
          },
        },
      },
    },
  },
  statusSchema: {
    type: "object",
    properties: {
      observedGeneration: int("generation last reconciled"),
      desiredReplicas: int("replicas the operator wants"),
      replicas: int("replicas of the worker Deployment"),
      readyReplicas: int("ready replicas"),
      activeStreams: int("streams in use, from worker announcements"),
      streamsNeeded: int("streams needed now or soon (scheduled events)"),
      conditions,
    },
  },
  printerColumns: [
    { name: "Kind", type: "string", jsonPath: ".spec.kind" },
    { name: "GPU", type: "string", jsonPath: ".spec.gpu.type" },
    { name: "Desired", type: "integer", jsonPath: ".status.desiredReplicas" },
    { name: "Ready", type: "integer", jsonPath: ".status.readyReplicas" },
    { name: "Streams", type: "integer", jsonPath: ".status.activeStreams" },
    { name: "Valid", type: "string", jsonPath: '.status.conditions[?(@.type=="Valid")].status' },
    { name: "Age", type: "date", jsonPath: ".metadata.creationTimestamp" },
  ],
};

export const gpuOfferingDefinition: ResourceDefinition = {
  kind: "GpuOffering",
  plural: "gpuofferings",
  singular: "gpuoffering",
  shortNames: ["gpuo"],
  specSchema: {
    type: "object",
    required: ["cloud", "region", "instanceType", "gpuType", "gpusPerNode", "quota"],
    properties: {
      cloud: str("e.g. aliyun, aws", { minLength: 1 }),
      region: str("e.g. cn-hangzhou", { minLength: 1 }),
      instanceType: str("e.g. ecs.gn7i-c8g1.2xlarge", { minLength: 1 }),
      gpuType: str("GPU type of its nodes, e.g. L4", { minLength: 1 }),
      gpusPerNode: int("GPUs on one node", { minimum: 1, maximum: 16 }),
      preference: int("lower is tried first; within one preference, cheapest first", { minimum: 0, default: 0 }),
      quota: {
        type: "object",
        required: ["maxNodes"],
        properties: { maxNodes: int("nodes this offering may have, on-demand and spot together", { minimum: 0 }) },
      },
      bootSeconds: int("expected seconds from request to a Ready node", { minimum: 0, default: 300 }),
      provisionTimeoutSeconds: int("a node not Ready after this long marks the lane unavailable", {
        minimum: 1,
        default: 600,
      }),
      clusterAutoscaler: {
        type: "boolean",
        description: "a cluster autoscaler runs beside: MachineDeployments get its node-group bounds annotations",
        default: false,
      },
      onDemand: lane("On-demand"),
      spot: lane("Spot (reclaimable)"),
    },
  },
  statusSchema: {
    type: "object",
    properties: {
      observedGeneration: int("generation last reconciled"),
      onDemand: laneStatus,
      spot: laneStatus,
      conditions,
    },
  },
  printerColumns: [
    { name: "Cloud", type: "string", jsonPath: ".spec.cloud" },
    { name: "Region", type: "string", jsonPath: ".spec.region" },
    { name: "GPU", type: "string", jsonPath: ".spec.gpuType" },
    { name: "OnDemand", type: "integer", jsonPath: ".status.onDemand.readyNodes" },
    { name: "Spot", type: "integer", jsonPath: ".status.spot.readyNodes" },
    { name: "Available", type: "string", jsonPath: '.status.conditions[?(@.type=="Available")].status' },
    { name: "Age", type: "date", jsonPath: ".metadata.creationTimestamp" },
  ],
};

export const liveEventDefinition: ResourceDefinition = {
  kind: "LiveEvent",
  plural: "liveevents",
  singular: "liveevent",
  shortNames: ["le"],
  specSchema: {
    type: "object",
    required: ["start", "expectedRooms", "durationSeconds"],
    properties: {
      start: str("when rooms start going live (RFC 3339)", { format: "date-time" }),
      expectedRooms: int("rooms live at the peak", { minimum: 0 }),
      rampSeconds: int("seconds from start to expectedRooms", { minimum: 0, default: 600 }),
      durationSeconds: int("seconds from start to the end of the event", { minimum: 1 }),
      streamsPerRoom: {
        type: "object",
        default: {},
        properties: {
          tts: int("TTS streams per room", { minimum: 0, default: 1 }),
          lipsync: int("lip-sync streams per room", { minimum: 0, default: 1 }),
        },
      },
      warmupSeconds: int("capacity is ready this long before boot time alone would make it", {
        minimum: 0,
        default: 300,
      }),
      forecastErrorPercent: int("how far the real peak may be from expectedRooms, in percent", {
        minimum: 0,
        maximum: 100,
        default: 0,
      }),
    },
  },
  statusSchema: {
    type: "object",
    properties: {
      observedGeneration: int("generation last reconciled"),
      phase: str("Scheduled, Warming, Live or Done", { enum: ["Scheduled", "Warming", "Live", "Done"] }),
      conditions,
    },
  },
  printerColumns: [
    { name: "Start", type: "string", jsonPath: ".spec.start" },
    { name: "Rooms", type: "integer", jsonPath: ".spec.expectedRooms" },
    { name: "Phase", type: "string", jsonPath: ".status.phase" },
    { name: "Age", type: "date", jsonPath: ".metadata.creationTimestamp" },
  ],
};

export const definitions = [workerPoolDefinition, gpuOfferingDefinition, liveEventDefinition];
