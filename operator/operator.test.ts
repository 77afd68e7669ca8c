// The real operator against the Kubernetes API test server, with worker load announced on a real nats-server.
import { afterAll, describe, expect, it } from "vitest";
import { InMemorySpanExporter, SimpleSpanProcessor, startTracing } from "../observability/internal.js";
import {
  capiMachine,
  capiMachineDeployment,
  eventually,
  gpuNode,
  insufficientCapacityMessage,
  karpenterInsufficientCapacityEvent,
  karpenterNodeClaim,
  karpenterNodePool,
  startTestOperator,
  testGpuOfferingSpec,
  testWorkerPoolSpec,
  type KubeObject,
} from "../testing/index.js";

const ns = "livehost";

const onDemandOf = (name: string, md: string) => ({
  pricePerHour: 4,
  nodeGroup: { machineDeployment: { name: md, namespace: "capi" }, nodeSelector: { "livehost.io/offering": name } },
});

const offering = (name: string, md: string): KubeObject => ({
  metadata: { name, namespace: ns },
  spec: { ...testGpuOfferingSpec, onDemand: onDemandOf(name, md) },
});

const pool = (name: string, spec: Record<string, unknown> = {}): KubeObject => ({
  metadata: { name, namespace: ns },
  spec: { ...testWorkerPoolSpec, ...spec },
});

const pod = (name: string, poolName: string, node: string): KubeObject => ({
  metadata: {
    name,
    namespace: ns,
    labels: { "app.kubernetes.io/managed-by": "livehost-operator", "livehost.io/pool": poolName },
  },
  spec: { nodeName: node },
});

/** The offering k-l4: spot nodes from a Karpenter NodePool, cheaper than a-l4's on-demand ones. */
const karpenterSpotOffering = (nodePool: string): KubeObject => ({
  metadata: { name: "k-l4", namespace: ns },
  spec: {
    ...testGpuOfferingSpec,
    spot: {
      pricePerHour: 1,
      nodeGroup: { karpenterNodePool: { name: nodePool }, nodeSelector: { "karpenter.sh/nodepool": nodePool } },
    },
  },
});

/** A GPU node of the offering's lane, as its Machine registers it. */
const node = (name: string, offeringName: string): KubeObject =>
  gpuNode({ name, labels: { "livehost.io/offering": offeringName } });

/** The operator with one on-demand L4 offering (a-l4, MachineDeployment capi/md-a at 0 nodes). */
const scene = () =>
  startTestOperator({
    objects: [
      ["machinedeployments", capiMachineDeployment({ name: "md-a", namespace: "capi", replicas: 0 })],
      ["gpuofferings", offering("a-l4", "md-a")],
    ],
  });

const condition = (obj: KubeObject | undefined, type: string) =>
  (obj?.status?.conditions as { type: string; status: string; message: string }[] | undefined)?.find(
    (c) => c.type === type,
  );

const spans = new InMemorySpanExporter();
const tracing = await startTracing({ serviceName: "operator-test", spanProcessors: [new SimpleSpanProcessor(spans)] });
afterAll(() => tracing.shutdown());

