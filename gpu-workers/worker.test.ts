import { describe, expect, it } from "vitest";
import { credentials } from "@grpc/grpc-js";
import {
  HealthCheckResponse_ServingStatus,
  HealthClient,
  ListVoicesRequest,
  SpeechServiceClient,
  SpeechServiceService,
  SynthesizeRequest,
  SynthesizeResponse,
  WorkerState,
  type SpeechServiceServer,
} from "../proto/index.js";
import { createRegistry } from "../observability/index.js";
import { UnimplementedError } from "../errors/internal.js";
import { callUnary, connectNats, serverStream, unary } from "../transport/index.js";
import { eventually, recordAnnouncements, startNatsServer } from "../testing/index.js";
import { startWorker, type StreamSlots } from "./internal.js";

/** A SpeechService whose Synthesize holds its slot until `release` resolves: enough to exercise the cap and drain. */
function holdingSpeechService(slots: StreamSlots, release: Promise<void>) {
  const implementation: SpeechServiceServer = {
    synthesize: serverStream("Synthesize", async function* () {
      const done = slots.acquire();
      try {
        yield SynthesizeResponse.fromPartial({ pcm: Buffer.alloc(0) });
        await release;
      } finally {
        done();
      }
    }),
    listVoices: unary("ListVoices", () => Promise.reject(new UnimplementedError("test"))),
  };
  return { name: "livehost.v1.SpeechService", definition: SpeechServiceService, implementation };
}

describe("GPU worker core", () => {
  it("announces itself on NATS, refuses streams beyond its cap, drains, then says it is gone", async () => {
    await using nats = await startNatsServer({ jetstream: false });
    const nc = await connectNats({ servers: nats.url, name: "test" });
    const announcements = await recordAnnouncements(nc, "tts");

    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    const registry = createRegistry();
    const worker = await startWorker({
      kind: "tts",
      nats: nc,
      registry,
      maxStreams: 1,
      capabilities: ["en-male-bright"],
      services: (slots) => [holdingSpeechService(slots, released)],
      announceIntervalMs: 100,
    });
    const client = new SpeechServiceClient(worker.address, credentials.createInsecure());
    const health = new HealthClient(worker.address, credentials.createInsecure());
    try {
      const first = client.synthesize(SynthesizeRequest.fromPartial({ text: "hello", voiceId: "en-male-bright" }));
      await new Promise((resolve) => first.once("data", resolve));
      expect(worker.slots.active).toBe(1);

      // The second stream is refused at once so the room can try another worker.
      const second = client.synthesize(SynthesizeRequest.fromPartial({ text: "again", voiceId: "en-male-bright" }));
      const refused = await new Promise<{ code: number }>((resolve) => second.on("error", resolve));
      expect(refused.code).toBe(8); // RESOURCE_EXHAUSTED
      expect(await registry.metrics()).toMatch(/livehost_worker_streams_rejected_total\{kind="tts"\} 1/);

      const ready = await eventually(() => {
        const found = announcements.find((a) => a.state === WorkerState.WORKER_STATE_READY && a.activeStreams === 1);
        expect(found).toBeDefined();
        return found;
      });
      expect(ready).toMatchObject({ workerId: worker.id, grpcAddress: worker.address, maxStreams: 1 });
      expect(ready?.capabilities).toEqual(["en-male-bright"]);

      // Draining waits for the stream in flight, NOT_SERVING for the server and each of its services.
      first.on("error", () => undefined);
      const closed = worker.close(10_000);
      await eventually(() => expect(announcements.at(-1)?.state).toBe(WorkerState.WORKER_STATE_DRAINING));
      for (const service of ["", "livehost.v1.SpeechService"]) {
        const { status } = await callUnary(health.check.bind(health), { service }, { timeoutMs: 2_000 });
        expect(HealthCheckResponse_ServingStatus[status]).toBe("NOT_SERVING");
      }
      release();
      await closed;
      await nc.flush();
      expect(announcements.at(-1)?.state).toBe(WorkerState.WORKER_STATE_GONE);
      await expect(
        callUnary(client.listVoices.bind(client), ListVoicesRequest.create(), { timeoutMs: 1_000 }),
      ).rejects.toMatchObject({
        code: "unavailable",
      });
    } finally {
      release();
      client.close();
      health.close();
      await worker.close();
      await nc.close();
    }
  });

  it("coalesces a burst of stream starts and ends into a few announcements that end with the true load", async () => {
    await using nats = await startNatsServer({ jetstream: false });
    const nc = await connectNats({ servers: nats.url, name: "test" });
    const announcements = await recordAnnouncements(nc, "tts");
    const worker = await startWorker({
      kind: "tts",
      nats: nc,
      registry: createRegistry(),
      maxStreams: 500,
      capabilities: ["en-male-bright"],
      services: (slots) => [holdingSpeechService(slots, Promise.resolve())],
      announceIntervalMs: 60_000,
    });
    try {
      await nc.flush();
      const before = announcements.length;
      // 300 streams start and 297 end within one tick, as on a busy worker.
      const releases = Array.from({ length: 300 }, () => worker.slots.acquire());
      for (const release of releases.slice(3)) release();
      await eventually(() => expect(announcements.at(-1)?.activeStreams).toBe(3));
      expect(announcements.length - before).toBeLessThanOrEqual(2);
      for (const release of releases) release();
      await eventually(() => expect(announcements.at(-1)?.activeStreams).toBe(0));
    } finally {
      await worker.close();
      await nc.close();
    }
  });
});
