// wav2lip-shaped generators with random weights, written with the project's ONNX writer: what a user's export looks
// like from the outside (mel [B,1,80,16] and face [B,6,96,96] → sigmoid [B,3,96,96], a dynamic batch), for tests
// and benchmarks. They draw nothing meaningful: "small" is a few convolutions (tests), "wav2lip" approximates the
// layer sizes of wav2lip's generator (a U-Net of ~36M parameters: a face encoder, an audio encoder, a decoder of
// transposed convolutions with skips; batch norms folded into the convolutions) for throughput only.
import { DataType, encodeModel, seededRandom, type Node, type Tensor } from "../../onnx/index.js";

export interface GeneratorGraphOptions {
  size: "small" | "wav2lip";
  seed?: number;
  /** Input and output names: exports differ ("audio_sequences"/"mel", "face_sequences"/"face"). */
  names?: { mel: string; face: string; output: string };
  /** Shape of the face input, to make a wrongly shaped model (default [batch,6,96,96]). */
  faceShape?: (number | string)[];
  /** A fixed batch instead of a dynamic one. */
  batch?: number | string;
}

class GraphBuilder {
  readonly nodes: Node[] = [];
  readonly initializers: Tensor[] = [];
  parameters = 0;
  #count = 0;
  readonly #random: () => number;

  constructor(seed: number) {
    this.#random = seededRandom(seed);
  }

  #name(kind: string): string {
    return `${kind}_${this.#count++}`;
  }

  #weights(dims: number[], fanIn: number): string {
    const name = this.#name("w");
    const n = dims.reduce((p, d) => p * d, 1);
    // He-like scale keeps activations in range through many layers, so the sigmoid output is not saturated.
    const scale = Math.sqrt(2 / fanIn);
    const values = new Float32Array(n);
    for (let i = 0; i < n; i++) values[i] = (this.#random() * 2 - 1) * scale * Math.sqrt(3) * 0.5;
    this.initializers.push({ name, dims, type: DataType.FLOAT, values });
    this.parameters += n;
    return name;
  }

  #bias(n: number): string {
    const name = this.#name("b");
    const values = new Float32Array(n);
    for (let i = 0; i < n; i++) values[i] = (this.#random() * 2 - 1) * 0.05;
    this.initializers.push({ name, dims: [n], type: DataType.FLOAT, values });
    this.parameters += n;
    return name;
  }

  op(op: string, inputs: string[], attributes?: Node["attributes"], output = this.#name(op.toLowerCase())): string {
    this.nodes.push({ op, inputs, outputs: [output], attributes });
    return output;
  }

  conv(
    x: string,
    cin: number,
    cout: number,
    kernel: [number, number],
    stride: [number, number] = [1, 1],
    pad: [number, number] = [0, 0],
  ): string {
    const w = this.#weights([cout, cin, ...kernel], cin * kernel[0] * kernel[1]);
    return this.op("Conv", [x, w, this.#bias(cout)], {
      kernel_shape: { ints: kernel },
      strides: { ints: stride },
      pads: { ints: [pad[0], pad[1], pad[0], pad[1]] },
    });
  }

  convTranspose(x: string, cin: number, cout: number, stride: number, pad: number, outputPadding: number): string {
    const w = this.#weights([cin, cout, 3, 3], cin * 9);
    return this.op("ConvTranspose", [x, w, this.#bias(cout)], {
      kernel_shape: { ints: [3, 3] },
      strides: { ints: [stride, stride] },
      pads: { ints: [pad, pad, pad, pad] },
      output_padding: { ints: [outputPadding, outputPadding] },
    });
  }

  /** wav2lip's Conv2d block: convolution (batch norm folded in), ReLU; `residual` adds the input first. */
  block(
    x: string,
    cin: number,
    cout: number,
    k: number,
    stride: [number, number] | number,
    pad: number,
    residual = false,
  ): string {
    const s: [number, number] = typeof stride === "number" ? [stride, stride] : stride;
    let y = this.conv(x, cin, cout, [k, k], s, [pad, pad]);
    if (residual) y = this.op("Add", [y, x]);
    return this.op("Relu", [y]);
  }

  residuals(x: string, c: number, n: number): string {
    for (let i = 0; i < n; i++) x = this.block(x, c, c, 3, 1, 1, true);
    return x;
  }
}

