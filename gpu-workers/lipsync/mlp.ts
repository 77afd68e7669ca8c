// The lip-sync network: log-mel frames with context → one hidden ReLU layer → viseme probabilities. Small enough to
// train in plain TypeScript (mini-batch Adam, deterministic seed) and exported to ONNX for the worker, which runs it
// with onnxruntime. Input normalization (mean/std from the training set) is part of the exported graph.
import { DataType, encodeModel, seededRandom } from "../../onnx/index.js";
import type { Example } from "./dataset.js";

export interface TrainOptions {
  epochs?: number;
  batchSize?: number;
  learningRate?: number;
  /** Called after each epoch with its mean loss. */
  onEpoch?: (epoch: number, loss: number) => void;
}

export class VisemeMlp {
  readonly inputs: number;
  readonly hidden: number;
  readonly classes: number;
  readonly w1: Float32Array;
  readonly b1: Float32Array;
  readonly w2: Float32Array;
  readonly b2: Float32Array;
  readonly mean: Float32Array;
  readonly std: Float32Array;

  constructor(inputs: number, hidden: number, classes: number, seed = 7) {
    this.inputs = inputs;
    this.hidden = hidden;
    this.classes = classes;
    const rand = seededRandom(seed);
    const init = (n: number, fanIn: number) =>
      Float32Array.from({ length: n }, () => (rand() * 2 - 1) * Math.sqrt(6 / fanIn));
    this.w1 = init(inputs * hidden, inputs);
    this.b1 = new Float32Array(hidden);
    this.w2 = init(hidden * classes, hidden);
    this.b2 = new Float32Array(classes);
    this.mean = new Float32Array(inputs);
    this.std = new Float32Array(inputs).fill(1);
  }

  /** Per-input mean and standard deviation of the training set, applied before the first layer. */
  fitNormalization(examples: Example[]): void {
    const n = examples.length;
    this.mean.fill(0);
    for (const { x } of examples) for (let i = 0; i < this.inputs; i++) this.mean[i]! += x[i]! / n;
    const variance = new Float64Array(this.inputs);
    for (const { x } of examples)
      for (let i = 0; i < this.inputs; i++) variance[i]! += (x[i]! - this.mean[i]!) ** 2 / n;
    for (let i = 0; i < this.inputs; i++) this.std[i] = Math.sqrt(variance[i]!) + 1e-3;
  }

