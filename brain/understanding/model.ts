// The understanding model and how it is trained: a fastText-style classifier. A comment's hashed features
// (features.ts) index an embedding table; their mean is one vector per comment, and two linear heads on it give the
// intent and the moderation label, each a softmax. Trained by plain SGD with a linearly falling rate, on the
// generated corpus; exported as an ONNX graph (Gather, ReduceMean, MatMul, Add, Softmax) that onnxruntime serves.
import { DataType, encodeModel } from "../../onnx/index.js";
import { maskPersonalData } from "../moderation.js";
import { blockLabels, intentLabels, Random, type LabelledComment } from "./corpus.js";
import { featureBuckets, featureIds } from "./features.js";

/** What the moderation head tells apart; `mask` is the exact rules' decision, not the model's. */
export const moderationClasses = ["allow", ...blockLabels] as const;
export type ModerationClass = (typeof moderationClasses)[number];

export interface TrainOptions {
  dim?: number;
  epochs?: number;
  learningRate?: number;
  /** Share of a comment's features left out of each training step. Default 0.25. */
  dropout?: number;
  seed?: number;
  onEpoch?: (epoch: number, loss: number) => void;
}

interface Example {
  ids: number[];
  intent: number; // -1 when not labelled (blocked comments)
  moderation: number;
}

function softmaxInPlace(v: Float32Array): void {
  let max = -Infinity;
  for (const x of v) max = Math.max(max, x);
  let sum = 0;
  for (let i = 0; i < v.length; i++) sum += v[i] = Math.exp(v[i]! - max);
  for (let i = 0; i < v.length; i++) v[i]! /= sum;
}

export class UnderstandingModel {
  readonly dim: number;
  readonly embeddings: Float32Array;
  readonly heads: { weights: Float32Array; bias: Float32Array; classes: number }[];

  constructor(dim: number, seed: number) {
    this.dim = dim;
    const random = new Random(seed);
    this.embeddings = Float32Array.from({ length: featureBuckets * dim }, () => (random.next() * 2 - 1) / dim);
    this.heads = [intentLabels.length, moderationClasses.length].map((classes) => ({
      weights: new Float32Array(dim * classes),
      bias: new Float32Array(classes),
      classes,
    }));
  }