describe("operator against the Kubernetes API", () => {
  it("sizes a pool to its workers' streams, asks the offering for nodes, and explains itself", async () => {
    await using s = await scene();
    s.kube.put("workerpools", pool("tts"));
    await eventually(() => expect(s.kube.get("deployments", "tts-workers", ns)?.spec?.replicas).toBe(1));
    await eventually(() => expect(s.operator.isLeader()).toBe(true));

    s.kube.put("nodes", node("n-1", "a-l4"));
    s.kube.put("pods", pod("tts-workers-0", "tts", "n-1"));
    await s.announce("tts-workers-0-abcd", 12);
    await eventually(() => expect(s.kube.get("deployments", "tts-workers", ns)?.spec?.replicas).toBe(3));
    await eventually(() => expect(s.kube.get("machinedeployments", "md-a", "capi")?.spec?.replicas).toBe(1));

    await eventually(() =>
      expect(s.kube.get("workerpools", "tts", ns)?.status).toMatchObject({
        desiredReplicas: 3,
        activeStreams: 12,
        streamsNeeded: 12,
      }),
    );
    expect(condition(s.kube.get("workerpools", "tts", ns), "Valid")?.status).toBe("True");
    await eventually(() =>
      expect(s.kube.list("events", ns).map((e) => `${String(e.reason)}: ${String(e.message)}`)).toContain(
        "ScaledUp: replicas 1 -> 3: 12 streams needed (12 active) at 4 per replica + 0% headroom, lead time 300s",
      ),
    );
    expect(s.kube.get("pods", "tts-workers-0", ns)?.metadata.annotations).toMatchObject({
      "karpenter.sh/do-not-disrupt": "true",
    });
    await eventually(async () =>
      expect(await s.metrics()).toContain('livehost_operator_pool_replicas{pool="tts",kind="tts",state="desired"} 3'),
    );
    expect(s.kube.get("leases", "livehost-operator", ns)?.spec?.holderIdentity).toBe("operator-1");
    expect(spans.getFinishedSpans().map((span) => span.name)).toContain("operator.reconcile");
  });

  it("makes Karpenter capacity appear with placeholder pods; the NodePool's GPU limit is the quota", async () => {
    await using s = await scene();
    // A NodePool as Karpenter v1 holds it, its limit not set for GPUs yet.
    s.kube.put("nodepools", karpenterNodePool({ name: "gpu-l4-spot", capacityTypes: ["spot"], gpuLimit: null }));
    s.kube.put("gpuofferings", karpenterSpotOffering("gpu-l4-spot"));
    s.kube.put("workerpools", pool("tts", { minReplicas: 6, spot: { allowed: true, maxFraction: 1 } }));
    // 6 GPUs, all of them may be spot: two 4-GPU nodes from the NodePool. The six worker pods make Karpenter bring up
    // their nodes; the two GPUs of the second node no worker asks for are held by placeholders. The limit is the
    // quota (10 nodes of 4), a budget guard.
    await eventually(() =>
      expect(s.kube.get("nodepools", "gpu-l4-spot")?.spec?.limits).toEqual({
        cpu: "4000",
        memory: "16000Gi",
        "nvidia.com/gpu": "40",
      }),
    );
    await eventually(() => expect(s.kube.get("deployments", "k-l4-spot-capacity", ns)?.spec?.replicas).toBe(2));
    const placeholder = s.kube.get("deployments", "k-l4-spot-capacity", ns)!.spec!.template as {
      spec: { priorityClassName: string; nodeSelector: Record<string, string>; tolerations: unknown[] };
    };
    expect(placeholder.spec.priorityClassName).toBe("livehost-capacity-placeholder");
    expect(placeholder.spec.nodeSelector).toEqual({
      "karpenter.sh/nodepool": "gpu-l4-spot",
      "livehost.io/gpu-type": "L4",
    });
    // They tolerate what the NodePool's nodes are tainted with, or Karpenter would never make a node for them.
    expect(placeholder.spec.tolerations).toContainEqual({
      key: "nvidia.com/gpu",
      operator: "Exists",
      effect: "NoSchedule",
    });
    expect(s.kube.get("machinedeployments", "md-a", "capi")?.spec?.replicas).toBe(0);

    // The workers land on the NodePool's nodes: the placeholders still hold the spare GPUs, and no more.
    for (const [node, workers] of [
      ["n-k1", ["tts-workers-1", "tts-workers-2", "tts-workers-3", "tts-workers-4"]],
      ["n-k2", ["tts-workers-5", "tts-workers-6"]],
    ] as const) {
      s.kube.put(
        "nodes",
        gpuNode({ name: node, karpenter: { nodeClaim: `gpu-l4-spot-${node}`, nodePool: "gpu-l4-spot" } }),
      );
      for (const name of workers) {
        s.kube.put("pods", {
          ...pod(name, "tts", node),
          spec: {
            nodeName: node,
            nodeSelector: { "livehost.io/gpu-type": "L4" },
            containers: [{ name: "worker", resources: { requests: { "nvidia.com/gpu": "1" } } }],
          },
        });
      }
    }
    await s.operator.reconcile();
    expect(s.kube.get("deployments", "k-l4-spot-capacity", ns)?.spec?.replicas).toBe(2);
  });

  it("moves a Karpenter lane's demand on when Karpenter reports the cloud has no capacity", async () => {
    await using s = await scene();
    s.kube.put("nodepools", karpenterNodePool({ name: "gpu-l4-spot", capacityTypes: ["spot"] }));
    s.kube.put("gpuofferings", karpenterSpotOffering("gpu-l4-spot"));
    s.kube.put("workerpools", pool("tts", { minReplicas: 6, spot: { allowed: true, maxFraction: 1 } }));
    await eventually(() => expect(s.kube.get("deployments", "k-l4-spot-capacity", ns)?.spec?.replicas).toBe(2));
    // Karpenter tried: the cloud had no g6.12xlarge spot, so it deleted the NodeClaim and said why in an Event.
    const claim = karpenterNodeClaim({ name: "gpu-l4-spot-x7k2q", nodePool: "gpu-l4-spot", capacityType: "spot" });
    s.kube.put("events", karpenterInsufficientCapacityEvent({ nodeClaim: claim }));
    await eventually(() => expect(s.kube.get("deployments", "k-l4-spot-capacity", ns)?.spec?.replicas).toBe(0));
    await eventually(() => expect(s.kube.get("machinedeployments", "md-a", "capi")?.spec?.replicas).toBe(2));
    const warning = s.kube.list("events", ns).find((e) => e.reason === "CapacityUnavailable");
    expect(String(warning?.message)).toContain("InsufficientCapacityError");
  });

  it("keeps the nodes Karpenter launched when the cloud runs out of capacity for more", async () => {
    await using s = await scene();
    s.kube.put("nodepools", karpenterNodePool({ name: "gpu-l4-spot", capacityTypes: ["spot"] }));
    s.kube.put("gpuofferings", karpenterSpotOffering("gpu-l4-spot"));
    s.kube.put("workerpools", pool("tts", { minReplicas: 6, spot: { allowed: true, maxFraction: 1 } }));
    await eventually(() => expect(s.kube.get("deployments", "k-l4-spot-capacity", ns)?.spec?.replicas).toBe(2));
    // One NodeClaim launched (its instance booting), then the cloud had no capacity for the second.
    const spot = { nodePool: "gpu-l4-spot", capacityType: "spot" } as const;
    s.kube.put("nodeclaims", karpenterNodeClaim({ name: "gpu-l4-spot-a1b2c", ...spot, ready: false }));
    const refused = karpenterNodeClaim({ name: "gpu-l4-spot-x7k2q", ...spot });
    s.kube.put("events", karpenterInsufficientCapacityEvent({ nodeClaim: refused }));
    // The booting node stays asked for; only the refused one's GPUs move to the Cluster API lane.
    await eventually(() => expect(s.kube.get("machinedeployments", "md-a", "capi")?.spec?.replicas).toBe(1));
    expect(s.kube.get("gpuofferings", "k-l4", ns)?.status).toMatchObject({
      spot: { available: false, desiredNodes: 1, readyNodes: 0 },
    });
  });

  it("refuses a Karpenter lane whose NodePool cannot make its capacity type or GPU type", async () => {
    await using s = await scene();
    // On-demand only, and its nodes get no livehost.io/gpu-type label.
    const onDemandPool = karpenterNodePool({ name: "gpu-on-demand", capacityTypes: ["on-demand"] });
    const template = (
      onDemandPool.spec as { template: { metadata: object; spec: { requirements: { key: string }[] } } }
    ).template;
    template.metadata = {};
    template.spec.requirements = template.spec.requirements.filter((r) => r.key !== "livehost.io/gpu-type");
    s.kube.put("nodepools", onDemandPool);
    s.kube.put("gpuofferings", karpenterSpotOffering("gpu-on-demand"));
    await eventually(() =>
      expect(condition(s.kube.get("gpuofferings", "k-l4", ns), "Valid")).toMatchObject({
        status: "False",
        message:
          "spec.spot.nodeGroup.karpenterNodePool: NodePool gpu-on-demand makes on-demand nodes, not spot " +
          "(requirement karpenter.sh/capacity-type); " +
          "spec.spot.nodeGroup.karpenterNodePool: NodePool gpu-on-demand must label its nodes livehost.io/gpu-type=L4 " +
          "(template label or requirement), it gives none",
      }),
    );
    expect(s.kube.get("deployments", "k-l4-spot-capacity", ns)).toBeUndefined();
  });

  it("drains a spot node with an interruption notice, counts it, and asks for its replacement at once", async () => {
    const spotOffering: KubeObject = {
      metadata: { name: "s-l4", namespace: ns },
      spec: {
        ...testGpuOfferingSpec,
        spot: {
          pricePerHour: 1,
          nodeGroup: {
            machineDeployment: { name: "md-s", namespace: "capi" },
            nodeSelector: { "livehost.io/offering": "s-l4" },
          },
        },
      },
    };
    await using s = await startTestOperator({
      objects: [
        ["machinedeployments", capiMachineDeployment({ name: "md-s", namespace: "capi", replicas: 2 })],
        ["machines", capiMachine({ name: "m-1", machineDeployment: "md-s", namespace: "capi", nodeName: "n-s1" })],
        ["machines", capiMachine({ name: "m-2", machineDeployment: "md-s", namespace: "capi", nodeName: "n-s2" })],
        ["gpuofferings", spotOffering],
      ],
    });
    for (const [name, machine] of [
      ["n-s1", "m-1"],
      ["n-s2", "m-2"],
    ] as const) {
      s.kube.put(
        "nodes",
        gpuNode({
          name,
          machine: { name: machine, machineDeployment: "md-s", namespace: "capi" },
          capacityType: "spot",
          labels: { "livehost.io/offering": "s-l4" },
        }),
      );
    }
    s.kube.put("workerpools", pool("tts", { minReplicas: 8, spot: { allowed: true, maxFraction: 1 } }));
    s.kube.put("pods", pod("tts-workers-0", "tts", "n-s1"));
    await s.announce("tts-workers-0-a", 3);
    await eventually(() => expect(s.kube.get("workerpools", "tts", ns)?.status?.activeStreams).toBe(3));
    expect(s.kube.get("machinedeployments", "md-s", "capi")?.spec?.replicas).toBe(2);

    // The cloud gives notice: n-s1 goes in two minutes (AWS's node termination handler taints it).
    s.kube.put(
      "nodes",
      gpuNode({
        name: "n-s1",
        machine: { name: "m-1", machineDeployment: "md-s", namespace: "capi" },
        capacityType: "spot",
        labels: { "livehost.io/offering": "s-l4" },
        spotInterruption: true,
      }),
    );
    await eventually(() => expect(s.kube.get("pods", "tts-workers-0", ns)).toBeUndefined());
    await eventually(() => expect(s.kube.get("machinedeployments", "md-s", "capi")?.spec?.replicas).toBe(3));
    expect(s.kube.get("machines", "m-1", "capi")?.metadata.annotations).toMatchObject({
      "cluster.x-k8s.io/delete-machine": "true",
    });
    const warning = s.kube.list("events", ns).find((e) => e.reason === "SpotInterruption");
    expect(warning).toMatchObject({
      type: "Warning",
      message:
        "node n-s1 has an interruption notice (aws-node-termination-handler/spot-itn): 1 worker pod(s) drained to " +
        "others, its replacement asked for now",
    });
    // The pod is gone on the server before the operator has the eviction's answer: the count follows it.
    await eventually(async () => {
      const metrics = await s.metrics();
      expect(metrics).toContain('livehost_operator_spot_interruptions_total{offering="s-l4",capacity_type="spot"} 1');
      expect(metrics).toContain('livehost_operator_worker_evictions_total{offering="s-l4",capacity_type="spot"} 1');
    });
    // Counted once, however many passes see the notice.
    await s.operator.reconcile();
    expect(await s.metrics()).toContain(
      'livehost_operator_spot_interruptions_total{offering="s-l4",capacity_type="spot"} 1',
    );
  });

  it("drains a Karpenter node when Karpenter tells of its spot interruption (a SpotInterrupted Event)", async () => {
    await using s = await scene();
    s.kube.put("nodepools", karpenterNodePool({ name: "gpu-l4-spot", capacityTypes: ["spot"] }));
    s.kube.put("gpuofferings", karpenterSpotOffering("gpu-l4-spot"));
    const claim = karpenterNodeClaim({
      name: "gpu-l4-spot-q8x2m",
      nodePool: "gpu-l4-spot",
      capacityType: "spot",
      nodeName: "n-k1",
    });
    s.kube.put("nodeclaims", claim);
    s.kube.put(
      "nodes",
      gpuNode({
        name: "n-k1",
        karpenter: { nodeClaim: "gpu-l4-spot-q8x2m", nodePool: "gpu-l4-spot" },
        capacityType: "spot",
      }),
    );
    s.kube.put("workerpools", pool("tts", { minReplicas: 4, spot: { allowed: true, maxFraction: 1 } }));
    s.kube.put("pods", pod("tts-workers-0", "tts", "n-k1"));
    await eventually(() => expect(s.kube.get("deployments", "tts-workers", ns)?.spec?.replicas).toBe(4));
    // Karpenter drains its own nodes (its disruption taint) without that being a notice: nothing happens here.
    await s.operator.reconcile();
    expect(s.kube.get("pods", "tts-workers-0", ns)).toBeDefined();

    s.kube.put("events", {
      apiVersion: "v1",
      kind: "Event",
      metadata: { name: "gpu-l4-spot-q8x2m.spot", namespace: "default" },
      involvedObject: { apiVersion: "karpenter.sh/v1", kind: "NodeClaim", name: "gpu-l4-spot-q8x2m" },
      reason: "SpotInterrupted",
      message: "Spot interruption warning was triggered",
      type: "Warning",
      lastTimestamp: new Date().toISOString(),
    });
    await eventually(() => expect(s.kube.get("pods", "tts-workers-0", ns)).toBeUndefined());
    expect(await s.metrics()).toContain(
      'livehost_operator_spot_interruptions_total{offering="k-l4",capacity_type="spot"} 1',
    );
  });

  it("uncordons a node it cordoned for a scale-down that was called off", async () => {
    await using s = await startTestOperator({
      objects: [
        ["machinedeployments", capiMachineDeployment({ name: "md-a", namespace: "capi", replicas: 1 })],
        ["gpuofferings", offering("a-l4", "md-a")],
      ],
    });
    const n = node("n-1", "a-l4");
    s.kube.put("nodes", {
      ...n,
      metadata: { ...n.metadata, annotations: { "livehost.io/cordoned-at": "2026-11-11T23:10:00Z" } },
      spec: { unschedulable: true },
    });
    // Four replicas need the node again.
    s.kube.put("workerpools", pool("tts", { minReplicas: 4 }));
    await eventually(() => expect(s.kube.get("nodes", "n-1")?.spec?.unschedulable).toBeFalsy());
    expect(s.kube.get("nodes", "n-1")?.metadata.annotations?.["livehost.io/cordoned-at"]).toBeUndefined();
    expect(s.kube.get("machinedeployments", "md-a", "capi")?.spec?.replicas).toBe(1);
  });

  it("gives a MachineDeployment the cluster autoscaler's node-group bounds where one runs beside", async () => {
    await using s = await startTestOperator({
      objects: [
        ["machinedeployments", capiMachineDeployment({ name: "md-a", namespace: "capi", replicas: 0 })],
        [
          "gpuofferings",
          { ...offering("a-l4", "md-a"), spec: { ...offering("a-l4", "md-a").spec, clusterAutoscaler: true } },
        ],
      ],
    });
    s.kube.put("workerpools", pool("tts", { minReplicas: 6 }));
    await eventually(() =>
      expect(s.kube.get("machinedeployments", "md-a", "capi")?.metadata.annotations).toMatchObject({
        "cluster.x-k8s.io/cluster-api-autoscaler-node-group-min-size": "2",
        "cluster.x-k8s.io/cluster-api-autoscaler-node-group-max-size": "10",
      }),
    );
    await eventually(() => expect(s.kube.get("machinedeployments", "md-a", "capi")?.spec?.replicas).toBe(2));
  });

  it("never scales away a worker that carries a stream; the idle one goes first", async () => {
    await using s = await scene();
    s.kube.put("workerpools", pool("tts"));
    await eventually(() => expect(s.kube.get("deployments", "tts-workers", ns)).toBeDefined());
    s.kube.put("nodes", node("n-1", "a-l4"));
    for (const p of ["tts-workers-0", "tts-workers-1", "tts-workers-2"]) s.kube.put("pods", pod(p, "tts", "n-1"));
    await s.announce("tts-workers-0-a", 2);
    await s.announce("tts-workers-1-b", 1);
    await s.announce("tts-workers-2-c", 0);
    await eventually(() => expect(s.kube.get("workerpools", "tts", ns)?.status?.activeStreams).toBe(3));
    // Three replicas running (as after a peak) when the operator looks again.
    const deployment = s.kube.get("deployments", "tts-workers", ns)!;
    s.kube.put("deployments", { ...deployment, spec: { ...deployment.spec, replicas: 3 } });
    // 3 streams fit one replica, but two replicas carry streams: only the idle one may go.
    await eventually(() => expect(s.kube.get("deployments", "tts-workers", ns)?.spec?.replicas).toBe(2));
    expect(s.kube.get("pods", "tts-workers-2", ns)?.metadata.annotations).toMatchObject({
      "controller.kubernetes.io/pod-deletion-cost": "-1000",
    });
    expect(s.kube.get("pods", "tts-workers-0", ns)?.metadata.annotations).toMatchObject({
      "controller.kubernetes.io/pod-deletion-cost": "1000",
      "karpenter.sh/do-not-disrupt": "true",
    });
    // The idle pod is still there (no ReplicaSet here to remove it): later passes must not take a busy one instead.
    const passes = async () => Number(/reconciles_total\{result="ok"\} (\d+)/.exec(await s.metrics())?.[1] ?? 0);
    const seen = await passes();
    await eventually(async () => expect(await passes()).toBeGreaterThan(seen + 2));
    expect(s.kube.get("deployments", "tts-workers", ns)?.spec?.replicas).toBe(2);
  });

  it("rolls the workers to a new image when the pool's spec changes, keeping their number", async () => {
    await using s = await scene();
    s.kube.put("workerpools", pool("tts", { minReplicas: 2 }));
    await eventually(() => expect(s.kube.get("deployments", "tts-workers", ns)?.spec?.replicas).toBe(2));
    s.kube.put("workerpools", pool("tts", { minReplicas: 2, image: "livehost:next" }));
    const image = () =>
      (
        s.kube.get("deployments", "tts-workers", ns)?.spec as {
          template: { spec: { containers: { image: string }[] } };
        }
      ).template.spec.containers[0]!.image;
    await eventually(() => expect(image()).toBe("livehost:next"));
    expect(s.kube.get("deployments", "tts-workers", ns)?.spec?.replicas).toBe(2);
  });

  it("moves demand to the next offering when one reports a capacity error, and says so", async () => {
    await using s = await scene();
    s.kube.put("machinedeployments", capiMachineDeployment({ name: "md-b", namespace: "capi", replicas: 0 }));
    s.kube.put("gpuofferings", {
      ...offering("b-l4", "md-b"),
      spec: { ...offering("b-l4", "md-b").spec, onDemand: { ...onDemandOf("b-l4", "md-b"), pricePerHour: 5 } },
    });
    s.kube.put("workerpools", pool("tts", { minReplicas: 4 }));
    await eventually(() => expect(s.kube.get("machinedeployments", "md-a", "capi")?.spec?.replicas).toBe(1));
    expect(s.kube.get("machinedeployments", "md-b", "capi")?.spec?.replicas).toBe(0);

    // Cluster API reports that the cloud has no L4 left (CAPA's error, raised to the MachineDeployment's conditions).
    const md = s.kube.get("machinedeployments", "md-a", "capi")!;
    const failing = capiMachineDeployment({
      name: "md-a",
      namespace: "capi",
      replicas: 1,
      machines: 1,
      readyReplicas: 0,
      capacityError: insufficientCapacityMessage("g6.12xlarge", "us-east-1a"),
    });
    const conditions = (failing.status!.conditions as { status: string; lastTransitionTime: string }[]).map((c) =>
      c.status === "False" ? { ...c, lastTransitionTime: new Date().toISOString() } : c,
    );
    s.kube.put("machinedeployments", { ...md, status: { ...failing.status, conditions } });
    await eventually(() => expect(s.kube.get("machinedeployments", "md-b", "capi")?.spec?.replicas).toBe(1));
    await eventually(() => expect(s.kube.get("machinedeployments", "md-a", "capi")?.spec?.replicas).toBe(0));
    await eventually(() =>
      expect(condition(s.kube.get("gpuofferings", "a-l4", ns), "Available")).toMatchObject({
        status: "False",
        message: expect.stringContaining("InstanceProvisionFailed: ") as string,
      }),
    );
    const warnings = s.kube.list("events", ns).filter((e) => e.reason === "CapacityUnavailable");
    expect(warnings.map((e) => (e.involvedObject as { name: string }).name)).toEqual(["a-l4"]);
    const metrics = await s.metrics();
    expect(metrics).toContain('livehost_operator_failovers_total{offering="a-l4",capacity_type="onDemand"} 1');
    // What the lane held when its cloud ran out (nothing Ready) is its ceiling; no stream is short of a GPU.
    expect(metrics).toContain(
      'livehost_operator_offering_nodes{offering="a-l4",capacity_type="onDemand",state="ceiling"} 0',
    );
    expect(metrics).toContain('livehost_operator_urgent_shortfall_gpus{gpu_type="L4"} 0');
  });

  it("marks invalid objects with a clear condition and changes nothing for them", async () => {
    await using s = await scene();
    s.kube.put("workerpools", pool("bad", { minReplicas: 5, maxReplicas: 2 }));
    s.kube.put("workerpools", pool("exotic", { gpu: { type: "TPU" } }));
    s.kube.put("gpuofferings", offering("b-l4", "md-missing"));
    s.kube.put("workerpools", pool("tts"));
    await eventually(() =>
      expect(condition(s.kube.get("workerpools", "bad", ns), "Valid")).toMatchObject({
        status: "False",
        message: "spec.minReplicas: must not exceed spec.maxReplicas (5 > 2)",
      }),
    );
    await eventually(() =>
      expect(condition(s.kube.get("workerpools", "exotic", ns), "Valid")?.message).toBe(
        'spec.gpu.type: no GpuOffering offers "TPU" (offered: L4)',
      ),
    );
    await eventually(() =>
      expect(condition(s.kube.get("gpuofferings", "b-l4", ns), "Valid")?.message).toBe(
        "spec.onDemand.nodeGroup: MachineDeployment capi/md-missing not found",
      ),
    );
    // The valid pool is served all the same; the invalid ones get no Deployment.
    await eventually(() => expect(s.kube.get("deployments", "tts-workers", ns)).toBeDefined());
    expect(s.kube.list("deployments", ns).map((d) => d.metadata.name)).toEqual(["tts-workers"]);
    expect(s.kube.list("events", ns).map((e) => e.reason)).toContain("InvalidSpec");
  });

  it("relists after its watches expire (410) and still sees new objects", async () => {
    await using s = await scene();
    s.kube.put("workerpools", pool("tts"));
    await eventually(() => expect(s.kube.get("deployments", "tts-workers", ns)).toBeDefined());
    const lists = () =>
      s.kube.requests.filter((r) => r.path.endsWith("/workerpools") && !r.query.includes("watch=true")).length;
    const before = lists();
    // Something changes while the watches are down, so resuming from the last version seen is no longer possible.
    s.kube.put("nodes", node("n-9", "a-l4"));
    s.kube.expireWatches();
    s.kube.put("workerpools", pool("tts-2"));
    await eventually(() => expect(s.kube.get("deployments", "tts-2-workers", ns)).toBeDefined());
    await eventually(() => expect(lists()).toBeGreaterThan(before));
  });

  it("stops actuating at once when another replica holds the Lease, and releases it on close", async () => {
    const s = await scene();
    s.kube.put("workerpools", pool("tts"));
    await eventually(() => expect(s.kube.get("deployments", "tts-workers", ns)?.spec?.replicas).toBe(1));
    const lease = s.kube.get("leases", "livehost-operator", ns)!;
    s.kube.put("leases", {
      ...lease,
      spec: {
        ...lease.spec,
        holderIdentity: "operator-2",
        renewTime: new Date().toISOString(),
        leaseDurationSeconds: 60,
      },
    });
    await eventually(() => expect(s.operator.isLeader()).toBe(false));
    s.kube.put("pods", pod("tts-workers-0", "tts", "n-1"));
    await s.announce("tts-workers-0-x", 40);
    const passes = async () =>
      Number(/reconciles_total\{result="not_leader"\} (\d+)/.exec(await s.metrics())?.[1] ?? 0);
    const seen = await passes();
    await eventually(async () => expect(await passes()).toBeGreaterThan(seen + 2));
    expect(s.kube.get("deployments", "tts-workers", ns)?.spec?.replicas).toBe(1);

    // Back to leader once the other holder lets go; on close it releases the Lease for the next one.
    s.kube.put("leases", { ...lease, spec: { ...lease.spec, holderIdentity: "" } });
    await eventually(() => expect(s.kube.get("deployments", "tts-workers", ns)?.spec?.replicas).toBe(10));
    await s[Symbol.asyncDispose]();
    expect(s.kube.get("leases", "livehost-operator", ns)?.spec?.holderIdentity).toBe("");
  });
});
