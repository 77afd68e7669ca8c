// The objects testing/kube-objects.ts makes hold to the published schemas: Karpenter's through
// @kubernetes-models/karpenter (generated from Karpenter's Go API types) plus the CRD's own patterns that those types
// do not carry, Node and Event through kubernetes-models, and Cluster API's (no npm package has their models) against
// the required fields and enums of cluster-api's v1beta1 CRDs, written out below.
import { NodeClaim } from "@kubernetes-models/karpenter/karpenter.sh/v1/NodeClaim";
import { NodePool } from "@kubernetes-models/karpenter/karpenter.sh/v1/NodePool";
import { Event } from "kubernetes-models/v1/Event";
import { Node } from "kubernetes-models/v1/Node";
import { describe, expect, it } from "vitest";
import { KubeApiTestServer } from "./kube-api-server.js";
import {
  capiMachine,
  capiMachineDeployment,
  gpuNode,
  insufficientCapacityMessage,
  karpenterInsufficientCapacityEvent,
  karpenterNodeClaim,
  karpenterNodePool,
  nodeNameOf,
  vcpuQuotaMessage,
} from "./kube-objects.js";

type Json = Record<string, unknown>;
type Condition = { type: string; status: string; reason?: string; message?: string; lastTransitionTime?: string };

const at = (obj: unknown, path: string): unknown =>
  path.split(".").reduce<unknown>((v, k) => (v as Json | undefined)?.[k], obj);
const conditionsOf = (obj: unknown) => (at(obj, "status.conditions") ?? []) as Condition[];
const anyString = expect.any(String) as unknown;
const condition = (obj: unknown, type: string) => conditionsOf(obj).find((c) => c.type === type);

// Rules of Karpenter's CRDs (kubernetes-sigs/karpenter pkg/apis/crds/karpenter.sh_nodepools.yaml and
// karpenter.sh_nodeclaims.yaml, v1) that the Go types, and so @kubernetes-models/karpenter, do not carry.
const karpenterDuration = /^(([0-9]+(s|m|h))+|Never)$/;
const budgetNodes = /^((100|[0-9]{1,2})%|[0-9]+)$/;
const budgetDuration = /^((([0-9]+(h|m))|([0-9]+h[0-9]+m))(0s)?)$/;
const conditionReason = /^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$/;
const labelValue = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
/** NodePool requirements and template labels may not use these keys (CEL rules of the NodePool CRD). */
const restrictedNodePoolKeys = ["karpenter.sh/nodepool", "kubernetes.io/hostname"];

function checkKarpenterRules(obj: unknown, requirementsAt: string): void {
  const requirements = at(obj, requirementsAt) as { key: string; operator: string; values?: string[] }[];
  expect(requirements.filter((r) => r.operator === "In" && !r.values?.length)).toEqual([]);
  for (const v of requirements.flatMap((r) => r.values ?? [])) expect(v).toMatch(labelValue);
  for (const c of conditionsOf(obj)) {
    expect(c.reason).toMatch(conditionReason);
    expect(["True", "False", "Unknown"]).toContain(c.status);
  }
}

// The v1beta1 schemas of kubernetes-sigs/cluster-api's CRDs, core/config/crd/bases/cluster.x-k8s.io_machinedeployments.yaml
// and cluster.x-k8s.io_machines.yaml (read at its main branch, where v1beta1 is still served, deprecated in favour of
// v1beta2): the fields they require and the enums of the fields these objects set.
const capiRequired = {
  MachineDeployment: [
    "spec",
    "spec.clusterName",
    "spec.selector",
    "spec.template",
    "spec.template.spec.clusterName",
    "spec.template.spec.bootstrap",
    "spec.template.spec.infrastructureRef",
  ],
  Machine: ["spec", "spec.clusterName", "spec.bootstrap", "spec.infrastructureRef"],
} as const;
/** status.conditions[] (Cluster API's v1beta1 Condition type) */
const capiConditionRequired = ["type", "status", "lastTransitionTime"] as const;
const capiEnums = {
  MachineDeployment: {
    "status.phase": ["ScalingUp", "ScalingDown", "Running", "Failed", "Unknown"],
    "spec.strategy.type": ["RollingUpdate", "OnDelete"],
    "spec.strategy.rollingUpdate.deletePolicy": ["Random", "Newest", "Oldest"],
  },
  Machine: {
    "status.phase": ["Pending", "Provisioning", "Provisioned", "Running", "Deleting", "Deleted", "Failed", "Unknown"],
  },
} as const;
/** status.nodeInfo of a Machine, when set, requires all of these (core/v1 NodeSystemInfo). */
const nodeInfoRequired = [
  "architecture",
  "bootID",
  "containerRuntimeVersion",
  "kernelVersion",
  "kubeProxyVersion",
  "kubeletVersion",
  "machineID",
  "operatingSystem",
  "osImage",
  "systemUUID",
];

