// The quality gate live: a room's compose worker feeds the monitor what it hands the encoder (the I420 frame, where
// the mouth was drawn, the frame's PCM), and the room reads a snapshot (the last minute and since start) for GetRoom
// and the metrics (`qualityMetrics`, `livehost_quality_*` with a `room` label). A frame costs a read of ~18k of its
// luma pixels and its 1920 samples (bench/quality.ts measures it).
import { Counter, Gauge, type Registry } from "../observability/index.js";
import { InvalidArgumentError } from "../errors/index.js";
import { QualityAnalyzer, type QualityOptions, type QualityReport, type Rect } from "./quality.js";

export interface QualityMonitorOptions extends QualityOptions {
  /** The output's frame size and rate. */
  width: number;
  height: number;
  fps: number;
  /** The rolling window of `snapshot().window`, in s (default 60). */
  windowSeconds?: number;
}

/** What a monitor has seen: plain data, so a compose worker can post it to the main thread. */
export interface QualitySnapshot {
  /** The last `windowSeconds`. */
  window: QualityReport;
  /** Since the first frame (offset estimates and defect details: the last hour of them). */
  total: QualityReport;
}

/** One room's live quality gate. */
export class QualityMonitor {
  readonly #analyzer: QualityAnalyzer;
  readonly #width: number;
  readonly #height: number;
  readonly #fps: number;
  readonly #windowSeconds: number;

  constructor(options: QualityMonitorOptions) {
    const { width, height, fps, windowSeconds = 60, ...analyzerOptions } = options;
    for (const [field, value] of Object.entries({ width, height, fps, windowSeconds })) {
      if (!(value > 0 && Number.isFinite(value))) throw new InvalidArgumentError(field, `${field} must be positive`);
    }
    this.#width = width;
    this.#height = height;
    this.#fps = fps;
    this.#windowSeconds = windowSeconds;
    this.#analyzer = new QualityAnalyzer({
      ...analyzerOptions,
      historySeconds: Math.max(windowSeconds, analyzerOptions.historySeconds ?? 0),
    });
  }

  /**
   * Feeds one output frame: `i420` as pushed to the encoder (only its Y plane is read), `pcm` its 48 kHz samples
   * (48000 / fps of them), `frameIndex` its number on the room's clock (a gap in the numbers is frames missing), and
   * `mouth` where the mouth was drawn on it, in frame pixels (the pack's box through the avatar's transform).
   */
  push(i420: Uint8Array, pcm: Int16Array, frameIndex: number, mouth?: Rect): void {
    const pts = frameIndex / this.#fps;
    const luma = i420.subarray(0, this.#width * this.#height);
    this.#analyzer.pushVideo({
      ptsSeconds: pts,
      luma,
      width: this.#width,
      height: this.#height,
      ...(mouth ? { mouth } : {}),
    });
    this.#analyzer.pushAudio({ ptsSeconds: pts, pcm });
  }

  snapshot(): QualitySnapshot {
    return { window: this.#analyzer.report(this.#windowSeconds), total: this.#analyzer.report() };
  }
}

export interface QualityMetrics {
  /** Sets the room's gauges from its snapshot's window and counts what its totals added since the last update. */
  update(room: string, snapshot: QualitySnapshot): void;
  /** Removes the room's series (when it goes off air). */
  remove(room: string): void;
}

const byRegistry = new WeakMap<Registry, QualityMetrics>();

/**
 * The quality gate's metrics on `registry` (one set per registry), labelled by `room`: unlike the media graph's
 * metrics, an alert on quality must say which room, and a host's rooms are few (its capacity) and removed as they
 * go off air.
 */
export function qualityMetrics(registry: Registry): QualityMetrics {
  const existing = byRegistry.get(registry);
  if (existing) return existing;
  const registers = [registry];
  const labelNames = ["room"] as const;
  const score = new Gauge({
    name: "livehost_quality_score",
    help: "Quality score of the room's output over the last minute, 0 to 100 (media/README.md, Quality gate).",
    labelNames,
    registers,
  });
  const offset = new Gauge({
    name: "livehost_quality_av_offset_seconds",
    help: "Audio-video offset measured on the room's output (mouth against speech), positive when audio is ahead; absent without speech.",
    labelNames,
    registers,
  });
  const fps = new Gauge({
    name: "livehost_quality_fps",
    help: "Frames per second of the room's output over the last minute, from the frame timestamps.",
    labelNames,
    registers,
  });
  const loudness = new Gauge({
    name: "livehost_quality_loudness_lufs",
    help: "Integrated loudness (EBU R128) of the room's output over the last minute; absent in silence.",
    labelNames,
    registers,
  });
  const frozen = new Counter({
    name: "livehost_quality_frozen_seconds_total",
    help: "Seconds of frozen picture on the room's output (unchanged while the host speaks, or for 5 s).",
    labelNames,
    registers,
  });
  const black = new Counter({
    name: "livehost_quality_black_frames_total",
    help: "Black frames on the room's output.",
    labelNames,
    registers,
  });
  const gaps = new Counter({
    name: "livehost_quality_silence_gaps_total",
    help: "Silence gaps inside speech on the room's output (speech cut off for 0.2 to 1.5 s).",
    labelNames,
    registers,
  });
  const missing = new Counter({
    name: "livehost_quality_missing_frames_total",
    help: "Frames missing from the room's output (gaps in its frame numbers).",
    labelNames,
    registers,
  });
  const last = new Map<string, QualityReport>();
  const metrics: QualityMetrics = {
    update(room, snapshot) {
      const { window, total } = snapshot;
      const labels = { room };
      score.set(labels, window.score);
      const setOrRemove = (gauge: Gauge<"room">, value: number | undefined) =>
        value === undefined ? gauge.remove(labels) : gauge.set(labels, value);
      setOrRemove(offset, window.offset && window.offset.ms / 1000);
      setOrRemove(fps, window.video.fps);
      setOrRemove(loudness, window.audio.loudness.integratedLufs);
      const before = last.get(room);
      const grow = (counter: Counter<"room">, now: number, then: number | undefined) => {
        if (now > (then ?? 0)) counter.inc(labels, now - (then ?? 0));
      };
      grow(frozen, total.video.frozenSeconds, before?.video.frozenSeconds);
      grow(black, total.video.blackFrames, before?.video.blackFrames);
      grow(gaps, total.audio.gaps, before?.audio.gaps);
      grow(missing, total.video.missingFrames, before?.video.missingFrames);
      last.set(room, total);
    },
    remove(room) {
      for (const metric of [score, offset, fps, loudness, frozen, black, gaps, missing]) metric.remove({ room });
      last.delete(room);
    },
  };
  byRegistry.set(registry, metrics);
  return metrics;
}
