// The quality gate's calibration: a clean talking output rendered by the room's own media graph (8 s of 360x640@25,
// the default avatar speaking with a mouth frame on every frame), and the same output degraded on purpose with
// ffmpeg at graded severities, each degradation with the defect it plants; `calibrate` scores them all and computes
// whether each planted defect was found and how well the scores rank the severities (Spearman within each kind).
// media/quality.test.ts asserts it; bench/quality.ts prints the figures.
import { execFile } from "node:child_process";
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { loadAvatarPack, repoPath } from "../../avatars/index.js";
import { createRegistry } from "../../observability/index.js";
import { RoomMediaGraph } from "../graph.js";
import { bt1359, type DefectKind, type QualityReport } from "../quality.js";
import { scoreMedia } from "../quality-file.js";
import { outputConfig, recording } from "./output.js";
import { talkingLine } from "./talking.js";

const exec = promisify(execFile);
const avatarDir = repoPath("models/avatars/default");

/** The clip's size; the default pack's mouth box (720x1280) at half scale. */
export const calibrationClip = {
  width: 360,
  height: 640,
  fps: 25,
  seconds: 8,
  mouth: { x: 156, y: 290, width: 48, height: 32 },
};

export interface Degradation {
  name: string;
  /** ffmpeg arguments between the input and the output file. */
  args: string[];
  /**
   * What it plants: a defect of this kind (starting near each of `atSeconds`, for a local one; anywhere, for one of
   * the whole clip), or an offset (positive: audio ahead).
   */
  plants: { kind: DefectKind; atSeconds?: number[] } | { offsetMs: number };
  /**
   * Where it sits in the ordering the score is calibrated against: its group (one kind of degradation) and its
   * severity there (1 light, then heavier; the clean clip is 0 in every group). Absent: found, not ranked.
   */
  rank?: { group: string; severity: number };
  /** Other kinds it honestly brings (speech clipped by 18 dB of gain is also too loud). */
  alsoFinds?: DefectKind[];
}

const x264 = ["-c:v", "libx264", "-preset", "ultrafast", "-crf", "20"];
const audioOnly = (filter: string) => ["-c:v", "copy", "-af", filter, "-c:a", "aac"];
const videoOnly = (filter: string) => ["-vf", filter, ...x264, "-c:a", "copy"];
/** Audio ahead by `ms` (its start cut off). */
const audioAhead = (ms: number) => audioOnly(`atrim=start=${ms / 1000},asetpts=PTS-STARTPTS`);
/** Frames `first` to `last` replaced by the first of them. */
const freeze = (first: number, last: number) => [
  ...["-filter_complex", `[0:v]split[a][b];[a][b]freezeframes=first=${first}:last=${last}:replace=${first}[v]`],
  ...["-map", "[v]", "-map", "0:a", ...x264, "-c:a", "copy"],
];
/** Gain, then the samples cut at full scale (16-bit), as an overdriven chain does. */
const overdrive = (db: number) => audioOnly(`volume=${db}dB,aformat=sample_fmts=s16`);

/**
 * Each degradation; the gaps and the freezes sit inside stretches of speech of the clip (its speech is seeded). The
 * clean clip reads −22.4 LUFS with peaks at −6.6 dBFS: 8 dB of gain clips its loudest syllables and stays within the
 * loudness range, 18 dB clips a good part of them and is too loud as well.
 */
