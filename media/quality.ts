// The quality gate's analyzers: a room's output judged from its own pictures and sound, streaming and bounded, fed
// frame by frame (a luma plane and the mouth box) and block by block (48 kHz mono S16), by the live monitor
// (quality-monitor.ts) or a decoded file (quality-file.ts). Finds frozen, duplicated, black and missing frames, blur,
// a low frame rate, silence gaps inside speech, clipped speech, loudness off target, the audio–video offset and a
// mouth that does not follow the voice, and scores them (quality-score.ts: 0 to 100, and 1 to 5 with its parts).
// Thresholds and weights are stated where they are defined and in media/README.md ("Quality gate").
import { InvalidArgumentError } from "../errors/index.js";
import { blurFloor, edgeEnergy, minEdgePoints } from "./quality-blur.js";
import { DuplicateCadence, type CadenceVerdict } from "./quality-cadence.js";
import { LoudnessMeter, type LoudnessFigures } from "./quality-loudness.js";
import { estimateOffsets, type OffsetEstimate } from "./quality-offset.js";
import {
  bt1359,
  clippedSample,
  clippedShareFloor,
  lipSyncFloor,
  loudnessRange,
  penaltiesOf,
  qualityScore,
  type QualityPart,
} from "./quality-score.js";

export { bt1359, loudnessRange } from "./quality-score.js";

export interface Rect {
  x: number;
  y: number;
  width: number;
  height: number;
}

/** One video frame: its luma (the Y plane of I420, or gray) of any size, and where the mouth is on it. */
export interface LumaFrame {
  ptsSeconds: number;
  luma: Uint8Array;
  width: number;
  height: number;
  /** Bytes per row; default `width`. */
  stride?: number;
  /** The mouth box in this plane's pixels. */
  mouth?: Rect;
}

/** Audio: 48 kHz mono S16, `ptsSeconds` the time of its first sample. */
export interface PcmBlock {
  ptsSeconds: number;
  pcm: Int16Array;
}

export type DefectKind =
  | "av_offset"
  | "lip_sync"
  | "low_fps"
  | "missing_frames"
  | "frozen"
  | "duplicated"
  | "black"
  | "blur"
  | "silence_gap"
  | "loudness"
  | "clipping";

export interface QualityDefect {
  kind: DefectKind;
  /** Where it starts, in s on the stream's timeline. */
  atSeconds: number;
  /** How long it lasts, in s (0 for a figure of the whole stretch, like the offset). */
  seconds: number;
  /**
   * How much: ms of offset, fps (low_fps; duplicated: distinct pictures per second), frames missing, LUFS, edge
   * sharpness (blur), % of speech samples clipped, the peak correlation (lip_sync); absent where the duration says it.
   */
  value?: number;
  /** For a person: what was found and why it matters. */
  why: string;
}

export interface QualityReport {
  /** The stretch judged, in s on the stream's timeline. */
  fromSeconds: number;
  toSeconds: number;
  /** 0 (unwatchable) to 100 (nothing found): 100 minus the penalties below. */
  score: number;
  /** Score points taken off per kind of defect. */
  penalties: Partial<Record<DefectKind, number>>;
  /** The score on the 1-to-5 scale of a mean opinion score, 1 + 4 × score / 100 (quality-score.ts). */
  mos?: number;
  /** What the score is made of: each part's measurement, the points it takes off, and its own 1-to-5 grade. */
  parts?: QualityPart[];
  video: {
    frames: number;
    /** Frames per second from the timestamps. */
    fps: number | undefined;
    blackFrames: number;
    frozenSeconds: number;
    missingFrames: number;
    /**
     * Edge sharpness (quality-blur.ts): 1/2 for crisp step edges, 1/4 for wide ramps; blurred below 0.37. Absent
     * without enough edges.
     */
    sharpness?: number;
    /** Frames repeated at a regular cadence: for how long, at how many distinct pictures per second, and the share of
     * the motion judged that was duplicated. Absent when none was found. */
    duplicated?: { seconds: number; pictureFps: number; share: number };
  };
  audio: {
    seconds: number;
    speechSeconds: number;
    /** Silence gaps inside speech: how many, and their seconds. */
    gaps: number;
    gapSeconds: number;
    loudness: LoudnessFigures;
    /** Share of the speech samples at full scale (≥ 95 %, −0.45 dBFS). Absent without speech. */
    clippedShare?: number;
  };
  /** Positive: audio ahead of video. Absent without enough speech and mouth movement to tell. */
  offset?: { ms: number; confidence: number; estimates: number };
  /**
   * How well the mouth follows the voice: the median over the offset windows of the peak |r| between the mouth's
   * brightness and the speech energy, at the best lag (0: the mouth does not move or moves at random). Absent without
   * a stretch of speech to judge.
   */
  lipSync?: { correlation: number; windows: number };
  /** Where the mouth was taken to be when it was estimated, not given (the plane's pixels; scoreMedia: the input's). */
  mouthFound?: Rect;
  defects: QualityDefect[];
}

export interface QualityOptions {
  /** A picture unchanged this long is frozen whatever plays (default 5 s: longer than a pack's idle stillness). */
  stillSeconds?: number;
  /** A picture unchanged this long while speech plays is frozen (default 0.4 s: ten frames at 25 fps). */
  frozenSpeechSeconds?: number;
  /** Below this the output fails the frame-rate rule (default 25). */
  minFps?: number;
  /** Seconds of speech per offset estimate (default 8), one every `offsetHopSeconds` (default 2). */
  offsetWindowSeconds?: number;
  offsetHopSeconds?: number;
  /** How far back windowed reports can look (default 60 s); memory is bounded by it. */
  historySeconds?: number;
  /** No mouth box given: try every cell of a 12x24 grid and keep the one that follows speech best. */
  findMouth?: boolean;
}

