import { readFile } from "node:fs/promises";
import { parseAllDocuments } from "yaml";
import { describe, expect, it } from "vitest";
import { crdFiles } from "./crds.js";
import { checkGpuOffering, checkLiveEvent, checkWorkerPool, describeProblems } from "./validate.js";

const l4 = new Set(["L4"]);

describe("custom resource checks", () => {
  it("fills the schema defaults", () => {
    const checked = checkWorkerPool(
      {
        metadata: { name: "tts" },
        spec: { kind: "tts", image: "i", gpu: { type: "L4" }, streamsPerReplica: 8, maxReplicas: 4 } as never,
      },
      l4,
    );
    expect(checked).toMatchObject({
      ok: true,
      spec: {
        minReplicas: 1,
        headroomPercent: 15,
        gpu: { count: 1 },
        spot: { allowed: false, maxFraction: 0.5 },
        slo: { ttsFirstChunkMs: 100 },
      },
    });
  });

  it("names every bad field of a WorkerPool", () => {
    const checked = checkWorkerPool(
      {
        metadata: { name: "tts" },
        spec: { kind: "video", image: "", gpu: { type: "L4", count: 0 }, streamsPerReplica: -1 } as never,
      },
      l4,
    );
    expect(checked.ok).toBe(false);
    expect(describeProblems(checked.ok ? [] : checked.problems)).toBe(
      'spec.maxReplicas: is required; spec.kind: must be one of tts, lipsync, got "video"; spec.image: must not be empty; ' +
        "spec.gpu.count: must be at least 1, got 0; spec.streamsPerReplica: must be at least 1, got -1",
    );
  });

  it("rejects inverted min/max and a GPU type no offering has", () => {
    const checked = checkWorkerPool(
      {
        metadata: { name: "tts" },
        spec: {
          kind: "tts",
          image: "i",
          gpu: { type: "H100" },
          streamsPerReplica: 8,
          minReplicas: 5,
          maxReplicas: 2,
        } as never,
      },
      l4,
    );
    expect(checked).toEqual({
      ok: false,
      problems: [
        { field: "spec.minReplicas", message: "must not exceed spec.maxReplicas (5 > 2)" },
        { field: "spec.gpu.type", message: 'no GpuOffering offers "H100" (offered: L4)' },
      ],
    });
  });

  it("wants exactly one node group per offering lane", () => {
    const base = { cloud: "c", region: "r", instanceType: "i", gpuType: "L4", gpusPerNode: 4, quota: { maxNodes: 3 } };
    expect(checkGpuOffering({ metadata: {}, spec: base as never })).toEqual({
      ok: false,
      problems: [{ field: "spec", message: "needs onDemand, spot or both" }],
    });
    const both = {
      ...base,
      onDemand: {
        pricePerHour: 1,
        nodeGroup: {
          machineDeployment: { name: "md", namespace: "ns" },
          karpenterNodePool: { name: "np" },
          nodeSelector: {},
        },
      },
    };
    expect(checkGpuOffering({ metadata: {}, spec: both as never })).toEqual({
      ok: false,
      problems: [
        { field: "spec.onDemand.nodeGroup", message: "needs exactly one of machineDeployment or karpenterNodePool" },
      ],
    });
  });

  it("checks LiveEvent times", () => {
    const checked = checkLiveEvent({
      metadata: {},
      spec: { start: "tonight", expectedRooms: 10, durationSeconds: 60 } as never,
    });
    expect(checked).toEqual({
      ok: false,
      problems: [{ field: "spec.start", message: '"tonight" is not an RFC 3339 time' }],
    });
  });

  it("never throws on garbage", () => {
    expect(checkWorkerPool({ metadata: {}, spec: "nope" } as never, l4).ok).toBe(false);
    expect(checkGpuOffering({ metadata: {} } as never).ok).toBe(false);
  });
});

describe("operator/examples/festival.yaml", () => {
  it("passes every check", async () => {
    const docs = parseAllDocuments(await readFile(new URL("examples/festival.yaml", import.meta.url), "utf8"));
    const objects = docs.map((d) => d.toJS() as { kind: string; metadata: { name: string }; spec: never });
    const problems = objects.map((o) => {
      const checked =
        o.kind === "WorkerPool"
          ? checkWorkerPool({ metadata: o.metadata, spec: o.spec }, l4)
          : o.kind === "GpuOffering"
            ? checkGpuOffering({ metadata: o.metadata, spec: o.spec })
            : checkLiveEvent({ metadata: o.metadata, spec: o.spec });
      return `${o.kind}/${o.metadata.name}: ${checked.ok ? "ok" : describeProblems(checked.problems)}`;
    });
    expect(problems).toEqual([
      "WorkerPool/tts: ok",
      "WorkerPool/lipsync: ok",
      "GpuOffering/aliyun-hangzhou-l4: ok",
      "GpuOffering/aws-singapore-l4: ok",
      "GpuOffering/tencent-shanghai-l4: ok",
      "LiveEvent/double-eleven-evening: ok",
    ]);
  });
});

describe("CRD manifests", () => {
  it("operator/crds/ holds exactly what operator/resources.ts generates (node dist/operator/write-crds.js)", async () => {
    for (const file of crdFiles()) {
      expect(await readFile(new URL(`crds/${file.name}`, import.meta.url), "utf8")).toBe(file.text);
    }
  });
});
