// The decide step on its own: a Snapshot in, a plan out, with no API server and no clock.
import type { V1Node, V1Pod } from "@kubernetes/client-node";
import { describe, expect, it } from "vitest";
import type { Snapshot } from "./observe.js";
import { Memory, offeringStatus, planNodes, planWorkloads, type PlanSettings, type PoolPlan } from "./plan.js";
import type { GpuOffering, WorkerPool } from "./resources.js";
import { workerPodDefaults } from "./workload.js";
import { capacityDefaults } from "./capacity.js";
import { testGpuOfferingSpec, testWorkerPoolSpec } from "../testing/index.js";

const ns = "livehost";
const t0 = Date.parse("2026-11-11T19:00:00Z");

const settings: PlanSettings = {
  namespace: ns,
  workers: {
    natsUrl: "nats://nats:4222",
    grpcPort: workerPodDefaults.grpcPort,
    metricsPort: workerPodDefaults.metricsPort,
    terminationGracePeriodSeconds: workerPodDefaults.terminationGracePeriodSeconds,
    imagePullSecrets: [],
    env: {},
  },
  roomWarmupMs: 300_000,
  capacity: capacityDefaults,
};

const offering: GpuOffering = {
  kind: "GpuOffering",
  metadata: { name: "a-l4", namespace: ns, generation: 1 },
  spec: {
    ...testGpuOfferingSpec,
    preference: 0,
    bootSeconds: 300,
    provisionTimeoutSeconds: 600,
    clusterAutoscaler: false,
    onDemand: {
      pricePerHour: 4,
      nodeGroup: { machineDeployment: { name: "md-a", namespace: "capi" }, nodeSelector: { offering: "a-l4" } },
    },
  },
};

const pool: WorkerPool = {
  kind: "WorkerPool",
  metadata: { name: "tts", namespace: ns, generation: 1 },
  spec: { ...testWorkerPoolSpec, scaleDownCooldownSeconds: 300 } as WorkerPool["spec"],
};

const pod = (name: string, node: string): V1Pod => ({
  metadata: { name, namespace: ns, labels: { "livehost.io/pool": "tts" } },
  spec: { nodeName: node, containers: [] },
});

const node = (name: string, ready = true): V1Node => ({
  metadata: { name, labels: { offering: "a-l4" } },
  status: { conditions: [{ type: "Ready", status: ready ? "True" : "False" }] },
});

const load = (workerId: string, activeStreams: number) => ({
  workerId,
  kind: "tts" as const,
  ready: true,
  activeStreams,
  maxStreams: 4,
  labels: {},
});

function snapshot(over: Partial<Snapshot> = {}): Snapshot {
  return {
    now: t0,
    pools: [pool],
    offerings: [
      {
        object: offering,
        nodeGroups: new Map([["onDemand", { found: true, size: 0, capacityError: undefined }]]),
      },
    ],
    liveEvents: [],
    deployments: [],
    pods: [],
    nodes: [],
    workers: { tts: [], lipsync: [] },
    roomDirectory: undefined,
    ...over,
  };
}