function checkCapi(obj: Json, kind: "MachineDeployment" | "Machine"): void {
  expect(obj).toMatchObject({ apiVersion: "cluster.x-k8s.io/v1beta1", kind });
  expect(capiRequired[kind].filter((path) => at(obj, path) === undefined)).toEqual([]);
  const badEnums = Object.entries(capiEnums[kind]).filter(
    ([path, allowed]) => at(obj, path) !== undefined && !(allowed as readonly unknown[]).includes(at(obj, path)),
  );
  expect(badEnums).toEqual([]);
  for (const c of conditionsOf(obj)) {
    expect(capiConditionRequired.filter((field) => c[field] === undefined)).toEqual([]);
    expect(["True", "False", "Unknown"]).toContain(c.status);
    expect(c.message).not.toBe(""); // minLength 1: an empty message is left out
  }
  const clusterName = at(obj, "spec.clusterName") as string;
  expect(clusterName.length).toBeGreaterThan(0);
  expect(clusterName.length).toBeLessThanOrEqual(63);
  for (const ref of ["bootstrap.configRef", "infrastructureRef"]) {
    const base = kind === "Machine" ? "spec" : "spec.template.spec";
    expect(at(obj, `${base}.${ref}`)).toMatchObject({ apiVersion: anyString, kind: anyString });
  }
  const nodeInfo = at(obj, "status.nodeInfo") as Json | undefined;
  expect(nodeInfo ? nodeInfoRequired.filter((field) => nodeInfo[field] === undefined) : []).toEqual([]);
}

