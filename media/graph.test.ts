import { mkdtemp, readFile, readdir, rename, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createRegistry } from "../observability/index.js";
import { InvalidArgumentError } from "../errors/index.js";
import {
  RoomMediaGraph,
  composeWorkers,
  cueAtSource,
  injectFrameFault,
  measureAvMarks,
  probeMedia,
  type MediaEvent,
  type UtteranceReport,
} from "./internal.js";
import { allowGStreamerWarnings, eventually } from "../testing/index.js";
import { beepUtterance, flashFrames } from "./testing/marks.js";
import { hls, kettleLine, landscape, outputConfig, playlistSegments, portrait, recording } from "./testing/output.js";
import { renderOverlay, subtitlePages, type OverlaySpec } from "./overlays.js";

/** Longer than two subtitle lines at every size: Chinese, with a model code and a price in it. */
const longSentence =
  "家人们看过来，这款304不锈钢保温杯型号XJ-2000今天直播间只要七十九元，保温十二小时，下单还送杯套和清洗刷，库存不多了";

const avatarDir = new URL("../models/avatars/default", import.meta.url).pathname;

/** The video frames of `file` as 8-bit luma, one after the other (`input`: ffmpeg's options before -i). */
async function grayFrames(file: string, input: string[], filter?: string): Promise<Buffer> {
  const vf = filter ? `${filter},format=gray` : "format=gray";
  const args = ["-v", "error", ...input, "-i", file, "-fps_mode", "passthrough", "-vf", vf, "-f", "rawvideo", "-"];
  const { stdout } = await promisify(execFile)("ffmpeg", args, { encoding: "buffer", maxBuffer: 64 << 20 });
  return stdout;
}
const frame = (fps: number) => 1 / fps;
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "livehost-media-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("room media graph outputs", () => {
  it("writes portrait 720x1280@25 HLS and MP4 that ffprobe accepts, in sync on content (beep vs flash)", async () => {
    const out = join(dir, "portrait");
    const graph = new RoomMediaGraph({
      roomId: "r-portrait",
      output: outputConfig(portrait, [hls(1), recording()]),
      avatarDir,
      outputDir: out,
      registry: createRegistry(),
      x264Preset: "ultrafast",
      pace: { renderSeconds: 4 },
    });
    // The beep starts 1.2 s into the utterance: frame 30 of it. Its mouth frames flash on frames 30 to 32.
    graph.pushSpeech(beepUtterance({ utteranceId: "u1", sampleRateHz: 24_000, seconds: 3, beepAtSeconds: 1.2 }));
    for (const mouth of flashFrames("u1", 30, 33)) graph.pushMouthFrame(mouth);
    await graph.start();
    await graph.done;

    const playlist = join(out, "hls", "index.m3u8");
    const recordings = (await readdir(join(out, "recordings"))).map((f) => join(out, "recordings", f));
    expect(recordings).toHaveLength(1);
    for (const file of [playlist, recordings[0]!]) {
      const probe = await probeMedia(file);
      expect(probe.video).toMatchObject({ codec: "h264", width: 720, height: 1280, fps: 25 });
      expect(probe.audio).toMatchObject({ codec: "aac", sampleRate: 48_000 });
      expect(probe.durationSeconds).toBeGreaterThan(4 - 2 * frame(25));
      expect(probe.durationSeconds).toBeLessThan(4 + 2 * frame(25));
      expect(Math.abs(probe.audio!.startTime - probe.video!.startTime)).toBeLessThanOrEqual(frame(25));
      const marks = await measureAvMarks(file);
      expect(marks.beeps).toHaveLength(1);
      expect(marks.flashes).toHaveLength(1);
      expect(Math.abs(marks.beeps[0]! - marks.flashes[0]!)).toBeLessThanOrEqual(frame(25));
    }

    // Segments follow each other with no gap or overlap.
    const segments = await playlistSegments(playlist);
    expect(segments.length).toBeGreaterThanOrEqual(3);
    const starts = await Promise.all(
      segments.map(async (s) => (await probeMedia(join(out, "hls", s.file))).video!.startTime),
    );
    for (let i = 1; i < segments.length; i++) {
      expect(Math.abs(starts[i]! - (starts[i - 1]! + segments[i - 1]!.seconds))).toBeLessThanOrEqual(frame(25));
    }
  });

  it("shows a product card on the frame of the word that names it (16:9 640x360@30)", async () => {
    const out = join(dir, "landscape");
    const graph = new RoomMediaGraph({
      roomId: "r-card",
      output: outputConfig(landscape, [recording()]),
      avatarDir,
      outputDir: out,
      registry: createRegistry(),
      x264Preset: "ultrafast",
      pace: { renderSeconds: 2 },
    });
    const { text, words } = kettleLine;
    graph.pushSpeech({ utteranceId: "u-card", pcm: new Int16Array(16_000 * 1.5), sampleRateHz: 16_000, final: true });
    const cue = cueAtSource("u-card", words, text.indexOf("¥79"));
    expect(cue).toEqual({ utteranceId: "u-card", atMs: 1000 });
    await graph.scheduleOverlay(
      {
        id: "kettle",
        content: { kind: "product-card", title: "保温壶 Gooseneck kettle", price: "¥79" },
        animation: "none",
      },
      cue,
    );
    await graph.start();
    await graph.done;

    const [file] = await readdir(join(out, "recordings"));
    // The card sits at the lower left; measure the brightness of a patch inside it, frame by frame.
    const stdout = await grayFrames(join(out, "recordings", file!), [], "crop=40:16:240:210,scale=1:1");
    const brightness = [...stdout];
    const firstShown = brightness.findIndex((b) => b > 200);
    // 1000 ms at 30 fps is frame 30.
    expect(firstShown).toBe(30);
    expect(brightness.slice(firstShown).every((b) => b > 200)).toBe(true);
  });

  it.each([
    [720, 1280],
    [360, 640],
  ])(
    "draws a two-line subtitle and a long card whole, inside their boxes, in the encoded %dx%d frames",
    async (w, h) => {
      const out = join(dir, `text-${w}`);
      const subtitle: OverlaySpec = {
        id: "subtitle",
        content: { kind: "subtitle", lines: [subtitlePages(longSentence, w, h)[0]!.text] },
        animation: "none",
      };
      const card: OverlaySpec = {
        id: "card",
        content: { kind: "product-card", title: longSentence.slice(0, 60), price: "¥1,299.90" },
        animation: "none",
      };
      const graph = new RoomMediaGraph({
        roomId: `r-text-${w}`,
        output: outputConfig({ ...portrait, widthPx: w, heightPx: h }, [recording()]),
        avatarDir,
        outputDir: out,
        registry: createRegistry(),
        x264Preset: "ultrafast",
        pace: { renderSeconds: 1 },
      });
      await graph.scheduleOverlay(subtitle);
      await graph.scheduleOverlay(card);
      await graph.start();
      await graph.done;

      // The last encoded frame, as luma.
      const [file] = await readdir(join(out, "recordings"));
      const stdout = await grayFrames(join(out, "recordings", file!), ["-sseof", "-0.2"]);
      const luma = stdout.subarray(stdout.length - w * h);
      for (const [spec, glyphs] of [
        [subtitle, "light"],
        [card, "dark"],
      ] as const) {
        const { x, y, image } = await renderOverlay(spec, w, h);
        const inked = (row: number) => {
          let count = 0;
          // (Clear of the rounded corners, where the picture behind shows.)
          for (let col = x + 16; col < x + image.width - 16; col++) {
            const l = luma[row * w + col]!;
            if (glyphs === "light" ? l > 200 : l < 90) count++;
          }
          return count;
        };
        const rows = Array.from({ length: image.height }, (_, i) => inked(y + i));
        const what = `${spec.content.kind} at ${w}x${h}`;
        // Text is drawn (two lines of it), and its box's first and last rows carry none: nothing cut by the box.
        expect(rows.filter((n) => n > 2).length, `${what}: rows with text`).toBeGreaterThan(image.height / 4);
        expect(
          Math.max(...rows.slice(0, 2), ...rows.slice(-2)),
          `${what}: text clear of the box's edges`,
        ).toBeLessThanOrEqual(2);
        let bands = 0;
        rows.forEach((n, i) => (n > 2 && !(rows[i - 1]! > 2) ? bands++ : undefined));
        expect(bands, `${what}: lines of text`).toBeGreaterThanOrEqual(2);
      }
    },
  );

  it("rebuilds the pipeline after a GStreamer error and keeps streaming", async () => {
    // Once it cannot open a segment, splitmuxsink restarts its muxer without a segment event and keeps feeding it,
    // until the pipeline is replaced: GStreamer says so ("Got data flow before segment event"), for the fault only.
    allowGStreamerWarnings("the HLS directory disappears under a running pipeline");
    const out = join(dir, "fault");
    const registry = createRegistry();
    const events: string[] = [];
    const graph = new RoomMediaGraph({
      roomId: "r-fault",
      output: outputConfig(landscape, [hls(1), recording()]),
      avatarDir,
      outputDir: out,
      registry,
      x264Preset: "ultrafast",
      // Rendered faster than real time: 20 s of stream leave the fault below time to land while it still runs.
      pace: { renderSeconds: 20 },
      onEvent: (event) => events.push(event.type),
    });
    await graph.start();
    // The HLS directory disappears under the running pipeline (moved away, at once: deleting it races the files
    // being written into it): the next segment cannot be opened.
    // (Once the playlist lists the first pipeline's segments, so there is something for the new one to follow.)
    let removed = false;
    const watcher = setInterval(() => {
      if (removed || graph.status().frame <= 60) return;
      removed = true;
      readFile(join(out, "hls", "index.m3u8"), "utf8")
        .then((text) => {
          if (!text.includes("segment-g1-")) throw new Error("not yet");
          return rename(join(out, "hls"), join(out, "hls-gone"));
        })
        .catch(() => (removed = false));
    }, 5);
    await graph.done;
    clearInterval(watcher);

    expect(events).toContain("rebuilt");
    const rebuilds = await registry.getSingleMetric("livehost_media_pipeline_rebuilds_total")!.get();
    expect(rebuilds.values[0]!.value).toBeGreaterThanOrEqual(1);
    const segments = await playlistSegments(join(out, "hls", "index.m3u8"));
    expect(segments.length).toBeGreaterThanOrEqual(2);
    // One playlist through the rebuild: the new pipeline's segments follow the old ones after a discontinuity
    // (timestamps restart there), and the ended stream says so.
    const playlist = await readFile(join(out, "hls", "index.m3u8"), "utf8");
    expect(segments.some((s) => s.file.startsWith("segment-g1-"))).toBe(true);
    expect(segments.at(-1)!.file).toMatch(/^segment-g[2-9]-/);
    expect(playlist).toMatch(/#EXT-X-DISCONTINUITY\n#EXTINF:[\d.]+,\nsegment-g2-00000\.ts/);
    expect(playlist.trimEnd().endsWith("#EXT-X-ENDLIST")).toBe(true);
    const recordings = (await readdir(join(out, "recordings"))).sort();
    expect(recordings.length).toBeGreaterThanOrEqual(2);
    const last = await probeMedia(join(out, "recordings", recordings.at(-1)!));
    expect(last.video).toMatchObject({ codec: "h264", width: 640, height: 360 });
  });

  it("refuses a missing overlay image and a broken avatar pack, naming the field", async () => {
    const graph = new RoomMediaGraph({
      roomId: "r-bad",
      output: outputConfig(landscape, [recording()]),
      avatarDir: join(dir, "no-such-pack"),
      outputDir: join(dir, "bad"),
      registry: createRegistry(),
      pace: { renderSeconds: 1 },
    });
    await expect(
      graph.scheduleOverlay({
        id: "card",
        content: { kind: "product-card", title: "Kettle", price: "$9", imagePath: "/nope.png" },
      }),
    ).rejects.toMatchObject({ name: "InvalidArgumentError", field: "overlay.content.imagePath" });
    await expect(graph.scheduleOverlay({ id: "Bad Id", content: { kind: "coupon", text: "$5 off" } })).rejects.toThrow(
      InvalidArgumentError,
    );
    await expect(graph.start()).rejects.toMatchObject({ field: "avatarDir" });
  });
});

