// Trains the project's talking-face generator (talking-face-net.ts) on talking video it makes itself
// (talking-face-data.ts) with TensorFlow.js on the CPU (its WebAssembly backend, one thread), deterministic from a
// seed; writes it as ONNX with wav2lip's I/O and evaluates the written file in onnxruntime on held-out lines.
// `livehost models train-talking-face` runs it; its output is committed (gpu-workers/lipsync/model/). The same seed
// gives the same model from a fresh espeak-ng engine (the command starts one): espeak-ng's audio for a line depends
// slightly on what the engine said before it.
import { createHash } from "node:crypto";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import * as ort from "onnxruntime-node";
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-wasm";
import { seededRandom } from "../../onnx/index.js";
import { UnavailableError } from "../../errors/index.js";
import type { EspeakEngine } from "../tts/espeak.js";
import { heldOutUtterances, trainingUtterances } from "./corpus.js";
import type { Utterance } from "./dataset.js";
import { faceSide } from "./talking-face.js";
import { buildClips, defaultFaceInput, targetFace, type TalkingFaceClip } from "./talking-face-data.js";
import { evaluateGenerator, type GeneratorEvaluation } from "./talking-face-eval.js";
import {
  forward,
  fromVariables,
  generatorOnnx,
  initialWeights,
  layerSizes,
  melSize,
  mouthRegion,
  faceRegion,
  toVariables,
} from "./talking-face-net.js";
import { melBands, melStep } from "./wav2lip-mel.js";

export const talkingFaceModelFile = "talking-face.onnx";
export const talkingFaceEvaluationFile = "talking-face-evaluation.json";

export interface TalkingFaceTrainingOptions {
  seed?: number;
  epochs?: number;
  batchSize?: number;
  /** Lines spoken for training and for the evaluation (default: the lip-sync corpus, both languages). */
  training?: Utterance[];
  heldOut?: Utterance[];
  /** Speaking rates each training line is said at. */
  speeds?: number[];
  log?: (message: string) => void;
  signal?: AbortSignal;
}

export interface TalkingFaceEvaluation extends GeneratorEvaluation {
  seed: number;
  epochs: number;
  training_frames: number;
  training_lines: number;
  held_out_lines: number;
  final_training_l1: number;
  /** Largest |ONNX - TensorFlow.js| over the first training frames' mouth region: the export is the trained net. */
  onnx_vs_training_max_abs_diff: number;
  model: { parameters: number; layers: readonly number[]; region: typeof mouthRegion; bytes: number; sha256: string };
  training_seconds: number;
}

/** A learning rate that falls from `start` to a tenth of it over training (Adam's moments are kept). */
class DecayingAdam extends tf.AdamOptimizer {
  set rate(value: number) {
    this.learningRate = value;
  }
}

let backend: Promise<void> | undefined;
function wasmBackend(): Promise<void> {
  backend ??= (async () => {
    // tfjs-layers' Node build registers TensorFlow.js's gradients (tfjs-core's has none; the layers API is not
    // used), imported here rather than by every process that loads this module.
    await import("@tensorflow/tfjs-layers");
    tf.env().set("PROD", true);
    if (!(await tf.setBackend("wasm"))) throw new UnavailableError("TensorFlow.js's WebAssembly backend did not start");
    await tf.ready();
  })();
  return backend;
}

