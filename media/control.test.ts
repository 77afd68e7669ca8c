// Live control of a running RoomMediaGraph: updateOverlays, hideOverlay and setOutputs, checked on what a viewer
// gets, i.e. frames decoded from the produced recording / HLS with ffmpeg, and ffprobe facts of the files.
//
// Timing: with `pace: { renderSeconds }` the stream is rendered far faster than real time (hundreds of frames a
// second here), so an action taken "mid-stream" is either made frame-exact through the clock (a cue, or a call from
// onEvent, which runs synchronously inside the frame loop), or the test runs in real time and only relies on the
// order of the output frames, never on wall-clock timing.
import { execFile } from "node:child_process";
import { mkdtemp, readFile, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createRegistry, type Registry } from "../observability/index.js";
import { type Output } from "../proto/index.js";
import { InvalidArgumentError } from "../errors/index.js";
import {
  RoomMediaGraph,
  cueAtSource,
  probeMedia,
  type MediaEvent,
  type OverlaySpec,
  type RoomMediaGraphOptions,
} from "./internal.js";
import { NginxRtmp } from "./testing/nginx-rtmp.js";
import {
  hls,
  kettleLine,
  landscape,
  outputConfig,
  playlistSegments,
  portrait,
  recording,
  rtmp,
} from "./testing/output.js";

const run = promisify(execFile);
const avatarDir = new URL("../models/avatars/default", import.meta.url).pathname;
/** The landscape test config runs at 30 fps: frame n is at n / 30 s. */
const fps = landscape.fps;
/** Fade in/out of an overlay: 0.3 s. */
const fadeFrames = Math.round(fps * 0.3);

let dir: string;
let greenPng: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "livehost-media-control-"));
  greenPng = join(dir, "green.png");
  await run("ffmpeg", ["-v", "error", "-f", "lavfi", "-i", "color=c=0x00c000:s=64x64", "-frames:v", "1", greenPng]);
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

// Where the overlays land on a 640x360 frame (see overlays.ts; the avatar is letterboxed between x 219 and 421, the
// rest of the frame is black), and a patch of each that tells its content apart:
/**
 * Product card (32,150 280x88; 32,138 280x100 with its picture): in its picture's place, right of the short price
 * and below the title: white without a picture, green with one.
 */
const cardBody = { x: 100, y: 196, w: 20, h: 28 };
/** Coupon banner (170,50 300x50): its red left end, away from the centred text. */
const couponEnd = { x: 176, y: 56, w: 24, h: 36 };
/** Price tag (478,136 130x58): its red left edge, away from the centred price. */
const tagEdge = { x: 484, y: 142, w: 10, h: 44 };

type Rgb = [number, number, number];
const colours = {
  /** Nothing there: the letterbox. */
  none: [0, 0, 0],
  white: [240, 240, 240],
  green: [0, 192, 0],
  red: [240, 72, 74],
  /** Half faded in or out. */
  half: [120, 120, 120],
} satisfies Record<string, Rgb>;
type Colour = keyof typeof colours;

/** Mean colour of `box` on every decoded video frame of `file`, in presentation order. */
async function regionMeans(file: string, box: { x: number; y: number; w: number; h: number }): Promise<Rgb[]> {
  const { stdout } = await run(
    "ffmpeg",
    [
      "-v",
      "error",
      "-nostdin",
      "-i",
      file,
      "-map",
      "0:v:0",
      "-fps_mode",
      "passthrough",
      "-vf",
      `crop=${box.w}:${box.h}:${box.x}:${box.y},format=rgb24`,
      "-f",
      "rawvideo",
      "-",
    ],
    { encoding: "buffer", maxBuffer: 64 << 20 },
  );
  const size = box.w * box.h * 3;
  const means: Rgb[] = [];
  for (let at = 0; at + size <= stdout.length; at += size) {
    const sum: Rgb = [0, 0, 0];
    for (let i = 0; i < size; i++) sum[i % 3]! += stdout[at + i]!;
    means.push(sum.map((s) => s / (box.w * box.h)) as Rgb);
  }
  return means;
}

