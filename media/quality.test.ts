// The quality gate calibrated on outputs degraded on purpose (media/testing/calibration.ts): the room's own clean
// talking output passes, each planted defect (A/V offsets, blur, freezes, clipped and quiet speech, duplicated frames,
// 15 fps, silence gaps, black frames) is found where it was planted and nothing else is, and within each kind the
// score ranks them light over heavy. Loudness is checked against ffmpeg's ebur128 filter, and the live monitor on
// frames fed as a compose worker would.
import { execFile } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createRegistry } from "../observability/index.js";
import {
  LoudnessMeter,
  QualityAnalyzer,
  QualityMonitor,
  calibrate,
  decodeAudio,
  degradations,
  qualityMetrics,
  spearman,
  type Calibration,
  type QualityReport,
} from "./internal.js";

const exec = promisify(execFile);
let dir: string;
let calibration: Calibration;
const reports = new Map<string, QualityReport>();

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "livehost-quality-"));
  calibration = await calibrate(dir);
  for (const row of calibration.rows) reports.set(row.name, row.report);
}, 180_000);
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const row = (name: string) => calibration.rows.find((r) => r.name === name)!;

describe("quality gate on files", () => {
  it("passes the room's clean output: nothing found, lips and sound within BT.1359, the mouth found", () => {
    const report = reports.get("clean")!;
    expect(report.defects).toEqual([]);
    expect(report.score).toBe(100);
    expect(report.mos).toBe(5);
    expect(report.parts!.every((p) => p.mos === 5)).toBe(true);
    expect(report.video).toMatchObject({ frames: 200, fps: 25, blackFrames: 0, missingFrames: 0 });
    expect(Math.abs(report.offset!.ms)).toBeLessThanOrEqual(20);
    expect(report.lipSync!.correlation).toBeGreaterThan(0.5);
    expect(report.video.sharpness).toBeGreaterThan(0.4);
    expect(report.audio.clippedShare).toBe(0);
    // The pack's mouth box at this size is 156,290 48x32: the cell found lies on it.
    const m = report.mouthFound!;
    expect(m.x + m.width).toBeGreaterThan(156);
    expect(m.x).toBeLessThan(156 + 48);
    expect(m.y + m.height).toBeGreaterThan(290);
    expect(m.y).toBeLessThan(290 + 32);
  });

  const offsets = degradations.flatMap((d) => ("offsetMs" in d.plants ? [[d.name, d.plants.offsetMs] as const] : []));
  const defects = degradations.flatMap((d) => ("kind" in d.plants ? [[d.name, d] as const] : []));
  const local = defects.flatMap(([name, d]) =>
    "atSeconds" in d.plants && d.plants.atSeconds ? [[name, d.plants] as const] : [],
  );
  it.each(offsets)("measures the offset %s plants (relative to the clean output's)", (name, offsetMs) => {
    const report = reports.get(name)!;
    const measured = report.offset!.ms - reports.get("clean")!.offset!.ms;
    expect(Math.abs(measured - offsetMs)).toBeLessThanOrEqual(20);
    // A defect only beyond BT.1359's detectability (+45 ms audio early, -125 ms audio late).
    expect(report.defects.some((x) => x.kind === "av_offset")).toBe(offsetMs > 45 || offsetMs < -125);
    expect(row(name)).toMatchObject({ found: true, unexpected: [] });
  });

  it.each(defects)("finds what %s plants, and nothing else", (name, d) => {
    const report = reports.get(name)!;
    const { kind } = d.plants as { kind: string };
    const found = report.defects.filter((x) => x.kind === kind);
    expect(found.length).toBeGreaterThan(0);
    expect(report.defects.filter((x) => x.kind !== kind && !d.alsoFinds?.includes(x.kind))).toEqual([]);
    // The reasons a person reads name it, and the part it belongs to is graded down.
    expect(found.every((x) => x.why.length > 10)).toBe(true);
    expect(Math.min(...report.parts!.map((p) => p.mos))).toBeLessThan(5);
    expect(report.mos).toBeCloseTo(1 + (4 * report.score) / 100, 1);
    expect(row(name)).toMatchObject({ found: true, unexpected: [] });
  });

  it.each(local)("finds what %s plants where it was planted (within 0.1 s)", (name, { kind, atSeconds }) => {
    const found = reports.get(name)!.defects.filter((x) => x.kind === kind);
    expect(found).toHaveLength(atSeconds!.length);
    expect(Math.max(...found.map((x, i) => Math.abs(x.atSeconds - atSeconds![i]!)))).toBeLessThanOrEqual(0.1);
  });

  it("ranks each kind clean > light > heavy (Spearman 1 within every group), and the gate (70) fails the heavy ones", () => {
    expect(calibration.rankCorrelation.groups).toEqual({
      av_offset: 1,
      blur: 1,
      frozen: 1,
      clipping: 1,
      quiet: 1,
      frame_rate: 1,
    });
    expect(calibration.rankCorrelation).toMatchObject({ mean: 1, min: 1 });
    const score = (name: string) => reports.get(name)!.score;
    expect(score("clean")).toBeGreaterThanOrEqual(score("audio -120 ms"));
    for (const name of ["audio +80 ms", "clipped light", "quiet -12 dB"])
      expect(score(name)).toBeGreaterThanOrEqual(70);
    const heavy = ["audio +200 ms", "audio +400 ms", "blur heavy", "frozen 1 s", "frozen 3 s", "clipped heavy"];
    heavy.push("quiet -24 dB", "15 fps", "12.5 fps duplicated", "silence gaps", "black 0.5 s");
    for (const name of heavy) expect(score(name)).toBeLessThan(70);
  });

  it("measures what each new analyzer is about: sharpness, clipped share, picture rate, quiet speech still heard", () => {
    expect(reports.get("blur heavy")!.video.sharpness).toBeLessThan(reports.get("blur light")!.video.sharpness!);
    expect(reports.get("clipped heavy")!.audio.clippedShare).toBeGreaterThan(
      reports.get("clipped light")!.audio.clippedShare!,
    );
    expect(reports.get("12.5 fps duplicated")!.video.duplicated).toMatchObject({ pictureFps: 12.5 });
    expect(reports.get("15 fps")!.video.duplicated).toBeUndefined();
    // 24 dB down, the speech is still found as speech: the offset is measured, no gaps are made up.
    const quiet = reports.get("quiet -24 dB")!;
    expect(Math.abs(quiet.offset!.ms - reports.get("clean")!.offset!.ms)).toBeLessThanOrEqual(20);
    expect(quiet.audio.loudness.integratedLufs).toBeLessThan(-40);
    expect(quiet.defects.find((x) => x.kind === "loudness")!.why).toMatch(/too quiet/);
  });

  it("measures integrated loudness as ffmpeg's ebur128 does, within 0.5 LU", async () => {
    const { clean } = calibration;
    const meter = new LoudnessMeter();
    meter.push(await decodeAudio(clean, 48_000));
    const { stderr } = await exec("ffmpeg", ["-nostats", "-i", clean, "-af", "ebur128", "-f", "null", "-"]);
    const ffmpeg = Number(/I:\s+(-?[\d.]+) LUFS/.exec(stderr.slice(stderr.lastIndexOf("Summary")))![1]);
    expect(Math.abs(meter.figures().integratedLufs! - ffmpeg)).toBeLessThanOrEqual(0.5);
    expect(Math.abs(reports.get("clean")!.audio.loudness.integratedLufs! - ffmpeg)).toBeLessThanOrEqual(0.5);
  });
});

