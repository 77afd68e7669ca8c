import { describe, expect, it } from "vitest";
import { WorkerAnnouncement, WorkerKind, WorkerState } from "../proto/index.js";
import { connectNats } from "../transport/index.js";
import { startNatsServer } from "../testing/index.js";
import { WorkerDirectory } from "./workers.js";

const announcement = (workerId: string, overrides: Partial<WorkerAnnouncement> = {}) =>
  WorkerAnnouncement.fromPartial({
    workerId,
    kind: WorkerKind.WORKER_KIND_TTS,
    grpcAddress: `${workerId}:50051`,
    state: WorkerState.WORKER_STATE_READY,
    maxStreams: 4,
    activeStreams: 0,
    capabilities: ["zh-female-warm"],
    ttlMs: 3_000,
    ...overrides,
  });

async function offline(now: () => number) {
  // A directory fed by hand: the NATS side is tested below.
  await using nats = await startNatsServer({ jetstream: false });
  const nc = await connectNats({ servers: nats.url, name: "test" });
  const directory = await WorkerDirectory.start(nc, now);
  await nc.close();
  return directory;
}

describe("worker directory", () => {
  it("picks a lip-sync worker serving the neural renderer when asked, any lip-sync worker otherwise", async () => {
    const directory = await offline(() => 0);
    const lipsync = { kind: WorkerKind.WORKER_KIND_LIPSYNC, capabilities: ["default"] };
    directory.learn(announcement("viseme-only", { ...lipsync, labels: { renderers: "viseme" } }));
    directory.learn(announcement("older", lipsync));
    directory.learn(
      announcement("generator", { ...lipsync, activeStreams: 3, labels: { renderers: "viseme,neural" } }),
    );

    expect(directory.pick("lipsync", { capability: "default", renderer: "neural" }).id).toBe("generator");
    expect(directory.pick("lipsync", { capability: "default" }).id).not.toBe("generator");
    // Its one free stream taken, none serves the neural renderer: the refusal says what is missing.
    expect(() => directory.pick("lipsync", { capability: "default", renderer: "neural" })).toThrow(
      /no lipsync worker with default serving the neural renderer has a free stream/,
    );
  });

  it("picks the least loaded ready worker that has the voice, and moves on from one that failed", async () => {
    let clock = 0;
    const directory = await offline(() => clock);
    directory.learn(announcement("busy", { activeStreams: 3 }));
    directory.learn(announcement("idle", { activeStreams: 0 }));
    directory.learn(announcement("english", { capabilities: ["en-male-bright"] }));
    directory.learn(announcement("draining", { state: WorkerState.WORKER_STATE_DRAINING }));
    directory.learn(announcement("lipsync", { kind: WorkerKind.WORKER_KIND_LIPSYNC }));

    expect(directory.pick("tts", { capability: "zh-female-warm" }).id).toBe("idle");
    expect(directory.pick("tts", { capability: "zh-female-warm", exclude: ["idle"] }).id).toBe("busy");
    expect(directory.pick("tts", { capability: "en-male-bright" }).id).toBe("english");
    expect(directory.pick("lipsync").id).toBe("lipsync");
    // Streams opened since the last announcement count as load: both Mandarin workers fill up, then none is free.
    const picks = Array.from({ length: 3 }, () => directory.pick("tts", { capability: "zh-female-warm" }).id);
    expect(picks).toEqual(["idle", "idle", "idle"]);
    expect(() => directory.pick("tts", { capability: "zh-female-warm" })).toThrow(
      /no tts worker with zh-female-warm has a free stream/,
    );
    // Its next announcement says how busy it really is.
    directory.learn(announcement("idle", { activeStreams: 1 }));
    expect(directory.pick("tts", { capability: "zh-female-warm" }).id).toBe("idle");
    // A voice no worker offers is told apart from one whose workers are busy.
    expect(() => directory.pick("tts", { capability: "ja-female" })).toThrow(
      /^no tts worker offers voice ja-female \(voices offered: en-male-bright, zh-female-warm\)$/,
    );

    // Gone when it says so, or when it stops announcing.
    directory.learn(announcement("english", { state: WorkerState.WORKER_STATE_GONE }));
    expect(directory.workers("tts").map((w) => w.id)).not.toContain("english");
    clock = 10_000;
    expect(directory.workers("tts")).toEqual([]);
  });

  it("keeps the last share of a busy pool for higher tiers: bronze waits first, then silver, gold last", async () => {
    const directory = await offline(() => 0);
    // 10 streams, 6 busy.
    directory.learn(announcement("a", { maxStreams: 5, activeStreams: 3 }));
    directory.learn(announcement("b", { maxStreams: 5, activeStreams: 3 }));
    const pick = (tier: "gold" | "silver" | "bronze") => () =>
      directory.pick("tts", { capability: "zh-female-warm", tier });
    // A 7th stream leaves 30 % free: bronze may take it, not an 8th.
    expect(pick("bronze")().id).toMatch(/a|b/);
    expect(pick("bronze")).toThrow(/70% busy: its last 30% is kept for tiers above bronze/);
    // Silver takes the 8th and 9th, not the 10th, which is gold's.
    pick("silver")();
    pick("silver")();
    expect(pick("silver")).toThrow(/kept for tiers above silver/);
    expect(pick("gold")().id).toMatch(/a|b/);
    expect(pick("gold")).toThrow(/has a free stream/);
  });
});
