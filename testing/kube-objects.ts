// Complete Karpenter, Cluster API and Node objects for the operator's tests, as a real cluster holds them: every field
// the controllers that own them write (labels, annotations, finalizers, owner references, status and its conditions
// in each controller's own style), not only what the operator reads. The shapes follow the published schemas:
// Karpenter v1 (karpenter.sh NodePool and NodeClaim, checked in kube-objects.test.ts with @kubernetes-models/karpenter),
// Cluster API v1beta1 (cluster.x-k8s.io MachineDeployment and Machine, checked there against the required fields of
// cluster-api's CRDs), and core/v1 Node and Event (kubernetes-models). The cloud is AWS (EC2 instance types, provider
// IDs, Karpenter's EC2NodeClass, Cluster API's AWSMachineTemplate), the one both engines support best.
//
// Each factory takes the few things a test varies and returns a plain object to `KubeApiTestServer.put` (which keeps
// the uid and creationTimestamp given). Names, uids, instance ids and addresses are derived from the objects' names, so
// a NodeClaim or a Machine and the Node that registers for it agree on the node's name, uid and provider ID without
// the test wiring them.
import { createHash } from "node:crypto";
import type { KubeObject } from "./kube-api-server.js";

export type CapacityType = "on-demand" | "spot";

/** An EC2 GPU instance type as Karpenter and the kubelet report it. */
export interface GpuShape {
  instanceType: string;
  /** karpenter.k8s.aws/instance-gpu-name */
  gpuName: string;
  gpus: number;
  cpus: number;
  memoryGi: number;
  /** The kubelet's max pods on EKS (VPC CNI) for this type. */
  maxPods: number;
}

/** The GPU type (livehost.io/gpu-type) to its usual EC2 instance type with 4 or 8 GPUs. */
export const gpuShapes: Readonly<Record<string, GpuShape>> = {
  L4: { instanceType: "g6.12xlarge", gpuName: "l4", gpus: 4, cpus: 48, memoryGi: 192, maxPods: 234 },
  A10G: { instanceType: "g5.12xlarge", gpuName: "a10g", gpus: 4, cpus: 48, memoryGi: 192, maxPods: 234 },
  L40S: { instanceType: "g6e.12xlarge", gpuName: "l40s", gpus: 4, cpus: 48, memoryGi: 384, maxPods: 234 },
  A100: { instanceType: "p4d.24xlarge", gpuName: "a100", gpus: 8, cpus: 96, memoryGi: 1152, maxPods: 737 },
  H100: { instanceType: "p5.48xlarge", gpuName: "h100", gpus: 8, cpus: 192, memoryGi: 2048, maxPods: 100 },
};

const shapeOf = (gpuType: string, instanceType?: string, gpus?: number): GpuShape => {
  const known = gpuShapes[gpuType] ?? gpuShapes.L4!;
  return { ...known, instanceType: instanceType ?? known.instanceType, gpus: gpus ?? known.gpus };
};

/** The label keys these objects carry that tests look for. */
export const labelKeys = {
  gpuType: "livehost.io/gpu-type",
  nodePool: "karpenter.sh/nodepool",
  capacityType: "karpenter.sh/capacity-type",
  instanceType: "node.kubernetes.io/instance-type",
  zone: "topology.kubernetes.io/zone",
  region: "topology.kubernetes.io/region",
  instanceGpuName: "karpenter.k8s.aws/instance-gpu-name",
  clusterName: "cluster.x-k8s.io/cluster-name",
  deploymentName: "cluster.x-k8s.io/deployment-name",
  machineSetName: "cluster.x-k8s.io/set-name",
} as const;

const gpu = "nvidia.com/gpu";
const defaultZone = "us-east-1a";
const regionOf = (zone: string) => zone.replace(/[a-z]$/, "");
const iso = (t: Date | string | number) => new Date(t).toISOString();
/** Kubernetes times are whole seconds. */
const kubeTime = (t: Date | string | number) =>
  iso(Math.floor(new Date(t).getTime() / 1000) * 1000).replace(".000", "");

function hex(seed: string, length: number): string {
  return createHash("sha256").update(seed).digest("hex").slice(0, length);
}
/** Karpenter's hash annotations: a uint64 in decimal. */
const hashOf = (seed: string) => BigInt(`0x${hex(`hash:${seed}`, 16)}`).toString();
/** A UUID that is always the same for the same seed (owner references need their owner's uid). */
export const uidOf = (seed: string) => {
  const h = hex(`uid:${seed}`, 32);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
};
const instanceIdOf = (seed: string) => `i-0${hex(`instance:${seed}`, 16)}`;
const privateIpOf = (seed: string) => {
  const h = createHash("sha256").update(`ip:${seed}`).digest();
  return `10.0.${h[0]! % 64}.${(h[1]! % 250) + 4}`;
};
/** The EC2 private DNS name the kubelet registers as the node's name. */
export const nodeNameOf = (seed: string, zone = defaultZone) =>
  `ip-${privateIpOf(seed).replaceAll(".", "-")}.${regionOf(zone)}.compute.internal`;
const providerIdOf = (seed: string, zone: string) => `aws:///${zone}/${instanceIdOf(seed)}`;