export async function trainTalkingFace(
  engine: EspeakEngine,
  outDir: string,
  options: TalkingFaceTrainingOptions = {},
): Promise<TalkingFaceEvaluation> {
  const seed = options.seed ?? 20;
  const epochs = options.epochs ?? 6;
  const batchSize = options.batchSize ?? 64;
  const log = options.log ?? (() => undefined);
  const started = performance.now();
  await wasmBackend();
  const training = options.training ?? trainingUtterances;
  const heldOut = options.heldOut ?? heldOutUtterances;
  log(`speaking ${training.length} training lines at ${(options.speeds ?? [0.85, 1, 1.2]).length} speeds`);
  const clips = await buildClips(engine, training, options.speeds ?? [0.85, 1, 1.2]);
  options.signal?.throwIfAborted();
  const { mels, targets, frames } = examples(clips);
  log(`${frames} video frames drawn; training for ${epochs} epochs`);

  const reference = tf.tensor3d(faceRegion(defaultFaceInput()), [1, 3, mouthRegion.height * mouthRegion.width]);
  const variables = toVariables(initialWeights(seed));
  const startRate = 3e-3;
  const optimizer = new DecayingAdam(startRate, 0.9, 0.999, 1e-7);
  const random = seededRandom(seed + 1);
  const order = Array.from({ length: frames }, (_, i) => i);
  const regionValues = targets.length / frames;
  const melBatch = new Float32Array(batchSize * melSize);
  const targetBatch = new Float32Array(batchSize * regionValues);
  const steps = epochs * Math.ceil(frames / batchSize);
  let step = 0;
  let lastLoss = 0;
  for (let epoch = 0; epoch < epochs; epoch++) {
    for (let i = order.length - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1));
      [order[i], order[j]] = [order[j]!, order[i]!];
    }
    let sum = 0;
    let batches = 0;
    for (let at = 0; at < frames; at += batchSize) {
      options.signal?.throwIfAborted();
      const rows = Math.min(batchSize, frames - at);
      for (let r = 0; r < rows; r++) {
        const e = order[at + r]!;
        melBatch.set(mels.subarray(e * melSize, (e + 1) * melSize), r * melSize);
        for (let k = 0; k < regionValues; k++) targetBatch[r * regionValues + k] = targets[e * regionValues + k]! / 255;
      }
      optimizer.rate = startRate * 0.1 ** (step++ / steps);
      const loss = tf.tidy(() => {
        const mel = tf.tensor2d(melBatch.subarray(0, rows * melSize), [rows, melSize]);
        const target = tf.tensor3d(targetBatch.subarray(0, rows * regionValues), [rows, 3, regionValues / 3]);
        return optimizer.minimize(() => tf.mean(tf.abs(tf.sub(forward(variables, mel, reference), target))), true)!;
      });
      sum += (await loss.data())[0]!;
      loss.dispose();
      batches++;
    }
    lastLoss = (255 * sum) / batches;
    log(`epoch ${epoch + 1}/${epochs}: mouth region L1 ${lastLoss.toFixed(2)} levels`);
  }

  const weights = fromVariables(variables);
  const parity = tf.tidy(
    () =>
      forward(
        variables,
        tf.tensor2d(mels.subarray(0, 8 * melSize), [8, melSize]),
        reference,
      ).dataSync() as Float32Array,
  );
  tf.dispose([...variables, reference]);
  optimizer.dispose();
  const bytes = generatorOnnx(weights, { seed: String(seed), epochs: String(epochs) });

  await mkdir(outDir, { recursive: true });
  const modelPath = join(outDir, talkingFaceModelFile);
  await writeFile(modelPath, bytes);
  log(`wrote ${modelPath} (${bytes.length} bytes); evaluating it in onnxruntime on ${heldOut.length} held-out lines`);
  // The written file, loaded as the worker loads a generator.
  const session = await ort.InferenceSession.create(modelPath, { intraOpNumThreads: 1, interOpNumThreads: 1 });
  try {
    const heldOutClips = await buildClips(engine, heldOut);
    const evaluation = await evaluateGenerator(session, ort.Tensor, heldOutClips);
    const onnxDiff = await parityCheck(session, mels.subarray(0, 8 * melSize), parity);
    const result: TalkingFaceEvaluation = {
      seed,
      epochs,
      training_frames: frames,
      training_lines: training.length,
      held_out_lines: heldOut.length,
      final_training_l1: Math.round(lastLoss * 100) / 100,
      onnx_vs_training_max_abs_diff: onnxDiff,
      model: {
        parameters: weights.reduce((n, l) => n + l.weights.length + l.bias.length, 0),
        layers: layerSizes,
        region: mouthRegion,
        bytes: bytes.length,
        sha256: createHash("sha256").update(bytes).digest("hex"),
      },
      training_seconds: Math.round((performance.now() - started) / 100) / 10,
      ...evaluation,
    };
    await writeFile(join(outDir, talkingFaceEvaluationFile), `${JSON.stringify(result, null, 2)}\n`);
    log(
      `held-out lower-face L1 ${result.lower_face_l1} (reference face ${result.baselines.reference_face.lower_face_l1}); mouth opening vs target r=${result.mouth_opening_correlation.with_target}`,
    );
    return result;
  } finally {
    await session.release();
  }
}

/** Every frame's mel window and its target mouth region (8-bit, [3, region]) in two flat arrays. */
function examples(clips: TalkingFaceClip[]) {
  const frames = clips.reduce((n, c) => n + c.mels.length, 0);
  const regionValues = 3 * mouthRegion.height * mouthRegion.width;
  const mels = new Float32Array(frames * melSize);
  const targets = new Uint8Array(frames * regionValues);
  let e = 0;
  for (const clip of clips) {
    clip.mels.forEach((mel, i) => {
      mels.set(mel, e * melSize);
      const region = faceRegion(targetFace(clip.mouths[i]!), 0);
      for (let k = 0; k < regionValues; k++) targets[e * regionValues + k] = Math.round(255 * region[k]!);
      e++;
    });
  }
  return { mels, targets, frames };
}

/** The written model against the training library's forward pass on the same frames (the default avatar's face). */
async function parityCheck(session: ort.InferenceSession, mel: Float32Array, expected: Float32Array): Promise<number> {
  const rows = mel.length / melSize;
  const face = defaultFaceInput();
  const faces = new Float32Array(rows * face.length);
  for (let r = 0; r < rows; r++) faces.set(face, r * face.length);
  const out = await session.run({
    audio_sequences: new ort.Tensor("float32", mel, [rows, 1, melBands, melStep]),
    face_sequences: new ort.Tensor("float32", faces, [rows, 6, faceSide, faceSide]),
  });
  const data = out.output!.data as Float32Array;
  const plane = 3 * faceSide * faceSide;
  let max = 0;
  const per = expected.length / rows;
  for (let r = 0; r < rows; r++) {
    const got = faceRegion(data.subarray(r * plane, (r + 1) * plane), 0);
    for (let k = 0; k < per; k++) max = Math.max(max, Math.abs(got[k]! - expected[r * per + k]!));
  }
  return Number(max.toExponential(2));
}
