// Karpenter placeholders, spot notices and measured lead times, as pure functions.
import type { V1Node, V1Pod } from "@kubernetes/client-node";
import { describe, expect, it } from "vitest";
import {
  capacityDefaults,
  interruptionNotice,
  LeadTimes,
  placeholderDeployment,
  placeholderGpus,
  podLeads,
} from "./capacity.js";
import type { GpuOffering } from "./resources.js";

const offering: GpuOffering = {
  metadata: { name: "aws-l4", namespace: "livehost", uid: "u-1" },
  spec: {
    cloud: "aws",
    region: "us-east-1",
    instanceType: "g6.12xlarge",
    gpuType: "L4",
    gpusPerNode: 4,
    preference: 0,
    quota: { maxNodes: 10 },
    bootSeconds: 300,
    provisionTimeoutSeconds: 600,
    clusterAutoscaler: false,
  },
};

describe("Karpenter placeholders", () => {
  it("hold the GPUs placed on a lane that no worker pod asks for, pending workers counted cheapest lane first", () => {
    const lanes = [
      { key: "cheap", wantGpus: 8, workerGpusOnLane: 2 },
      { key: "dear", wantGpus: 8, workerGpusOnLane: 0 },
    ];
    expect(placeholderGpus(lanes, 0)).toEqual(
      new Map([
        ["cheap", 6],
        ["dear", 8],
      ]),
    );
    // Eight pending workers: Karpenter makes their nodes anyway, so they take the cheap lane's six and two more.
    expect(placeholderGpus(lanes, 8)).toEqual(
      new Map([
        ["cheap", 0],
        ["dear", 6],
      ]),
    );
    // More workers on a lane than placed there: no placeholder, never a negative one.
    expect(placeholderGpus([{ key: "cheap", wantGpus: 4, workerGpusOnLane: 6 }], 0).get("cheap")).toBe(0);
  });

  it("are pause pods of one GPU, below the workers' priority, on the lane's nodes, owned by the offering", () => {
    const d = placeholderDeployment(
      offering,
      "spot",
      "L4",
      { "karpenter.sh/nodepool": "gpu-l4-spot" },
      6,
      "livehost",
      capacityDefaults,
    );
    expect(d.metadata).toMatchObject({
      name: "aws-l4-spot-capacity",
      namespace: "livehost",
      ownerReferences: [{ kind: "GpuOffering", name: "aws-l4", uid: "u-1" }],
    });
    const pod = d.spec!.template.spec!;
    expect(d.spec!.replicas).toBe(6);
    expect(pod.priorityClassName).toBe("livehost-capacity-placeholder");
    expect(pod.nodeSelector).toEqual({ "karpenter.sh/nodepool": "gpu-l4-spot", "livehost.io/gpu-type": "L4" });
    expect(pod.containers[0]!.resources!.requests).toMatchObject({ "nvidia.com/gpu": "1" });
    expect(pod.terminationGracePeriodSeconds).toBe(0);
    expect(d.spec!.selector.matchLabels).toEqual({ "livehost.io/capacity-lane": "aws-l4.spot" });
  });
});

describe("spot interruption notices", () => {
  const tainted = (key: string): V1Node => ({
    metadata: { name: "n" },
    spec: { taints: [{ key, effect: "NoSchedule" }] },
  });

  it("are the taints AWS's termination handler and GKE put on a node about to go, or Karpenter's Event", () => {
    expect(interruptionNotice(tainted("aws-node-termination-handler/spot-itn"), capacityDefaults)).toBe(
      "aws-node-termination-handler/spot-itn",
    );
    expect(interruptionNotice(tainted("cloud.google.com/impending-node-termination"), capacityDefaults)).toBeDefined();
    // Karpenter taints every node it takes down (consolidation, drift, expiry): that is not a notice.
    expect(interruptionNotice(tainted("karpenter.sh/disrupted"), capacityDefaults)).toBeUndefined();
    expect(interruptionNotice(tainted("karpenter.sh/disrupted"), capacityDefaults, new Set(["n"]))).toBe(
      "Karpenter SpotInterrupted event",
    );
    expect(interruptionNotice(tainted("nvidia.com/gpu"), capacityDefaults)).toBeUndefined();
    expect(interruptionNotice({ metadata: { name: "n" } }, capacityDefaults)).toBeUndefined();
  });
});

describe("lead time measured from the pool's own nodes and pods", () => {
  const pod = (scheduled: string, started: string, ready?: string, restarts = 0): V1Pod => ({
    metadata: { name: "p", uid: `p-${scheduled}` },
    status: {
      conditions: [
        { type: "PodScheduled", status: "True", lastTransitionTime: new Date(scheduled) },
        ...(ready ? [{ type: "Ready", status: "True", lastTransitionTime: new Date(ready) }] : []),
      ],
      containerStatuses: [
        {
          name: "worker",
          image: "w",
          imageID: "",
          ready: true,
          restartCount: restarts,
          state: { running: { startedAt: new Date(started) } },
        },
      ],
    },
  });

  it("reads image pull and model load from a worker pod whose container never restarted", () => {
    expect(podLeads(pod("2026-11-11T19:05:00Z", "2026-11-11T19:06:30Z", "2026-11-11T19:07:00Z"))).toEqual([
      { id: "pod/p-2026-11-11T19:05:00Z", phase: "pull", seconds: 90 },
      { id: "pod/p-2026-11-11T19:05:00Z", phase: "load", seconds: 30 },
    ]);
    expect(podLeads(pod("2026-11-11T19:05:00Z", "2026-11-11T23:00:00Z", "2026-11-11T23:00:30Z", 1))).toEqual([]);
  });

  it("is the boot (measured or stated, the longer) plus the 90th percentiles of pull and load", () => {
    const leads = new LeadTimes();
    expect(leads.leadMs("L4", 300_000)).toBe(300_000);
    for (let i = 0; i < 10; i++) {
      leads.record("L4", { id: `n${i}`, phase: "boot", seconds: 100 + i * 10 });
      leads.record("L4", { id: `p${i}`, phase: "pull", seconds: 60 });
      leads.record("L4", { id: `p${i}`, phase: "load", seconds: 20 });
    }
    expect(leads.leadMs("L4", 0)).toBe((190 + 60 + 20) * 1000);
    expect(leads.leadMs("L4", 300_000)).toBe((300 + 60 + 20) * 1000);
    expect(leads.leadMs("A10", 120_000)).toBe(120_000);
  });
});