/** The message EC2 returns when a zone has no capacity of an instance type (what Karpenter and CAPA pass on). */
export const insufficientCapacityMessage = (instanceType: string, zone = defaultZone) =>
  `InsufficientInstanceCapacity: We currently do not have sufficient ${instanceType} capacity in the Availability ` +
  `Zone you requested (${zone}). Our system will be working on provisioning additional capacity. You can currently ` +
  `get ${instanceType} capacity by not specifying an Availability Zone in your request or choosing ${regionOf(zone)}b, ` +
  `${regionOf(zone)}c.`;

/** The message EC2 returns when the account's vCPU quota for the instance family is used up. */
export const vcpuQuotaMessage = (quota: number) =>
  `VcpuLimitExceeded: You have requested more vCPU capacity than your current vCPU limit of ${quota} allows for the ` +
  `instance bucket that the specified instance type belongs to. Please visit http://aws.amazon.com/contact-us/ec2-request ` +
  `to request an adjustment to this limit.`;

// ---- Karpenter v1 (karpenter.sh) ----

/** A condition as Karpenter writes it (operatorpkg: a True condition's reason is its type, its message empty). */
function karpenterCondition(
  type: string,
  status: "True" | "False" | "Unknown",
  at: string,
  generation: number,
  reason = type,
  message = "",
) {
  return { type, status, reason, message, lastTransitionTime: at, observedGeneration: generation };
}

const karpenterNodeClassRef = (name: string) => ({ group: "karpenter.k8s.aws", kind: "EC2NodeClass", name });
const gpuTaint = { key: gpu, value: "true", effect: "NoSchedule" };

export interface KarpenterNodePoolOptions {
  name: string;
  /** livehost.io/gpu-type of its nodes. Default "L4". */
  gpuType?: string;
  /** Instance types it may launch (node.kubernetes.io/instance-type); default: any with the GPU type's GPU name. */
  instanceTypes?: readonly string[];
  /** Default ["on-demand"]. */
  capacityTypes?: readonly CapacityType[];
  /** Default ["us-east-1a", "us-east-1b", "us-east-1c"]. */
  zones?: readonly string[];
  /** spec.limits["nvidia.com/gpu"]; null for none. Default 40. */
  gpuLimit?: number | null;
  /** Nodes it has now (status.nodes and status.resources). Default 0. */
  nodes?: number;
  /** GPUs per node. Default: the GPU type's usual instance's. */
  gpusPerNode?: number;
  /** Its NodeClass is ready. Default true; false: NodeClassReady=False (the EC2NodeClass's subnets not found). */
  ready?: boolean;
  /** EC2NodeClass name. Default "gpu". */
  nodeClass?: string;
  /** Default 10. */
  weight?: number;
  /** Default 2 hours ago. */
  createdAt?: Date | string;
}

/** A Karpenter v1 NodePool for GPU nodes, with the status Karpenter's controllers write. */
export function karpenterNodePool(o: KarpenterNodePoolOptions): KubeObject {
  const gpuType = o.gpuType ?? "L4";
  const shape = shapeOf(gpuType, undefined, o.gpusPerNode);
  const created = kubeTime(o.createdAt ?? Date.now() - 2 * 3600_000);
  const nodes = o.nodes ?? 0;
  const ready = o.ready ?? true;
  const generation = 1;
  const gpuLimit = o.gpuLimit === undefined ? 40 : o.gpuLimit;
  return {
    apiVersion: "karpenter.sh/v1",
    kind: "NodePool",
    metadata: {
      name: o.name,
      uid: uidOf(`nodepool:${o.name}`),
      generation,
      creationTimestamp: created,
      annotations: {
        "karpenter.sh/nodepool-hash": hashOf(`nodepool:${o.name}`),
        "karpenter.sh/nodepool-hash-version": "v3",
      },
    },
    spec: {
      template: {
        metadata: { labels: { [labelKeys.gpuType]: gpuType } },
        spec: {
          nodeClassRef: karpenterNodeClassRef(o.nodeClass ?? "gpu"),
          requirements: [
            { key: labelKeys.capacityType, operator: "In", values: [...(o.capacityTypes ?? ["on-demand"])] },
            {
              key: labelKeys.zone,
              operator: "In",
              values: [...(o.zones ?? ["us-east-1a", "us-east-1b", "us-east-1c"])],
            },
            o.instanceTypes
              ? { key: labelKeys.instanceType, operator: "In", values: [...o.instanceTypes] }
              : { key: labelKeys.instanceGpuName, operator: "In", values: [shape.gpuName] },
            { key: "kubernetes.io/arch", operator: "In", values: ["amd64"] },
            { key: labelKeys.gpuType, operator: "In", values: [gpuType] },
          ],
          taints: [gpuTaint],
          expireAfter: "720h",
        },
      },
      disruption: {
        // GPU nodes carry live streams: only empty nodes are consolidated, and never in the evening's peak.
        consolidationPolicy: "WhenEmpty",
        consolidateAfter: "10m",
        budgets: [
          { nodes: "10%" },
          { nodes: "0", schedule: "0 10 * * *", duration: "14h", reasons: ["Empty", "Drifted", "Underutilized"] },
        ],
      },
      limits: { cpu: "4000", memory: "16000Gi", ...(gpuLimit === null ? {} : { [gpu]: String(gpuLimit) }) },
      weight: o.weight ?? 10,
    },
    status: {
      nodes,
      nodeClassObservedGeneration: 1,
      resources: {
        cpu: String(nodes * shape.cpus),
        memory: `${nodes * shape.memoryGi}Gi`,
        "ephemeral-storage": `${nodes * 100}Gi`,
        pods: String(nodes * shape.maxPods),
        nodes: String(nodes),
        [gpu]: String(nodes * shape.gpus),
      },
      conditions: [
        karpenterCondition("ValidationSucceeded", "True", created, generation),
        ready
          ? karpenterCondition("NodeClassReady", "True", created, generation)
          : karpenterCondition(
              "NodeClassReady",
              "False",
              created,
              generation,
              "UnhealthyDependents",
              "SubnetsReady=False",
            ),
        karpenterCondition("NodeRegistrationHealthy", "True", created, generation),
        ready
          ? karpenterCondition("Ready", "True", created, generation)
          : karpenterCondition("Ready", "False", created, generation, "UnhealthyDependents", "NodeClassReady=False"),
      ],
    },
  };
}

