// The quality gate's one score and its parts: points off per kind of defect (each kind's formula and its cap below),
// the score 100 minus their sum, and the same on the 1-to-5 scale a mean opinion score is read on (ITU-R BT.500's
// impairment grades: 5 imperceptible, 4 perceptible but not annoying, 3 slightly annoying, 2 annoying, 1 very
// annoying). Weights are chosen so that a worse degradation of a kind always scores lower (the calibration checks it,
// media/testing/calibration.ts) and one defect alone can fail the default gate of 70. See media/README.md.
import type { DefectKind, QualityReport } from "./quality.js";
import { blurFloor } from "./quality-blur.js";

/** BT.1359: detectability +45 ms (audio early) / −125 ms (audio late); acceptability +90 / −185 ms. */
export const bt1359 = { detectEarlyMs: 45, detectLateMs: -125, acceptEarlyMs: 90, acceptLateMs: -185 };
/** Loudness target range: EBU R128 broadcast (−23 LUFS) to streaming platforms (−14 LUFS). */
export const loudnessRange = { lowLufs: -24, highLufs: -13 };
/** Speech samples at or above this (−0.45 dBFS; EBU R128 allows −1 dBTP) are taken as clipped ... */
export const clippedSample = Math.round(0.95 * 32767);
/** ... and a stretch of speech clips when this share of its samples are. */
export const clippedShareFloor = 2e-4;
/**
 * Below this peak correlation of mouth and voice (at the best lag) the mouth does not follow the speech. The drawn
 * host reads 0.31 to 0.46 driven by the lip-sync model over six sets of lines (0.74 on the calibration clip, whose
 * mouth follows its loudness exactly); a still mouth reads 0. A mouth moving at random reads 0.17 over 10 s (0.23 at
 * the 90th percentile): this floor finds it about half the time; the measure is for a mouth that does not move.
 */
export const lipSyncFloor = 0.2;

/** The parts a report is judged on; each gathers one or more kinds of defect. */
export type QualityPartName =
  | "av_offset"
  | "lip_sync"
  | "frozen"
  | "duplicated"
  | "black"
  | "blur"
  | "fps"
  | "silence_gap"
  | "loudness"
  | "clipping";

export interface QualityPart {
  name: QualityPartName;
  /** The part's measurement in `unit`; absent where it could not be measured (no speech, no edges). */
  value?: number;
  unit: "ms" | "r" | "s" | "fps" | "frames" | "sharpness" | "LUFS" | "%";
  /** Score points it takes off (capped per kind). */
  penalty: number;
  /** 1 to 5: the MOS the output would get were this its only defect, 5 − 4 × penalty / 100. */
  mos: number;
}

const round = (value: number, digits = 1) => Math.round(value * 10 ** digits) / 10 ** digits;

/** At most this many points per kind. */
const caps: Record<DefectKind, number> = {
  av_offset: 60,
  lip_sync: 60,
  frozen: 80,
  duplicated: 60,
  black: 50,
  blur: 60,
  low_fps: 60,
  missing_frames: 40,
  silence_gap: 40,
  loudness: 50,
  clipping: 60,
};

/** What the points are computed from: a report's figures, before its score. */
export type ScoredFigures = Omit<QualityReport, "penalties" | "score" | "mos" | "parts">;

/**
 * Score points off per kind, capped:
 * - A/V offset beyond BT.1359 detectability: 30 points at the acceptability limit (+90 / −185 ms), linearly from 0
 *   at detectability (+45 / −125 ms); beyond acceptability 0.15 per ms more; at most 60.
 * - Lip sync: 300 per unit of peak correlation (mouth against voice, at the best lag) below 0.2; at most 60 (a mouth
 *   that does not move while the host speaks).
 * - Frozen picture: 2 per % of the stretch frozen, plus 3 per freeze per minute; at most 80.
 * - Duplicated frames: 4 per picture per second short of the frame-rate rule, times the share of the judged motion
 *   that was duplicated; at most 60.
 * - Black frames: 3 per % of frames black, plus 5 per black stretch per minute; at most 50.
 * - Blur: 500 per unit of edge sharpness below its floor (0.37); at most 60.
 * - Frame rate below the rule: 4 per fps missing, at most 60; missing frames 2 per % of frames, at most 40.
 * - Silence gaps in speech: 2 per % of the speech lost to gaps, plus 3 per gap per minute; at most 40.
 * - Loudness outside the target range: 2 per LU off (too quiet or too loud); at most 50.
 * - Clipping: 10 points when 0.02 % of speech samples are at full scale, 10 more each time that share doubles;
 *   at most 60.
 */
