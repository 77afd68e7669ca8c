// Worker load as the operator hears it on NATS: kept until its ttl or GONE; garbage is counted, never fatal.
import { describe, expect, it } from "vitest";
import { WorkerAnnouncement, WorkerKind, WorkerState, subjects } from "../proto/index.js";
import { createLogger, createRegistry } from "../observability/index.js";
import { connectNats } from "../transport/index.js";
import { eventually, startNatsServer } from "../testing/index.js";
import { NatsWorkerDemand } from "./internal.js";

describe("NatsWorkerDemand", () => {
  it("keeps each worker's load until its ttl or GONE, and counts malformed announcements", async () => {
    await using nats = await startNatsServer({ jetstream: false });
    const nc = await connectNats({ servers: [nats.url], name: "test" });
    const registry = createRegistry();
    let clock = 1_000_000;
    await using demand = new NatsWorkerDemand({
      nats: nc,
      logger: createLogger({ level: "silent" }),
      registry,
      now: () => clock,
    });
    const announce = (workerId: string, kind: WorkerKind, state: WorkerState, activeStreams: number) =>
      nc.publish(
        subjects.workerAnnounce(kind === WorkerKind.WORKER_KIND_TTS ? "tts" : "lipsync"),
        WorkerAnnouncement.encode(
          WorkerAnnouncement.create({ workerId, kind, state, activeStreams, maxStreams: 8, ttlMs: 3000 }),
        ).finish(),
      );
    announce("t-1", WorkerKind.WORKER_KIND_TTS, WorkerState.WORKER_STATE_READY, 5);
    announce("t-2", WorkerKind.WORKER_KIND_TTS, WorkerState.WORKER_STATE_DRAINING, 2);
    announce("l-1", WorkerKind.WORKER_KIND_LIPSYNC, WorkerState.WORKER_STATE_READY, 1);
    nc.publish(subjects.workerAnnounce("tts"), new Uint8Array([0xff, 0xff, 0xff]));
    await nc.flush();
    await eventually(() =>
      expect(demand.workers("tts").map((w) => [w.workerId, w.activeStreams, w.ready])).toEqual([
        ["t-1", 5, true],
        ["t-2", 2, false],
      ]),
    );
    expect(demand.workers("lipsync").map((w) => w.workerId)).toEqual(["l-1"]);
    await eventually(async () =>
      expect(await registry.metrics()).toContain("livehost_operator_announcements_rejected_total 1"),
    );

    announce("t-2", WorkerKind.WORKER_KIND_TTS, WorkerState.WORKER_STATE_GONE, 0);
    await nc.flush();
    await eventually(() => expect(demand.workers("tts").map((w) => w.workerId)).toEqual(["t-1"]));
    clock += 3000;
    expect(demand.workers("tts")).toEqual([]);
    await nc.close();
  });
});