export interface KarpenterNodeClaimOptions {
  /** Karpenter names it `<nodepool>-<5 letters>`. */
  name: string;
  nodePool: string;
  /** Default "on-demand". */
  capacityType?: CapacityType;
  /** Default "L4". */
  gpuType?: string;
  /** Default: the GPU type's usual instance type. */
  instanceType?: string;
  /** GPUs of the instance (capacity and allocatable). Default: the instance type's. */
  gpus?: number;
  /** Default "us-east-1a". */
  zone?: string;
  /** Default true: launched, registered and initialized. */
  launched?: boolean;
  /** Its node registered and initialized (the GPUs advertised). Default true; false: registered, not initialized. */
  ready?: boolean;
  /**
   * A launch error Karpenter keeps retrying: Launched stays Unknown with reason LaunchFailed and this message. (An
   * insufficient-capacity error is not kept on the NodeClaim: Karpenter deletes it and records an Event, see
   * karpenterInsufficientCapacityEvent.)
   */
  launchError?: string;
  /** Being deleted (deletionTimestamp set, its finalizer still there), e.g. after a spot interruption. */
  deleting?: boolean;
  /** Default 5 minutes ago. */
  createdAt?: Date | string;
  /** Node name; default derived from the name (nodeNameOf). */
  nodeName?: string;
}

/** A Karpenter v1 NodeClaim made for a NodePool, at the stage of its lifecycle the options say. */
export function karpenterNodeClaim(o: KarpenterNodeClaimOptions): KubeObject {
  const gpuType = o.gpuType ?? "L4";
  const shape = shapeOf(gpuType, o.instanceType, o.gpus);
  const zone = o.zone ?? defaultZone;
  const capacityType = o.capacityType ?? "on-demand";
  const createdMs = new Date(o.createdAt ?? Date.now() - 5 * 60_000).getTime();
  const created = kubeTime(createdMs);
  const launched = (o.launched ?? true) && o.launchError === undefined;
  const ready = launched && (o.ready ?? true);
  const generation = 1;
  const at = (seconds: number) => kubeTime(createdMs + seconds * 1000);
  const condition = (type: string, status: "True" | "Unknown", when: string, reason?: string, message?: string) =>
    karpenterCondition(type, status, when, generation, reason, message);
  const awaiting = (type: string) =>
    condition(type, "Unknown", created, "AwaitingReconciliation", "object is awaiting reconciliation");
  const conditions = !launched
    ? [
        o.launchError === undefined
          ? awaiting("Launched")
          : condition("Launched", "Unknown", at(5), "LaunchFailed", o.launchError),
        awaiting("Registered"),
        awaiting("Initialized"),
        condition(
          "Ready",
          "Unknown",
          created,
          "ReconcilingDependents",
          "Launched=Unknown, Registered=Unknown, Initialized=Unknown",
        ),
      ]
    : [
        condition("Launched", "True", at(5)),
        condition("Registered", "True", at(50)),
        ready
          ? condition("Initialized", "True", at(110))
          : condition(
              "Initialized",
              "Unknown",
              at(50),
              "ResourceNotRegistered",
              `Resource "${gpu}" was requested but not registered`,
            ),
        ready
          ? condition("Ready", "True", at(110))
          : condition("Ready", "Unknown", at(50), "ReconcilingDependents", "Initialized=Unknown"),
      ];
  const capacity = nodeCapacity(shape);
  return {
    apiVersion: "karpenter.sh/v1",
    kind: "NodeClaim",
    metadata: {
      name: o.name,
      uid: uidOf(`nodeclaim:${o.name}`),
      generation,
      creationTimestamp: created,
      ...(o.deleting ? { deletionTimestamp: kubeTime(Date.now() - 30_000), deletionGracePeriodSeconds: 0 } : {}),
      labels: {
        [labelKeys.gpuType]: gpuType,
        [labelKeys.nodePool]: o.nodePool,
        [labelKeys.capacityType]: capacityType,
        ...(launched
          ? {
              [labelKeys.instanceType]: shape.instanceType,
              [labelKeys.zone]: zone,
              [labelKeys.region]: regionOf(zone),
              [labelKeys.instanceGpuName]: shape.gpuName,
              "karpenter.k8s.aws/instance-gpu-count": String(shape.gpus),
              "karpenter.k8s.aws/instance-gpu-manufacturer": "nvidia",
              "kubernetes.io/arch": "amd64",
              "kubernetes.io/os": "linux",
            }
          : {}),
      },
      annotations: {
        "karpenter.sh/nodepool-hash": hashOf(`nodepool:${o.nodePool}`),
        "karpenter.sh/nodepool-hash-version": "v3",
        "karpenter.k8s.aws/ec2nodeclass-hash": hashOf("ec2nodeclass:gpu"),
        "karpenter.k8s.aws/ec2nodeclass-hash-version": "v4",
        ...(launched ? { "karpenter.k8s.aws/tagged": "true" } : {}),
      },
      finalizers: ["karpenter.sh/termination"],
      ownerReferences: [
        {
          apiVersion: "karpenter.sh/v1",
          kind: "NodePool",
          name: o.nodePool,
          uid: uidOf(`nodepool:${o.nodePool}`),
          blockOwnerDeletion: true,
        },
      ],
    },
    spec: {
      nodeClassRef: karpenterNodeClassRef("gpu"),
      requirements: [
        { key: labelKeys.nodePool, operator: "In", values: [o.nodePool] },
        { key: labelKeys.capacityType, operator: "In", values: [capacityType] },
        { key: labelKeys.zone, operator: "In", values: [zone] },
        { key: labelKeys.instanceType, operator: "In", values: [shape.instanceType] },
        { key: labelKeys.instanceGpuName, operator: "In", values: [shape.gpuName] },
        { key: "kubernetes.io/arch", operator: "In", values: ["amd64"] },
        { key: labelKeys.gpuType, operator: "In", values: [gpuType] },
      ],
      // What the pending pods that made Karpenter create it asked for (a GPU worker per GPU, plus daemonsets).
      resources: {
        requests: {
          cpu: `${shape.gpus * 4 + 1}`,
          memory: `${shape.gpus * 16 + 1}Gi`,
          pods: String(shape.gpus + 4),
          [gpu]: String(shape.gpus),
        },
      },
      taints: [gpuTaint],
      expireAfter: "720h",
    },
    status: launched
      ? {
          providerID: providerIdOf(o.name, zone),
          imageID: `ami-0${hex(`ami:${gpuType}`, 16)}`,
          nodeName: o.nodeName ?? nodeNameOf(o.name, zone),
          capacity: capacity.capacity,
          allocatable: capacity.allocatable,
          conditions,
        }
      : { conditions },
  };
}