/** The nearest reference colour of each frame's patch, one letter a frame (n, w, g, r, h), e.g. "nhwwwwgg". */
async function colourTrack(file: string, box: { x: number; y: number; w: number; h: number }): Promise<string> {
  const nearest = (rgb: Rgb) =>
    (Object.entries(colours) as [Colour, Rgb][])
      .map(([name, ref]) => ({ name, d: ref.reduce((sum, c, i) => sum + (c - rgb[i]!) ** 2, 0) }))
      .sort((a, b) => a.d - b.d)[0]!.name;
  return (await regionMeans(file, box)).map((rgb) => nearest(rgb)[0]).join("");
}

const brightness = (rgb: Rgb) => (rgb[0] + rgb[1] + rgb[2]) / 3;

/** Frames dropped so far (a real-time room drops a frame rather than queue it when the encoder is behind). */
async function droppedFrames(registry: Registry): Promise<number> {
  const metric = await registry.getSingleMetric("livehost_media_dropped_frames_total")!.get();
  return metric.values.reduce((sum, v) => sum + v.value, 0);
}

async function onlyRecording(out: string, path = "recordings"): Promise<string> {
  const files = (await readdir(join(out, path))).sort();
  expect(files).toHaveLength(1);
  return join(out, path, files[0]!);
}

/** Waits until `check` holds, polling; fails after `ms`. */
async function until(check: () => boolean | Promise<boolean>, ms = 20_000) {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await sleep(20);
  }
}

function newGraph(name: string, options: Partial<RoomMediaGraphOptions> & Pick<RoomMediaGraphOptions, "output">) {
  return new RoomMediaGraph({
    roomId: `r-${name}`,
    avatarDir,
    outputDir: join(dir, name),
    registry: createRegistry(),
    x264Preset: "ultrafast",
    ...options,
  });
}

/** Silent 48 kHz speech of `seconds`: at 30 fps, 1600 samples a frame, so it plays on frames [0, 30 * seconds). */
const silence = (utteranceId: string, seconds: number) => ({
  utteranceId,
  pcm: new Int16Array(Math.round(48_000 * seconds)),
  sampleRateHz: 48_000,
  final: true,
});

const card = (extra: Partial<OverlaySpec> = {}, imagePath?: string): OverlaySpec => ({
  id: "card",
  content: { kind: "product-card", title: "Gooseneck kettle", price: "¥79", ...(imagePath ? { imagePath } : {}) },
  ...extra,
});
const coupon: OverlaySpec = { id: "coupon", content: { kind: "coupon", text: "$5 off" }, animation: "none" };
const tag: OverlaySpec = { id: "tag", content: { kind: "price-tag", price: "¥59" }, animation: "none" };

/** Segment files of one pipeline generation in the HLS directory (see graph.ts: segment-g<n>-*.ts). */
async function hlsFiles(out: string, generation: number): Promise<string[]> {
  return (await readdir(join(out, "hls"))).filter((f) => f.startsWith(`segment-g${generation}-`)).sort();
}

/** Video frames decoded from a file, or from HLS segment files played back to back (MPEG-TS concatenates). */
async function countFrames(input: string | { out: string; segments: string[] }): Promise<number> {
  const file =
    typeof input === "string" ? input : `concat:${input.segments.map((f) => join(input.out, "hls", f)).join("|")}`;
  return (await regionMeans(file, { x: 0, y: 0, w: 2, h: 2 })).length;
}

