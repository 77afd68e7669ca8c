// Talking video the project makes itself, for its own talking-face generator: the embedded voices speak lines and
// their phoneme timings drive the viseme renderer's mouth on the default avatar, eased from frame to frame as the
// viseme path eases it. Each video frame pairs wav2lip's mel window of that speech with the 96x96 face crop (BGR,
// 0..1) the generator should draw: the drawn host with the mouth the viseme path would show. No downloads.
import { UnknownVoiceError } from "../errors.js";
import type { EspeakEngine } from "../tts/espeak.js";
import { synthesizeToPcm } from "../tts/embedded.js";
import { embeddedVoices } from "../tts/voices.js";
import type { Utterance } from "./dataset.js";
import { defaultFaceBox, defaultMouthBox, drawDefaultHost } from "./default-avatar.js";
import { renderMouth } from "./render.js";
import { faceInput, faceSide, type FaceBox } from "./talking-face.js";
import { Viseme, visemeParams, visemeTrack, type MouthParams } from "./visemes.js";
import { Wav2LipMel, melWindow, wav2lipRate } from "./wav2lip-mel.js";

export const clipFps = 25;
const frameWidth = 720;
const frameHeight = 1280;
const plane = faceSide * faceSide;

/** The default avatar's face box and its mouth box inside the 96x96 crop (in crop px, fractional). */
export const defaultFace: FaceBox = defaultFaceBox(frameWidth, frameHeight);
const mouthBox = defaultMouthBox(frameWidth, frameHeight);
export const mouthInCrop = {
  x: ((mouthBox.x - defaultFace.x) * faceSide) / defaultFace.width,
  y: ((mouthBox.y - defaultFace.y) * faceSide) / defaultFace.height,
  width: (mouthBox.width * faceSide) / defaultFace.width,
  height: (mouthBox.height * faceSide) / defaultFace.height,
};

/** The face box's pixels of the drawn host (RGBA), cropped once: targets are drawn on a copy of it. */
let hostCrop: Uint8Array | undefined;
function host(): Uint8Array {
  if (hostCrop) return hostCrop;
  const frame = drawDefaultHost(frameWidth, frameHeight);
  const { x, y, width, height } = defaultFace;
  hostCrop = new Uint8Array(width * height * 4);
  for (let row = 0; row < height; row++) {
    const from = ((y + row) * frameWidth + x) * 4;
    hostCrop.set(frame.subarray(from, from + width * 4), row * width * 4);
  }
  return hostCrop;
}

const cropBox = (): FaceBox => ({ x: 0, y: 0, width: defaultFace.width, height: defaultFace.height });

/** The generator's face input for the default avatar, as the worker builds it ([6, 96, 96]). */
export function defaultFaceInput(): Float32Array {
  return faceInput(host(), defaultFace.width, cropBox());
}

/**
 * The face the viseme path shows for `mouth`: the parametric mouth composited (alpha over) onto the drawn host at
 * its mouth box, cropped and resized as the generator sees faces. [3, 96, 96] BGR 0..1.
 */
export function targetFace(mouth: MouthParams): Float32Array {
  const crop = Uint8Array.from(host());
  const patch = renderMouth(mouth, mouthBox.width, mouthBox.height);
  const ox = mouthBox.x - defaultFace.x;
  const oy = mouthBox.y - defaultFace.y;
  for (let y = 0; y < patch.height; y++) {
    for (let x = 0; x < patch.width; x++) {
      const p = (y * patch.width + x) * 4;
      const a = patch.data[p + 3]! / 255;
      if (a === 0) continue;
      const o = ((oy + y) * defaultFace.width + ox + x) * 4;
      for (let c = 0; c < 3; c++) crop[o + c] = Math.round(crop[o + c]! * (1 - a) + patch.data[p + c]! * a);
    }
  }
  return faceInput(crop, defaultFace.width, cropBox()).slice(3 * plane);
}