export interface KarpenterInsufficientCapacityEventOptions {
  /** The NodeClaim Karpenter could not launch (it deletes it right after). */
  nodeClaim: KubeObject;
  /** The cloud's error. Default: EC2's InsufficientInstanceCapacity for the claim's instance type and zone. */
  message?: string;
  /** Default now. */
  at?: Date | string;
}

/**
 * The core/v1 Event Karpenter records when the cloud has no capacity for a NodeClaim (reason
 * InsufficientCapacityError; Karpenter then deletes the NodeClaim and tries other offerings). A NodeClaim is
 * cluster-scoped, so its Events are in the "default" namespace.
 */
export function karpenterInsufficientCapacityEvent(o: KarpenterInsufficientCapacityEventOptions): KubeObject {
  const claim = o.nodeClaim;
  const name = claim.metadata.name!;
  const requirements = ((claim.spec as { requirements?: { key: string; values?: string[] }[] } | undefined)
    ?.requirements ?? []) as { key: string; values?: string[] }[];
  const value = (key: string) => requirements.find((r) => r.key === key)?.values?.[0];
  const instanceType = value(labelKeys.instanceType) ?? "g6.12xlarge";
  const zone = value(labelKeys.zone) ?? defaultZone;
  const cloudError =
    o.message ??
    `creating instance, insufficient capacity, with fleet error(s), ${insufficientCapacityMessage(instanceType, zone)}`;
  const at = kubeTime(o.at ?? Date.now());
  return {
    apiVersion: "v1",
    kind: "Event",
    metadata: { name: `${name}.${hex(`event:${name}:${at}`, 16)}`, namespace: "default", creationTimestamp: at },
    involvedObject: {
      apiVersion: "karpenter.sh/v1",
      kind: "NodeClaim",
      name,
      uid: claim.metadata.uid ?? uidOf(`nodeclaim:${name}`),
      ...(claim.metadata.resourceVersion ? { resourceVersion: claim.metadata.resourceVersion } : {}),
    },
    reason: "InsufficientCapacityError",
    message: `NodeClaim ${name} event: ${cloudError}`,
    type: "Warning",
    source: { component: "karpenter" },
    reportingComponent: "karpenter",
    reportingInstance: "",
    firstTimestamp: at,
    lastTimestamp: at,
    count: 1,
  };
}

// ---- Cluster API v1beta1 (cluster.x-k8s.io) ----

/** A v1beta1 condition (Cluster API's own type: a True condition has no reason, severity or message). */
function capiCondition(
  type: string,
  status: "True" | "False",
  at: string,
  fault?: { reason: string; severity: "Error" | "Warning" | "Info"; message?: string },
) {
  // An empty message is left out (omitempty; the CRD's minLength is 1).
  const { message, ...rest } = fault ?? {};
  return {
    type,
    status,
    lastTransitionTime: at,
    ...(status === "False" && fault ? { ...rest, ...(message ? { message } : {}) } : {}),
  };
}