interface CompiledOptions {
  stillSeconds: number;
  frozenSpeechSeconds: number;
  minFps: number;
  offsetWindowSeconds: number;
  offsetHopSeconds: number;
  historySeconds: number;
  findMouth: boolean;
}

function compileOptions(options: QualityOptions): CompiledOptions {
  const compiled = {
    stillSeconds: options.stillSeconds ?? 5,
    frozenSpeechSeconds: options.frozenSpeechSeconds ?? 0.4,
    minFps: options.minFps ?? 25,
    offsetWindowSeconds: options.offsetWindowSeconds ?? 8,
    offsetHopSeconds: options.offsetHopSeconds ?? 2,
    historySeconds: options.historySeconds ?? 60,
    findMouth: options.findMouth ?? false,
  };
  for (const [field, value] of Object.entries(compiled)) {
    if (typeof value === "number" && !(value > 0 && Number.isFinite(value)))
      throw new InvalidArgumentError(field, `${field} must be a positive number, not ${value}`);
  }
  if (compiled.offsetWindowSeconds < 2) throw new InvalidArgumentError("offsetWindowSeconds", "at least 2 s");
  return compiled;
}

// Thresholds. Luma is video range (16 black, 235 white).
/** A pixel is dark below this: ffmpeg blackdetect's pix_th 0.10 of the video range above 16. */
const darkLuma = 38;
/** A frame is black when this share of its pixels is dark (blackdetect's picture_black_ratio_th). */
const blackShare = 0.98;
/** A pixel changed when it moved more than this (above coding noise); a picture changed when this share did. */
const changedLuma = 10;
const frameChangedShare = 0.0005;
const mouthChangedShare = 0.02;
/**
 * Speech: 10 ms of sound above −40 dBFS; silence below −55 dBFS. Quieter speech is still speech: where the stream's
 * level (the 90th percentile of its 10 ms windows above −70 dBFS, normally −16 dBFS or more) is lower, both follow it
 * down (level − 24 and level − 39 dB, at most to −60 and −75 dBFS), so a quiet host is found quiet, not full of gaps.
 */
const speechDb = -40;
const silenceDb = -55;
const levelFloorDb = -70;
/** A silence gap: 200 ms to 1.5 s of silence, cut off (not trailing off), with speech on both sides. */
const gapMin = 20;
const gapMax = 150;
/**
 * Speech that stops dead, where a speaker's pause trails off: the last 20 ms before the silence are within this many
 * dB of the loudest 10 ms of the 100 ms before them (a syllable cut, not one that had decayed).
 */
const cutWithinDb = 10;
/** An estimate counts when its correlation peak reaches this |r|. */
const minCorrelation = 0.3;
/** Blur is judged on the last 2 s of frames, every second. */
const blurSpan = 2;
/** Clipping is judged per second of audio (100 windows of 10 ms). */
const clipWindows = 100;

const gridCols = 12;
const gridRows = 24;

interface FrameRecord {
  t: number;
  black: boolean;
  mouth: number;
  cells?: Float32Array;
  /** Edge energy read for blur (quality-blur.ts); 0 on black frames. */
  fine: number;
  coarse: number;
  edges: number;
}

/** A stretch found bad that may still go on (blur, duplicated frames, clipping): reported as it stands until it ends. */
interface OpenStretch {
  from: number;
  to: number;
  /** The stretch's figure so far (duplicated: the lowest picture rate). */
  value: number;
}

interface StillRun {
  from: number;
  to: number;
}

interface GapCandidate {
  from: number;
  length: number;
  /** Speech windows seen after it; judged once 30 windows have passed. */
  after: number;
  seen: number;
}

interface TimedEstimate extends OffsetEstimate {
  at: number;
}

/** Median of `values` weighted by `weights`. */
function weightedMedian(values: number[], weights: number[]): number {
  const order = values.map((_, i) => i).sort((a, b) => values[a]! - values[b]!);
  const half = weights.reduce((s, w) => s + w, 0) / 2;
  let acc = 0;
  for (const i of order) {
    acc += weights[i]!;
    if (acc >= half) return values[i]!;
  }
  return values[order.at(-1)!]!;
}

const round = (value: number, digits = 1) => Math.round(value * 10 ** digits) / 10 ** digits;

/**
 * Streaming analyzers over one stream. Push frames and audio in time order (each stream on its own; they may run
 * ahead of each other by up to `historySeconds`), read `report()` whenever, and `finish()` at the end of a file.
 */