describe("Spearman's rank correlation", () => {
  it("is 1 for the same order, -1 reversed, and gives ties their mean rank", () => {
    expect(spearman([0, 1, 2, 3], [10, 20, 30, 40])).toBe(1);
    expect(spearman([0, 1, 2], [3, 2, 1])).toBe(-1);
    expect(spearman([0, 1, 2], [1, 2, 2])).toBeCloseTo(0.866, 3);
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

describe("new analyzers, live", () => {
  const [width, height, fps] = [720, 1280, 25];
  const mouth = { x: 312, y: 580, width: 96, height: 64 };
  /** Stripes 16 px wide: crisp steps, or ramps over `ramp` px; the mouth box light or dark. */
  function frame(ramp: number, mouthOpen: boolean): Uint8Array {
    const i420 = new Uint8Array((width * height * 3) / 2);
    const row = new Uint8Array(width);
    for (let x = 0; x < width; x++) {
      const phase = x % 32;
      const up = Math.min(1, phase / Math.max(1, ramp));
      const down = Math.min(1, Math.max(0, (phase - 16) / Math.max(1, ramp)));
      row[x] = ramp === 0 ? (phase < 16 ? 40 : 200) : Math.round(40 + 160 * (up - down));
    }
    for (let y = 0; y < height; y++) i420.set(row, y * width);
    for (let y = mouth.y; y < mouth.y + mouth.height; y++)
      i420.fill(mouthOpen ? 60 : 180, y * width + mouth.x, y * width + mouth.x + mouth.width);
    return i420;
  }
  /** A voiced tone with four syllables a second at `amplitude` (clipped at 16 bits), one frame's worth. */
  function speech(i: number, amplitude: number): Int16Array {
    const pcm = new Int16Array(48_000 / fps);
    for (let s = 0; s < pcm.length; s++) {
      const t = (i * pcm.length + s) / 48_000;
      const v = amplitude * Math.max(0, Math.sin(Math.PI * 4 * t)) * Math.sin(2 * Math.PI * 140 * t);
      pcm[s] = Math.max(-32768, Math.min(32767, Math.round(v)));
    }
    return pcm;
  }

  it("finds a picture gone soft while it stays soft, and says how sharp", () => {
    const monitor = new QualityMonitor({ width, height, fps, windowSeconds: 3 });
    for (let i = 0; i < 100; i++) monitor.push(frame(0, i % 2 === 0), speech(i, 6000), i, mouth);
    const sharp = monitor.snapshot().window;
    expect(sharp.video.sharpness).toBeGreaterThan(0.45);
    expect(sharp.defects.filter((d) => d.kind === "blur")).toEqual([]);
    for (let i = 100; i < 200; i++) monitor.push(frame(8, i % 2 === 0), speech(i, 6000), i, mouth);
    const soft = monitor.snapshot().window;
    expect(soft.video.sharpness).toBeLessThan(0.3);
    expect(soft.defects.map((d) => d.kind)).toContain("blur");
    expect(soft.parts!.find((p) => p.name === "blur")!.mos).toBeLessThan(4);
  });

  it("finds frames repeated at a cadence, not a host's own holds", () => {
    let x = 7;
    const random = () => (x = (x * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const natural = new QualityAnalyzer();
    const doubled = new QualityAnalyzer();
    let open = false;
    let shown = false;
    for (let i = 0; i < 250; i++) {
      if (random() < 0.7) open = !open; // a new mouth shape, or the same one held for a frame more
      if (i % 2 === 0 && random() < 0.85) shown = !shown; // made at 12.5 fps: every other frame a copy
      const feed = (a: QualityAnalyzer, o: boolean) =>
        a.pushVideo({ ptsSeconds: i / fps, luma: frame(0, o), width, height, mouth });
      feed(natural, open);
      feed(doubled, shown);
    }
    expect(natural.finish().defects).toEqual([]);
    const report = doubled.finish();
    expect(report.defects.map((d) => [d.kind, d.value])).toEqual([["duplicated", 12.5]]);
    expect(report.video.duplicated).toMatchObject({ pictureFps: 12.5, share: 1 });
  });

  it("finds speech clipped at full scale, not speech that peaks just under it", () => {
    const run = (amplitude: number) => {
      const analyzer = new QualityAnalyzer();
      for (let i = 0; i < 125; i++) analyzer.pushAudio({ ptsSeconds: i / fps, pcm: speech(i, amplitude) });
      return analyzer.finish();
    };
    const loud = run(30_000);
    expect(loud.audio.clippedShare).toBe(0);
    expect(loud.defects.filter((d) => d.kind === "clipping")).toEqual([]);
    const clipped = run(60_000);
    expect(clipped.audio.clippedShare).toBeGreaterThan(0.1);
    expect(clipped.defects.filter((d) => d.kind === "clipping")).toHaveLength(1);
    expect(clipped.penalties.clipping).toBeGreaterThan(30);
  });
});