const capiVersion = "v1.31.4";
const machineSetNameOf = (md: string) =>
  `${md}-${hex(`machineset:${md}`, 10).replace(/[0-9]/g, (d) => "bcdfghjklm"[Number(d)]!)}`;
const templateHashOf = (md: string) => String(parseInt(hex(`template:${md}`, 8), 16) % 4_000_000_000);

export interface CapiMachineDeploymentOptions {
  name: string;
  /** Default "default". */
  namespace?: string;
  /** Default "gpu-cluster". */
  clusterName?: string;
  /** spec.replicas. */
  replicas: number;
  /** Machines that exist (status.replicas). Default: replicas. */
  machines?: number;
  /** Machines whose node is Ready (ready and available: minReadySeconds is 0). Default: machines. */
  readyReplicas?: number;
  /** livehost.io/gpu-type of its nodes (a template label). Default "L4". */
  gpuType?: string;
  /** Further labels for its machines' nodes (template metadata: CAPI syncs them to the Node). */
  nodeLabels?: Record<string, string>;
  /** The AWSMachineTemplate's instance type, in its name. Default: the GPU type's usual instance type. */
  instanceType?: string;
  /**
   * The cloud's error when a machine cannot be made (quota, capacity): Ready and MachineSetReady go False with
   * reason InstanceProvisionFailed and this message, as CAPA's AWSMachine reports it up. E.g.
   * insufficientCapacityMessage(...) or vcpuQuotaMessage(...).
   */
  capacityError?: string;
  /** The cluster autoscaler's node group bounds (annotations), if it runs beside. */
  autoscaler?: { min: number; max: number };
  /** Default 1 day ago. */
  createdAt?: Date | string;
}

/** A Cluster API v1beta1 MachineDeployment of GPU machines on AWS (CAPA), with the status its controller writes. */
export function capiMachineDeployment(o: CapiMachineDeploymentOptions): KubeObject {
  const namespace = o.namespace ?? "default";
  const clusterName = o.clusterName ?? "gpu-cluster";
  const gpuType = o.gpuType ?? "L4";
  const instanceType = o.instanceType ?? shapeOf(gpuType).instanceType;
  const machines = o.machines ?? o.replicas;
  const ready = Math.min(o.readyReplicas ?? machines, machines);
  const created = kubeTime(o.createdAt ?? Date.now() - 24 * 3600_000);
  const changed = kubeTime(Date.now() - 60_000);
  const generation = 2;
  const selectorLabels = { [labelKeys.clusterName]: clusterName, [labelKeys.deploymentName]: o.name };
  const fault = o.capacityError
    ? { reason: "InstanceProvisionFailed", severity: "Error" as const, message: o.capacityError }
    : undefined;
  const available = ready >= o.replicas;
  const availability = {
    reason: "WaitingForAvailableMachines",
    severity: "Warning" as const,
    message: `Minimum availability requires ${o.replicas} replicas, current ${ready} available`,
  };
  const machineSetReady = !fault && ready >= machines;
  const phase = o.replicas > machines ? "ScalingUp" : o.replicas < machines ? "ScalingDown" : "Running";
  const templateName = `${o.name}-${instanceType.replace(".", "-")}`;
  return {
    apiVersion: "cluster.x-k8s.io/v1beta1",
    kind: "MachineDeployment",
    metadata: {
      name: o.name,
      namespace,
      uid: uidOf(`machinedeployment:${namespace}/${o.name}`),
      generation,
      creationTimestamp: created,
      labels: { [labelKeys.clusterName]: clusterName },
      annotations: {
        "machinedeployment.clusters.x-k8s.io/revision": "1",
        ...(o.autoscaler
          ? {
              "cluster.x-k8s.io/cluster-api-autoscaler-node-group-min-size": String(o.autoscaler.min),
              "cluster.x-k8s.io/cluster-api-autoscaler-node-group-max-size": String(o.autoscaler.max),
            }
          : {}),
      },
      finalizers: ["cluster.x-k8s.io/machinedeployment"],
      ownerReferences: [
        {
          apiVersion: "cluster.x-k8s.io/v1beta1",
          kind: "Cluster",
          name: clusterName,
          uid: uidOf(`cluster:${clusterName}`),
        },
      ],
    },
    spec: {
      clusterName,
      replicas: o.replicas,
      minReadySeconds: 0,
      progressDeadlineSeconds: 600,
      revisionHistoryLimit: 1,
      selector: { matchLabels: selectorLabels },
      strategy: { type: "RollingUpdate", rollingUpdate: { maxSurge: 1, maxUnavailable: 0, deletePolicy: "Random" } },
      template: {
        metadata: { labels: { ...selectorLabels, [labelKeys.gpuType]: gpuType, ...o.nodeLabels } },
        spec: {
          clusterName,
          version: capiVersion,
          bootstrap: {
            configRef: {
              apiVersion: "bootstrap.cluster.x-k8s.io/v1beta1",
              kind: "KubeadmConfigTemplate",
              name: `${o.name}-bootstrap`,
              namespace,
            },
          },
          infrastructureRef: {
            apiVersion: "infrastructure.cluster.x-k8s.io/v1beta2",
            kind: "AWSMachineTemplate",
            name: templateName,
            namespace,
          },
          nodeDrainTimeout: "10m",
          nodeDeletionTimeout: "10s",
        },
      },
    },
    status: {
      observedGeneration: generation,
      selector: Object.entries(selectorLabels)
        .map(([k, v]) => `${k}=${v}`)
        .join(","),
      replicas: machines,
      updatedReplicas: machines,
      readyReplicas: ready,
      availableReplicas: ready,
      unavailableReplicas: Math.max(0, o.replicas - ready),
      phase,
      conditions: [
        // Ready summarises the others: the worst of them.
        capiCondition("Ready", fault || !available ? "False" : "True", changed, fault ?? availability),
        capiCondition("Available", available ? "True" : "False", changed, availability),
        capiCondition(
          "MachineSetReady",
          machineSetReady ? "True" : "False",
          changed,
          fault ?? {
            reason: "WaitingForNodeRef",
            severity: "Info",
            message: `${machines - ready} of ${machines} machines are not ready`,
          },
        ),
      ],
    },
  };
}