export class QualityAnalyzer {
  readonly #options: CompiledOptions;
  // Video.
  // The sampled grid of the last frame and the one being read (swapped each frame), and the same for the mouth.
  #prev?: Uint8Array;
  #spare?: Uint8Array;
  #prevMouth = new Uint8Array(0);
  #nextMouth = new Uint8Array(0);
  #prevMouthKey = "";
  #frames: FrameRecord[] = [];
  #frameCount = 0;
  #firstPts?: number;
  #lastPts?: number;
  #deltas: number[] = [];
  #interval?: number;
  #blackSince?: number;
  #blackFrames: number[] = []; // pts of black frames, trimmed to the history
  #blackTotal = 0;
  #stillSince?: number;
  #pendingStill: StillRun[] = [];
  #missingTotal = 0;
  #frozenTotal = 0;
  // Blur: edge energy since the start, and the blurred stretch going on.
  #edgeTotals = { fine: 0, coarse: 0, edges: 0 };
  #nextBlurAt?: number;
  #blur?: OpenStretch;
  // Duplicated frames: verdicts every second (trimmed to the history), and the duplicated stretch going on.
  #cadence = new DuplicateCadence();
  #verdicts: CadenceVerdict[] = [];
  #duplicated?: OpenStretch;
  // Audio: one dB value per 10 ms window, from #audioStart.
  #audioStart?: number;
  #db: number[] = [];
  #clipped: number[] = []; // samples at full scale per 10 ms window, beside #db
  #dbBase = 0; // index of #db[0] since the first window
  #partial = new Int16Array(480);
  #partialFill = 0;
  #loudness: LoudnessMeter;
  #speechWindows = 0;
  #silenceRun = 0;
  #gapCandidates: GapCandidate[] = [];
  #gapTotal = 0;
  #gapCount = 0;
  #clippedTotal = 0;
  // The speech level: 1 dB bins of the windows above −70 dBFS kept in #db, and the thresholds it sets.
  #levels = new Uint32Array(-levelFloorDb + 1);
  #levelWindows = 0;
  #speechDb = speechDb;
  #silenceDb = silenceDb;
  #clipSecond = { clipped: 0, speech: 0, windows: 0 };
  #clipping?: OpenStretch;
  // Offset.
  #nextEstimateAt?: number;
  #estimates: TimedEstimate[][] = []; // per window: one per mouth series (the mouth, or every grid cell)
  #estimateTimes: number[] = [];
  #gridSize?: { width: number; height: number };
  // Defects found, newest last (bounded).
  #defects: QualityDefect[] = [];

  constructor(options: QualityOptions = {}) {
    this.#options = compileOptions(options);
    this.#loudness = new LoudnessMeter(this.#options.historySeconds);
  }