export function penaltiesOf(report: ScoredFigures, minFps: number): Partial<Record<DefectKind, number>> {
  const penalties: Partial<Record<DefectKind, number>> = {};
  const minutes = Math.max(report.toSeconds - report.fromSeconds, 1) / 60;
  const count = (kind: DefectKind) => report.defects.filter((d) => d.kind === kind).length;
  const has = (kind: DefectKind) => report.defects.some((d) => d.kind === kind);
  const add = (kind: DefectKind, points: number) => {
    if (points > 0) penalties[kind] = round(Math.min(caps[kind], points));
  };
  const offset = report.offset?.ms;
  if (offset !== undefined) {
    const { detectEarlyMs, detectLateMs, acceptEarlyMs, acceptLateMs } = bt1359;
    const [excess, span] =
      offset > 0
        ? [offset - detectEarlyMs, acceptEarlyMs - detectEarlyMs]
        : [detectLateMs - offset, detectLateMs - acceptLateMs];
    if (excess > 0) add("av_offset", excess <= span ? (30 * excess) / span : 30 + 0.15 * (excess - span));
  }
  const r = report.lipSync?.correlation;
  if (r !== undefined && has("lip_sync")) add("lip_sync", 300 * (lipSyncFloor - r));
  const seconds = Math.max(report.toSeconds - report.fromSeconds, 0.001);
  add("frozen", (200 * report.video.frozenSeconds) / seconds + (3 * count("frozen")) / minutes);
  const dup = report.video.duplicated;
  if (dup && has("duplicated")) add("duplicated", 4 * Math.max(0, minFps - dup.pictureFps) * dup.share);
  const frames = Math.max(report.video.frames, 1);
  add("black", (300 * report.video.blackFrames) / frames + (5 * count("black")) / minutes);
  const sharpness = report.video.sharpness;
  if (sharpness !== undefined && has("blur")) add("blur", 500 * (blurFloor - sharpness));
  const fpsShort = has("low_fps") ? minFps - (report.video.fps ?? minFps) : 0;
  add("low_fps", 4 * Math.max(0, fpsShort));
  add("missing_frames", (200 * report.video.missingFrames) / (frames + report.video.missingFrames));
  const speech = Math.max(report.audio.speechSeconds + report.audio.gapSeconds, 0.001);
  add("silence_gap", (200 * report.audio.gapSeconds) / speech + (3 * count("silence_gap")) / minutes);
  const lufs = report.audio.loudness.integratedLufs;
  if (lufs !== undefined) {
    add("loudness", 2 * Math.max(loudnessRange.lowLufs - lufs, lufs - loudnessRange.highLufs, 0));
  }
  const clipped = report.audio.clippedShare;
  if (clipped !== undefined && clipped >= clippedShareFloor && has("clipping")) {
    add("clipping", 10 * (1 + Math.log2(clipped / clippedShareFloor)));
  }
  return penalties;
}

/** The parts, the kinds each gathers, and its measurement. */
const partSpecs: {
  name: QualityPartName;
  kinds: DefectKind[];
  unit: QualityPart["unit"];
  value: (r: ScoredFigures) => number | undefined;
}[] = [
  { name: "av_offset", kinds: ["av_offset"], unit: "ms", value: (r) => r.offset?.ms },
  { name: "lip_sync", kinds: ["lip_sync"], unit: "r", value: (r) => r.lipSync?.correlation },
  { name: "frozen", kinds: ["frozen"], unit: "s", value: (r) => r.video.frozenSeconds },
  {
    name: "duplicated",
    kinds: ["duplicated"],
    unit: "fps",
    value: (r) => r.video.duplicated?.pictureFps ?? r.video.fps,
  },
  { name: "black", kinds: ["black"], unit: "frames", value: (r) => r.video.blackFrames },
  { name: "blur", kinds: ["blur"], unit: "sharpness", value: (r) => r.video.sharpness },
  { name: "fps", kinds: ["low_fps", "missing_frames"], unit: "fps", value: (r) => r.video.fps },
  { name: "silence_gap", kinds: ["silence_gap"], unit: "s", value: (r) => r.audio.gapSeconds },
  {
    name: "loudness",
    kinds: ["loudness"],
    unit: "LUFS",
    value: (r) => (r.audio.loudness.integratedLufs === undefined ? undefined : round(r.audio.loudness.integratedLufs)),
  },
  {
    name: "clipping",
    kinds: ["clipping"],
    unit: "%",
    value: (r) => (r.audio.clippedShare === undefined ? undefined : round(100 * r.audio.clippedShare, 3)),
  },
];

/** The score, 0 to 100: 100 minus the penalties. */
export function scoreOf(penalties: Partial<Record<DefectKind, number>>): number {
  return round(Math.max(0, 100 - Object.values(penalties).reduce((s, p) => s + p, 0)));
}

/** The score on the 1-to-5 scale: 1 + 4 × score / 100 (the gate's 70 is 3.8; OnboardingService's default 60, 3.4). */
export function mosOf(score: number): number {
  return round(1 + (4 * score) / 100, 2);
}

/**
 * A report's one score and its parts. `mos` is derived from the parts as 5 minus the sum of what each part takes off
 * the top grade (5 − part.mos), at least 1: the same as 1 + 4 × score / 100.
 */
export function qualityScore(report: ScoredFigures & { penalties: Partial<Record<DefectKind, number>> }): {
  score: number;
  mos: number;
  parts: QualityPart[];
} {
  const parts = partSpecs.map(({ name, kinds, unit, value }): QualityPart => {
    const penalty = round(kinds.reduce((s, k) => s + (report.penalties[k] ?? 0), 0));
    const measured = value(report);
    return {
      name,
      ...(measured === undefined ? {} : { value: measured }),
      unit,
      penalty,
      mos: round(Math.max(1, 5 - (4 * penalty) / 100), 2),
    };
  });
  const mos = round(Math.max(1, 5 - parts.reduce((s, p) => s + (5 - p.mos), 0)), 2);
  return { score: scoreOf(report.penalties), mos, parts };
}