describe("planWorkloads", () => {
  it("measures the lead time from its own asks, nodes and pods, never from objects it did not see come up", () => {
    const at = (s: number) => new Date(t0 - 3_600_000 + s * 1000);
    const labels = { "livehost.io/gpu-type": "L4", offering: "a-l4" };
    const booting: V1Node = {
      metadata: { name: "n-9", labels, creationTimestamp: at(400) },
      status: { conditions: [{ type: "Ready", status: "False", lastTransitionTime: at(400) }] },
    };
    const ready: V1Node = {
      ...booting,
      status: { conditions: [{ type: "Ready", status: "True", lastTransitionTime: at(540) }] },
    };
    const worker = (readyAt?: number): V1Pod => ({
      metadata: { name: "tts-workers-9", uid: "p-9", namespace: ns, labels: { "livehost.io/pool": "tts" } },
      spec: { nodeName: "n-9", nodeSelector: { "livehost.io/gpu-type": "L4" }, containers: [] },
      status: {
        conditions: [
          { type: "PodScheduled", status: "True", lastTransitionTime: at(540) },
          ...(readyAt === undefined ? [] : [{ type: "Ready", status: "True", lastTransitionTime: at(readyAt) }]),
        ],
        containerStatuses: [
          {
            name: "worker",
            image: "w",
            imageID: "",
            ready: true,
            restartCount: 0,
            state: { running: { startedAt: at(660) } },
          },
        ],
      },
    });
    const memory = new Memory();
    // Objects already up when the operator first looks (a restart) tell nothing.
    expect(memory.observeLeads(snapshot({ nodes: [ready], pods: [worker(690)] }))).toEqual([]);

    const fresh = new Memory();
    fresh.raisedAt.set("a-l4/onDemand", at(0).getTime()); // the operator asked at 0
    expect(fresh.observeLeads(snapshot({ nodes: [booting], pods: [worker()] }))).toEqual([]);
    const seen = fresh.observeLeads(snapshot({ nodes: [ready], pods: [worker(690)] }));
    expect(seen.map((l) => [l.sample.phase, l.sample.seconds])).toEqual([
      ["boot", 540],
      ["pull", 120],
      ["load", 30],
    ]);
    expect(fresh.observeLeads(snapshot({ nodes: [ready], pods: [worker(690)] }))).toEqual([]); // each object once
    const tts = planWorkloads(snapshot({ nodes: [ready] }), fresh, settings).pools[0] as PoolPlan;
    // Boot 540 s (longer than the stated 300 s) + pull 120 s + load 30 s.
    expect(tts.status.conditions!.find((c) => c.type === "Scaled")!.message).toContain("lead time 690s");
  });

  it("sizes a pool on what its workers announce they sustain, never above the spec's cap", () => {
    const created = (planWorkloads(snapshot(), new Memory(), settings).pools[0] as PoolPlan).deployment;
    const deployment = created.action === "create" ? created.body : undefined;
    const world = (maxStreams: number) =>
      snapshot({
        deployments: [{ ...deployment, spec: { ...deployment!.spec!, replicas: 1 } }],
        pods: [pod("tts-workers-0", "n-1")],
        nodes: [node("n-1")],
        workers: { tts: [{ ...load("tts-workers-0-abcd", 12), maxStreams }], lipsync: [] },
      });
    // The worker measured it sustains 2 streams where the spec assumed 4: 12 streams need 6 replicas, not 3.
    const slow = planWorkloads(world(2), new Memory(), settings).pools[0] as PoolPlan;
    expect(slow.deployment).toEqual({ action: "scale", replicas: 6 });
    expect(slow.events[0]!.message).toContain("at 2 per replica (as the workers announce)");
    // One announcing more than its cap (the spec's 4) is held to the cap.
    const fast = planWorkloads(world(9), new Memory(), settings).pools[0] as PoolPlan;
    expect(fast.deployment).toEqual({ action: "scale", replicas: 3 });
  });

  it("creates a missing Deployment at the pool's minimum, and explains nothing more", () => {
    const plan = planWorkloads(snapshot(), new Memory(), settings);
    const tts = plan.pools[0] as PoolPlan;
    expect(tts.deployment).toMatchObject({
      action: "create",
      event: { reason: "Created", message: "Deployment tts-workers created with 1 replicas" },
    });
    expect(tts.podMarks).toEqual([]);
    expect(tts.events).toEqual([]);
    expect(plan.sized.map((s) => s.replicas)).toEqual([1]);
  });

  it("scales to the workers' streams, marks busy pods, and says why", () => {
    const created = (planWorkloads(snapshot(), new Memory(), settings).pools[0] as PoolPlan).deployment;
    const deployment = created.action === "create" ? created.body : undefined;
    const world = snapshot({
      deployments: [{ ...deployment, spec: { ...deployment!.spec!, replicas: 1 } }],
      pods: [pod("tts-workers-0", "n-1")],
      nodes: [node("n-1")],
      workers: { tts: [load("tts-workers-0-abcd", 12)], lipsync: [] },
    });
    const memory = new Memory();
    const plan = planWorkloads(world, memory, settings);
    const tts = plan.pools[0] as PoolPlan;
    expect(tts.deployment).toEqual({ action: "scale", replicas: 3 });
    expect(tts.podMarks).toEqual([
      {
        pod: "tts-workers-0",
        annotations: { "controller.kubernetes.io/pod-deletion-cost": "1000", "karpenter.sh/do-not-disrupt": "true" },
      },
    ]);
    expect(tts.events).toEqual([
      {
        type: "Normal",
        reason: "ScaledUp",
        message: "replicas 1 -> 3: 12 streams needed (12 active) at 4 per replica + 0% headroom, lead time 300s",
      },
    ]);
    expect(tts.status).toMatchObject({ desiredReplicas: 3, activeStreams: 12, streamsNeeded: 12 });
    expect([...plan.busyNodes]).toEqual(["n-1"]);
    // Planning remembers nothing by itself: the loop does, after it.
    expect(memory.history.size).toBe(0);
    memory.rememberPools(plan);
    expect(memory.history.get("tts")).toEqual([{ at: t0, replicas: 3 }]);
  });

  it("marks an invalid pool and an offering whose node group is missing, and sizes neither", () => {
    const plan = planWorkloads(
      snapshot({
        offerings: [{ object: offering, nodeGroups: new Map([["onDemand", { found: false }]]) }],
      }),
      new Memory(),
      settings,
    );
    expect(plan.offerings[0]).toMatchObject({
      valid: false,
      event: { reason: "InvalidSpec", message: "spec.onDemand.nodeGroup: MachineDeployment capi/md-a not found" },
    });
    // With no valid offering, no GPU type is offered: the pool is invalid too.
    expect(plan.pools[0]).toMatchObject({
      valid: false,
      event: { message: 'spec.gpu.type: no GpuOffering offers "L4" (offered: none)' },
    });
    expect(plan.sized).toEqual([]);
  });
});

