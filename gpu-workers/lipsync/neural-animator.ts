// One stream's talking face on the audio clock: speech PCM in, exactly one generated face patch per video frame
// interval of audio out, on the same clock as the viseme path (MouthAnimator). Audio is resampled to 16 kHz and
// turned into wav2lip's mel spectrogram per utterance; a frame leaves once its 16-column window (200 ms of audio
// from its start) has arrived, or at flush. Mouth parameters are not computed on this path: frames carry the rest
// viseme with zero parameters, and the patch is the picture.
import { Resampler } from "../../media/index.js";
import type { MouthFrame } from "./animator.js";
import type { MouthPatch } from "./render.js";
import { Viseme } from "./visemes.js";
import { Wav2LipMel, melStep, melWindow, wav2lipRate, windowReady, windowStart } from "./wav2lip-mel.js";

export interface NeuralFrame extends MouthFrame {
  patch: MouthPatch;
}

/** Turns the frames' [80, 16] mel windows into their patches (one loaded generator, shared). */
export type FaceRenderer = (mels: Float32Array[]) => Promise<MouthPatch[]>;

export class NeuralAnimator {
  readonly fps: number;
  readonly #render: FaceRenderer;
  readonly #rest: () => MouthPatch;
  readonly #resampler: Resampler;
  #mel = new Wav2LipMel();
  /** The video frame the current utterance's audio starts at, and its 16 kHz samples received. */
  #first = 0;
  #received = 0;
  #nextFrame = 0;

  constructor(options: { fps: number; inputRate: number; render: FaceRenderer; rest: () => MouthPatch }) {
    this.fps = options.fps;
    this.#render = options.render;
    this.#rest = options.rest;
    this.#resampler = new Resampler(options.inputRate, wav2lipRate);
  }

  get framesSent(): number {
    return this.#nextFrame;
  }

  /** Adds speech; returns the frames whose audio and mel window are now complete. */
  async push(pcm: Int16Array): Promise<NeuralFrame[]> {
    const samples = this.#resampler.push(pcm);
    this.#mel.push(Float32Array.from(samples, (s) => s / 32768));
    this.#received += samples.length;
    return this.#emit(false);
  }

  /** The utterance's audio is complete: frames for everything received, windows at the end as wav2lip takes them. */
  async flush(): Promise<NeuralFrame[]> {
    this.#mel.finish();
    const frames = await this.#emit(true);
    this.#reset();
    return frames;
  }

  /** An interruption: drops the audio not yet turned into frames; the next frame shows the avatar's own face. */
  clear(): NeuralFrame {
    const frame = this.#frame(this.#rest());
    this.#reset();
    return frame;
  }

  #samplesAt(relative: number): number {
    return Math.round((relative * wav2lipRate) / this.fps);
  }

  async #emit(final: boolean): Promise<NeuralFrame[]> {
    const mels: Float32Array[] = [];
    for (;;) {
      const relative = this.#nextFrame + mels.length - this.#first;
      if (final ? this.#samplesAt(relative) >= this.#received : this.#samplesAt(relative + 1) > this.#received) break;
      if (!windowReady(this.#mel, relative, this.fps)) break;
      mels.push(melWindow(this.#mel, relative, this.fps));
    }
    if (mels.length === 0) return [];
    const patches = await this.#render(mels);
    const frames = patches.map((patch) => this.#frame(patch));
    // Columns before the next frame's window are not needed again (the end's last-16 rule only reaches back from
    // the end, which is past the next window's start).
    if (!final) this.#mel.dropBefore(Math.max(0, windowStart(this.#nextFrame - this.#first, this.fps) - melStep));
    return frames;
  }

  #frame(patch: MouthPatch): NeuralFrame {
    const index = this.#nextFrame++;
    return {
      index,
      ptsMs: Math.round((index * 1000) / this.fps),
      viseme: Viseme.rest,
      mouth: { open: 0, width: 0, round: 0 },
      patch,
    };
  }

  /** Between utterances: the clock moves to the end of the last frame sent and the next utterance's mel starts there. */
  #reset(): void {
    this.#mel = new Wav2LipMel();
    this.#first = this.#nextFrame;
    this.#received = 0;
  }
}