  /** Adds a video frame. Only a grid of about 16k pixels (and 2k in the mouth box) is read. */
  pushVideo(frame: LumaFrame): void {
    const { luma, width, height, ptsSeconds: t } = frame;
    const stride = frame.stride ?? width;
    if (luma.length < stride * (height - 1) + width)
      throw new InvalidArgumentError("luma", "plane smaller than its size");
    if (this.#lastPts !== undefined && !(t > this.#lastPts)) return; // a repeated or backward timestamp
    const step = Math.max(1, Math.floor(Math.sqrt((width * height) / 16_384)));
    const gw = Math.floor(width / step);
    const gh = Math.floor(height / step);
    const prev = this.#prev?.length === gw * gh ? this.#prev : undefined;
    const next = this.#spare?.length === gw * gh ? this.#spare : new Uint8Array(gw * gh);
    const cells = this.#options.findMouth ? new Float32Array(gridCols * gridRows) : undefined;
    let dark = 0;
    let changed = 0;
    const half = step >> 1;
    for (let y = 0, k = 0; y < gh; y++) {
      const row = (y * step + half) * stride + half;
      const cellRow = Math.floor((y * gridRows) / gh) * gridCols;
      for (let x = 0; x < gw; x++, k++) {
        const v = luma[row + x * step]!;
        next[k] = v;
        if (v < darkLuma) dark++;
        if (prev && Math.abs(v - prev[k]!) > changedLuma) changed++;
        if (cells) cells[cellRow + Math.floor((x * gridCols) / gw)]! += v;
      }
    }
    this.#spare = prev;
    this.#prev = next;
    if (cells) {
      const perCell = (gw / gridCols) * (gh / gridRows);
      for (let i = 0; i < cells.length; i++) cells[i]! /= perCell;
      this.#gridSize = { width, height };
    }
    const mouth = frame.mouth ? this.#mouthSample(frame, stride) : undefined;
    const black = dark >= blackShare * gw * gh;
    // Blur reads every other frame (a quarter of the grid each time; see edgeEnergy): blur does not come and go faster.
    const edges =
      black || this.#frameCount % 2
        ? { fine: 0, coarse: 0, points: 0 }
        : edgeEnergy(luma, width, height, stride, step, this.#frameCount >> 1);

    this.#frameCount++;
    this.#firstPts ??= t;
    const previous = this.#lastPts;
    this.#lastPts = t;
    const interval = this.#frameInterval();
    if (previous !== undefined) {
      const delta = t - previous;
      if (interval !== undefined && delta > 1.5 * interval) {
        const missing = Math.round(delta / interval) - 1;
        this.#missingTotal += missing;
        this.#defect({
          kind: "missing_frames",
          atSeconds: previous + interval,
          seconds: delta - interval,
          value: missing,
          why: `${missing} frame(s) missing: no picture for ${Math.round((delta - interval) * 1000)} ms (timestamps jump)`,
        });
      }
      this.#addDelta(delta);
    }
    const frameSeconds = this.#frameInterval() ?? 0.04;

    // Black frames, in runs.
    if (black) {
      this.#blackSince ??= t;
      this.#blackFrames.push(t);
      this.#blackTotal++;
    } else this.#endBlack(t);

    // A still picture: nothing above coding noise changed, in the frame or in the mouth.
    const moved = !prev || changed > frameChangedShare * gw * gh || (mouth?.changed ?? 0) > mouthChangedShare;
    if (moved) {
      if (this.#stillSince !== undefined && t - this.#stillSince >= this.#options.frozenSpeechSeconds)
        this.#pendingStill.push({ from: this.#stillSince, to: t });
      this.#stillSince = t;
    }
    this.#frames.push({
      t,
      black,
      mouth: mouth?.mean ?? Number.NaN,
      ...(cells ? { cells } : {}),
      fine: edges.fine,
      coarse: edges.coarse,
      edges: edges.points,
    });
    this.#edgeTotals.fine += edges.fine;
    this.#edgeTotals.coarse += edges.coarse;
    this.#edgeTotals.edges += edges.points;
    // The frame's number on the stream clock: missing frames keep the cadence's phase.
    const verdict = this.#cadence.push(this.#frameCount - 1 + this.#missingTotal, moved, t, frameSeconds);
    if (verdict) this.#judgeCadence(verdict);
    this.#trim();
    this.#judgeStill(false);
    this.#judgeBlur(t, frameSeconds);
    this.#estimateWhenReady(frameSeconds);
  }

  /** Every second, the sharpness of the last 2 s: a blurred stretch opens, goes on or ends. */
  #judgeBlur(t: number, frameSeconds: number): void {
    this.#nextBlurAt ??= this.#firstPts! + blurSpan - 1.5 * frameSeconds; // the first 2 s of frames
    if (t < this.#nextBlurAt) return;
    this.#nextBlurAt = t + 1;
    const { fine, coarse, edges } = this.#edgeSums(t - blurSpan + frameSeconds / 2);
    if (edges < minEdgePoints) return; // nothing to tell sharp from soft
    const sharpness = fine / coarse;
    if (sharpness < blurFloor) {
      this.#blur ??= { from: Math.max(this.#firstPts!, t - blurSpan + frameSeconds), to: t, value: sharpness };
      this.#blur.to = t + frameSeconds;
    } else this.#endBlur();
  }

  /** Edge energy of the frames from `from` on (those still in the history). */
  #edgeSums(from: number, to = Number.POSITIVE_INFINITY): { fine: number; coarse: number; edges: number } {
    const sums = { fine: 0, coarse: 0, edges: 0 };
    for (let i = this.#frames.length - 1; i >= 0 && this.#frames[i]!.t >= from; i--) {
      const f = this.#frames[i]!;
      if (f.t >= to) continue;
      sums.fine += f.fine;
      sums.coarse += f.coarse;
      sums.edges += f.edges;
    }
    return sums;
  }

  #blurDefect(stretch: OpenStretch): QualityDefect {
    const { fine, coarse } = this.#edgeSums(stretch.from, stretch.to);
    const sharpness = round(coarse > 0 ? fine / coarse : stretch.value, 3);
    const seconds = stretch.to - stretch.from;
    return {
      kind: "blur",
      atSeconds: stretch.from,
      seconds,
      value: sharpness,
      why: `picture blurred for ${round(seconds)} s: edge sharpness ${sharpness}, below ${blurFloor} (crisp edges read 0.5, a wide ramp 0.25)`,
    };
  }

  #endBlur(): void {
    if (!this.#blur) return;
    this.#defect(this.#blurDefect(this.#blur));
    this.#blur = undefined;
  }

  /** A verdict on the last 2 s of frames: a duplicated stretch opens, goes on or ends (too little motion: no change). */
  #judgeCadence(verdict: CadenceVerdict): void {
    this.#verdicts.push(verdict);
    if (verdict.duplicated === true) {
      this.#duplicated ??= { from: verdict.from, to: verdict.to, value: verdict.pictureFps! };
      this.#duplicated.to = verdict.to;
      this.#duplicated.value = Math.min(this.#duplicated.value, verdict.pictureFps!);
    } else if (verdict.duplicated === false) this.#endDuplicated();
  }

  #duplicatedDefect(stretch: OpenStretch): QualityDefect {
    const fps = round(stretch.value);
    const seconds = stretch.to - stretch.from;
    return {
      kind: "duplicated",
      atSeconds: stretch.from,
      seconds,
      value: fps,
      why: `frames repeated at a regular cadence for ${round(seconds)} s: ${fps} distinct pictures per second, motion and lips look jerky`,
    };
  }

  #endDuplicated(): void {
    if (!this.#duplicated) return;
    this.#defect(this.#duplicatedDefect(this.#duplicated));
    this.#duplicated = undefined;
  }

  #mouthSample(frame: LumaFrame, stride: number): { mean: number; changed: number } | undefined {
    const box = frame.mouth!;
    const x0 = Math.max(0, Math.floor(box.x));
    const y0 = Math.max(0, Math.floor(box.y));
    const x1 = Math.min(frame.width, Math.floor(box.x + box.width));
    const y1 = Math.min(frame.height, Math.floor(box.y + box.height));
    if (x1 <= x0 || y1 <= y0) return undefined;
    const step = Math.max(1, Math.floor(Math.sqrt(((x1 - x0) * (y1 - y0)) / 2048)));
    const count = Math.ceil((x1 - x0) / step) * Math.ceil((y1 - y0) / step);
    const key = `${x0},${y0},${x1},${y1}`;
    const prev = key === this.#prevMouthKey ? this.#prevMouth : undefined;
    const next = this.#nextMouth.length === count ? this.#nextMouth : new Uint8Array(count);
    let k = 0;
    let sum = 0;
    let changed = 0;
    for (let y = y0; y < y1; y += step) {
      for (let x = x0; x < x1; x += step, k++) {
        const v = frame.luma[y * stride + x]!;
        if (prev && Math.abs(v - prev[k]!) > changedLuma) changed++;
        next[k] = v;
        sum += v;
      }
    }
    this.#nextMouth = this.#prevMouth;
    this.#prevMouth = next;
    this.#prevMouthKey = key;
    return { mean: sum / count, changed: prev ? changed / count : 0 };
  }

  /** The usual frame interval: the median of the last 50 (kept up to date as frames come). */
  #frameInterval(): number | undefined {
    return this.#interval;
  }

  #addDelta(delta: number): void {
    this.#deltas.push(delta);
    if (this.#deltas.length > 50) this.#deltas.shift();
    if (this.#deltas.length >= 3) {
      const sorted = [...this.#deltas].sort((a, b) => a - b);
      this.#interval = sorted[sorted.length >> 1];
    }
  }

  #endBlack(t: number): void {
    if (this.#blackSince === undefined) return;
    const seconds = t - this.#blackSince;
    this.#defect({
      kind: "black",
      atSeconds: this.#blackSince,
      seconds,
      why: `black picture for ${Math.round(seconds * 1000)} ms`,
    });
    this.#blackSince = undefined;
  }

  /** Adds audio (48 kHz mono S16). Its timeline is counted in samples from the first block's timestamp. */
  pushAudio(block: PcmBlock): void {
    this.#audioStart ??= block.ptsSeconds;
    this.#loudness.push(block.pcm);
    const { pcm } = block;
    for (let i = 0; i < pcm.length;) {
      const n = Math.min(480 - this.#partialFill, pcm.length - i);
      this.#partial.set(pcm.subarray(i, i + n), this.#partialFill);
      this.#partialFill += n;
      i += n;
      if (this.#partialFill === 480) {
        let sum = 0;
        let clipped = 0;
        for (let k = 0; k < 480; k++) {
          const v = this.#partial[k]!;
          sum += v * v;
          if (v >= clippedSample || v <= -clippedSample) clipped++;
        }
        this.#partialFill = 0;
        this.#addWindow(10 * Math.log10(sum / 480 / 32768 ** 2 + 1e-10), clipped);
      }
    }
    this.#trim();
    this.#judgeStill(false);
    this.#estimateWhenReady(this.#frameInterval() ?? 0.04);
  }

  #audioEnd(): number {
    return this.#audioStart === undefined
      ? Number.NEGATIVE_INFINITY
      : this.#audioStart + (this.#dbBase + this.#db.length) * 0.01;
  }

  #windowTime(index: number): number {
    return this.#audioStart! + index * 0.01;
  }

  #addWindow(db: number, clipped: number): void {
    const index = this.#dbBase + this.#db.length;
    this.#countLevel(db, 1);
    if (index % 100 === 99) this.#followLevel();
    const speech = db >= this.#speechDb;
    if (speech) {
      this.#speechWindows++;
      this.#clippedTotal += clipped;
    }
    this.#judgeClipping(index, speech, clipped);
    for (const c of this.#gapCandidates) {
      c.seen++;
      if (speech) c.after++;
    }
    this.#gapCandidates = this.#gapCandidates.filter((c) => {
      if (c.seen < 30) return true;
      if (c.after >= 10) {
        const seconds = c.length * 0.01;
        this.#gapTotal += seconds;
        this.#gapCount++;
        this.#defect({
          kind: "silence_gap",
          atSeconds: this.#windowTime(c.from),
          seconds,
          why: `speech cut off by ${Math.round(seconds * 1000)} ms of silence, and then going on`,
        });
      }
      return false;
    });
    if (db < this.#silenceDb) this.#silenceRun++;
    else {
      const length = this.#silenceRun;
      this.#silenceRun = 0;
      if (length >= gapMin && length <= gapMax) this.#considerGap(index - length, length);
    }
    this.#db.push(db);
    this.#clipped.push(speech ? clipped : 0);
  }

  #countLevel(db: number, delta: 1 | -1): void {
    if (!(db > levelFloorDb)) return;
    this.#levels[Math.min(this.#levels.length - 1, Math.floor(db - levelFloorDb))]! += delta;
    this.#levelWindows += delta;
  }

  /** Once a second: the speech and silence thresholds follow the level down when it is low (see speechDb). */
  #followLevel(): void {
    if (this.#levelWindows < 100) return;
    let seen = 0;
    let bin = 0;
    while (bin < this.#levels.length - 1 && (seen += this.#levels[bin]!) < 0.9 * this.#levelWindows) bin++;
    const level = bin + levelFloorDb + 0.5;
    this.#speechDb = Math.max(-60, Math.min(speechDb, level - 24));
    this.#silenceDb = Math.max(-75, Math.min(silenceDb, level - 39));
  }

  /** Per second of audio: a second of speech with clipped samples opens or extends a clipping stretch. */
  #judgeClipping(index: number, speech: boolean, clipped: number): void {
    const second = this.#clipSecond;
    second.windows++;
    if (speech) {
      second.speech++;
      second.clipped += clipped;
    }
    if (second.windows < clipWindows) return;
    const end = this.#windowTime(index + 1);
    const samples = second.speech * 480;
    if (samples > 0 && second.clipped >= 5 && second.clipped >= clippedShareFloor * samples) {
      this.#clipping ??= { from: end - clipWindows * 0.01, to: end, value: 0 };
      this.#clipping.to = end;
    } else if (second.speech >= 10) this.#endClipping();
    this.#clipSecond = { clipped: 0, speech: 0, windows: 0 };
  }

  #clippingDefect(stretch: OpenStretch): QualityDefect {
    const share = this.#clippedShare(stretch.from, stretch.to) ?? 0;
    const seconds = stretch.to - stretch.from;
    return {
      kind: "clipping",
      atSeconds: stretch.from,
      seconds,
      value: round(100 * share, 2),
      why: `speech clipped for ${round(seconds)} s: ${round(100 * share, 2)} % of its samples at full scale (distorted)`,
    };
  }

  #endClipping(): void {
    if (!this.#clipping) return;
    this.#defect(this.#clippingDefect(this.#clipping));
    this.#clipping = undefined;
  }

  /** Share of the speech samples of [from, to) at full scale (undefined without speech there). */
  #clippedShare(from: number, to: number): number | undefined {
    if (this.#audioStart === undefined) return undefined;
    const a = Math.max(0, Math.round((from - this.#audioStart) / 0.01) - this.#dbBase);
    const b = Math.min(this.#db.length, Math.round((to - this.#audioStart) / 0.01) - this.#dbBase);
    let speech = 0;
    let clipped = 0;
    for (let i = a; i < b; i++) {
      if (this.#db[i]! < this.#speechDb) continue;
      speech++;
      clipped += this.#clipped[i]!;
    }
    return speech > 0 ? clipped / (speech * 480) : undefined;
  }

  /** A silence of the right length: a gap if speech stopped dead before it (with speech before and after). */
  #considerGap(from: number, length: number): void {
    const before = (i: number) => this.#db[from - this.#dbBase - i] ?? Number.NEGATIVE_INFINITY;
    let speechBefore = 0;
    for (let i = 1; i <= 30; i++) if (before(i) >= this.#speechDb) speechBefore++;
    let peak = Number.NEGATIVE_INFINITY;
    for (let i = 3; i <= 12; i++) peak = Math.max(peak, before(i));
    const cut = Math.max(before(1), before(2)) >= peak - cutWithinDb;
    if (speechBefore >= 10 && cut) this.#gapCandidates.push({ from, length, after: 0, seen: 0 });
  }

  /** Speech share of [from, to), from the audio's 10 ms windows (undefined where they are not there). */
  #speechShare(from: number, to: number): number | undefined {
    if (this.#audioStart === undefined) return undefined;
    const a = Math.max(0, Math.round((from - this.#audioStart) / 0.01) - this.#dbBase);
    const b = Math.min(this.#db.length, Math.round((to - this.#audioStart) / 0.01) - this.#dbBase);
    if (b <= a) return undefined;
    let speech = 0;
    for (let i = a; i < b; i++) if (this.#db[i]! >= this.#speechDb) speech++;
    return speech / (b - a);
  }

  /** Still runs become frozen defects once the audio of their stretch is known (or at the end). */
  #judgeStill(final: boolean): void {
    const audioEnd = this.#audioEnd();
    this.#pendingStill = this.#pendingStill.filter((run) => {
      if (!final && run.to > audioEnd) return true;
      const seconds = run.to - run.from;
      const share = this.#speechShare(run.from, run.to) ?? 0;
      const frames = this.#frames.filter((f) => f.t >= run.from && f.t < run.to);
      if (frames.filter((f) => f.black).length * 2 > frames.length) return false; // a black stretch, reported as such
      if (seconds >= this.#options.stillSeconds || share >= 0.5) {
        this.#frozenTotal += seconds;
        this.#defect({
          kind: "frozen",
          atSeconds: run.from,
          seconds,
          why:
            share >= 0.5
              ? `picture frozen for ${Math.round(seconds * 1000)} ms while the host speaks (lips do not move)`
              : `picture unchanged for ${round(seconds)} s`,
        });
      }
      return false;
    });
  }

  /** Runs an offset estimate over the last window once both streams have passed its end. */
  #estimateWhenReady(frameSeconds: number): void {
    if (this.#firstPts === undefined || this.#audioStart === undefined) return;
    const { offsetWindowSeconds: span, offsetHopSeconds: hop } = this.#options;
    this.#nextEstimateAt ??= Math.max(this.#firstPts, this.#audioStart) + span + 0.5;
    while (this.#lastPts! >= this.#nextEstimateAt && this.#audioEnd() >= this.#nextEstimateAt + 0.5) {
      const end = this.#nextEstimateAt;
      this.#estimate(end - span, end, frameSeconds);
      this.#nextEstimateAt += hop;
    }
  }

  #estimate(from: number, to: number, frameSeconds: number): void {
    if ((this.#speechShare(from, to) ?? 0) < 0.25) return;
    // Black frames say nothing of the mouth (and would dominate the correlation).
    const frames = this.#frames.filter((f) => f.t >= from && f.t < to && !f.black);
    if (frames.length < 20) return;
    const times = frames.map((f) => f.t);
    const series = this.#options.findMouth
      ? Array.from({ length: gridCols * gridRows }, (_, c) => frames.map((f) => f.cells![c]!))
      : [frames.map((f) => f.mouth)];
    if (!this.#options.findMouth && series[0]!.some(Number.isNaN)) return;
    const first = Math.max(0, Math.floor((from - 0.5 - this.#audioStart!) / 0.01) - this.#dbBase);
    const last = Math.min(this.#db.length, Math.ceil((to + 0.5 - this.#audioStart!) / 0.01) - this.#dbBase);
    const energy = { startSeconds: this.#windowTime(this.#dbBase + first), db: this.#db.slice(first, last) };
    const estimates = estimateOffsets(times, series, frameSeconds, energy).map((e) =>
      e ? { ...e, at: to } : { offsetMs: 0, correlation: 0, confidence: 0, at: to },
    );
    this.#estimates.push(estimates);
    this.#estimateTimes.push(to);
    if (this.#estimates.length > 2048) {
      this.#estimates.shift();
      this.#estimateTimes.shift();
    }
  }

  #defect(defect: QualityDefect): void {
    this.#defects.push(defect);
    if (this.#defects.length > 1000) this.#defects.shift();
  }

  /** Drops what is older than the history (and the offset window) needs. */
  #trim(): void {
    const keep = Math.max(this.#options.historySeconds, this.#options.offsetWindowSeconds + 2);
    const latest = Math.max(this.#lastPts ?? Number.NEGATIVE_INFINITY, this.#audioEnd());
    if (!Number.isFinite(latest)) return;
    const horizon = latest - keep;
    if (this.#frames.length > 256 && this.#frames[128]!.t < horizon) {
      const drop = this.#frames.findIndex((f) => f.t >= horizon);
      this.#frames.splice(0, drop < 0 ? this.#frames.length : drop);
    }
    if (this.#blackFrames.length > 256 && this.#blackFrames[128]! < horizon) {
      this.#blackFrames = this.#blackFrames.filter((t) => t >= horizon);
    }
    if (this.#audioStart !== undefined && this.#db.length > 2 * keep * 100) {
      const drop = this.#db.length - Math.ceil(keep * 100);
      for (let i = 0; i < drop; i++) this.#countLevel(this.#db[i]!, -1);
      this.#db.splice(0, drop);
      this.#clipped.splice(0, drop);
      this.#dbBase += drop;
    }
    if (this.#verdicts.length > 256 && this.#verdicts[128]!.to < horizon) {
      this.#verdicts = this.#verdicts.filter((v) => v.to >= horizon);
    }
  }

  /** Closes what is still open (a black or still stretch at the end, a last offset estimate) and reports it all. */
  finish(): QualityReport {
    if (this.#lastPts !== undefined) {
      const end = this.#lastPts + (this.#frameInterval() ?? 0.04);
      this.#endBlack(end);
      if (this.#stillSince !== undefined && end - this.#stillSince >= this.#options.frozenSpeechSeconds)
        this.#pendingStill.push({ from: this.#stillSince, to: end });
      this.#stillSince = undefined;
    }
    this.#judgeStill(true);
    this.#endBlur();
    this.#endDuplicated();
    this.#endClipping();
    if (this.#estimates.length === 0 && this.#frames.length > 0 && this.#audioStart !== undefined) {
      this.#estimate(this.#frames[0]!.t + 0.4, this.#lastPts! - 0.4, this.#frameInterval() ?? 0.04);
    }
    return this.report();
  }

  /** The report since the first frame, or of the last `windowSeconds` (at most `historySeconds`). */
  report(windowSeconds?: number): QualityReport {
    const to = Math.max(this.#lastPts ?? 0, this.#audioEnd());
    const from =
      windowSeconds === undefined
        ? Math.min(this.#firstPts ?? to, this.#audioStart ?? to)
        : to - Math.min(windowSeconds, this.#options.historySeconds);
    const inWindow = (d: QualityDefect) => windowSeconds === undefined || d.atSeconds + d.seconds >= from;
    const defects = this.#defects.filter(inWindow);
    const sum = (kind: DefectKind, f: (d: QualityDefect) => number) =>
      defects.filter((d) => d.kind === kind).reduce((s, d) => s + f(d), 0);

    // Video figures.
    const frames = windowSeconds === undefined ? this.#frameCount : this.#frames.filter((f) => f.t >= from).length;
    const firstFrame = windowSeconds === undefined ? this.#firstPts : this.#frames.find((f) => f.t >= from)?.t;
    const fps =
      frames > 1 && firstFrame !== undefined && this.#lastPts! > firstFrame
        ? (frames - 1) / (this.#lastPts! - firstFrame)
        : undefined;
    const blackFrames =
      windowSeconds === undefined ? this.#blackTotal : this.#blackFrames.filter((t) => t >= from).length;
    const frozenSeconds = windowSeconds === undefined ? this.#frozenTotal : sum("frozen", (d) => d.seconds);
    const missingFrames = windowSeconds === undefined ? this.#missingTotal : sum("missing_frames", (d) => d.value ?? 0);
    const edgeSums = windowSeconds === undefined ? this.#edgeTotals : this.#edgeSums(from);
    const sharpness = edgeSums.edges >= minEdgePoints ? round(edgeSums.fine / edgeSums.coarse, 3) : undefined;

    // Audio figures.
    const audioSeconds =
      this.#audioStart === undefined ? 0 : Math.max(0, this.#audioEnd() - Math.max(from, this.#audioStart));
    const speechShare = windowSeconds === undefined ? undefined : this.#speechShare(from, to);
    const speechSeconds = speechShare === undefined ? this.#speechWindows * 0.01 : round(speechShare * audioSeconds, 2);
    const gapSeconds = windowSeconds === undefined ? this.#gapTotal : sum("silence_gap", (d) => d.seconds);
    const gaps = windowSeconds === undefined ? this.#gapCount : sum("silence_gap", () => 1);
    const loudness = this.#loudness.figures(windowSeconds);
    const clippedShare =
      windowSeconds === undefined
        ? this.#speechWindows > 0
          ? this.#clippedTotal / (this.#speechWindows * 480)
          : undefined
        : this.#clippedShare(from, to);

    // Stretches still going on (a live stream may never end them), as they stand.
    const open: QualityDefect[] = [];
    if (this.#blur) open.push(this.#blurDefect(this.#blur));
    if (this.#duplicated) open.push(this.#duplicatedDefect(this.#duplicated));
    if (this.#clipping) open.push(this.#clippingDefect(this.#clipping));
    const found = [...defects, ...open];
    const duplicated = this.#duplicatedFigures(from, found);

    // Figures of the whole stretch, as defects.
    const extra: QualityDefect[] = [];
    const offset = this.#offset(from);
    const lipSync = this.#lipSync(from);
    if (fps !== undefined && fps < this.#options.minFps - 0.5) {
      extra.push({
        kind: "low_fps",
        atSeconds: from,
        seconds: to - from,
        value: round(fps),
        why: `${round(fps)} fps, below the ${this.#options.minFps} fps rule: motion and lips look jerky`,
      });
    }
    if (offset && (offset.ms > bt1359.detectEarlyMs || offset.ms < bt1359.detectLateMs)) {
      const early = offset.ms > 0;
      extra.push({
        kind: "av_offset",
        atSeconds: from,
        seconds: 0,
        value: Math.round(offset.ms),
        why:
          `sound ${Math.abs(Math.round(offset.ms))} ms ${early ? "ahead of" : "behind"} the lips: ` +
          `beyond the ITU-R BT.1359 detectability threshold (${early ? "+45" : "−125"} ms), viewers can notice`,
      });
    }
    const integrated = loudness.integratedLufs;
    if (integrated !== undefined && (integrated < loudnessRange.lowLufs || integrated > loudnessRange.highLufs)) {
      extra.push({
        kind: "loudness",
        atSeconds: from,
        seconds: to - from,
        value: round(integrated),
        why:
          `${integrated < loudnessRange.lowLufs ? "too quiet" : "too loud"}: integrated loudness ${round(integrated)} LUFS, ` +
          `outside ${loudnessRange.lowLufs} to ${loudnessRange.highLufs} LUFS (EBU R128 −23, streaming −14/−16)`,
      });
    }
    if (lipSync && lipSync.correlation < lipSyncFloor) {
      extra.push({
        kind: "lip_sync",
        atSeconds: from,
        seconds: to - from,
        value: lipSync.correlation,
        why:
          `the mouth does not follow the voice: its movement matches the speech with r = ${lipSync.correlation} at ` +
          `best (${lipSyncFloor} or more expected)`,
      });
    }

    const report: QualityReport = {
      fromSeconds: round(from, 3),
      toSeconds: round(to, 3),
      score: 100,
      penalties: {},
      video: {
        frames,
        fps: fps === undefined ? undefined : round(fps, 2),
        blackFrames,
        frozenSeconds: round(frozenSeconds, 2),
        missingFrames,
        ...(sharpness === undefined ? {} : { sharpness }),
        ...(duplicated ? { duplicated } : {}),
      },
      audio: {
        seconds: round(audioSeconds, 2),
        speechSeconds: round(speechSeconds, 2),
        gaps,
        gapSeconds: round(gapSeconds, 2),
        loudness,
        ...(clippedShare === undefined ? {} : { clippedShare: round(clippedShare, 6) }),
      },
      ...(offset ? { offset } : {}),
      ...(lipSync ? { lipSync } : {}),
      ...(this.#options.findMouth && this.#bestCell() !== undefined
        ? { mouthFound: this.#cellRect(this.#bestCell()!) }
        : {}),
      defects: [...extra, ...found].sort((a, b) => a.atSeconds - b.atSeconds),
    };
    report.penalties = penaltiesOf(report, this.#options.minFps);
    const { score, mos, parts } = qualityScore(report);
    return { ...report, score, mos, parts };
  }

  /** Duplicated frames in the defects found since `from`: how long, the lowest picture rate, the share judged so. */
  #duplicatedFigures(from: number, found: QualityDefect[]): QualityReport["video"]["duplicated"] {
    const stretches = found.filter((d) => d.kind === "duplicated");
    if (stretches.length === 0) return undefined;
    const judged = this.#verdicts.filter((v) => v.to > from && v.duplicated !== undefined);
    const share = judged.length ? judged.filter((v) => v.duplicated).length / judged.length : 1;
    return {
      seconds: round(
        stretches.reduce((s, d) => s + d.seconds, 0),
        2,
      ),
      pictureFps: Math.min(...stretches.map((d) => d.value!)),
      share: round(share, 2),
    };
  }

  /** The grid cell whose brightness follows speech best (mean correlation over the estimates). */
  #bestCell(): number | undefined {
    if (!this.#options.findMouth || this.#estimates.length === 0) return undefined;
    let best: number | undefined;
    let bestScore = 0;
    for (let c = 0; c < gridCols * gridRows; c++) {
      const score = this.#estimates.reduce((s, window) => s + window[c]!.correlation, 0);
      if (score > bestScore) {
        bestScore = score;
        best = c;
      }
    }
    return best;
  }

  #cellRect(cell: number): Rect {
    const { width, height } = this.#gridSize!;
    const col = cell % gridCols;
    const row = Math.floor(cell / gridCols);
    const x = Math.round((col * width) / gridCols);
    const y = Math.round((row * height) / gridRows);
    return {
      x,
      y,
      width: Math.round(((col + 1) * width) / gridCols) - x,
      height: Math.round(((row + 1) * height) / gridRows) - y,
    };
  }

  /**
   * Lip-sync accuracy since `from`: the median peak correlation of the mouth (or the cell found for it) over the
   * offset windows (each with at least 25 % speech); a mouth that did not move counts 0.
   */
  #lipSync(from: number): QualityReport["lipSync"] {
    const series = this.#options.findMouth ? (this.#bestCell() ?? 0) : 0;
    const values = this.#estimates
      .map((window) => window[series]!)
      .filter((e) => e.at >= from)
      .map((e) => e.correlation)
      .sort((a, b) => a - b);
    if (values.length === 0) return undefined;
    const mid = values.length >> 1;
    const median = values.length % 2 ? values[mid]! : (values[mid - 1]! + values[mid]!) / 2;
    return { correlation: round(median, 2), windows: values.length };
  }

  /** The offset over the estimates since `from`: the confidence-weighted median of those that found a peak. */
  #offset(from: number): QualityReport["offset"] {
    const series = this.#options.findMouth ? this.#bestCell() : 0;
    if (series === undefined) return undefined;
    const usable = this.#estimates
      .map((window) => window[series]!)
      .filter((e) => e.at >= from && e.correlation >= minCorrelation && e.confidence > 0);
    if (usable.length === 0) return undefined;
    const ms = weightedMedian(
      usable.map((e) => e.offsetMs),
      usable.map((e) => e.confidence),
    );
    const confidence = usable.reduce((s, e) => s + e.confidence, 0) / usable.length;
    return { ms: Math.round(ms), confidence: round(confidence, 2), estimates: usable.length };
  }
}