/** The serialized model, and how many parameters it has. */
export function generatorGraph(options: GeneratorGraphOptions): { bytes: Uint8Array; parameters: number } {
  const names = options.names ?? { mel: "audio_sequences", face: "face_sequences", output: "output" };
  const batch = options.batch ?? "batch";
  const g = new GraphBuilder(options.seed ?? 20);
  if (options.size === "small") {
    const face = g.op("Relu", [g.conv(names.face, 6, 8, [3, 3], [1, 1], [1, 1])]);
    const audio = g.op("Tanh", [g.conv(names.mel, 1, 8, [80, 16])]);
    const mixed = g.op("Add", [face, audio]);
    g.op("Sigmoid", [g.conv(mixed, 8, 3, [3, 3], [1, 1], [1, 1])], undefined, names.output);
  } else {
    wav2lipLayers(g, names);
  }
  const bytes = encodeModel({
    name: `wav2lip-shaped-${options.size}`,
    inputs: [
      { name: names.mel, type: DataType.FLOAT, shape: [batch, 1, 80, 16] },
      { name: names.face, type: DataType.FLOAT, shape: options.faceShape ?? [batch, 6, 96, 96] },
    ],
    outputs: [{ name: names.output, type: DataType.FLOAT, shape: [batch, 3, 96, 96] }],
    nodes: g.nodes,
    initializers: g.initializers,
    metadata: { weights: "random (livehost test/benchmark graph): draws nothing meaningful" },
  });
  return { bytes, parameters: g.parameters };
}

/** wav2lip's generator (models/wav2lip.py), layer for layer in size. */
function wav2lipLayers(g: GraphBuilder, names: { mel: string; face: string; output: string }): void {
  // Face encoder: 96 → 48 → 24 → 12 → 6 → 3 → 1, each stage's output kept for the decoder's skips.
  const skips: { name: string; channels: number }[] = [];
  let x = g.block(names.face, 6, 16, 7, 1, 3);
  skips.push({ name: x, channels: 16 });
  const stages: [number, number, number][] = [
    [16, 32, 2],
    [32, 64, 3],
    [64, 128, 2],
    [128, 256, 2],
    [256, 512, 1],
  ];
  for (const [cin, cout, res] of stages) {
    x = g.residuals(g.block(x, cin, cout, 3, 2, 1), cout, res);
    skips.push({ name: x, channels: cout });
  }
  x = g.block(g.block(x, 512, 512, 3, 1, 0), 512, 512, 1, 1, 0);
  skips.push({ name: x, channels: 512 });
  // Audio encoder: [1,80,16] → [512,1,1].
  let a = g.residuals(g.block(names.mel, 1, 32, 3, 1, 1), 32, 2);
  a = g.residuals(g.block(a, 32, 64, 3, [3, 1], 1), 64, 2);
  a = g.residuals(g.block(a, 64, 128, 3, 3, 1), 128, 2);
  a = g.residuals(g.block(a, 128, 256, 3, [3, 2], 1), 256, 1);
  a = g.block(g.block(a, 256, 512, 3, 1, 0), 512, 512, 1, 1, 0);
  // Decoder: the audio embedding, concatenated with each encoder stage from the deepest, upsampled back to 96.
  let d = g.block(a, 512, 512, 1, 1, 0);
  const up: [number, number, number, number, number][] = [
    // cout, stride, pad, output padding, residual blocks
    [512, 1, 0, 0, 1],
    [512, 2, 1, 1, 2],
    [384, 2, 1, 1, 2],
    [256, 2, 1, 1, 2],
    [128, 2, 1, 1, 2],
    [64, 2, 1, 1, 2],
  ];
  let channels = 512;
  for (const [cout, stride, pad, outPad, res] of up) {
    const skip = skips.pop()!;
    const joined = g.op("Concat", [d, skip.name], { axis: 1 });
    d = g.op("Relu", [g.convTranspose(joined, channels + skip.channels, cout, stride, pad, outPad)]);
    d = g.residuals(d, cout, res);
    channels = cout;
  }
  const last = skips.pop()!;
  d = g.op("Concat", [d, last.name], { axis: 1 });
  d = g.block(d, channels + last.channels, 32, 3, 1, 1);
  g.op("Sigmoid", [g.conv(d, 32, 3, [1, 1])], undefined, names.output);
}