/**
 * How open a drawn mouth is: the share of the mouth box's px (in a [3, 96, 96] BGR face) dark enough to be the inside
 * of the mouth (the renderer's lips and the skin are far brighter). The lip-sync measure of the evaluation.
 */
export function mouthOpening(face: Float32Array): number {
  const x0 = Math.floor(mouthInCrop.x);
  const x1 = Math.ceil(mouthInCrop.x + mouthInCrop.width);
  const y0 = Math.floor(mouthInCrop.y);
  const y1 = Math.ceil(mouthInCrop.y + mouthInCrop.height);
  let dark = 0;
  for (let y = y0; y < y1; y++) {
    for (let x = x0; x < x1; x++) {
      const i = y * faceSide + x;
      const luma = 0.114 * face[i]! + 0.587 * face[plane + i]! + 0.299 * face[2 * plane + i]!;
      if (luma < 0.3) dark++;
    }
  }
  return dark / ((x1 - x0) * (y1 - y0));
}

/** One spoken line as talking video: per video frame its mel window, the mouth it should show, and the loudness. */
export interface TalkingFaceClip {
  text: string;
  voiceId: string;
  /** [80 * 16] per frame, as NeuralAnimator gives the generator. */
  mels: Float32Array[];
  /** The viseme path's mouth per frame (eased as MouthAnimator eases it). */
  mouths: MouthParams[];
  /** RMS of the speech over each frame's interval (-1..1 samples). */
  envelope: number[];
}

/** The mouth per frame from phoneme timings: the viseme track at 25 fps, eased 0.6 a frame from rest. */
function mouthTrack(phonemes: Parameters<typeof visemeTrack>[0], durationMs: number, frames: number): MouthParams[] {
  const track = visemeTrack(phonemes, durationMs, clipFps);
  let mouth = { ...visemeParams[Viseme.rest] };
  const out: MouthParams[] = [];
  for (let i = 0; i < frames; i++) {
    const target = visemeParams[track[i] ?? Viseme.rest];
    mouth = {
      open: mouth.open + 0.6 * (target.open - mouth.open),
      width: mouth.width + 0.6 * (target.width - mouth.width),
      round: mouth.round + 0.6 * (target.round - mouth.round),
    };
    out.push(mouth);
  }
  return out;
}

/** Speaks each line (at each speed) with the embedded voices and cuts it into video frames. */
export async function buildClips(
  engine: EspeakEngine,
  utterances: Utterance[],
  speeds: number[] = [1],
): Promise<TalkingFaceClip[]> {
  const clips: TalkingFaceClip[] = [];
  for (const { voiceId, text } of utterances) {
    const voice = embeddedVoices.find((v) => v.id === voiceId);
    if (!voice) throw new UnknownVoiceError(voiceId);
    for (const speed of speeds) {
      const { pcm, phonemes } = await synthesizeToPcm(engine, voice, text, { speed, sampleRate: wav2lipRate });
      const samples = Float32Array.from(pcm, (s) => s / 32768);
      const mel = new Wav2LipMel();
      mel.push(samples);
      mel.finish();
      const perFrame = wav2lipRate / clipFps;
      const frames = Math.ceil(samples.length / perFrame);
      const envelope: number[] = [];
      const mels: Float32Array[] = [];
      for (let i = 0; i < frames; i++) {
        mels.push(melWindow(mel, i, clipFps));
        let energy = 0;
        const end = Math.min(samples.length, (i + 1) * perFrame);
        for (let s = i * perFrame; s < end; s++) energy += samples[s]! ** 2;
        envelope.push(Math.sqrt(energy / Math.max(1, end - i * perFrame)));
      }
      const mouths = mouthTrack(phonemes, (samples.length / wav2lipRate) * 1000, frames);
      clips.push({ text, voiceId, mels, mouths, envelope });
    }
  }
  return clips;
}