export const degradations: Degradation[] = [
  { name: "audio +80 ms", args: audioAhead(80), plants: { offsetMs: 80 }, rank: { group: "av_offset", severity: 1 } },
  { name: "audio -120 ms", args: audioOnly("adelay=120"), plants: { offsetMs: -120 } },
  {
    name: "audio +200 ms",
    args: audioAhead(200),
    plants: { offsetMs: 200 },
    rank: { group: "av_offset", severity: 2 },
  },
  {
    name: "audio +400 ms",
    args: audioAhead(400),
    plants: { offsetMs: 400 },
    rank: { group: "av_offset", severity: 3 },
  },
  {
    name: "blur light",
    args: videoOnly("gblur=sigma=1"),
    plants: { kind: "blur" },
    rank: { group: "blur", severity: 1 },
  },
  {
    name: "blur heavy",
    args: videoOnly("gblur=sigma=3"),
    plants: { kind: "blur" },
    rank: { group: "blur", severity: 2 },
  },
  {
    name: "frozen 1 s",
    args: freeze(75, 100),
    plants: { kind: "frozen", atSeconds: [3.0] },
    rank: { group: "frozen", severity: 1 },
  },
  {
    name: "frozen 3 s",
    args: freeze(75, 150),
    plants: { kind: "frozen", atSeconds: [3.0] },
    rank: { group: "frozen", severity: 2 },
  },
  {
    name: "clipped light",
    args: overdrive(8),
    plants: { kind: "clipping" },
    rank: { group: "clipping", severity: 1 },
  },
  {
    name: "clipped heavy",
    args: overdrive(18),
    plants: { kind: "clipping" },
    rank: { group: "clipping", severity: 2 },
    alsoFinds: ["loudness"],
  },
  {
    name: "quiet -12 dB",
    args: audioOnly("volume=-12dB"),
    plants: { kind: "loudness" },
    rank: { group: "quiet", severity: 1 },
  },
  {
    name: "quiet -24 dB",
    args: audioOnly("volume=-24dB"),
    plants: { kind: "loudness" },
    rank: { group: "quiet", severity: 2 },
  },
  {
    name: "15 fps",
    args: videoOnly("fps=15"),
    plants: { kind: "low_fps" },
    rank: { group: "frame_rate", severity: 1 },
  },
  {
    name: "12.5 fps duplicated",
    args: videoOnly("fps=12.5,fps=25"),
    plants: { kind: "duplicated" },
    rank: { group: "frame_rate", severity: 2 },
  },
  {
    name: "silence gaps",
    args: audioOnly("volume=enable='between(t,1.15,1.45)+between(t,7.05,7.3)':volume=0"),
    plants: { kind: "silence_gap", atSeconds: [1.15, 7.05] },
  },
  {
    name: "black 0.5 s",
    args: videoOnly("drawbox=x=0:y=0:w=iw:h=ih:color=black:t=fill:enable='between(t,4,4.5)'"),
    plants: { kind: "black", atSeconds: [4.0] },
  },
];

/** Renders the clean clip into `dir` with the room's media graph; returns the MP4's path. */
export async function renderTalkingClip(dir: string): Promise<string> {
  const { width, height, fps, seconds } = calibrationClip;
  const pack = await loadAvatarPack(avatarDir);
  const graph = new RoomMediaGraph({
    roomId: "quality-calibration",
    output: outputConfig({ widthPx: width, heightPx: height, fps, bitrateKbps: 800 }, [recording()]),
    avatarDir,
    outputDir: dir,
    registry: createRegistry(),
    x264Preset: "ultrafast",
    pace: { renderSeconds: seconds },
  });
  const line = talkingLine(pack, { utteranceId: "u", seconds: seconds - 0.4, fps, seed: 1 });
  graph.pushSpeech(line.speech);
  for (const frame of line.frames) graph.pushMouthFrame(frame);
  await graph.start();
  await graph.done;
  const [file] = await readdir(join(dir, "recordings"));
  return join(dir, "recordings", file!);
}

/** Writes `clean` degraded as `degradation` says into `out`. */
export async function degrade(clean: string, degradation: Degradation, out: string): Promise<void> {
  await exec("ffmpeg", ["-v", "error", "-y", "-i", clean, ...degradation.args, out], { timeout: 120_000 });
}

export interface CalibrationRow {
  /** "clean", or the degradation's name. */
  name: string;
  rank?: Degradation["rank"];
  /** The planted defect was found (for an offset: measured within 20 ms of the one planted, relative to the clean
   * clip's, and flagged exactly when beyond BT.1359's detectability), where it was planted (within 0.1 s). */
  found: boolean;
  /** Kinds of defect found. */
  kinds: DefectKind[];
  /** Kinds found that it does not plant nor bring (see Degradation.alsoFinds). */
  unexpected: DefectKind[];
  /** For an offset: what was measured, relative to the clean clip's. */
  measuredOffsetMs?: number;
  score: number;
  mos: number;
  report: QualityReport;
}

export interface Calibration {
  /** The clean clip (in the directory given). */
  clean: string;
  rows: CalibrationRow[];
  /**
   * Spearman's ρ between the MOS and the planted severity (clean 0, then 1, 2, 3: lighter to heavier), within each
   * rank group; higher severity should score lower, so a perfect ordering is 1. `mean` and `min` over the groups.
   * No cross-kind ordering is claimed: how a 200 ms offset compares with a 3 s freeze is a matter of taste the
   * weights (quality-score.ts) state, not something this clip can check.
   */
  rankCorrelation: { mean: number; min: number; groups: Record<string, number> };
}

