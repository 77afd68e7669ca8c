// One stream's mouth animation on the audio clock: speech PCM in, exactly one mouth frame per video frame interval
// of audio out. Audio is resampled to 16 kHz, cut into log-mel frames (100 per second) and classified by the
// viseme model; each video frame takes the most probable viseme over the audio it covers, and its mouth parameters
// are eased from the previous frame so the mouth moves rather than jumps. The model needs 30 ms of audio after a
// frame (its context), so a frame leaves once that audio has arrived, or at flush.
import type * as ort from "onnxruntime-node";
import { Resampler } from "../../media/index.js";
import { Batcher, type BatcherOptions } from "../onnx/batcher.js";
import { contextAfter, contextBefore, featureRate, featureSize, melBands } from "./dataset.js";
import { LogMel, withContext } from "./features.js";
import { Viseme, visemeCount, visemeParams, type MouthParams, type VisemeId } from "./visemes.js";

export interface MouthFrame {
  /** Index on the stream's audio clock: the frame covers audio [index / fps, (index + 1) / fps) s. */
  index: number;
  ptsMs: number;
  viseme: VisemeId;
  mouth: MouthParams;
}

/** What runs the model: features [N, 360] → per-frame probabilities over the visemes. */
export type VisemeClassifier = (features: Float32Array, frames: number) => Promise<Float32Array>;

export function onnxClassifier(session: ort.InferenceSession, Tensor: typeof ort.Tensor): VisemeClassifier {
  return async (features, frames) => {
    const out = await session.run({ features: new Tensor("float32", features, [frames, featureSize]) });
    return out.viseme_probs!.data as Float32Array;
  };
}

/**
 * The classifier every stream of a worker shares: one loaded model, the frames of concurrent streams run as one batch
 * (gpu-workers/onnx/batcher.ts), each stream given back exactly its own frames.
 */
export function batchedClassifier(
  classify: VisemeClassifier,
  options: { maxFrames?: number; onBatch?: BatcherOptions["onBatch"] } = {},
): VisemeClassifier {
  const batcher = new Batcher({
    rowSize: featureSize,
    outSize: visemeCount,
    maxRows: options.maxFrames ?? 512,
    run: classify,
    onBatch: options.onBatch,
  });
  return (features, frames) => batcher.run(features, frames);
}

const melHopSamples = featureRate / 100;
const melWindowSamples = (featureRate * 25) / 1000;

export class MouthAnimator {
  readonly fps: number;
  readonly #classify: VisemeClassifier;
  readonly #resampler: Resampler;
  readonly #mel = new LogMel({ sampleRate: featureRate, bands: melBands });
  /** 16 kHz audio of the current utterance not yet needed any more is dropped; `#base` is its first sample's index. */
  #pcm = new Int16Array(0);
  #base = 0;
  /** Audio received on the stream clock, in 16 kHz samples. */
  #received = 0;
  #melFrames: Float32Array[] = [];
  #melBase = 0;
  #nextFrame = 0;
  #mouth: MouthParams = { ...visemeParams[Viseme.rest] };

  constructor(options: { fps: number; inputRate: number; classify: VisemeClassifier }) {
    this.fps = options.fps;
    this.#classify = options.classify;
    this.#resampler = new Resampler(options.inputRate, featureRate);
  }

  /** Frames emitted so far on the stream clock. */
  get framesSent(): number {
    return this.#nextFrame;
  }

  /** Adds speech; returns the frames whose audio (and model context) is now complete. */
  async push(pcm: Int16Array): Promise<MouthFrame[]> {
    this.#append(this.#resampler.push(pcm));
    return this.#emit(false);
  }

  /** The utterance's audio is complete: frames for everything received (silence stands in for missing context). */
  async flush(): Promise<MouthFrame[]> {
    const frames = await this.#emit(true);
    this.#reset();
    return frames;
  }

  /**
   * An interruption: drops the audio not yet turned into frames and returns one rest frame at the next frame
   * index, so the mouth closes within one frame; the clock moves on to where the audio would have reached.
   */
  clear(): MouthFrame {
    this.#mouth = { ...visemeParams[Viseme.rest] };
    const frame = this.#frame(Viseme.rest, this.#mouth);
    this.#reset();
    return frame;
  }

