// A real speech worker seen from the room's side: the worker announces itself on NATS and the rooms' worker
// directory learns it (with its stream cap, provider and voices), then forgets it when it stops.
import { describe, expect, it } from "vitest";
import { createRegistry } from "../observability/index.js";
import { startSpeechWorker } from "../gpu-workers/index.js";
import { WorkerDirectory } from "../rooms/internal.js";
import { connectNats } from "../transport/index.js";
import { eventually, startNatsServer } from "../testing/index.js";

describe("workers and the rooms' worker directory", () => {
  it("the directory learns real workers from their announcements, and forgets them when they stop", async () => {
    await using nats = await startNatsServer({ jetstream: false });
    const nc = await connectNats({ servers: nats.url, name: "test" });
    await using directory = await WorkerDirectory.start(nc);
    const speech = await startSpeechWorker({ nats: nc, registry: createRegistry(), maxStreams: 2 });
    await eventually(() =>
      expect(directory.workers("tts")).toEqual([
        expect.objectContaining({ address: speech.worker.address, maxStreams: 2, executionProvider: "cpu" }),
      ]),
    );
    expect(directory.workers("tts")[0]!.capabilities).toContain("zh-female-warm");
    await speech.close(1_000);
    await eventually(() => expect(directory.workers("tts")).toEqual([]));
    await nc.close();
  });
});