export interface CapiMachineOptions {
  name: string;
  /** The MachineDeployment it belongs to (through its MachineSet). */
  machineDeployment: string;
  /** Default "default". */
  namespace?: string;
  /** Default "gpu-cluster". */
  clusterName?: string;
  /** Default "L4" (a label of the Machine, from its MachineDeployment's template). */
  gpuType?: string;
  /** Default "us-east-1a" (its failure domain). */
  zone?: string;
  /** Its node joined and is Ready. Default true; false: the instance runs, the node is not there yet. */
  ready?: boolean;
  /** The cloud could not make its instance: phase Provisioning, InfrastructureReady False with this message. */
  capacityError?: string;
  /** Marked for deletion first when its MachineDeployment scales down (the cluster.x-k8s.io/delete-machine annotation). */
  deleteFirst?: boolean;
  /** Node name; default derived from the machine's name (nodeNameOf). */
  nodeName?: string;
  /** Default 10 minutes ago. */
  createdAt?: Date | string;
}

/** A Cluster API v1beta1 Machine of a MachineDeployment, as its controllers hold it (status.nodeRef once joined). */
export function capiMachine(o: CapiMachineOptions): KubeObject {
  const namespace = o.namespace ?? "default";
  const clusterName = o.clusterName ?? "gpu-cluster";
  const zone = o.zone ?? defaultZone;
  const gpuType = o.gpuType ?? "L4";
  const createdMs = new Date(o.createdAt ?? Date.now() - 10 * 60_000).getTime();
  const at = (seconds: number) => kubeTime(createdMs + seconds * 1000);
  const machineSet = machineSetNameOf(o.machineDeployment);
  const provisioned = o.capacityError === undefined;
  const joined = provisioned && (o.ready ?? true);
  const nodeName = o.nodeName ?? nodeNameOf(o.name, zone);
  const infraFault = o.capacityError
    ? {
        reason: "InstanceProvisionFailed",
        severity: "Error" as const,
        message: `failed to create AWSMachine instance: ${o.capacityError}`,
      }
    : undefined;
  const nodeFault = { reason: "NodeProvisioning", severity: "Warning" as const };
  return {
    apiVersion: "cluster.x-k8s.io/v1beta1",
    kind: "Machine",
    metadata: {
      name: o.name,
      namespace,
      uid: uidOf(`machine:${namespace}/${o.name}`),
      generation: 2,
      creationTimestamp: at(0),
      labels: {
        [labelKeys.clusterName]: clusterName,
        [labelKeys.deploymentName]: o.machineDeployment,
        [labelKeys.machineSetName]: machineSet,
        "machine-template-hash": templateHashOf(o.machineDeployment),
        [labelKeys.gpuType]: gpuType,
      },
      annotations: o.deleteFirst ? { "cluster.x-k8s.io/delete-machine": "true" } : {},
      finalizers: ["machine.cluster.x-k8s.io"],
      ownerReferences: [
        {
          apiVersion: "cluster.x-k8s.io/v1beta1",
          kind: "MachineSet",
          name: machineSet,
          uid: uidOf(`machineset:${namespace}/${machineSet}`),
          controller: true,
          blockOwnerDeletion: true,
        },
      ],
    },
    spec: {
      clusterName,
      version: capiVersion,
      bootstrap: {
        configRef: {
          apiVersion: "bootstrap.cluster.x-k8s.io/v1beta1",
          kind: "KubeadmConfig",
          name: o.name,
          namespace,
          uid: uidOf(`kubeadmconfig:${namespace}/${o.name}`),
        },
        dataSecretName: o.name,
      },
      infrastructureRef: {
        apiVersion: "infrastructure.cluster.x-k8s.io/v1beta2",
        kind: "AWSMachine",
        name: o.name,
        namespace,
        uid: uidOf(`awsmachine:${namespace}/${o.name}`),
      },
      failureDomain: zone,
      ...(provisioned ? { providerID: providerIdOf(o.name, zone) } : {}),
      nodeDrainTimeout: "10m",
      nodeDeletionTimeout: "10s",
    },
    status: {
      observedGeneration: 2,
      phase: joined ? "Running" : provisioned ? "Provisioned" : "Provisioning",
      bootstrapReady: true,
      infrastructureReady: provisioned,
      lastUpdated: joined ? at(120) : provisioned ? at(40) : at(5),
      ...(provisioned
        ? {
            addresses: [
              { type: "InternalIP", address: privateIpOf(o.name) },
              { type: "InternalDNS", address: nodeName },
            ],
          }
        : {}),
      ...(joined
        ? {
            nodeRef: { apiVersion: "v1", kind: "Node", name: nodeName, uid: uidOf(`node:${nodeName}`) },
            nodeInfo: nodeInfoOf(nodeName),
          }
        : {}),
      conditions: [
        capiCondition("Ready", joined ? "True" : "False", joined ? at(120) : at(5), infraFault ?? nodeFault),
        capiCondition("BootstrapReady", "True", at(3)),
        capiCondition("InfrastructureReady", provisioned ? "True" : "False", provisioned ? at(40) : at(5), infraFault),
        capiCondition("NodeHealthy", joined ? "True" : "False", joined ? at(120) : at(5), nodeFault),
      ],
    },
  };
}