describe("Karpenter objects", () => {
  it("makes a NodePool that validates against the v1 schema, ready or with its NodeClass not ready", () => {
    for (const pool of [
      karpenterNodePool({ name: "gpu-l4-spot", capacityTypes: ["spot"], nodes: 2 }),
      karpenterNodePool({ name: "gpu-h100", gpuType: "H100", instanceTypes: ["p5.48xlarge"], gpuLimit: null }),
      karpenterNodePool({ name: "gpu-l4", ready: false, zones: ["us-west-2a"] }),
    ]) {
      expect(() => new NodePool(pool as never).validate()).not.toThrow();
      checkKarpenterRules(pool, "spec.template.spec.requirements");
      const spec = pool.spec as Json;
      expect(at(spec, "template.spec.expireAfter")).toMatch(karpenterDuration);
      expect(at(spec, "disruption.consolidateAfter")).toMatch(karpenterDuration);
      const budgets = at(spec, "disruption.budgets") as { nodes: string; duration?: string }[];
      for (const b of budgets) expect(b.nodes).toMatch(budgetNodes);
      for (const duration of budgets.flatMap((b) => b.duration ?? [])) expect(duration).toMatch(budgetDuration);
      const keys = (at(spec, "template.spec.requirements") as { key: string }[]).map((r) => r.key);
      const templateLabels = Object.keys(at(spec, "template.metadata.labels") as Json);
      for (const key of [...keys, ...templateLabels]) expect(restrictedNodePoolKeys).not.toContain(key);
    }
    const spot = karpenterNodePool({ name: "gpu-l4-spot", capacityTypes: ["spot"], nodes: 2, gpuLimit: 16 });
    expect(spot).toMatchObject({
      spec: {
        template: {
          metadata: { labels: { "livehost.io/gpu-type": "L4" } },
          spec: {
            nodeClassRef: { group: "karpenter.k8s.aws", kind: "EC2NodeClass", name: "gpu" },
            taints: [{ key: "nvidia.com/gpu", effect: "NoSchedule" }],
          },
        },
        limits: { "nvidia.com/gpu": "16" },
      },
      status: { nodes: 2, resources: { "nvidia.com/gpu": "8", nodes: "2" } },
    });
    expect(at(spot, "spec.template.spec.requirements")).toContainEqual({
      key: "karpenter.sh/capacity-type",
      operator: "In",
      values: ["spot"],
    });
    expect(condition(spot, "Ready")?.status).toBe("True");
    expect(at(karpenterNodePool({ name: "x", gpuLimit: null }), "spec.limits")).not.toHaveProperty("nvidia.com/gpu");
    const notReady = karpenterNodePool({ name: "gpu-l4", ready: false });
    expect(condition(notReady, "Ready")).toMatchObject({ status: "False", reason: "UnhealthyDependents" });
    expect(condition(notReady, "NodeClassReady")?.status).toBe("False");
  });

  it("makes NodeClaims through their lifecycle that validate against the v1 schema", () => {
    const claims = {
      ready: karpenterNodeClaim({ name: "gpu-l4-spot-x7k2p", nodePool: "gpu-l4-spot", capacityType: "spot" }),
      initializing: karpenterNodeClaim({ name: "gpu-l4-q9w2e", nodePool: "gpu-l4", ready: false, zone: "us-east-1b" }),
      launching: karpenterNodeClaim({ name: "gpu-l4-b3n8m", nodePool: "gpu-l4", launched: false }),
      failing: karpenterNodeClaim({
        name: "gpu-h100-k2j4h",
        nodePool: "gpu-h100",
        gpuType: "H100",
        launchError: "creating instance, UnauthorizedOperation: You are not authorized to perform this operation.",
      }),
      deleting: karpenterNodeClaim({ name: "gpu-l4-spot-r5t6y", nodePool: "gpu-l4-spot", deleting: true }),
    };
    for (const claim of Object.values(claims)) {
      expect(() => new NodeClaim(claim as never).validate()).not.toThrow();
      checkKarpenterRules(claim, "spec.requirements");
      expect(at(claim, "spec.expireAfter")).toMatch(karpenterDuration);
      expect(claim.metadata.labels).toMatchObject({ "karpenter.sh/nodepool": anyString });
    }
    expect(claims.ready).toMatchObject({
      metadata: { labels: { "karpenter.sh/nodepool": "gpu-l4-spot", "karpenter.sh/capacity-type": "spot" } },
      status: {
        providerID: expect.stringMatching(/^aws:\/\/\/us-east-1a\/i-0[0-9a-f]{16}$/) as unknown,
        nodeName: nodeNameOf("gpu-l4-spot-x7k2p"),
        capacity: { "nvidia.com/gpu": "4" },
        allocatable: { "nvidia.com/gpu": "4" },
      },
    });
    expect(conditionsOf(claims.ready).map((c) => `${c.type}=${c.status}`)).toEqual([
      "Launched=True",
      "Registered=True",
      "Initialized=True",
      "Ready=True",
    ]);
    expect(condition(claims.initializing, "Initialized")).toMatchObject({
      status: "Unknown",
      reason: "ResourceNotRegistered",
    });
    expect(at(claims.launching, "status.providerID")).toBeUndefined();
    expect(condition(claims.failing, "Launched")).toMatchObject({ status: "Unknown", reason: "LaunchFailed" });
    expect(claims.deleting.metadata.deletionTimestamp).toEqual(anyString);
  });

  it("makes the Event Karpenter records for an insufficient-capacity launch", () => {
    const claim = karpenterNodeClaim({ name: "gpu-l4-spot-x7k2p", nodePool: "gpu-l4-spot", launched: false });
    const event = karpenterInsufficientCapacityEvent({ nodeClaim: claim });
    expect(() => new Event(event as never).validate()).not.toThrow();
    expect(event).toMatchObject({
      reason: "InsufficientCapacityError",
      type: "Warning",
      involvedObject: { apiVersion: "karpenter.sh/v1", kind: "NodeClaim", name: "gpu-l4-spot-x7k2p" },
    });
    expect(event.message).toMatch(/^NodeClaim gpu-l4-spot-x7k2p event: creating instance, insufficient capacity/);
    expect(event.message).toContain(insufficientCapacityMessage("g6.12xlarge", "us-east-1a"));
  });
});

