// The understanding model and how it is trained: a fastText-style classifier. A comment's hashed features
// (features.ts) index an embedding table; their mean is one vector per comment, and two linear heads on it give the
// intent and the moderation label, each a softmax. Trained by plain SGD with a linearly falling rate, on the
// generated corpus; exported as an ONNX graph (Gather, ReduceMean, MatMul, Add, Softmax) that onnxruntime serves.
import { DataType, encodeModel, type Node } from "../../onnx/index.js";
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
  /** Which buckets its features hash to (features.ts featureIds). */
  readonly hashSeed: number;
  readonly embeddings: Float32Array;
  readonly heads: { weights: Float32Array; bias: Float32Array; classes: number }[];

  constructor(dim: number, seed: number, hashSeed = 0) {
    this.dim = dim;
    this.hashSeed = hashSeed;
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
    const h = this.#hidden(featureIds(text, this.hashSeed));
    return { intent: this.#probabilities(0, h), moderation: this.#probabilities(1, h) };
  }

  train(corpus: readonly LabelledComment[], options: TrainOptions = {}): void {
    const epochs = options.epochs ?? 8;
    const rate = options.learningRate ?? 0.4;
    const random = new Random(options.seed ?? 7);
    const dropout = options.dropout ?? 0.25;
    const examples: Example[] = corpus.map((row) => ({
      // The model reads what a room gives it: the comment with personal data already masked (moderation.ts).
      ids: featureIds(maskPersonalData(row.text).text, this.hashSeed),
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
    return ensembleToOnnx([this], metadata);
  }
}

/** The probabilities of several models averaged, as the ensemble's ONNX graph computes them. */
export function predictEnsemble(
  models: readonly UnderstandingModel[],
  text: string,
): { intent: Float32Array; moderation: Float32Array } {
  const each = models.map((m) => m.predict(text));
  const mean = (key: "intent" | "moderation") =>
    Float32Array.from(each[0]![key], (_, c) => each.reduce((sum, p) => sum + p[key][c]!, 0) / each.length);
  return { intent: mean("intent"), moderation: mean("moderation") };
}

/**
 * Models trained alike from different seeds, each hashing the features its own way, as one ONNX graph whose outputs
 * are the mean of their probabilities: input `ids` (int64 [k·n], features.ts ensembleFeatureIds of one masked
 * comment: each member's n ids in turn, offset into its own rows), outputs `intent` and `moderation`. Their tables
 * are stored one after the other; each member's mean vector goes through its own heads and softmax, and the
 * softmaxes are averaged. One model is an ensemble of one.
 */
export function ensembleToOnnx(models: readonly UnderstandingModel[], metadata: Record<string, string>): Uint8Array {
  const k = models.length;
  const dim = models[0]!.dim;
  if (k === 0 || models.some((m) => m.dim !== dim)) throw new Error("an ensemble needs models of one dimension");
  const table = new Float32Array(k * featureBuckets * dim);
  for (const [m, model] of models.entries()) table.set(model.embeddings, m * featureBuckets * dim);
  const stack = (head: number, part: "weights" | "bias") => models.flatMap((model) => [...model.heads[head]![part]]);
  const [intentCount, moderationCount] = [intentLabels.length, moderationClasses.length];
  const head = (name: string): Node[] => [
    // [k, 1, dim] × [k, dim, classes]: each member's vector through its own head.
    { op: "MatMul", inputs: ["hidden", `${name}_w`], outputs: [`${name}_mm`] },
    { op: "Add", inputs: [`${name}_mm`, `${name}_b`], outputs: [`${name}_logits`] },
    { op: "Softmax", inputs: [`${name}_logits`], outputs: [`${name}_each`], attributes: { axis: -1 } },
    { op: "ReduceMean", inputs: [`${name}_each`], outputs: [name], attributes: { axes: { ints: [0] }, keepdims: 0 } },
  ];
  return encodeModel({
    name: "livehost-understanding",
    inputs: [{ name: "ids", type: DataType.INT64, shape: ["features"] }],
    outputs: [
      { name: "intent", type: DataType.FLOAT, shape: [1, intentCount] },
      { name: "moderation", type: DataType.FLOAT, shape: [1, moderationCount] },
    ],
    nodes: [
      // The tables are stored in half precision (half the file); rows are widened before they are averaged.
      { op: "Gather", inputs: ["embeddings", "ids"], outputs: ["rows16"], attributes: { axis: 0 } },
      { op: "Cast", inputs: ["rows16"], outputs: ["rows"], attributes: { to: DataType.FLOAT } },
      { op: "Reshape", inputs: ["rows", "per_member"], outputs: ["member_rows"] },
      {
        op: "ReduceMean",
        inputs: ["member_rows"],
        outputs: ["hidden"],
        attributes: { axes: { ints: [1] }, keepdims: 1 },
      },
      ...head("intent"),
      ...head("moderation"),
    ],
    initializers: [
      { name: "embeddings", dims: [k * featureBuckets, dim], type: DataType.FLOAT16, values: table },
      { name: "per_member", dims: [3], type: DataType.INT64, values: [k, -1, dim] },
      { name: "intent_w", dims: [k, dim, intentCount], type: DataType.FLOAT, values: stack(0, "weights") },
      { name: "intent_b", dims: [k, 1, intentCount], type: DataType.FLOAT, values: stack(0, "bias") },
      { name: "moderation_w", dims: [k, dim, moderationCount], type: DataType.FLOAT, values: stack(1, "weights") },
      { name: "moderation_b", dims: [k, 1, moderationCount], type: DataType.FLOAT, values: stack(1, "bias") },
    ],
    metadata: {
      ...metadata,
      ensemble: String(k),
      hash_seeds: models.map((m) => m.hashSeed).join(","),
      intent_labels: intentLabels.join(","),
      moderation_labels: moderationClasses.join(","),
      feature_buckets: String(featureBuckets),
    },
  });
}
