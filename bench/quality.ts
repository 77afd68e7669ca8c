// `npm run bench -- quality`: the quality gate's calibration as figures. Renders the clean talking clip with the room's
// media graph, degrades it on purpose at graded severities (media/testing/calibration.ts), scores each with the file
// analyzers, and prints per degradation whether its defect was found, what else was, its score and MOS and the parts
// it lost points on; then `quality_rank_correlation`, the mean over the kinds of Spearman's ρ between the MOS and the
// planted severity (clean, light, heavy), with the lowest kind's ρ beside it; and what the live monitor costs per
// 720x1280 frame. Everything is computed by the run.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { QualityMonitor, calibrate, calibrationClip, degradations } from "../media/internal.js";
import type { BenchContext } from "./main.js";

/**
 * Microseconds per frame the live monitor takes on 720x1280 I420 frames with a mouth box and 40 ms of audio. The
 * picture is a texture where every point read is an edge (the blur reads' worst case) and the mouth changes every
 * frame. One frame in 50 also runs the offset estimate (the p99).
 */
export function monitorCost(frames: number): Record<string, number> {
  const [width, height, fps] = [720, 1280, 25];
  const monitor = new QualityMonitor({ width, height, fps });
  const frame = new Uint8Array((width * height * 3) / 2);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) frame[y * width + x] = (x * 13 + y * 7) & 0xff;
  const pcm = new Int16Array(48_000 / fps);
  const mouth = { x: 312, y: 580, width: 96, height: 64 };
  const times: number[] = [];
  for (let i = 0; i < frames; i++) {
    frame[(i * 7919) % (width * height)] = i & 0xff;
    for (let y = mouth.y; y < mouth.y + mouth.height; y++)
      frame.fill(i % 2 ? 60 : 200, y * width + mouth.x, y * width + mouth.x + mouth.width);
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
    log(`rendering the clean talking clip and ${degradations.length} degradations of it`);
    const calibration = await calibrate(dir, { log });
    const rows = calibration.rows.map((r) => {
      const d = degradations.find((x) => x.name === r.name);
      const kind = d && "kind" in d.plants ? d.plants.kind : undefined;
      const planted = d ? (kind ?? `av_offset ${(d.plants as { offsetMs: number }).offsetMs} ms`) : "nothing";
      return {
        name: r.name,
        planted,
        ...(r.rank ? { kind: r.rank.group, severity: r.rank.severity } : {}),
        found: r.found,
        defects_found: r.kinds,
        ...(r.unexpected.length ? { unexpected: r.unexpected } : {}),
        ...(r.measuredOffsetMs === undefined ? {} : { measured_offset_ms: r.measuredOffsetMs }),
        ...(kind ? { found_at_s: r.report.defects.filter((x) => x.kind === kind).map((x) => x.atSeconds) } : {}),
        score: r.score,
        mos: r.mos,
        // The parts it lost points on: measurement and grade.
        parts: Object.fromEntries(
          r.report
            .parts!.filter((p) => p.penalty > 0)
            .map((p) => [p.name, { value: p.value, unit: p.unit, mos: p.mos }]),
        ),
      };
    });
    const { width, height, fps, seconds } = calibrationClip;
    return {
      clip: `${seconds} s ${width}x${height}@${fps}, rendered by RoomMediaGraph (x264 ultrafast), default avatar talking; scored as \`livehost quality\` does (mouth searched for)`,
      clean_offset_ms: calibration.rows[0]!.report.offset?.ms,
      quality_rank_correlation: calibration.rankCorrelation.mean,
      quality_rank_correlation_min: calibration.rankCorrelation.min,
      rank_correlation_by_kind: calibration.rankCorrelation.groups,
      all_found: rows.every((r) => r.found),
      nothing_unexpected: rows.every((r) => !r.unexpected),
      degradations: rows,
      monitor_720x1280: monitorCost(quick ? 250 : 1500),
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