/** Ranks of `values` from 1, ties given their mean rank. */
function ranks(values: number[]): number[] {
  const order = values.map((_, i) => i).sort((a, b) => values[a]! - values[b]!);
  const out = new Array<number>(values.length);
  for (let i = 0; i < order.length;) {
    let j = i;
    while (j + 1 < order.length && values[order[j + 1]!] === values[order[i]!]) j++;
    for (let k = i; k <= j; k++) out[order[k]!] = (i + j) / 2 + 1;
    i = j + 1;
  }
  return out;
}

/** Spearman's ρ: Pearson's r of the ranks (0 when either side has no spread). */
export function spearman(x: number[], y: number[]): number {
  const [rx, ry] = [ranks(x), ranks(y)];
  const mean = (v: number[]) => v.reduce((s, a) => s + a, 0) / v.length;
  const [mx, my] = [mean(rx), mean(ry)];
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  for (let i = 0; i < rx.length; i++) {
    sxy += (rx[i]! - mx) * (ry[i]! - my);
    sxx += (rx[i]! - mx) ** 2;
    syy += (ry[i]! - my) ** 2;
  }
  return sxx > 0 && syy > 0 ? sxy / Math.sqrt(sxx * syy) : 0;
}

function judge(d: Degradation, report: QualityReport, cleanOffsetMs: number): Omit<CalibrationRow, "name" | "report"> {
  const kinds = [...new Set(report.defects.map((x) => x.kind))];
  const row = { kinds, score: report.score, mos: report.mos!, ...(d.rank ? { rank: d.rank } : {}) };
  if ("offsetMs" in d.plants) {
    const planted = d.plants.offsetMs;
    const measured = report.offset === undefined ? undefined : report.offset.ms - cleanOffsetMs;
    const beyond = planted > bt1359.detectEarlyMs || planted < bt1359.detectLateMs;
    const flagged = kinds.includes("av_offset");
    return {
      ...row,
      found: measured !== undefined && Math.abs(measured - planted) <= 20 && flagged === beyond,
      unexpected: kinds.filter((k) => k !== "av_offset" && !d.alsoFinds?.includes(k)),
      ...(measured === undefined ? {} : { measuredOffsetMs: measured }),
    };
  }
  const { kind, atSeconds } = d.plants;
  const found = report.defects.filter((x) => x.kind === kind).map((x) => x.atSeconds);
  return {
    ...row,
    found: atSeconds
      ? found.length === atSeconds.length && found.every((at, i) => Math.abs(at - atSeconds[i]!) <= 0.1)
      : found.length > 0,
    unexpected: kinds.filter((k) => k !== kind && !d.alsoFinds?.includes(k)),
  };
}

/**
 * The calibration, computed: renders the clean clip into `dir`, makes every degradation of it, scores each file as
 * `livehost quality` does (scoreMedia, the mouth searched for), and judges what was found and how the scores rank.
 */
export async function calibrate(dir: string, options: { log?: (line: string) => void } = {}): Promise<Calibration> {
  const clean = await renderTalkingClip(dir);
  await Promise.all(degradations.map((d, i) => degrade(clean, d, join(dir, `degraded-${i}.mp4`))));
  // Scored one after the other: each decode already uses a few threads.
  const cleanReport = await scoreMedia(clean);
  const cleanOffsetMs = cleanReport.offset?.ms ?? 0;
  const rows: CalibrationRow[] = [
    {
      name: "clean",
      found: true,
      kinds: [...new Set(cleanReport.defects.map((x) => x.kind))],
      unexpected: [...new Set(cleanReport.defects.map((x) => x.kind))],
      score: cleanReport.score,
      mos: cleanReport.mos!,
      report: cleanReport,
    },
  ];
  for (const [i, d] of degradations.entries()) {
    options.log?.(`scoring ${d.name}`);
    const report = await scoreMedia(join(dir, `degraded-${i}.mp4`));
    rows.push({ name: d.name, ...judge(d, report, cleanOffsetMs), report });
  }
  const groups: Record<string, number> = {};
  for (const group of [...new Set(degradations.flatMap((d) => (d.rank ? [d.rank.group] : [])))]) {
    const members = rows.filter((r) => r.name === "clean" || r.rank?.group === group);
    groups[group] = round3(
      spearman(
        members.map((r) => r.rank?.severity ?? 0),
        members.map((r) => -r.mos),
      ),
    );
  }
  const values = Object.values(groups);
  return {
    clean,
    rows,
    rankCorrelation: {
      mean: round3(values.reduce((s, v) => s + v, 0) / values.length),
      min: Math.min(...values),
      groups,
    },
  };
}

const round3 = (value: number) => Math.round(value * 1000) / 1000;