// ---- core/v1 Node ----

function nodeCapacity(shape: GpuShape) {
  const memoryKi = shape.memoryGi * 1024 * 1024 - 3 * 1024 * 1024;
  return {
    capacity: {
      cpu: String(shape.cpus),
      memory: `${memoryKi}Ki`,
      "ephemeral-storage": "209702892Ki",
      "hugepages-1Gi": "0",
      "hugepages-2Mi": "0",
      pods: String(shape.maxPods),
      [gpu]: String(shape.gpus),
    },
    allocatable: {
      cpu: `${shape.cpus * 1000 - 190}m`,
      memory: `${memoryKi - 6 * 1024 * 1024}Ki`,
      "ephemeral-storage": "192188443124",
      "hugepages-1Gi": "0",
      "hugepages-2Mi": "0",
      pods: String(shape.maxPods),
      [gpu]: String(shape.gpus),
    },
  };
}

function nodeInfoOf(nodeName: string) {
  return {
    architecture: "amd64",
    bootID: uidOf(`boot:${nodeName}`),
    containerRuntimeVersion: "containerd://1.7.27",
    kernelVersion: "6.1.134-152.225.amzn2023.x86_64",
    kubeProxyVersion: capiVersion,
    kubeletVersion: capiVersion,
    machineID: hex(`machine-id:${nodeName}`, 32),
    operatingSystem: "linux",
    osImage: "Amazon Linux 2023.7.20250512",
    systemUUID: `ec2${hex(`system-uuid:${nodeName}`, 5)}-${hex(`s2:${nodeName}`, 4)}-${hex(`s3:${nodeName}`, 4)}-${hex(`s4:${nodeName}`, 4)}-${hex(`s5:${nodeName}`, 12)}`,
  };
}

export interface GpuNodeOptions {
  /** Default: derived from the NodeClaim's or Machine's name (nodeNameOf), as they name it. */
  name?: string;
  /** A Karpenter node: the NodeClaim it registered for and its NodePool (its labels, owner, finalizer). */
  karpenter?: { nodeClaim: string; nodePool: string };
  /** A Cluster API node: its Machine (the annotations CAPI sets on the Node). */
  machine?: { name: string; machineDeployment: string; namespace?: string; clusterName?: string };
  /** Default "L4". */
  gpuType?: string;
  instanceType?: string;
  /** GPUs it advertises. Default: the instance type's; 0 while the device plugin has not registered them. */
  gpus?: number;
  /** Default "on-demand". */
  capacityType?: CapacityType;
  /** Default "us-east-1a". */
  zone?: string;
  /** Default true. */
  ready?: boolean;
  /** Marked unschedulable (cordoned). */
  unschedulable?: boolean;
  /**
   * A spot interruption notice being acted on: Karpenter's node gets karpenter.sh/disrupted:NoSchedule (its NodeClaim
   * is being deleted); another node gets aws-node-termination-handler/spot-itn:NoSchedule, as the AWS Node Termination
   * Handler taints it.
   */
  spotInterruption?: boolean;
  /** Further labels, e.g. the ones a GpuOffering lane selects its nodes by. */
  labels?: Record<string, string>;
  /** Default 10 minutes ago. */
  createdAt?: Date | string;
  /** When it became Ready (or NotReady). Default 100 seconds after createdAt. */
  readyAt?: Date | string;
}