  #forward(x: Float32Array, z: Float32Array, h: Float32Array, logits: Float32Array): void {
    for (let i = 0; i < this.inputs; i++) z[i] = (x[i]! - this.mean[i]!) / this.std[i]!;
    for (let j = 0; j < this.hidden; j++) {
      let sum = this.b1[j]!;
      for (let i = 0; i < this.inputs; i++) sum += z[i]! * this.w1[i * this.hidden + j]!;
      h[j] = sum > 0 ? sum : 0;
    }
    for (let k = 0; k < this.classes; k++) {
      let sum = this.b2[k]!;
      for (let j = 0; j < this.hidden; j++) sum += h[j]! * this.w2[j * this.classes + k]!;
      logits[k] = sum;
    }
  }

  predict(x: Float32Array): number {
    const z = new Float32Array(this.inputs);
    const h = new Float32Array(this.hidden);
    const logits = new Float32Array(this.classes);
    this.#forward(x, z, h, logits);
    return logits.indexOf(Math.max(...logits));
  }

  accuracy(examples: Example[]): number {
    let right = 0;
    for (const e of examples) if (this.predict(e.x) === e.y) right++;
    return right / Math.max(1, examples.length);
  }

  /** Softmax cross-entropy, mini-batch Adam. Class weights balance rare visemes against the many rest frames. */
  train(examples: Example[], options: TrainOptions = {}): void {
    const { epochs = 8, batchSize = 64, learningRate = 0.002 } = options;
    const params = [this.w1, this.b1, this.w2, this.b2];
    const grads = params.map((p) => new Float32Array(p.length));
    const m = params.map((p) => new Float32Array(p.length));
    const v = params.map((p) => new Float32Array(p.length));
    const counts = new Float64Array(this.classes);
    for (const e of examples) counts[e.y]!++;
    const classWeight = Array.from(counts, (c) => (c > 0 ? Math.sqrt(examples.length / (this.classes * c)) : 0));
    const order = examples.map((_, i) => i);
    const rand = seededRandom(11);
    const z = new Float32Array(this.inputs);
    const h = new Float32Array(this.hidden);
    const logits = new Float32Array(this.classes);
    const dLogits = new Float32Array(this.classes);
    const dH = new Float32Array(this.hidden);
    let step = 0;
    for (let epoch = 0; epoch < epochs; epoch++) {
      for (let i = order.length - 1; i > 0; i--) {
        const j = Math.floor(rand() * (i + 1));
        [order[i], order[j]] = [order[j]!, order[i]!];
      }
      let lossSum = 0;
      for (let start = 0; start < order.length; start += batchSize) {
        for (const g of grads) g.fill(0);
        const batch = order.slice(start, start + batchSize);
        for (const index of batch) {
          const { x, y } = examples[index]!;
          this.#forward(x, z, h, logits);
          const max = Math.max(...logits);
          let total = 0;
          for (let k = 0; k < this.classes; k++) total += Math.exp(logits[k]! - max);
          const weight = classWeight[y]!;
          for (let k = 0; k < this.classes; k++) {
            const p = Math.exp(logits[k]! - max) / total;
            dLogits[k] = weight * (p - (k === y ? 1 : 0));
          }
          lossSum += -weight * (logits[y]! - max - Math.log(total));
          dH.fill(0);
          for (let j = 0; j < this.hidden; j++) {
            if (h[j] === 0) continue;
            for (let k = 0; k < this.classes; k++) {
              grads[2]![j * this.classes + k]! += h[j]! * dLogits[k]!;
              dH[j]! += this.w2[j * this.classes + k]! * dLogits[k]!;
            }
          }
          for (let k = 0; k < this.classes; k++) grads[3]![k]! += dLogits[k]!;
          for (let j = 0; j < this.hidden; j++) {
            const d = dH[j]!;
            if (d === 0) continue;
            grads[1]![j]! += d;
            for (let i = 0; i < this.inputs; i++) grads[0]![i * this.hidden + j]! += z[i]! * d;
          }
        }
        step++;
        const [beta1, beta2] = [0.9, 0.999];
        for (let p = 0; p < params.length; p++) {
          const param = params[p]!;
          const grad = grads[p]!;
          for (let i = 0; i < param.length; i++) {
            const g = grad[i]! / batch.length;
            m[p]![i] = beta1 * m[p]![i]! + (1 - beta1) * g;
            v[p]![i] = beta2 * v[p]![i]! + (1 - beta2) * g * g;
            const mHat = m[p]![i]! / (1 - beta1 ** step);
            const vHat = v[p]![i]! / (1 - beta2 ** step);
            param[i] = param[i]! - (learningRate * mHat) / (Math.sqrt(vHat) + 1e-8);
          }
        }
      }
      options.onEpoch?.(epoch, lossSum / order.length);
    }
  }

  /**
   * The ONNX graph the worker runs. I/O contract (also for production models dropped in the model directory):
   * input "features" float [N, inputs] (log-mel frames with context, see features.ts); outputs "viseme_probs" float
   * [N, classes] and "viseme" int64 [N].
   */
  toOnnx(metadata: Record<string, string> = {}): Uint8Array {
    const f = (name: string, values: Float32Array, dims: number[]) => ({ name, dims, type: DataType.FLOAT, values });
    return encodeModel({
      name: "livehost-viseme-mlp",
      inputs: [{ name: "features", type: DataType.FLOAT, shape: ["frames", this.inputs] }],
      outputs: [
        { name: "viseme_probs", type: DataType.FLOAT, shape: ["frames", this.classes] },
        { name: "viseme", type: DataType.INT64, shape: ["frames"] },
      ],
      initializers: [
        f("mean", this.mean, [this.inputs]),
        f("std", this.std, [this.inputs]),
        f("w1", this.w1, [this.inputs, this.hidden]),
        f("b1", this.b1, [this.hidden]),
        f("w2", this.w2, [this.hidden, this.classes]),
        f("b2", this.b2, [this.classes]),
      ],
      nodes: [
        { op: "Sub", inputs: ["features", "mean"], outputs: ["centred"] },
        { op: "Div", inputs: ["centred", "std"], outputs: ["normalized"] },
        { op: "MatMul", inputs: ["normalized", "w1"], outputs: ["hidden_raw"] },
        { op: "Add", inputs: ["hidden_raw", "b1"], outputs: ["hidden_pre"] },
        { op: "Relu", inputs: ["hidden_pre"], outputs: ["hidden"] },
        { op: "MatMul", inputs: ["hidden", "w2"], outputs: ["logits_raw"] },
        { op: "Add", inputs: ["logits_raw", "b2"], outputs: ["logits"] },
        { op: "Softmax", inputs: ["logits"], outputs: ["viseme_probs"], attributes: { axis: 1 } },
        { op: "ArgMax", inputs: ["logits"], outputs: ["viseme"], attributes: { axis: 1, keepdims: 0 } },
      ],
      metadata,
    });
  }
}