  #hidden(ids: readonly number[]): Float32Array {
    const h = new Float32Array(this.dim);
    for (const id of ids) {
      const row = id * this.dim;
      for (let d = 0; d < this.dim; d++) h[d]! += this.embeddings[row + d]!;
    }
    for (let d = 0; d < this.dim; d++) h[d]! /= ids.length;
    return h;
  }

  #probabilities(head: number, h: Float32Array): Float32Array {
    const { weights, bias, classes } = this.heads[head]!;
    const out = Float32Array.from(bias);
    for (let d = 0; d < this.dim; d++) {
      for (let c = 0; c < classes; c++) out[c]! += h[d]! * weights[d * classes + c]!;
    }
    softmaxInPlace(out);
    return out;
  }

  /** Probabilities of both heads for one comment (the same arithmetic as the ONNX graph). */
  predict(text: string): { intent: Float32Array; moderation: Float32Array } {
    const h = this.#hidden(featureIds(text));
    return { intent: this.#probabilities(0, h), moderation: this.#probabilities(1, h) };
  }

  train(corpus: readonly LabelledComment[], options: TrainOptions = {}): void {
    const epochs = options.epochs ?? 8;
    const rate = options.learningRate ?? 0.4;
    const random = new Random(options.seed ?? 7);
    const dropout = options.dropout ?? 0.25;
    const examples: Example[] = corpus.map((row) => ({
      // The model reads what a room gives it: the comment with personal data already masked (moderation.ts).
      ids: featureIds(maskPersonalData(row.text).text),
      intent: row.intent === null ? -1 : intentLabels.indexOf(row.intent),
      moderation: row.moderation === "mask" ? 0 : moderationClasses.indexOf(row.moderation),
    }));
    const total = epochs * examples.length;
    let step = 0;
    const gradient = new Float32Array(this.dim);
    for (let epoch = 0; epoch < epochs; epoch++) {
      // Fisher–Yates with the seeded source: the same order every run.
      for (let i = examples.length - 1; i > 0; i--) {
        const j = Math.floor(random.next() * (i + 1));
        [examples[i], examples[j]] = [examples[j]!, examples[i]!];
      }
      let loss = 0;
      for (const example of examples) {
        const lr = rate * (1 - step++ / total);
        // Features dropped at random each time: no single n-gram may decide, as a viewer's wording varies.
        const ids = example.ids.length > 4 ? example.ids.filter(() => random.next() >= dropout) : example.ids;
        if (ids.length === 0) continue;
        const h = this.#hidden(ids);
        gradient.fill(0);
        for (const [head, target] of [
          [0, example.intent],
          [1, example.moderation],
        ] as const) {
          if (target < 0) continue;
          const p = this.#probabilities(head, h);
          loss -= Math.log(Math.max(p[target]!, 1e-9));
          p[target]! -= 1;
          const { weights, bias, classes } = this.heads[head]!;
          for (let d = 0; d < this.dim; d++) {
            let g = 0;
            for (let c = 0; c < classes; c++) {
              g += weights[d * classes + c]! * p[c]!;
              weights[d * classes + c]! -= lr * h[d]! * p[c]!;
            }
            gradient[d]! += g;
          }
          for (let c = 0; c < classes; c++) bias[c]! -= lr * p[c]!;
        }
        const share = lr / ids.length;
        for (const id of ids) {
          const row = id * this.dim;
          for (let d = 0; d < this.dim; d++) this.embeddings[row + d]! -= share * gradient[d]!;
        }
      }
      options.onEpoch?.(epoch, loss / examples.length);
    }
  }

  /** The ONNX model: input `ids` (int64 [n], featureIds of one masked comment), outputs `intent` and `moderation`. */
  toOnnx(metadata: Record<string, string>): Uint8Array {
    const [intent, moderation] = this.heads;
    return encodeModel({
      name: "livehost-understanding",
      inputs: [{ name: "ids", type: DataType.INT64, shape: ["features"] }],
      outputs: [
        { name: "intent", type: DataType.FLOAT, shape: [1, intent!.classes] },
        { name: "moderation", type: DataType.FLOAT, shape: [1, moderation!.classes] },
      ],
      nodes: [
        // The table is stored in half precision (half the file); rows are widened before they are averaged.
        { op: "Gather", inputs: ["embeddings", "ids"], outputs: ["rows16"], attributes: { axis: 0 } },
        { op: "Cast", inputs: ["rows16"], outputs: ["rows"], attributes: { to: DataType.FLOAT } },
        { op: "ReduceMean", inputs: ["rows"], outputs: ["hidden"], attributes: { axes: { ints: [0] }, keepdims: 1 } },
        { op: "MatMul", inputs: ["hidden", "intent_w"], outputs: ["intent_mm"] },
        { op: "Add", inputs: ["intent_mm", "intent_b"], outputs: ["intent_logits"] },
        { op: "Softmax", inputs: ["intent_logits"], outputs: ["intent"], attributes: { axis: 1 } },
        { op: "MatMul", inputs: ["hidden", "moderation_w"], outputs: ["moderation_mm"] },
        { op: "Add", inputs: ["moderation_mm", "moderation_b"], outputs: ["moderation_logits"] },
        { op: "Softmax", inputs: ["moderation_logits"], outputs: ["moderation"], attributes: { axis: 1 } },
      ],
      initializers: [
        { name: "embeddings", dims: [featureBuckets, this.dim], type: DataType.FLOAT16, values: this.embeddings },
        { name: "intent_w", dims: [this.dim, intent!.classes], type: DataType.FLOAT, values: intent!.weights },
        { name: "intent_b", dims: [intent!.classes], type: DataType.FLOAT, values: intent!.bias },
        {
          name: "moderation_w",
          dims: [this.dim, moderation!.classes],
          type: DataType.FLOAT,
          values: moderation!.weights,
        },
        { name: "moderation_b", dims: [moderation!.classes], type: DataType.FLOAT, values: moderation!.bias },
      ],
      metadata: {
        ...metadata,
        intent_labels: intentLabels.join(","),
        moderation_labels: moderationClasses.join(","),
        feature_buckets: String(featureBuckets),
      },
    });
  }
}