describe("updateOverlays", () => {
  it("re-renders a shown overlay in place: the new content from the next frames on, no gap, no new entrance, same end", async () => {
    const graph = newGraph("update", { output: outputConfig(landscape, [recording()]) });
    const out = join(dir, "update");
    // The card fades in on frame 0 and stays 4 s: it starts leaving on frame 120 and is gone from frame 129.
    await graph.scheduleOverlay(card({ durationMs: 4000 }));
    await graph.scheduleOverlay(coupon);
    await graph.start();
    try {
      await until(() => graph.status().frame >= 30);
      // A new picture for the card. "coupon" is left out of the list (it is not touched), "tag" was never shown
      // (updateOverlays only renders it: showing is scheduleOverlay's job).
      await graph.updateOverlays([card({ durationMs: 4000 }, greenPng), tag]);
      const updatedBy = graph.status().frame;
      expect(updatedBy, "the update must land well before the card's end to be seen").toBeLessThan(100);
      expect(graph.status().overlaysVisible.sort()).toEqual(["card", "coupon"]);
      await until(() => graph.status().frame >= 160);
    } finally {
      await graph.stop();
    }

    const file = await onlyRecording(out);
    const cardTrack = await colourTrack(file, cardBody);
    // Faded in from black, white (old picture), green (new picture) without a frame of black or a fade between them,
    // then faded out and gone. Real-time pacing may drop frames under load (never adds any): bounds, not counts.
    expect(cardTrack).toMatch(/^[nh]*w+h?g+[gh]*n+$/);
    expect(cardTrack.match(/w/g)!.length).toBeGreaterThanOrEqual(5);
    expect(cardTrack.match(/g/g)!.length).toBeGreaterThanOrEqual(10);
    // The update kept the card's timing: it left 4 s after it was shown (its fade out ends on frame 129), not 4 s
    // after the update.
    expect(cardTrack.replace(/n/g, "").length).toBeLessThanOrEqual(129);
    expect(cardTrack.match(/n+$/)![0].length).toBeGreaterThanOrEqual(10);
    expect(await colourTrack(file, couponEnd)).toMatch(/^r+$/);
    expect(await colourTrack(file, tagEdge)).toMatch(/^n+$/);
  });

  it("refuses a batch with a bad spec, naming the field, and changes nothing on screen", async () => {
    const registry = createRegistry();
    const graph = newGraph("update-bad", { output: outputConfig(landscape, [recording()]), registry });
    const out = join(dir, "update-bad");
    await graph.scheduleOverlay(card({ animation: "none" }, greenPng));
    await graph.start();
    let refusedBy: number;
    let droppedBy: number;
    try {
      await until(() => graph.status().frame >= 15);
      // Each batch holds a valid new picture for "card" (white, no image) before the bad spec: none of it may apply.
      const white = card({ animation: "none" });
      const refusals: [OverlaySpec, string][] = [
        [{ id: "tag", content: { kind: "price-tag", price: " " } }, "overlays[1].content.price"],
        [{ id: "Bad Id", content: { kind: "coupon", text: "$5 off" } }, "overlays[1].id"],
        [card({}, join(dir, "no-such.png")), "overlays[1].content.imagePath"],
        [{ ...tag, animation: "spin" as "none" }, "overlays[1].animation"],
        [{ ...tag, durationMs: -1 }, "overlays[1].durationMs"],
        [{ id: "sub", content: { kind: "subtitle", lines: ["1", "2", "3", "4"] } }, "overlays[1].content.lines"],
      ];
      for (const [bad, field] of refusals) {
        const refused = graph.updateOverlays([white, bad]);
        await expect(refused).rejects.toThrow(InvalidArgumentError);
        await expect(refused).rejects.toMatchObject({ field });
      }
      refusedBy = graph.status().frame;
      droppedBy = await droppedFrames(registry);
      expect(graph.status().overlaysVisible).toEqual(["card"]);
      // 30 frames on the output after the refusals (frames dropped under load do not count).
      await until(async () => graph.status().frame - refusedBy - ((await droppedFrames(registry)) - droppedBy) >= 30);
    } finally {
      await graph.stop();
    }

    // The card kept its picture (green) on every frame, before and after the refusals; the tag never showed.
    const file = await onlyRecording(out);
    const cardTrack = await colourTrack(file, cardBody);
    expect(cardTrack).toMatch(/^g+$/);
    // (Output frame n is clock frame n plus the frames dropped before it.)
    const framesAfter = cardTrack.length - (refusedBy - droppedBy);
    expect(framesAfter).toBeGreaterThanOrEqual(30);
    expect(await colourTrack(file, tagEdge)).toMatch(/^n+$/);
  });
});