describe("Cluster API objects", () => {
  it("makes MachineDeployments with the v1beta1 schema's required fields, scaled, scaling and out of capacity", () => {
    const steady = capiMachineDeployment({ name: "md-l4", namespace: "capi", replicas: 3 });
    const scaling = capiMachineDeployment({
      name: "md-l4",
      namespace: "capi",
      replicas: 4,
      machines: 4,
      readyReplicas: 2,
    });
    const stuck = capiMachineDeployment({
      name: "md-h100",
      namespace: "capi",
      gpuType: "H100",
      replicas: 2,
      machines: 2,
      readyReplicas: 0,
      capacityError: vcpuQuotaMessage(384),
      autoscaler: { min: 0, max: 8 },
    });
    for (const md of [steady, scaling, stuck]) checkCapi(md, "MachineDeployment");
    expect(steady).toMatchObject({
      spec: {
        clusterName: "gpu-cluster",
        replicas: 3,
        selector: { matchLabels: { "cluster.x-k8s.io/deployment-name": "md-l4" } },
        template: {
          metadata: { labels: { "cluster.x-k8s.io/deployment-name": "md-l4", "livehost.io/gpu-type": "L4" } },
          spec: {
            bootstrap: { configRef: { kind: "KubeadmConfigTemplate" } },
            infrastructureRef: { kind: "AWSMachineTemplate" },
          },
        },
        strategy: { type: "RollingUpdate", rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } },
      },
      status: {
        replicas: 3,
        readyReplicas: 3,
        availableReplicas: 3,
        updatedReplicas: 3,
        unavailableReplicas: 0,
        phase: "Running",
        observedGeneration: 2,
        selector: "cluster.x-k8s.io/cluster-name=gpu-cluster,cluster.x-k8s.io/deployment-name=md-l4",
      },
    });
    expect(conditionsOf(steady).map((c) => `${c.type}=${c.status}`)).toEqual([
      "Ready=True",
      "Available=True",
      "MachineSetReady=True",
    ]);
    expect(condition(scaling, "Available")).toMatchObject({ status: "False", reason: "WaitingForAvailableMachines" });
    expect(capiMachineDeployment({ name: "md", replicas: 3, machines: 1 }).status?.phase).toBe("ScalingUp");
    expect(condition(stuck, "Ready")).toMatchObject({
      status: "False",
      severity: "Error",
      reason: "InstanceProvisionFailed",
      message: expect.stringMatching(/^VcpuLimitExceeded/) as unknown,
    });
    expect(stuck.metadata.annotations).toMatchObject({
      "cluster.x-k8s.io/cluster-api-autoscaler-node-group-max-size": "8",
    });
  });

  it("makes Machines with the labels Cluster API sets and a nodeRef once the node joined", () => {
    const running = capiMachine({ name: "md-l4-abcde-x1y2z", namespace: "capi", machineDeployment: "md-l4" });
    const joining = capiMachine({
      name: "md-l4-abcde-p3q4r",
      namespace: "capi",
      machineDeployment: "md-l4",
      ready: false,
    });
    const failed = capiMachine({
      name: "md-l4-abcde-s5t6u",
      namespace: "capi",
      machineDeployment: "md-l4",
      capacityError: insufficientCapacityMessage("g6.12xlarge"),
    });
    for (const m of [running, joining, failed]) checkCapi(m, "Machine");
    expect(running).toMatchObject({
      metadata: {
        labels: {
          "cluster.x-k8s.io/cluster-name": "gpu-cluster",
          "cluster.x-k8s.io/deployment-name": "md-l4",
          "cluster.x-k8s.io/set-name": expect.stringMatching(/^md-l4-/) as unknown,
        },
        ownerReferences: [{ kind: "MachineSet", controller: true }],
      },
      status: { phase: "Running", nodeRef: { kind: "Node", name: nodeNameOf("md-l4-abcde-x1y2z") } },
    });
    expect(joining.status).toMatchObject({ phase: "Provisioned", infrastructureReady: true });
    expect(joining.status).not.toHaveProperty("nodeRef");
    expect(failed.status).toMatchObject({ phase: "Provisioning", infrastructureReady: false });
    expect(condition(failed, "InfrastructureReady")?.message).toMatch(/InsufficientInstanceCapacity/);
  });
});