describe("a fault in one room's frame loop", () => {
  async function liveGraph(roomId: string) {
    const events: MediaEvent[] = [];
    const registry = createRegistry();
    const graph = new RoomMediaGraph({
      roomId,
      output: outputConfig(landscape, [hls(1)]),
      avatarDir,
      outputDir: join(dir, roomId),
      registry,
      x264Preset: "ultrafast",
      reportEncoded: true,
      onEvent: (event) => events.push(event),
    });
    await graph.start();
    const failures = async () => (await registry.getSingleMetric("livehost_media_frame_errors_total")!.get()).values;
    return { graph, events, failures, registry };
  }

  it("goes on with the next frame: the failed frames are counted and said once, and the stream goes on", async () => {
    const { graph, events, failures } = await liveGraph("r-frame-fault");
    expect(graph.composedOn).toBe("worker");
    graph.pushSpeech(beepUtterance({ utteranceId: "u", sampleRateHz: 24_000, seconds: 1, beepAtSeconds: 0.5 }));
    for (const mouth of flashFrames("u", 0, 5)) graph.pushMouthFrame(mouth);
    // Five frames in a row fail where they are made (the room's compose worker), as a bug in the picture would.
    injectFrameFault(graph, 5);
    await eventually(() =>
      expect(events).toContainEqual(expect.objectContaining({ type: "utterance", state: "ended" })),
    );
    const frameAfter = graph.status().frame;
    await eventually(() => expect(graph.status().frame).toBeGreaterThan(frameAfter + 5));
    expect(events.filter((e) => e.type === "frame_failed" || e.type === "failed")).toEqual([
      expect.objectContaining({ type: "frame_failed", error: "injected fault" }),
    ]);
    expect(await failures()).toEqual([expect.objectContaining({ value: 5 })]);
    await graph.stop();
  });

  it("says when an utterance's first frame came out of the encoder, and how long frames spend in it", async () => {
    const { graph, events, registry } = await liveGraph("r-encoded");
    graph.pushSpeech(beepUtterance({ utteranceId: "u", sampleRateHz: 24_000, seconds: 1, beepAtSeconds: 0.5 }));
    const encoded = await eventually(() => {
      const found = events.find((e) => e.type === "encoded");
      expect(found).toMatchObject({ utteranceId: "u" });
      return found as Extract<MediaEvent, { type: "encoded" }>;
    });
    const started = events.find((e) => e.type === "utterance" && e.state === "started") as UtteranceReport;
    // Out of the encoder after it went in, within the stream's own pace (the encoder keeps up here).
    expect(encoded.outputUnixMs).toBeGreaterThanOrEqual(started.outputUnixMs - 1);
    expect(encoded.outputUnixMs - started.outputUnixMs).toBeLessThan(2_000);
    await eventually(async () => {
      const text = await registry.getSingleMetricAsString("livehost_media_encode_seconds");
      expect(Number(/livehost_media_encode_seconds_count (\d+)/.exec(text)?.[1])).toBeGreaterThan(10);
    });
    await graph.stop();
  });

  it("stops that room's output, saying why, when its frames keep failing for a second", async () => {
    const { graph, events } = await liveGraph("r-frame-failed");
    injectFrameFault(graph, 90);
    await graph.done;
    expect(events.filter((e) => e.type === "frame_failed" || e.type === "failed").map((e) => e.type)).toEqual([
      "frame_failed",
      "failed",
    ]);
    expect(composeWorkers()).toBe(0);
  });
});