describe("hideOverlay", () => {
  it("hides now: the overlay is gone from the next frame (animation none), the others stay", async () => {
    const out = join(dir, "hide-now");
    let hiddenAfter: number | undefined;
    let unknown: unknown;
    const graph = newGraph("hide-now", {
      output: outputConfig(landscape, [recording()]),
      pace: { renderSeconds: 2 },
      // onEvent runs inside the frame loop: the hide is asked for right after frame 29 went out.
      onEvent: (event) => {
        if (event.type !== "utterance" || event.state !== "ended") return;
        hiddenAfter = event.frame;
        try {
          graph.hideOverlay("no-such-overlay");
        } catch (err) {
          unknown = err;
        }
        graph.hideOverlay("card");
      },
    });
    await graph.scheduleOverlay(card({ animation: "none" }));
    await graph.scheduleOverlay(coupon);
    graph.pushSpeech(silence("u1", 1));
    await graph.start();
    await graph.done;

    expect(hiddenAfter).toBe(29);
    expect(unknown).toBeInstanceOf(InvalidArgumentError);
    expect(unknown).toMatchObject({ field: "overlay.id" });
    expect(graph.status().overlaysVisible).toEqual(["coupon"]);
    const file = await onlyRecording(out);
    expect(await colourTrack(file, cardBody)).toBe("w".repeat(30) + "n".repeat(30));
    expect(await colourTrack(file, couponEnd)).toBe("r".repeat(60));
  });

  it("takes a new overlay for every sentence, as long as the room runs: those shown and gone make room", async () => {
    // Seen from the graph's events, not by polling its status: a subtitle is visible for only a few frames, and a
    // busy machine may not look within them.
    const shown = new Set<string>();
    const gone = new Set<string>();
    const graph = newGraph("many-subtitles", {
      output: outputConfig(landscape, [hls(1)]),
      onEvent: (event) => {
        if (event.type === "overlay") (event.visible ? shown : gone).add(event.overlayId);
      },
    });
    await graph.start();
    try {
      // More sentences than the 32 overlays a room holds at once, each with its own subtitle, shown and hidden.
      for (let i = 0; i < 40; i++) {
        const utteranceId = `u${i}`;
        graph.pushSpeech(silence(utteranceId, 0.2));
        await graph.scheduleOverlay(
          { id: `sub-${i}`, content: { kind: "subtitle", lines: [`第${i}句`] }, animation: "none" },
          { utteranceId, atMs: 0 },
        );
        graph.hideOverlay(`sub-${i}`, { utteranceId, atMs: 150 });
        await until(() => shown.has(`sub-${i}`) && gone.has(`sub-${i}`));
      }
      // The last ones are still known (they can be hidden again, or scheduled again under their ids).
      expect(() => graph.hideOverlay("sub-39")).not.toThrow();
    } finally {
      await graph.stop();
    }
  });

  it("lets go of an overlay whose sentence was cut before it showed: a room cut many times still takes new ones", async () => {
    const graph = newGraph("cut-subtitles", { output: outputConfig(landscape, [hls(1)]) });
    await graph.start();
    try {
      // Each sentence is cut (a viewer's question) before its subtitle's cue: more of them than a room holds at once.
      for (let i = 0; i < 40; i++) {
        const utteranceId = `cut-${i}`;
        graph.pushSpeech(silence(utteranceId, 2));
        await graph.scheduleOverlay(
          { id: `sub-cut-${i}`, content: { kind: "subtitle", lines: [`第${i}句`] }, animation: "none" },
          { utteranceId, atMs: 1_500 },
        );
        expect(graph.interrupt()).toContain(utteranceId);
      }
      // A subtitle cued on a sentence that has already been cut never shows, and takes no room either.
      for (let i = 0; i < 40; i++) {
        await graph.scheduleOverlay(
          { id: `late-${i}`, content: { kind: "subtitle", lines: ["迟到"] }, animation: "none" },
          { utteranceId: "cut-0", atMs: 0 },
        );
      }
      graph.pushSpeech(silence("after", 0.4));
      await graph.scheduleOverlay(
        { id: "sub-after", content: { kind: "subtitle", lines: ["之后"] }, animation: "none" },
        { utteranceId: "after", atMs: 0 },
      );
      await until(() => graph.status().overlaysVisible.includes("sub-after"));
    } finally {
      await graph.stop();
    }
  });

  it("hides at a word's cue: the fade out starts on the word's frame and the overlay is gone 0.3 s later", async () => {
    const out = join(dir, "hide-cue");
    const graph = newGraph("hide-cue", {
      output: outputConfig(landscape, [recording()]),
      pace: { renderSeconds: 2.5 },
    });
    const { text, words } = kettleLine;
    await graph.scheduleOverlay(card()); // fades in over frames 0 to 8
    const cue = cueAtSource("u-hide", words, text.indexOf("¥79"));
    expect(cue).toEqual({ utteranceId: "u-hide", atMs: 1000 });
    // Cued before the utterance's audio has arrived: the cue waits for it.
    graph.hideOverlay("card", cue);
    graph.pushSpeech(silence("u-hide", 1.5));
    await graph.start();
    await graph.done;

    const levels = (await regionMeans(await onlyRecording(out), cardBody)).map(brightness);
    expect(levels).toHaveLength(75);
    // 1000 ms is frame 30: shown in full up to and including it, then fading over frames 31 to 38, gone from 39.
    const shown = levels.slice(fadeFrames, 31);
    expect(Math.min(...shown)).toBeGreaterThan(200);
    const fading = levels.slice(30, 30 + fadeFrames);
    for (let i = 1; i < fading.length; i++) expect(fading[i]!).toBeLessThan(fading[i - 1]! + 4);
    expect(fading.at(-1)!).toBeLessThan(80);
    expect(Math.max(...levels.slice(30 + fadeFrames))).toBeLessThan(20);
    expect(graph.status().overlaysVisible).toEqual([]);
  });

  it("a hide cue ends an overlay shown for a duration early, never late", async () => {
    const out = join(dir, "hide-duration");
    const graph = newGraph("hide-duration", {
      output: outputConfig(landscape, [recording()]),
      pace: { renderSeconds: 2 },
    });
    // Both shown on frame 0 and cued to hide at 1 s (frame 30): the coupon's 0.5 s ends first (frame 15), the
    // tag's 2 s is cut short by the cue.
    await graph.scheduleOverlay({ ...coupon, durationMs: 500 });
    await graph.scheduleOverlay({ ...tag, durationMs: 2000 });
    graph.hideOverlay("coupon", { utteranceId: "u1", atMs: 1000 });
    graph.hideOverlay("tag", { utteranceId: "u1", atMs: 1000 });
    graph.pushSpeech(silence("u1", 1.5));
    await graph.start();
    await graph.done;

    const file = await onlyRecording(out);
    expect(await colourTrack(file, couponEnd)).toBe("r".repeat(15) + "n".repeat(45));
    expect(await colourTrack(file, tagEdge)).toBe("r".repeat(30) + "n".repeat(30));
  });

  // BUG: a hide cued on an utterance that has already played is dropped (MediaClock.cue: `#ended.has(utteranceId)`
  // -> cuesDropped), so the overlay never goes away, although MediaClock.cue promises "at once if that frame has
  // passed". rooms/live-room.ts cues the subtitle's hide this way after speak() returns; a sentence that has finished
  // playing by then leaves its subtitle on screen for good.
  it("hides at once when the cue's utterance has already played", async () => {
    const out = join(dir, "hide-late");
    const graph = newGraph("hide-late", {
      output: outputConfig(landscape, [recording()]),
      pace: { renderSeconds: 2 },
      onEvent: (event) => {
        // u1 played frames 0 to 29; its 500 ms (frame 15) has passed.
        if (event.type === "utterance" && event.state === "ended")
          graph.hideOverlay("card", { utteranceId: "u1", atMs: 500 });
      },
    });
    await graph.scheduleOverlay(card({ animation: "none" }));
    graph.pushSpeech(silence("u1", 1));
    await graph.start();
    await graph.done;
    expect(await colourTrack(await onlyRecording(out), cardBody)).toBe("w".repeat(30) + "n".repeat(30));
  });
});