describe("GPU nodes", () => {
  it("makes Nodes that validate against core/v1, as Karpenter's and Cluster API's machines register them", () => {
    const karpenter = gpuNode({
      karpenter: { nodeClaim: "gpu-l4-spot-x7k2p", nodePool: "gpu-l4-spot" },
      capacityType: "spot",
      labels: { "livehost.io/offering": "k-l4" },
    });
    const capi = gpuNode({ machine: { name: "md-l4-abcde-x1y2z", machineDeployment: "md-l4", namespace: "capi" } });
    const notReady = gpuNode({ name: "n-1", ready: false, gpus: 0 });
    const interrupted = gpuNode({
      karpenter: { nodeClaim: "gpu-l4-spot-r5t6y", nodePool: "gpu-l4-spot" },
      spotInterruption: true,
    });
    const itn = gpuNode({ machine: { name: "md-l4-abcde-p3q4r", machineDeployment: "md-l4" }, spotInterruption: true });
    for (const node of [karpenter, capi, notReady, interrupted, itn]) {
      expect(() => new Node(node as never).validate()).not.toThrow();
      expect(Date.parse(node.metadata.creationTimestamp!)).not.toBeNaN();
      expect(condition(node, "Ready")?.lastTransitionTime).toEqual(anyString);
    }
    // The NodeClaim and the Node agree on the name and the instance.
    const claim = karpenterNodeClaim({ name: "gpu-l4-spot-x7k2p", nodePool: "gpu-l4-spot", capacityType: "spot" });
    expect(karpenter.metadata.name).toBe(at(claim, "status.nodeName"));
    expect(at(karpenter, "spec.providerID")).toBe(at(claim, "status.providerID"));
    expect(karpenter.metadata).toMatchObject({
      labels: {
        "karpenter.sh/nodepool": "gpu-l4-spot",
        "karpenter.sh/capacity-type": "spot",
        "node.kubernetes.io/instance-type": "g6.12xlarge",
        "topology.kubernetes.io/zone": "us-east-1a",
        "livehost.io/gpu-type": "L4",
        "livehost.io/offering": "k-l4",
      },
      ownerReferences: [{ kind: "NodeClaim", name: "gpu-l4-spot-x7k2p", uid: claim.metadata.uid }],
    });
    expect(karpenter.status).toMatchObject({
      capacity: { "nvidia.com/gpu": "4" },
      allocatable: { "nvidia.com/gpu": "4" },
    });
    expect(capi.metadata.annotations).toMatchObject({
      "cluster.x-k8s.io/machine": "md-l4-abcde-x1y2z",
      "cluster.x-k8s.io/cluster-namespace": "capi",
      "cluster.x-k8s.io/owner-kind": "MachineSet",
    });
    const machine = capiMachine({ name: "md-l4-abcde-x1y2z", namespace: "capi", machineDeployment: "md-l4" });
    expect(at(machine, "status.nodeRef.name")).toBe(capi.metadata.name);
    expect(at(machine, "status.nodeRef.uid")).toBe(capi.metadata.uid);
    expect(at(machine, "spec.providerID")).toBe(at(capi, "spec.providerID"));
    expect(condition(notReady, "Ready")).toMatchObject({ status: "False", reason: "KubeletNotReady" });
    expect(at(notReady, "spec.taints")).toContainEqual(
      expect.objectContaining({ key: "node.kubernetes.io/not-ready" }),
    );
    expect((notReady.status as { allocatable: Json }).allocatable["nvidia.com/gpu"]).toBe("0");
    expect(at(interrupted, "spec.taints")).toContainEqual(
      expect.objectContaining({ key: "karpenter.sh/disrupted", effect: "NoSchedule" }),
    );
    expect(at(itn, "spec.taints")).toContainEqual(
      expect.objectContaining({ key: "aws-node-termination-handler/spot-itn", effect: "NoSchedule" }),
    );
  });

  it("keeps the creation time and uid the factories give when a test puts them in the API server", async () => {
    await using kube = await KubeApiTestServer.start();
    const createdAt = new Date(Date.now() - 3600_000);
    const node = gpuNode({ karpenter: { nodeClaim: "gpu-l4-a1b2c", nodePool: "gpu-l4" }, createdAt });
    const stored = kube.put("nodes", node);
    expect(Date.parse(stored.metadata.creationTimestamp!)).toBe(Math.floor(createdAt.getTime() / 1000) * 1000);
    expect(stored.metadata.uid).toBe(node.metadata.uid);
    const claim = kube.put("nodeclaims", karpenterNodeClaim({ name: "gpu-l4-a1b2c", nodePool: "gpu-l4" }));
    expect(claim.metadata.uid).toBe((stored.metadata.ownerReferences as { uid: string }[])[0]?.uid);
  });
});
