// `npm run bench -- quality`: the quality gate's calibration as figures. Renders the clean talking clip with the room's
// media graph, degrades it on purpose (media/testing/calibration.ts), scores each with the file analyzers and prints
// per degradation whether its defect was found, the offset measured against the one planted, and the score; then
// whether the scores rank as they should, and what the live monitor costs per 720x1280 frame.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  QualityMonitor,
  degradations,
  degrade,
  renderTalkingClip,
  scoreMedia,
  type QualityReport,
} from "../media/internal.js";
import type { BenchContext } from "./main.js";

/**
 * Microseconds per frame the live monitor takes on 720x1280 I420 frames with a mouth box and 40 ms of audio. One frame
 * in 50 also runs the offset estimate (the p99).
 */
function monitorCost(frames: number): Record<string, number> {
  const [width, height, fps] = [720, 1280, 25];
  const monitor = new QualityMonitor({ width, height, fps });
  const frame = new Uint8Array((width * height * 3) / 2);
  const pcm = new Int16Array(48_000 / fps);
  const mouth = { x: 312, y: 580, width: 96, height: 64 };
  const times: number[] = [];
  for (let i = 0; i < frames; i++) {
    frame[(i * 7919) % (width * height)] = i & 0xff;
    for (let s = 0; s < pcm.length; s++) pcm[s] = Math.round(8000 * Math.sin((i * pcm.length + s) / 20));
    const started = performance.now();
    monitor.push(frame, pcm, i, mouth);
    times.push((performance.now() - started) * 1000);
  }
  times.sort((a, b) => a - b);
  return {
    us_per_frame_mean: Math.round(times.reduce((s, t) => s + t, 0) / times.length),
    us_per_frame_p50: Math.round(times[Math.floor(times.length / 2)]!),
    us_per_frame_p99: Math.round(times[Math.floor(times.length * 0.99)]!),
  };
}

export async function run({ log, quick }: BenchContext): Promise<Record<string, unknown>> {
  const dir = await mkdtemp(join(tmpdir(), "livehost-bench-quality-"));
  try {
    log("rendering the clean talking clip");
    const clean = await renderTalkingClip(dir);
    await Promise.all(degradations.map((d, i) => degrade(clean, d, join(dir, `degraded-${i}.mp4`))));
    const cleanReport = await scoreMedia(clean);
    const cleanOffset = cleanReport.offset?.ms ?? 0;
    const rows: Record<string, unknown>[] = [
      { name: "clean", passed_defects: 0, found: cleanReport.defects.map((d) => d.kind), score: cleanReport.score },
    ];
    const scores = new Map<string, number>([["clean", cleanReport.score]]);
    for (const [i, d] of degradations.entries()) {
      log(`scoring ${d.name}`);
      const report: QualityReport = await scoreMedia(join(dir, `degraded-${i}.mp4`));
      scores.set(d.name, report.score);
      const row: Record<string, unknown> = { name: d.name, score: report.score };
      if ("offsetMs" in d.plants) {
        const measured = (report.offset?.ms ?? Number.NaN) - cleanOffset;
        row.planted_offset_ms = d.plants.offsetMs;
        row.measured_offset_ms = measured;
        row.detected = Math.abs(measured - d.plants.offsetMs) <= 20;
        row.flagged_beyond_bt1359 = report.defects.some((x) => x.kind === "av_offset");
      } else {
        const { kind, atSeconds } = d.plants;
        const found = report.defects.filter((x) => x.kind === kind).map((x) => x.atSeconds);
        row.planted_at_s = atSeconds;
        row.found_at_s = found;
        row.detected = found.length === atSeconds.length && found.every((at, k) => Math.abs(at - atSeconds[k]!) <= 0.1);
      }
      rows.push(row);
    }
    const s = (name: string) => scores.get(name)!;
    const ranking = {
      "clean >= -120ms": s("clean") >= s("audio -120 ms"),
      "-120ms > +80ms": s("audio -120 ms") > s("audio +80 ms"),
      "+80ms > +200ms": s("audio +80 ms") > s("audio +200 ms"),
      "frozen, gaps, black, 15fps < clean": ["frozen 1 s", "silence gaps", "black 0.5 s", "15 fps"].every(
        (n) => s(n) < s("clean"),
      ),
    };
    return {
      clip: "8 s 360x640@25, rendered by RoomMediaGraph (x264 ultrafast), default avatar talking",
      clean_offset_ms: cleanOffset,
      degradations: rows,
      all_detected: rows.slice(1).every((r) => r.detected === true),
      ranking_holds: Object.values(ranking).every(Boolean),
      ranking,
      monitor_720x1280: monitorCost(quick ? 250 : 1500),
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