/** A GPU Node as a Karpenter NodeClaim or a Cluster API Machine registers it (kubelet, cloud provider and CAPI). */
export function gpuNode(o: GpuNodeOptions): KubeObject {
  const zone = o.zone ?? defaultZone;
  const seed = o.karpenter?.nodeClaim ?? o.machine?.name;
  const name = o.name ?? (seed ? nodeNameOf(seed, zone) : undefined);
  if (!name) throw new Error("gpuNode: give a name, or the NodeClaim or Machine it registered for");
  const gpuType = o.gpuType ?? "L4";
  const shape = shapeOf(gpuType, o.instanceType, o.gpus);
  const ready = o.ready ?? true;
  const capacityType = o.capacityType ?? "on-demand";
  const createdMs = new Date(o.createdAt ?? Date.now() - 10 * 60_000).getTime();
  const created = kubeTime(createdMs);
  const readyAt = kubeTime(o.readyAt ?? createdMs + 100_000);
  const heartbeat = kubeTime(Date.now() - 10_000);
  const { capacity, allocatable } = nodeCapacity(shape);
  const k = o.karpenter;
  const m = o.machine;
  const livehostLabels = Object.keys({ [labelKeys.gpuType]: gpuType, ...o.labels })
    .filter((l) => l.startsWith("livehost.io/"))
    .sort();
  const taints = [
    gpuTaint,
    ...(ready ? [] : [{ key: "node.kubernetes.io/not-ready", effect: "NoSchedule", timeAdded: readyAt }]),
    ...(o.unschedulable
      ? [{ key: "node.kubernetes.io/unschedulable", effect: "NoSchedule", timeAdded: heartbeat }]
      : []),
    ...(o.spotInterruption
      ? [
          k
            ? { key: "karpenter.sh/disrupted", effect: "NoSchedule", timeAdded: heartbeat }
            : {
                key: "aws-node-termination-handler/spot-itn",
                value: hex(`itn:${name}`, 40),
                effect: "NoSchedule",
                timeAdded: heartbeat,
              },
        ]
      : []),
  ];
  const pressure = (type: string, reason: string, message: string) => ({
    type,
    status: "False",
    lastHeartbeatTime: heartbeat,
    lastTransitionTime: readyAt,
    reason,
    message,
  });
  return {
    apiVersion: "v1",
    kind: "Node",
    metadata: {
      name,
      uid: uidOf(`node:${name}`),
      creationTimestamp: created,
      labels: {
        "beta.kubernetes.io/arch": "amd64",
        "beta.kubernetes.io/instance-type": shape.instanceType,
        "beta.kubernetes.io/os": "linux",
        "failure-domain.beta.kubernetes.io/region": regionOf(zone),
        "failure-domain.beta.kubernetes.io/zone": zone,
        "kubernetes.io/arch": "amd64",
        "kubernetes.io/hostname": name,
        "kubernetes.io/os": "linux",
        [labelKeys.instanceType]: shape.instanceType,
        [labelKeys.region]: regionOf(zone),
        [labelKeys.zone]: zone,
        [labelKeys.gpuType]: gpuType,
        ...(k
          ? {
              [labelKeys.nodePool]: k.nodePool,
              [labelKeys.capacityType]: capacityType,
              "karpenter.sh/initialized": "true",
              "karpenter.sh/registered": "true",
              [labelKeys.instanceGpuName]: shape.gpuName,
              "karpenter.k8s.aws/instance-gpu-count": String(shape.gpus),
              "karpenter.k8s.aws/instance-gpu-manufacturer": "nvidia",
            }
          : {}),
        ...o.labels,
      },
      annotations: {
        "alpha.kubernetes.io/provided-node-ip": privateIpOf(seed ?? name),
        "node.alpha.kubernetes.io/ttl": "0",
        "volumes.kubernetes.io/controller-managed-attach-detach": "true",
        ...(k ? { "karpenter.k8s.aws/ec2nodeclass-hash-version": "v4" } : {}),
        ...(m
          ? {
              "cluster.x-k8s.io/cluster-name": m.clusterName ?? "gpu-cluster",
              "cluster.x-k8s.io/cluster-namespace": m.namespace ?? "default",
              "cluster.x-k8s.io/machine": m.name,
              "cluster.x-k8s.io/owner-kind": "MachineSet",
              "cluster.x-k8s.io/owner-name": machineSetNameOf(m.machineDeployment),
              // Synced from the Machine: Cluster API's manager runs with --additional-sync-machine-labels=livehost\.io/.*
              "cluster.x-k8s.io/labels-from-machine": livehostLabels.join(","),
              "kubeadm.alpha.kubernetes.io/cri-socket": "unix:///var/run/containerd/containerd.sock",
            }
          : {}),
      },
      ...(k
        ? {
            finalizers: ["karpenter.sh/termination"],
            ownerReferences: [
              {
                apiVersion: "karpenter.sh/v1",
                kind: "NodeClaim",
                name: k.nodeClaim,
                uid: uidOf(`nodeclaim:${k.nodeClaim}`),
                blockOwnerDeletion: true,
              },
            ],
          }
        : {}),
    },
    spec: {
      providerID: providerIdOf(seed ?? name, zone),
      taints,
      ...(o.unschedulable ? { unschedulable: true } : {}),
    },
    status: {
      capacity,
      allocatable,
      conditions: [
        pressure("MemoryPressure", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
        pressure("DiskPressure", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
        pressure("PIDPressure", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
        ready
          ? {
              type: "Ready",
              status: "True",
              lastHeartbeatTime: heartbeat,
              lastTransitionTime: readyAt,
              reason: "KubeletReady",
              message: "kubelet is posting ready status",
            }
          : {
              type: "Ready",
              status: "False",
              lastHeartbeatTime: heartbeat,
              lastTransitionTime: readyAt,
              reason: "KubeletNotReady",
              message:
                "container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady message:Network plugin returns error: cni plugin not initialized",
            },
      ],
      addresses: [
        { type: "InternalIP", address: privateIpOf(seed ?? name) },
        { type: "InternalDNS", address: name },
        { type: "Hostname", address: name },
      ],
      daemonEndpoints: { kubeletEndpoint: { Port: 10250 } },
      nodeInfo: nodeInfoOf(name),
    },
  };
}
