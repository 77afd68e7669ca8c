// The project's own talking-face generator: its layers, its forward pass for training (TensorFlow.js), and the ONNX
// graph it is served as, with wav2lip's I/O (mel [B,1,80,16] and face [B,6,96,96] → [B,3,96,96], BGR 0..1). It is
// small on purpose (≈0.5 M multiply-adds a frame, ≪ 1 ms on a CPU core): an audio encoder (two dense layers over the
// mel window) gives a mouth code; a decoder (two dense layers) draws from it the colour and coverage of the mouth
// region of the face crop, which is composited over the reference face the generator is given (face channels 3-5).
// Everything outside the mouth region is the reference face itself.
import * as tf from "@tensorflow/tfjs-core";
import { DataType, encodeModel, seededRandom, type Node, type Tensor } from "../../onnx/index.js";
import { faceSide } from "./talking-face.js";
import { melBands, melStep } from "./wav2lip-mel.js";

/** The part of the 96x96 face crop the generator draws (rows, columns); the default avatar's mouth lies inside. */
export const mouthRegion = { y: 52, x: 24, height: 32, width: 48 } as const;
const regionSize = mouthRegion.height * mouthRegion.width;
export const melSize = melBands * melStep;
/** Layer widths: mel → audio → code (the mouth code) → decoder → 4 planes (coverage and BGR) of the region. */
export const layerSizes = [melSize, 64, 32, 64, 4 * regionSize] as const;
/** wav2lip's mel is in [-4, 4]; the first layer sees it scaled to [-1, 1] (folded into its weights on export). */
const melScale = 1 / 4;

export interface DenseLayer {
  /** [inputs, outputs], row-major. */
  weights: Float32Array;
  bias: Float32Array;
}

export type GeneratorWeights = DenseLayer[];

/** He-uniform weights from a seed; the coverage starts near 0 so the untrained generator returns the reference face. */
export function initialWeights(seed: number): GeneratorWeights {
  const random = seededRandom(seed);
  return layerSizes.slice(1).map((outputs, i) => {
    const inputs = layerSizes[i]!;
    const limit = Math.sqrt(6 / inputs);
    const weights = Float32Array.from({ length: inputs * outputs }, () => (random() * 2 - 1) * limit);
    const bias = new Float32Array(outputs);
    if (i === layerSizes.length - 2) bias.fill(-4, 0, regionSize);
    return { weights, bias };
  });
}

/**
 * The mouth region of a face, [3 * regionSize] BGR: of a [6, 96, 96] face input, its reference face (channels 3-5,
 * the default); of a [3, 96, 96] face, `firstChannel` 0.
 */
export function faceRegion(face: Float32Array, firstChannel = 3): Float32Array {
  const out = new Float32Array(3 * regionSize);
  for (let c = 0; c < 3; c++) {
    for (let y = 0; y < mouthRegion.height; y++) {
      const from = (firstChannel + c) * faceSide * faceSide + (mouthRegion.y + y) * faceSide + mouthRegion.x;
      out.set(face.subarray(from, from + mouthRegion.width), c * regionSize + y * mouthRegion.width);
    }
  }
  return out;
}

/** The TensorFlow.js forward pass: mel windows [B, 1280] (as given, in [-4, 4]) → the region [B, 3, regionSize]. */
export function forward(variables: tf.Variable[], mel: tf.Tensor2D, reference: tf.Tensor): tf.Tensor3D {
  const batch = mel.shape[0];
  let x: tf.Tensor2D = tf.mul(mel, melScale);
  const layers = variables.length / 2;
  for (let i = 0; i < layers; i++) {
    x = tf.add(tf.matMul(x, variables[2 * i] as tf.Tensor2D), variables[2 * i + 1]!);
    if (i < layers - 1) x = tf.relu(x);
  }
  const planes = tf.reshape(x, [batch, 4, regionSize]);
  const coverage = tf.sigmoid(tf.slice(planes, [0, 0, 0], [batch, 1, regionSize]));
  const colour = tf.sigmoid(tf.slice(planes, [0, 1, 0], [batch, 3, regionSize]));
  return tf.add(reference, tf.mul(coverage, tf.sub(colour, reference)));
}

