import { describe, expect, it } from "vitest";
import { createRequire } from "node:module";

// The media and inference engines are native: these tests catch a broken install (missing GStreamer headers or
// plugins, an onnxruntime binary that does not load) before the features built on them do.
const require = createRequire(import.meta.url);

interface GstPipeline {
  play(): void;
  stop(): void;
  pollBus(callback: (message: { type: string }) => void): void;
}

describe("native engines", () => {
  it("runs a GStreamer 1.22 pipeline through gstreamer-superficial to end-of-stream", async () => {
    const gst = require("gstreamer-superficial") as { Pipeline: new (description: string) => GstPipeline };
    const pipeline = new gst.Pipeline("audiotestsrc num-buffers=20 ! audioconvert ! fakesink");
    const messages: string[] = [];
    await new Promise<void>((resolve, reject) => {
      pipeline.pollBus((message) => {
        messages.push(message.type);
        if (message.type === "eos") resolve();
        if (message.type === "error") reject(new Error("pipeline error"));
      });
      pipeline.play();
    });
    pipeline.stop();
    expect(messages).toContain("eos");
  });

  it("loads onnxruntime-node with its CPU execution provider", async () => {
    const ort = await import("onnxruntime-node");
    expect(ort.listSupportedBackends().map((b) => b.name)).toContain("cpu");
  });
});