/** Renders 8 s of HLS, and at 2 s (frame 60) adds a recording to the outputs. */
async function addRecordingAt2s(name: string) {
  const out = join(dir, name);
  let switched: Promise<void> | undefined;
  let switchFrame = 0;
  const graph = newGraph(name, {
    output: outputConfig(landscape, [hls(1)]),
    pace: { renderSeconds: 8 },
    onEvent: (event) => {
      if (event.type !== "utterance" || event.state !== "ended") return;
      switchFrame = event.frame + 1;
      switched = graph.setOutputs(outputConfig(landscape, [hls(1), recording("rec")]));
    },
  });
  graph.pushSpeech(silence("u1", 2));
  await graph.start();
  await graph.done;
  await switched;
  expect(switchFrame).toBe(60);
  return { graph, out, before: await hlsFiles(out, 1), after: await hlsFiles(out, 2) };
}

describe("setOutputs", () => {
  it("adds a recording to a room streaming HLS: the main pipeline is rebuilt, the recording is valid, HLS goes on", async () => {
    const { graph, out, before, after } = await addRecordingAt2s("add-rec");
    expect(graph.recordingDir).toBe(join(out, "rec"));
    const file = await onlyRecording(out, "rec");
    const probe = await probeMedia(file);
    expect(probe.video).toMatchObject({ codec: "h264", width: 640, height: 360, fps: 30 });
    expect(probe.audio).toMatchObject({ codec: "aac", sampleRate: 48_000 });
    expect(Math.abs(probe.audio!.startTime - probe.video!.startTime)).toBeLessThanOrEqual(1 / fps);
    // It starts with the rebuilt pipeline, a few frames after the call at frame 60, and runs to the end (frame 240).
    const recorded = await countFrames(file);
    expect(recorded).toBeGreaterThan(120);
    expect(recorded).toBeLessThanOrEqual(180);
    expect(Math.abs(probe.durationSeconds - recorded / fps)).toBeLessThanOrEqual(2 / fps);

    // HLS went on: the old pipeline's segments up to the switch, the new one's from it (the same frames as the
    // recording), together every frame of the 8 s (an offline render waits for the rebuild).
    const framesBefore = await countFrames({ out, segments: before });
    const framesAfter = await countFrames({ out, segments: after });
    expect(framesBefore).toBeGreaterThanOrEqual(60);
    expect(framesAfter).toBe(recorded);
    expect(framesBefore + framesAfter).toBe(8 * fps);
    // The public playlist serves the new pipeline's segments to the end of the stream.
    const playlist = join(out, "hls", "index.m3u8");
    const listed = (await playlistSegments(playlist)).map((s) => s.file);
    expect(listed.slice(-after.length)).toEqual(after);
    expect(await readFile(playlist, "utf8")).toMatch(/#EXT-X-ENDLIST\s*$/);
  });

  // BUG (race, lost in every run here): the public playlist misses the old pipeline's last segments, i.e. 1 to 2 s
  // of stream, and sometimes the EXT-X-DISCONTINUITY with them. Those segments are closed while the old pipeline
  // drains its end-of-stream, after #restartPipeline has built the next one; by then graph.ts's bus handler drops
  // the old generation's messages (`if (generation !== this.#generation) return;` in #buildPipeline), so
  // HlsPlaylist.update(old generation) is never called for them (stop() only updates the current generation).
  it("HLS through the rebuild: the playlist lists every old segment, then a discontinuity, then the new ones", async () => {
    const { out, before, after } = await addRecordingAt2s("add-rec-playlist");
    const playlist = join(out, "hls", "index.m3u8");
    const lines = (await readFile(playlist, "utf8"))
      .split("\n")
      .filter((line) => line !== "" && !line.startsWith("#EXTINF"));
    const body = lines.slice(lines.findIndex((line) => line.startsWith("segment-")));
    expect(body).toEqual([...before, "#EXT-X-DISCONTINUITY", ...after, "#EXT-X-ENDLIST"]);
    expect(await countFrames(playlist)).toBe(8 * fps);
  });

  // BUG: removing an output does not remove it. setOutputs merges the new config into the old one
  // (`Object.assign(this.config, next)`), and a CompiledOutput without a recording has no `recording` key at all, so
  // the old `recording` (or `hls`) survives; the rebuilt pipeline keeps recording into a second file.
  it("removes the recording from a room streaming HLS and recording: the recording ends, HLS goes on", async () => {
    const out = join(dir, "remove-rec");
    let switched: Promise<void> | undefined;
    const graph = newGraph("remove-rec", {
      output: outputConfig(landscape, [hls(1), recording()]),
      pace: { renderSeconds: 6 },
      onEvent: (event) => {
        if (event.type === "utterance" && event.state === "ended")
          switched = graph.setOutputs(outputConfig(landscape, [hls(1)]));
      },
    });
    graph.pushSpeech(silence("u1", 2));
    await graph.start();
    await graph.done;
    await switched;

    // HLS went on in the rebuilt pipeline.
    expect((await hlsFiles(out, 2)).length).toBeGreaterThanOrEqual(2);
    // One recording, of the stream up to the switch (2 s and the few frames until the rebuild). Today the rebuilt
    // pipeline opens a second file and records to the end.
    const probe = await probeMedia(await onlyRecording(out));
    expect(probe.durationSeconds).toBeLessThan(4);
    expect(graph.config.recording).toBeUndefined();
    expect(graph.recordingDir).toBeUndefined();
  });

  it("refuses an invalid config with InvalidArgumentError naming the field, leaving the running outputs as they are", async () => {
    const out = join(dir, "set-bad");
    const graph = newGraph("set-bad", { output: outputConfig(landscape, [hls(1)]), pace: { renderSeconds: 4 } });
    const before = structuredClone(graph.config);
    await graph.start();
    const bad: [Parameters<RoomMediaGraph["setOutputs"]>[0], string][] = [
      [outputConfig(portrait, [hls(1)]), "output.video"],
      [outputConfig({ ...landscape, fps: 25 }, [hls(1)]), "output.video"],
      [outputConfig(landscape, []), "output.outputs"],
      [outputConfig(landscape, [hls(99)]), "output.outputs[0].hls.segment_duration_s"],
      [outputConfig(landscape, [hls(1), hls(2)]), "output.outputs[1].hls"],
      [outputConfig(landscape, [hls(1), recording("../elsewhere")]), "output.outputs[1].recording.path"],
      [outputConfig(landscape, [hls(1), rtmp("http://cdn.example.com/live")]), "output.outputs[1].rtmp.url"],
    ];
    for (const [config, field] of bad) {
      const refused = graph.setOutputs(config);
      await expect(refused).rejects.toThrow(InvalidArgumentError);
      await expect(refused).rejects.toMatchObject({ field });
      expect(graph.config).toEqual(before);
    }
    expect(graph.status().frame).toBeLessThan(4 * fps); // (refused while the stream ran)
    await graph.done;

    // No rebuild: one HLS generation covers the whole stream, and nothing else was opened.
    expect(await readdir(out)).toEqual(["hls"]);
    expect(await hlsFiles(out, 2)).toEqual([]);
    const listed = await playlistSegments(join(out, "hls", "index.m3u8"));
    expect(listed.map((s) => s.file)).toEqual(await hlsFiles(out, 1));
    expect(Math.abs(listed.reduce((sum, s) => sum + s.seconds, 0) - 4)).toBeLessThanOrEqual(2 / fps);
  });

  it("changes RTMP pushes alone without touching HLS: the new ingest gets the stream, the playlist goes on", async () => {
    await using ingest = await NginxRtmp.start();
    const out = join(dir, "set-rtmp");
    const events: MediaEvent[] = [];
    const keys: Record<string, string> = { "room-key": "stream-1", "room-key-2": "stream-2" };
    const second: Output = { kind: { $case: "rtmp", value: { url: ingest.url, streamKeySecret: "room-key-2" } } };
    await using graph = newGraph("set-rtmp", {
      output: outputConfig(landscape, [hls(1), rtmp(ingest.url)]),
      streamKey: (secret) => keys[secret] ?? "",
      onEvent: (event) => events.push(event),
    });
    await graph.start();
    const recorded = async (key: string) => (await ingest.recordings()).some((f) => f.endsWith(`/${key}.flv`));
    await until(() => recorded("stream-1"));
    await until(() => graph.status().streamSeconds >= 2);
    await graph.setOutputs(outputConfig(landscape, [hls(1), second]));
    // One push now, the new one (labels count outputs: it is "<key 0>" again).
    expect(graph.status().rtmp.map((r) => r.output)).toEqual([`${ingest.url}/<key 0>`]);
    await until(() => recorded("stream-2"));
    await until(() => events.filter((e) => e.type === "rtmp" && e.state === "pushing").length >= 2);
    const switchedAt = graph.status().streamSeconds;
    await until(() => graph.status().streamSeconds >= switchedAt + 2.5);
    await graph.stop();

    const files = await ingest.recordings();
    const stream2 = files.find((f) => f.endsWith("/stream-2.flv"))!;
    const probe = await probeMedia(stream2);
    expect(probe.video).toMatchObject({ codec: "h264", width: 640, height: 360 });
    expect(probe.audio).toMatchObject({ codec: "aac" });
    expect(probe.durationSeconds).toBeGreaterThan(1.5);
    // The first push stopped at the switch: stream-1 holds only what came before it.
    expect((await probeMedia(files.find((f) => f.endsWith("/stream-1.flv"))!)).durationSeconds).toBeLessThan(
      switchedAt + 1,
    );
    // HLS was not rebuilt: one generation, listed in full, covering the whole stream.
    expect(await hlsFiles(out, 2)).toEqual([]);
    const listed = await playlistSegments(join(out, "hls", "index.m3u8"));
    expect(listed.map((s) => s.file)).toEqual(await hlsFiles(out, 1));
    const hlsSeconds = listed.reduce((sum, s) => sum + s.seconds, 0);
    expect(hlsSeconds).toBeGreaterThan(graph.status().streamSeconds - 1.5);
  });

  // BUG: a room made without a streamKey resolver gets a TypeError ("this.#options.streamKey is not a function")
  // when RTMP is added, where the constructor refuses the same config with InvalidArgumentError("streamKey").
  it("refuses to add RTMP to a room that has no stream key resolver, with InvalidArgumentError", async () => {
    const graph = newGraph("set-nokey", { output: outputConfig(landscape, [hls(1)]), pace: { renderSeconds: 1 } });
    await graph.start();
    try {
      await expect(
        graph.setOutputs(outputConfig(landscape, [hls(1), rtmp("rtmp://127.0.0.1:9/live")])),
      ).rejects.toMatchObject({ name: "InvalidArgumentError", field: "streamKey" });
    } finally {
      await graph.done;
    }
  });

  // BUG: start() refuses a stream key that resolves to something unusable in a URL (InvalidArgumentError naming
  // output.outputs.rtmp[i].stream_key_secret); setOutputs takes it as it is, rebuilds the main pipeline for RTMP and
  // starts a push to `${url}/${key}`.
  it("refuses an RTMP output whose stream key resolves to an unusable key, as start() does", async () => {
    const graph = newGraph("set-badkey", {
      output: outputConfig(landscape, [hls(1)]),
      pace: { renderSeconds: 1 },
      streamKey: () => "not a key/../x",
    });
    const before = structuredClone(graph.config);
    await graph.start();
    try {
      await expect(
        graph.setOutputs(outputConfig(landscape, [hls(1), rtmp("rtmp://127.0.0.1:9/live")])),
      ).rejects.toThrow(InvalidArgumentError);
      expect(graph.config).toEqual(before);
    } finally {
      await graph.done;
    }
  });
});
