import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { describe, expect, it, vi } from "vitest";
import { collectBuffers, createPipeline, pullToEnd, watchBus, type GstMessage, type WatchedBus } from "./gst.js";

// Overlay cards and the avatar's loop are rendered by short pipelines whose end the bus reports on one thread while
// the appsink's pulls come back on others: whichever comes first, every buffer the pipeline made is handed over.
describe("collectBuffers", () => {
  const frame = (colour: string, extra = "num-buffers=1") =>
    `videotestsrc pattern=solid-color foreground-color=${colour} ${extra} ! ` +
    "video/x-raw,format=RGBA,width=16,height=8,framerate=25/1 ! appsink name=out sync=false";

  it("gives back the one frame of a one-frame pipeline, every time, with many running at once", async () => {
    let missing = 0;
    for (let round = 0; round < 25; round++) {
      const results = await Promise.all(
        Array.from({ length: 8 }, () => collectBuffers(frame("0xff336699"), { limit: 1 })),
      );
      missing += results.filter((buffers) => buffers.length !== 1).length;
      const pixels = results.flatMap((buffers) => buffers.map((b) => [...b.subarray(0, 4)]));
      expect(pixels).toEqual(pixels.map(() => [0x33, 0x66, 0x99, 0xff]));
    }
    expect(missing).toBe(0);
  });

  it("gives back every frame of a finite stream, the last ones included", async () => {
    for (let run = 0; run < 10; run++) {
      const buffers = await collectBuffers(frame("0xff00ff00", "num-buffers=30"));
      expect(buffers).toHaveLength(30);
    }
  });

  it("stops an endless source after `limit` frames", async () => {
    const buffers = await collectBuffers(frame("0xffff0000", "is-live=false"), { limit: 5 });
    expect(buffers).toHaveLength(5);
  });

  it("rejects with GStreamer's reason when the pipeline fails", async () => {
    await expect(
      collectBuffers("filesrc location=/nonexistent/livehost.png ! decodebin ! appsink name=out"),
    ).rejects.toThrow(/GStreamer/);
  });
});

describe("watchBus", () => {
  it("stops a pipeline that already reached its end from a bus message, not the fallback timer", async () => {
    // The fallback timer is frozen: stop() can only complete through a message on the bus. A pipeline at its end
    // sends no second end-of-stream, so it is paused to get one.
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
    try {
      const pipeline = createPipeline("videotestsrc num-buffers=3 ! fakesink sync=false");
      let bus: WatchedBus | undefined;
      await new Promise<void>((resolve) => {
        bus = watchBus(pipeline, (message) => message.type === "eos" && resolve());
        pipeline.play();
      });
      await expect(bus!.stop()).resolves.toBeUndefined();
    } finally {
      vi.useRealTimers();
    }
  }, 10_000);

  it("gives the libuv pool back while a pipeline is quiet: more live rooms than pool threads leave file reads working", async () => {
    // Each watched pipeline's bus is polled on a libuv pool thread. Quiet live pipelines (a room between errors) used
    // to hold one each for good: with more of them than the pool's threads, every file read waited forever.
    const threads = Number(process.env.UV_THREADPOOL_SIZE || 4);
    const watched = Array.from({ length: threads + 2 }, () => {
      const pipeline = createPipeline(
        "videotestsrc is-live=true ! video/x-raw,width=16,height=16,framerate=5/1 ! fakesink sync=true",
      );
      const bus = watchBus(pipeline, () => undefined);
      pipeline.play();
      return bus;
    });
    try {
      await new Promise((resolve) => setTimeout(resolve, 500));
      const read = readFile(fileURLToPath(import.meta.url), "utf8");
      const timeout = new Promise<never>((_, reject) =>
        setTimeout(() => reject(new Error("a file read waited 5 s for a pool thread")), 5_000).unref(),
      );
      await expect(Promise.race([read, timeout])).resolves.toContain("gives the libuv pool back");
    } finally {
      await Promise.all(watched.map((bus) => bus.stop()));
    }
  }, 20_000);
});

/**
 * A pipeline whose bus and appsink callbacks the test fires in the order it chooses. The real binding delivers them
 * from different pool threads, in either order, which a test cannot force.
 */
function scriptedPipeline() {
  let bus: ((message: GstMessage) => void) | undefined;
  let pull: ((buffer: Buffer | null, caps: unknown) => void) | undefined;
  const calls: string[] = [];
  const sink = { pull: (callback: typeof pull) => (pull = callback) };
  const pipeline = {
    play: () => calls.push("play"),
    // As GStreamer does, pausing posts a state change on the bus.
    pause: () => {
      calls.push("pause");
      queueMicrotask(() => bus?.({ type: "state-changed" }));
    },
    stop: () => calls.push("stop"),
    sendEOS: () => calls.push("sendEOS"),
    findChild: (name: string) => (name === "out" ? sink : undefined),
    pollBus: (callback: (message: GstMessage) => void) => (bus = callback),
  };
  return {
    pipeline,
    calls,
    bus: (type: string) => bus!({ type }),
    sample: (buffer: Buffer | null) => pull!(buffer, {}),
  };
}

describe("pullToEnd", () => {
  it("hands over the last buffer when the bus reports the end before that buffer's pull comes back", async () => {
    const p = scriptedPipeline();
    const got: string[] = [];
    const done = pullToEnd(p.pipeline, "out", (buffer) => got.push(buffer.toString()));
    p.sample(Buffer.from("first"));
    p.bus("eos"); // the end, before the last pull has come back
    p.sample(Buffer.from("last"));
    p.sample(null); // the sink has nothing more: the stop waits for a bus message, which pausing brings
    await done;
    expect(got).toEqual(["first", "last"]);
    expect(p.calls).toEqual(["play", "pause", "stop"]);
  });

  it("ends at the bus's end-of-stream once the sink has come back empty", async () => {
    const p = scriptedPipeline();
    const got: string[] = [];
    const done = pullToEnd(p.pipeline, "out", (buffer) => got.push(buffer.toString()));
    p.sample(Buffer.from("only"));
    p.sample(null);
    p.bus("eos");
    await done;
    expect(got).toEqual(["only"]);
    expect(p.calls).toEqual(["play", "stop"]);
  });

  it("hands over every buffer of a real pipeline and rejects with GStreamer's reason", async () => {
    const frames = createPipeline(
      "videotestsrc num-buffers=30 ! video/x-raw,format=RGBA,width=16,height=8,framerate=25/1 ! " +
        "appsink name=out sync=false",
    );
    let count = 0;
    await pullToEnd(frames, "out", () => count++);
    expect(count).toBe(30);
    const missing = createPipeline("filesrc location=/nonexistent/livehost.mp4 ! decodebin ! appsink name=out");
    await expect(pullToEnd(missing, "out", () => undefined)).rejects.toThrow(/GStreamer/);
  });
});