describe("planNodes", () => {
  it("asks the offering for the nodes the pools' GPUs need", () => {
    const world = snapshot({ workers: { tts: [], lipsync: [] } });
    const memory = new Memory();
    const workloads = planWorkloads(world, memory, settings);
    const nodes = planNodes(
      world,
      { ...workloads, sized: [{ ...workloads.sized[0]!, replicas: 6 }] },
      memory,
      settings,
    );
    expect(nodes.lanes).toHaveLength(1);
    expect(nodes.lanes[0]!.resize).toEqual({
      to: 2,
      remove: [],
      event: {
        type: "Normal",
        reason: "NodesRequested",
        message: "onDemand nodes 0 -> 2 (0 Ready; L4 demand placed cheapest first)",
      },
    });
    const status = offeringStatus(nodes.offerings[0]!, nodes.lanes, new Map([["a-l4/onDemand", 2]]), t0);
    expect(status.onDemand).toEqual({ desiredNodes: 2, readyNodes: 0, available: true, failures: 0 });
  });

  it("lets idle nodes go, not-Ready first, and never a node carrying a stream", () => {
    const world = snapshot({
      offerings: [
        {
          object: offering,
          nodeGroups: new Map([["onDemand", { found: true, size: 3, capacityError: undefined }]]),
        },
      ],
      pods: [pod("tts-workers-0", "n-1")],
      nodes: [node("n-1"), node("n-2"), node("n-3", false)],
      workers: { tts: [load("tts-workers-0-a", 1)], lipsync: [] },
    });
    const memory = new Memory();
    const nodes = planNodes(world, planWorkloads(world, memory, settings), memory, settings);
    expect(nodes.lanes[0]!.resize).toMatchObject({
      to: 1,
      remove: [
        { node: "n-3", machine: undefined },
        { node: "n-2", machine: undefined },
      ],
      event: { reason: "NodesReleased" },
    });
  });

  it("takes a capacity error older than the lane's last ask for stale", () => {
    const error = { message: "InsufficientCapacity: no L4", at: t0 - 60_000 };
    const world = snapshot({
      offerings: [
        { object: offering, nodeGroups: new Map([["onDemand", { found: true, size: 1, capacityError: error }]]) },
      ],
    });
    const fresh = new Memory();
    const failing = planNodes(world, planWorkloads(world, fresh, settings), fresh, settings).lanes[0]!;
    expect(failing.verdict.available).toBe(false);
    expect(failing.failover).toMatchObject({ type: "Warning", reason: "CapacityUnavailable" });

    const asked = new Memory();
    asked.raisedAt.set("a-l4/onDemand", t0 - 30_000);
    const waiting = planNodes(world, planWorkloads(world, asked, settings), asked, settings).lanes[0]!;
    expect(waiting.verdict.available).toBe(true);
    expect(waiting.failover).toBeUndefined();
  });

  it("counts a spot lane's nodes left again once a storm's notices stop, while the lane still backs off", () => {
    const spotOffering: GpuOffering = {
      ...offering,
      spec: {
        ...offering.spec,
        spot: {
          pricePerHour: 1,
          nodeGroup: {
            machineDeployment: { name: "md-s", namespace: "capi" },
            nodeSelector: { offering: "a-l4-spot" },
          },
        },
      },
      // Two failures already: this one backs off 8 minutes.
      status: { spot: { desiredNodes: 6, readyNodes: 6, available: true, failures: 2 } },
    };
    const spotNode = (name: string, notice = false): V1Node => ({
      metadata: { name, labels: { offering: "a-l4-spot" } },
      spec: notice ? { taints: [{ key: "aws-node-termination-handler/spot-itn", effect: "NoSchedule" }] } : {},
      status: { conditions: [{ type: "Ready", status: "True" }] },
    });
    const world = (now: number, nodes: V1Node[]) =>
      snapshot({
        now,
        offerings: [
          {
            object: spotOffering,
            nodeGroups: new Map([
              ["onDemand", { found: true, size: 0, capacityError: undefined }],
              ["spot", { found: true, size: nodes.length, capacityError: undefined }],
            ]),
          },
        ],
        nodes,
      });
    const memory = new Memory();
    const pass = (now: number, nodes: V1Node[]) => {
      const w = world(now, nodes);
      const plan = planNodes(w, planWorkloads(w, memory, settings), memory, settings);
      memory.rememberLanes(plan);
      memory.rememberNotices(plan);
      return plan.lanes.find((l) => l.capacityType === "spot")!;
    };
    const calm = ["s-4", "s-5", "s-6"].map((n) => spotNode(n));
    // Three notices at once: a storm. The three others are expected to go too.
    const storm = pass(t0, [spotNode("s-1", true), spotNode("s-2", true), spotNode("s-3", true), ...calm]);
    expect(storm).toMatchObject({ available: false, draining: true });
    // Two minutes on, the three are gone; the storm may not be over.
    expect(pass(t0 + 2 * 60_000, calm)).toMatchObject({ available: false, draining: true });
    // Five minutes without a notice: the three left count again, and the lane still gets no new node.
    const after = pass(t0 + 5 * 60_000, calm);
    expect(after).toMatchObject({ available: false, draining: false, readyNodes: 3, newNodeLimit: 0 });
  });
});