export function toVariables(weights: GeneratorWeights): tf.Variable[] {
  return weights.flatMap((layer, i) => [
    tf.variable(tf.tensor2d(layer.weights, [layerSizes[i]!, layerSizes[i + 1]!]), true, `w${i}`),
    tf.variable(tf.tensor1d(layer.bias), true, `b${i}`),
  ]);
}

export function fromVariables(variables: tf.Variable[]): GeneratorWeights {
  const out: GeneratorWeights = [];
  for (let i = 0; i < variables.length; i += 2) {
    out.push({
      weights: Float32Array.from(variables[i]!.dataSync()),
      bias: Float32Array.from(variables[i + 1]!.dataSync()),
    });
  }
  return out;
}

const int64 = (name: string, values: number[]): Tensor => ({
  name,
  dims: [values.length],
  type: DataType.INT64,
  values,
});

/**
 * The generator as an ONNX graph with wav2lip's I/O: inputs "audio_sequences" [B,1,80,16] and "face_sequences"
 * [B,6,96,96], output "output" [B,3,96,96], a dynamic batch; the trained weights as initializers.
 */
export function generatorOnnx(weights: GeneratorWeights, metadata: Record<string, string> = {}): Uint8Array {
  const nodes: Node[] = [];
  const initializers: Tensor[] = [];
  const node = (op: string, inputs: string[], output: string, attributes?: Node["attributes"]) => {
    nodes.push({ op, inputs, outputs: [output], attributes });
    return output;
  };
  let x = node("Flatten", ["audio_sequences"], "mel_flat", { axis: 1 });
  weights.forEach((layer, i) => {
    const values = i === 0 ? layer.weights.map((w) => w * melScale) : layer.weights;
    initializers.push({ name: `w${i}`, dims: [layerSizes[i]!, layerSizes[i + 1]!], type: DataType.FLOAT, values });
    initializers.push({ name: `b${i}`, dims: [layerSizes[i + 1]!], type: DataType.FLOAT, values: layer.bias });
    x = node("Gemm", [x, `w${i}`, `b${i}`], `dense${i}`);
    if (i < weights.length - 1) x = node("Relu", [x], `relu${i}`);
  });
  const { y, x: left, height, width } = mouthRegion;
  initializers.push(
    int64("planes_shape", [-1, 4, height, width]),
    int64("c0", [0]),
    int64("c1", [1]),
    int64("c3", [3]),
    int64("c4", [4]),
    int64("c6", [6]),
    int64("channel_axis", [1]),
    int64("region_starts", [y, left]),
    int64("region_ends", [y + height, left + width]),
    int64("region_axes", [2, 3]),
    int64("region_pads", [0, 0, y, left, 0, 0, faceSide - y - height, faceSide - left - width]),
  );
  const planes = node("Reshape", [x, "planes_shape"], "planes");
  const coverage = node("Sigmoid", [node("Slice", [planes, "c0", "c1", "channel_axis"], "coverage_logit")], "coverage");
  const colour = node("Sigmoid", [node("Slice", [planes, "c1", "c4", "channel_axis"], "colour_logit")], "colour");
  const reference = node("Slice", ["face_sequences", "c3", "c6", "channel_axis"], "reference");
  const under = node("Slice", [reference, "region_starts", "region_ends", "region_axes"], "reference_region");
  const change = node("Mul", [coverage, node("Sub", [colour, under], "towards")], "change");
  node("Add", [reference, node("Pad", [change, "region_pads"], "change_full")], "output");
  return encodeModel({
    name: "livehost-talking-face",
    inputs: [
      { name: "audio_sequences", type: DataType.FLOAT, shape: ["batch", 1, melBands, melStep] },
      { name: "face_sequences", type: DataType.FLOAT, shape: ["batch", 6, faceSide, faceSide] },
    ],
    outputs: [{ name: "output", type: DataType.FLOAT, shape: ["batch", 3, faceSide, faceSide] }],
    nodes,
    initializers,
    metadata: {
      weights: "trained by livehost (gpu-workers/lipsync/talking-face-train.ts) on talking video it draws itself",
      region: `rows ${y}..${y + height}, columns ${left}..${left + width} of the 96x96 face crop`,
      ...metadata,
    },
  });
}
