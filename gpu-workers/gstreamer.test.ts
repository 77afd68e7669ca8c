import { describe, expect, it } from "vitest";
import { createPipeline, pullToEnd, type GstMessage } from "./gstreamer.js";

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
