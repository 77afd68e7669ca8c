// The quality gate calibrated on outputs degraded on purpose: the room's own clean talking output passes, each
// planted defect (A/V offsets, a freeze, silence gaps, black frames, 15 fps) is found where it was planted, and the
// scores rank the degradations as BT.1359 and the frame-rate rule say they should. Loudness is checked against
// ffmpeg's ebur128 filter, and the live monitor on frames fed as a compose worker would.
import { execFile } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createRegistry } from "../observability/index.js";
import {
  LoudnessMeter,
  QualityMonitor,
  decodeAudio,
  degradations,
  degrade,
  qualityMetrics,
  renderTalkingClip,
  scoreMedia,
  type QualityReport,
} from "./internal.js";

const exec = promisify(execFile);
let dir: string;
let clean: string;
const reports = new Map<string, QualityReport>();

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "livehost-quality-"));
  clean = await renderTalkingClip(dir);
  await Promise.all(degradations.map((d, i) => degrade(clean, d, join(dir, `degraded-${i}.mp4`))));
  // Scored one after the other: each decode already uses a few threads.
  reports.set("clean", await scoreMedia(clean));
  for (const [i, d] of degradations.entries()) reports.set(d.name, await scoreMedia(join(dir, `degraded-${i}.mp4`)));
}, 120_000);
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("quality gate on files", () => {
  it("passes the room's clean output: nothing found, lips and sound within BT.1359, the mouth found", () => {
    const report = reports.get("clean")!;
    expect(report.defects).toEqual([]);
    expect(report.score).toBe(100);
    expect(report.video).toMatchObject({ frames: 200, fps: 25, blackFrames: 0, missingFrames: 0 });
    expect(Math.abs(report.offset!.ms)).toBeLessThanOrEqual(20);
    // The pack's mouth box at this size is 156,290 48x32: the cell found lies on it.
    const m = report.mouthFound!;
    expect(m.x + m.width).toBeGreaterThan(156);
    expect(m.x).toBeLessThan(156 + 48);
    expect(m.y + m.height).toBeGreaterThan(290);
    expect(m.y).toBeLessThan(290 + 32);
  });

  const offsets = degradations.flatMap((d) => ("offsetMs" in d.plants ? [[d.name, d.plants.offsetMs] as const] : []));
  const defects = degradations.flatMap((d) => ("kind" in d.plants ? [[d.name, d.plants] as const] : []));

  it.each(offsets)("measures the offset %s plants (relative to the clean output's)", (name, offsetMs) => {
    const report = reports.get(name)!;
    const measured = report.offset!.ms - reports.get("clean")!.offset!.ms;
    expect(Math.abs(measured - offsetMs)).toBeLessThanOrEqual(20);
    // A defect only beyond BT.1359's detectability (+45 ms audio early, -125 ms audio late).
    expect(report.defects.some((x) => x.kind === "av_offset")).toBe(offsetMs > 45 || offsetMs < -125);
  });

  it.each(defects)("finds what %s plants, where it was planted, and nothing else", (name, { kind, atSeconds }) => {
    const report = reports.get(name)!;
    const found = report.defects.filter((x) => x.kind === kind).map((x) => x.atSeconds);
    expect(found).toHaveLength(atSeconds.length);
    expect(Math.max(...found.map((at, i) => Math.abs(at - atSeconds[i]!)))).toBeLessThanOrEqual(0.1);
    expect(report.defects.filter((x) => x.kind !== kind)).toEqual([]);
    expect(report.score).toBeLessThan(70);
  });

  it("ranks them: clean ≥ −120 ms (not detectable) > +80 ms > +200 ms, and every other defect below clean", () => {
    const score = (name: string) => reports.get(name)!.score;
    expect(score("clean")).toBeGreaterThanOrEqual(score("audio -120 ms"));
    expect(score("audio -120 ms")).toBeGreaterThan(score("audio +80 ms"));
    expect(score("audio +80 ms")).toBeGreaterThan(score("audio +200 ms"));
    for (const name of ["frozen 1 s", "silence gaps", "black 0.5 s", "15 fps"]) expect(score(name)).toBeLessThan(70);
  });

  it("measures integrated loudness as ffmpeg's ebur128 does, within 0.5 LU", async () => {
    const meter = new LoudnessMeter();
    meter.push(await decodeAudio(clean, 48_000));
    const { stderr } = await exec("ffmpeg", ["-nostats", "-i", clean, "-af", "ebur128", "-f", "null", "-"]);
    const ffmpeg = Number(/I:\s+(-?[\d.]+) LUFS/.exec(stderr.slice(stderr.lastIndexOf("Summary")))![1]);
    expect(Math.abs(meter.figures().integratedLufs! - ffmpeg)).toBeLessThanOrEqual(0.5);
    expect(Math.abs(reports.get("clean")!.audio.loudness.integratedLufs! - ffmpeg)).toBeLessThanOrEqual(0.5);
  });
});

describe("quality monitor", () => {
  it("finds black and missing frames in what a compose worker pushes, and exports them by room", async () => {
    const [width, height, fps] = [720, 1280, 25];
    const monitor = new QualityMonitor({ width, height, fps, windowSeconds: 10 });
    const mouth = { x: 312, y: 580, width: 96, height: 64 };
    const frame = new Uint8Array((width * height * 3) / 2);
    for (let i = 0; i < 250; i++) {
      if (i >= 100 && i < 103) continue; // three frames never reach the encoder
      frame.fill(i >= 150 && i < 160 ? 16 : 120, 0, width * height); // ten black frames at 6 s
      for (let y = mouth.y; y < mouth.y + mouth.height; y++)
        frame.fill(i % 2 ? 60 : 200, y * width + mouth.x, y * width + mouth.x + mouth.width);
      monitor.push(frame, new Int16Array(48_000 / fps), i, mouth);
    }
    const { window, total } = monitor.snapshot();
    expect(total.video).toMatchObject({ blackFrames: 10, missingFrames: 3 });
    expect(total.video.fps).toBeCloseTo(24.7, 1); // frames that reached the encoder, per second
    expect(total.defects.map((d) => [d.kind, d.atSeconds])).toEqual([
      ["missing_frames", 4],
      ["black", 6],
    ]);
    expect(window.fromSeconds).toBeCloseTo(0, 0);
    expect(window.score).toBeLessThan(100);

    const registry = createRegistry();
    const metrics = qualityMetrics(registry);
    metrics.update("r1", { window, total });
    const text = await registry.metrics();
    expect(text).toMatch(/livehost_quality_black_frames_total\{room="r1"\} 10/);
    expect(text).toMatch(/livehost_quality_missing_frames_total\{room="r1"\} 3/);
    expect(text).toMatch(/livehost_quality_fps\{room="r1"\} 24\.7/);
    metrics.remove("r1");
    expect(await registry.metrics()).not.toMatch(/room="r1"/);
  });
});