  #append(samples: Int16Array): void {
    const merged = new Int16Array(this.#pcm.length + samples.length);
    merged.set(this.#pcm);
    merged.set(samples, this.#pcm.length);
    this.#pcm = merged;
    this.#received += samples.length;
    // New log-mel frames for every complete window.
    for (;;) {
      const start = (this.#melBase + this.#melFrames.length) * melHopSamples - this.#base;
      if (start + melWindowSamples > this.#pcm.length) break;
      const [frame] = this.#mel.compute(this.#pcm.subarray(start, start + melWindowSamples));
      this.#melFrames.push(frame!);
    }
  }

  #samplesAt(frameIndex: number): number {
    return Math.round((frameIndex * featureRate) / this.fps);
  }

  async #emit(final: boolean): Promise<MouthFrame[]> {
    const ready: { index: number; mel: number[] }[] = [];
    for (;;) {
      const start = this.#samplesAt(this.#nextFrame + ready.length);
      const end = this.#samplesAt(this.#nextFrame + ready.length + 1);
      if (final ? start >= this.#received : end > this.#received) break;
      const firstMel = Math.floor(start / melHopSamples);
      const lastMel = Math.max(firstMel, Math.ceil(end / melHopSamples) - 1);
      const available = this.#melBase + this.#melFrames.length;
      if (!final && lastMel + contextAfter >= available) break;
      const mel: number[] = [];
      for (let j = firstMel; j <= lastMel; j++) mel.push(j);
      ready.push({ index: this.#nextFrame + ready.length, mel });
    }
    if (ready.length === 0) return [];
    // One model call for every log-mel frame these video frames need.
    const wanted = [...new Set(ready.flatMap((r) => r.mel))];
    const local = this.#melFrames;
    const features = new Float32Array(wanted.length * featureSize);
    wanted.forEach((j, i) => {
      const at = Math.min(local.length - 1, Math.max(0, j - this.#melBase));
      features.set(
        local.length > 0 ? withContext(local, at, contextBefore, contextAfter) : new Float32Array(featureSize),
        i * featureSize,
      );
    });
    const probs = await this.#classify(features, wanted.length);
    const frames: MouthFrame[] = [];
    for (const r of ready) {
      const sum = new Float32Array(visemeCount);
      for (const j of r.mel) {
        const row = wanted.indexOf(j);
        for (let k = 0; k < visemeCount; k++) sum[k]! += probs[row * visemeCount + k]!;
      }
      const viseme = sum.indexOf(Math.max(...sum)) as VisemeId;
      const target = visemeParams[viseme];
      // Ease towards the target: the mouth moves over a frame or two instead of snapping.
      this.#mouth = {
        open: this.#mouth.open + 0.6 * (target.open - this.#mouth.open),
        width: this.#mouth.width + 0.6 * (target.width - this.#mouth.width),
        round: this.#mouth.round + 0.6 * (target.round - this.#mouth.round),
      };
      frames.push(this.#frame(viseme, this.#mouth));
    }
    this.#trim();
    return frames;
  }

  #frame(viseme: VisemeId, mouth: MouthParams): MouthFrame {
    const index = this.#nextFrame++;
    return { index, ptsMs: Math.round((index * 1000) / this.fps), viseme, mouth: { ...mouth } };
  }

  /** Drops audio and log-mel frames no future video frame needs (keeps memory flat over a 24/7 stream). */
  #trim(): void {
    const keepFromMel = Math.max(0, Math.floor(this.#samplesAt(this.#nextFrame) / melHopSamples) - contextBefore - 1);
    const dropMel = keepFromMel - this.#melBase;
    if (dropMel > 0) {
      this.#melFrames = this.#melFrames.slice(dropMel);
      this.#melBase += dropMel;
    }
    const keepFromSample = this.#melBase * melHopSamples;
    const dropSamples = keepFromSample - this.#base;
    if (dropSamples > 0) {
      this.#pcm = this.#pcm.slice(dropSamples);
      this.#base += dropSamples;
    }
  }

  /**
   * Between utterances: the stream clock moves to the end of the last frame sent (the tail of that frame is silence),
   * and the feature state starts afresh there, so frames and audio never drift apart across utterances.
   */
  #reset(): void {
    const boundary = this.#samplesAt(this.#nextFrame);
    this.#received = boundary;
    this.#base = boundary;
    this.#pcm = new Int16Array(0);
    this.#melFrames = [];
    this.#melBase = Math.ceil(boundary / melHopSamples);
  }
}
