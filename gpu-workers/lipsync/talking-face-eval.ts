// How good the talking-face generator is, measured on held-out talking video (lines it never trained on): the error
// of the lower face against the face the viseme path draws, and whether its mouth opens with the sound. A model
// loaded in onnxruntime is measured through the generator contract a user's wav2lip export goes through, so the
// figures are the served model's, not the training library's.
import type * as ort from "onnxruntime-node";
import type { EspeakEngine } from "../tts/espeak.js";
import { heldOutUtterances } from "./corpus.js";
import { faceSide, talkingFaceContract } from "./talking-face.js";
import { buildClips, defaultFaceInput, mouthOpening, targetFace, type TalkingFaceClip } from "./talking-face-data.js";
import { mouthRegion } from "./talking-face-net.js";
import { Viseme, visemeParams } from "./visemes.js";
import { melBands, melStep } from "./wav2lip-mel.js";

export interface GeneratorEvaluation {
  clips: number;
  frames: number;
  /** Mean absolute error over the lower half of the 96x96 face crop (3 channels), in 8-bit levels (0-255). */
  lower_face_l1: number;
  /** The same over the mouth region the generator draws. */
  mouth_region_l1: number;
  baselines: {
    /** The avatar's reference face unchanged (what a generator that ignores the sound and draws nothing gives). */
    reference_face: { lower_face_l1: number; mouth_region_l1: number };
    /** The face with the viseme renderer's rest mouth on every frame (a still, closed mouth). */
    rest_mouth_still: { lower_face_l1: number; mouth_region_l1: number };
  };
  /** Pearson correlation, over all held-out frames, of the drawn mouth's opening (dark px in the mouth box). */
  mouth_opening_correlation: {
    /** with the opening of the viseme path's mouth for the same frame. */
    with_target: number;
    /** with the speech's loudness over the frame. */
    with_audio_envelope: number;
    /** the viseme path's own opening with the loudness: what following it perfectly would give. */
    target_with_audio_envelope: number;
  };
  definitions: Record<string, string>;
}

function pearson(a: number[], b: number[]): number {
  const n = a.length;
  const ma = a.reduce((s, x) => s + x, 0) / n;
  const mb = b.reduce((s, x) => s + x, 0) / n;
  let ab = 0;
  let aa = 0;
  let bb = 0;
  for (let i = 0; i < n; i++) {
    ab += (a[i]! - ma) * (b[i]! - mb);
    aa += (a[i]! - ma) ** 2;
    bb += (b[i]! - mb) ** 2;
  }
  return aa === 0 || bb === 0 ? 0 : ab / Math.sqrt(aa * bb);
}

/** Mean absolute difference of two [3, 96, 96] faces over rows y0..y1, columns x0..x1, in 8-bit levels. */
function l1(a: Float32Array, b: Float32Array, y0: number, y1: number, x0: number, x1: number): number {
  let sum = 0;
  for (let c = 0; c < 3; c++) {
    for (let y = y0; y < y1; y++) {
      for (let x = x0; x < x1; x++) {
        const i = c * faceSide * faceSide + y * faceSide + x;
        sum += Math.abs(a[i]! - b[i]!);
      }
    }
  }
  return (255 * sum) / (3 * (y1 - y0) * (x1 - x0));
}

const lowerFace = (a: Float32Array, b: Float32Array) => l1(a, b, faceSide / 2, faceSide, 0, faceSide);
const region = (a: Float32Array, b: Float32Array) =>
  l1(a, b, mouthRegion.y, mouthRegion.y + mouthRegion.height, mouthRegion.x, mouthRegion.x + mouthRegion.width);

/** Runs a wav2lip-shaped generator (any names, as the worker reads them) on the clips with the default avatar's face. */
export async function evaluateGenerator(
  session: ort.InferenceSession,
  Tensor: typeof ort.Tensor,
  clips: TalkingFaceClip[],
): Promise<GeneratorEvaluation> {
  const contract = talkingFaceContract(session);
  const face = defaultFaceInput();
  const plane = 3 * faceSide * faceSide;
  const reference = face.slice(plane);
  const rest = targetFace(visemeParams[Viseme.rest]);
  const sums = { model: [0, 0], reference: [0, 0], rest: [0, 0] };
  const drawn: number[] = [];
  const wanted: number[] = [];
  const loudness: number[] = [];
  const batch = contract.batched ? 32 : 1;
  let frames = 0;
  for (const clip of clips) {
    for (let at = 0; at < clip.mels.length; at += batch) {
      const rows = Math.min(batch, clip.mels.length - at);
      const mel = new Float32Array(rows * melBands * melStep);
      const faces = new Float32Array(rows * face.length);
      for (let r = 0; r < rows; r++) {
        mel.set(clip.mels[at + r]!, r * melBands * melStep);
        faces.set(face, r * face.length);
      }
      const out = await session.run({
        [contract.mel]: new Tensor("float32", mel, [rows, 1, melBands, melStep]),
        [contract.face]: new Tensor("float32", faces, [rows, 6, faceSide, faceSide]),
      });
      const data = out[contract.output]!.data as Float32Array;
      for (let r = 0; r < rows; r++) {
        const generated = data.subarray(r * plane, (r + 1) * plane);
        const target = targetFace(clip.mouths[at + r]!);
        sums.model[0]! += lowerFace(generated, target);
        sums.model[1]! += region(generated, target);
        sums.reference[0]! += lowerFace(reference, target);
        sums.reference[1]! += region(reference, target);
        sums.rest[0]! += lowerFace(rest, target);
        sums.rest[1]! += region(rest, target);
        drawn.push(mouthOpening(generated));
        wanted.push(mouthOpening(target));
        loudness.push(clip.envelope[at + r]!);
        frames++;
      }
    }
  }
  const mean = (x: number) => Math.round((x / Math.max(1, frames)) * 100) / 100;
  const r3 = (x: number) => Math.round(x * 1000) / 1000;
  return {
    clips: clips.length,
    frames,
    lower_face_l1: mean(sums.model[0]!),
    mouth_region_l1: mean(sums.model[1]!),
    baselines: {
      reference_face: { lower_face_l1: mean(sums.reference[0]!), mouth_region_l1: mean(sums.reference[1]!) },
      rest_mouth_still: { lower_face_l1: mean(sums.rest[0]!), mouth_region_l1: mean(sums.rest[1]!) },
    },
    mouth_opening_correlation: {
      with_target: r3(pearson(drawn, wanted)),
      with_audio_envelope: r3(pearson(drawn, loudness)),
      target_with_audio_envelope: r3(pearson(wanted, loudness)),
    },
    definitions: {
      target:
        "the face the viseme path draws for the frame: the viseme renderer's mouth (from espeak-ng's phoneme timings, eased as MouthAnimator eases it) on the default avatar, cropped to 96x96 as the generator sees faces",
      l1: "mean |generated - target| in 8-bit levels over the 3 colour channels; lower face = rows 48-95 of the crop",
      mouth_opening: "share of the mouth box's px darker than luma 0.3 (the inside of the mouth)",
    },
  };
}

/** The evaluation on the lip-sync corpus's held-out lines (both languages), spoken now by `engine`. */
export async function evaluateOnHeldOut(
  engine: EspeakEngine,
  session: ort.InferenceSession,
  Tensor: typeof ort.Tensor,
): Promise<GeneratorEvaluation> {
  return evaluateGenerator(session, Tensor, await buildClips(engine, heldOutUtterances));
}
