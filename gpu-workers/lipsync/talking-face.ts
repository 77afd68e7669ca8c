// The neural talking-face generator: the I/O contract of the wav2lip ONNX exports users already have, checked by
// shape (exports name their inputs differently: "audio_sequences"/"mel", "face_sequences"/"face"), the face input
// built as wav2lip builds it, its output turned into the patch composited on the avatar, and one loaded model run
// batched for every stream of the worker.
import type * as ort from "onnxruntime-node";
import { UnusableModelError } from "../errors.js";
import { Batcher, type BatcherOptions } from "../onnx/batcher.js";
import { melBands, melStep } from "./wav2lip-mel.js";
import type { MouthPatch } from "./render.js";

/** wav2lip's face crop side, in px. */
export const faceSide = 96;
const melSize = melBands * melStep;
const faceSize = 6 * faceSide * faceSide;
const outSize = 3 * faceSide * faceSide;

export interface FaceBox {
  x: number;
  y: number;
  width: number;
  height: number;
}

/** An avatar ready for the generator: where its face is on the frame and the generator's face input for it. */
export interface NeuralFace {
  box: FaceBox;
  /** [6, 96, 96]: the reference face with its lower half zeroed, then the reference face (BGR, 0..1, NCHW). */
  input: Float32Array;
}

/** Which of a model's inputs takes what, and whether it takes a batch (a dynamic first dimension) or one row. */
export interface TalkingFaceContract {
  mel: string;
  face: string;
  output: string;
  batched: boolean;
}

type Dims = readonly (number | string)[];
const shapeText = (dims: Dims) => `[${dims.join(",")}]`;

function tensorDims(meta: ort.InferenceSession.ValueMetadata, what: string): Dims {
  if (!meta.isTensor) throw new UnusableModelError(`model ${what} "${meta.name}" is not a tensor`);
  if (meta.type !== "float32") {
    throw new UnusableModelError(
      `model ${what} "${meta.name}" is ${meta.type}; a wav2lip-shaped generator takes float32`,
    );
  }
  return meta.shape;
}

/** The non-batch dimensions match (a symbolic dimension matches any size: it is checked when the model runs). */
const fits = (dims: Dims, want: number[]) =>
  dims.length === 4 && want.every((n, i) => typeof dims[i + 1] === "string" || dims[i + 1] === n);

/** A session's inputs look like a generator's rather than the viseme model's (which has one input, "features"). */
export function isTalkingFaceModel(session: ort.InferenceSession): boolean {
  return session.inputNames.length === 2;
}

/**
 * Checks a session against the wav2lip generator's contract: one input [B,1,80,16], one [B,6,96,96], one output
 * [B,3,96,96], float32, with a dynamic batch or a batch of 1. Refuses with the input and the shape expected vs found.
 */
export function talkingFaceContract(session: ort.InferenceSession): TalkingFaceContract {
  const inputs = session.inputMetadata;
  if (inputs.length !== 2) {
    throw new UnusableModelError(
      `model has ${inputs.length} inputs (${inputs.map((i) => `"${i.name}"`).join(", ")}); a wav2lip-shaped generator takes two: mel [batch,1,80,16] and face [batch,6,96,96]`,
    );
  }
  const dims = inputs.map((meta) => ({ name: meta.name, dims: tensorDims(meta, "input") }));
  // Roles by shape: the input that fits the mel window is the mel; failing that, the smaller one is meant to be.
  const size = (d: Dims) => d.slice(1).reduce<number>((p, n) => p * (typeof n === "number" ? n : 1), 1);
  let melAt = dims.findIndex((d) => fits(d.dims, [1, melBands, melStep]));
  if (melAt < 0) melAt = size(dims[0]!.dims) <= size(dims[1]!.dims) ? 0 : 1;
  const mel = dims[melAt]!;
  const face = dims[1 - melAt]!;
  if (!fits(mel.dims, [1, melBands, melStep])) {
    throw new UnusableModelError(
      `model input "${mel.name}" is ${shapeText(mel.dims)}; a wav2lip-shaped generator takes [batch,1,${melBands},${melStep}]`,
    );
  }
  if (!fits(face.dims, [6, faceSide, faceSide])) {
    throw new UnusableModelError(
      `model input "${face.name}" is ${shapeText(face.dims)}; a wav2lip-shaped generator takes [batch,6,${faceSide},${faceSide}]`,
    );
  }
  const outputs = session.outputMetadata;
  if (outputs.length !== 1) {
    throw new UnusableModelError(
      `model has ${outputs.length} outputs; a wav2lip-shaped generator gives one, [batch,3,${faceSide},${faceSide}]`,
    );
  }
  const output = outputs[0]!;
  const outDims = tensorDims(output, "output");
  if (!fits(outDims, [3, faceSide, faceSide])) {
    throw new UnusableModelError(
      `model output "${output.name}" is ${shapeText(outDims)}; a wav2lip-shaped generator gives [batch,3,${faceSide},${faceSide}]`,
    );
  }
  const batches = [mel.dims[0], face.dims[0]];
  for (const [i, b] of batches.entries()) {
    if (typeof b === "number" && b !== 1) {
      const name = i === 0 ? mel.name : face.name;
      throw new UnusableModelError(
        `model input "${name}" has a fixed batch of ${b}; a wav2lip-shaped generator takes a dynamic batch or 1`,
      );
    }
  }
  return {
    mel: mel.name,
    face: face.name,
    output: output.name,
    batched: batches.every((b) => typeof b === "string"),
  };
}

/**
 * A stream's frames through the generator: `mels` ([80, 16] windows, one per video frame) with the avatar's face;
 * returns each frame's output, [3, 96, 96] BGR 0..1.
 */
export type FaceGenerator = (mels: Float32Array[], face: Float32Array, signal?: AbortSignal) => Promise<Float32Array[]>;

/**
 * The generator every stream of a worker shares: one session, the frames of concurrent streams run as one batch
 * (gpu-workers/onnx/batcher.ts), each stream given back exactly its own frames. A row is a frame's mel window and
 * face input side by side, split into the model's two inputs inside the run.
 */
export function batchedGenerator(
  session: ort.InferenceSession,
  Tensor: typeof ort.Tensor,
  contract: TalkingFaceContract,
  options: { maxFrames?: number; onBatch?: BatcherOptions["onBatch"] } = {},
): FaceGenerator {
  const rowSize = melSize + faceSize;
  const runRows = async (input: Float32Array, rows: number): Promise<Float32Array> => {
    const mel = new Float32Array(rows * melSize);
    const face = new Float32Array(rows * faceSize);
    for (let r = 0; r < rows; r++) {
      mel.set(input.subarray(r * rowSize, r * rowSize + melSize), r * melSize);
      face.set(input.subarray(r * rowSize + melSize, (r + 1) * rowSize), r * faceSize);
    }
    const out = await session.run({
      [contract.mel]: new Tensor("float32", mel, [rows, 1, melBands, melStep]),
      [contract.face]: new Tensor("float32", face, [rows, 6, faceSide, faceSide]),
    });
    return out[contract.output]!.data as Float32Array;
  };
  const batcher = new Batcher({
    rowSize,
    outSize,
    // A model exported with a batch of 1 still shares the queue (streams take turns at chunk boundaries).
    maxRows: contract.batched ? (options.maxFrames ?? 16) : 1,
    run: async (input, rows) => {
      if (contract.batched || rows === 1) return runRows(input, rows);
      const out = new Float32Array(rows * outSize);
      for (let r = 0; r < rows; r++) {
        out.set(await runRows(input.subarray(r * rowSize, (r + 1) * rowSize), 1), r * outSize);
      }
      return out;
    },
    onBatch: options.onBatch,
  });
  return async (mels, face, signal) => {
    const input = new Float32Array(mels.length * rowSize);
    mels.forEach((mel, r) => {
      input.set(mel, r * rowSize);
      input.set(face, r * rowSize + melSize);
    });
    const out = await batcher.run(input, mels.length, signal);
    return mels.map((_, r) => out.subarray(r * outSize, (r + 1) * outSize));
  };
}

/** Where each destination px of a bilinear resize reads: two source indices and the weight of the second. */
interface Axis {
  i0: Int32Array;
  i1: Int32Array;
  f: Float32Array;
}

const axes = new Map<string, Axis>();

/** cv2.resize's INTER_LINEAR along one axis: half-pixel centres, edges clamped. Cached per size pair. */
function axis(source: number, destination: number): Axis {
  const key = `${source}>${destination}`;
  let found = axes.get(key);
  if (found) return found;
  found = { i0: new Int32Array(destination), i1: new Int32Array(destination), f: new Float32Array(destination) };
  for (let d = 0; d < destination; d++) {
    const at = Math.min(source - 1, Math.max(0, ((d + 0.5) * source) / destination - 0.5));
    const i0 = Math.floor(at);
    found.i0[d] = i0;
    found.i1[d] = Math.min(source - 1, i0 + 1);
    found.f[d] = at - i0;
  }
  axes.set(key, found);
  return found;
}

/**
 * The generator's face input for an avatar, as wav2lip's inference builds it: the face box cropped from the frame
 * and resized to 96x96 (cv2.resize, bilinear), /255, BGR; channels 0-2 the target face with its lower half zeroed
 * (what the model fills in), channels 3-5 the reference face. The avatar is a still, so both are its picture.
 */
export function faceInput(frame: Uint8Array, frameWidth: number, box: FaceBox): Float32Array {
  const plane = faceSide * faceSide;
  const out = new Float32Array(faceSize);
  const xs = axis(box.width, faceSide);
  const ys = axis(box.height, faceSide);
  for (let y = 0; y < faceSide; y++) {
    const row0 = (box.y + ys.i0[y]!) * frameWidth + box.x;
    const row1 = (box.y + ys.i1[y]!) * frameWidth + box.x;
    const fy = ys.f[y]!;
    for (let x = 0; x < faceSide; x++) {
      const x0 = xs.i0[x]!;
      const x1 = xs.i1[x]!;
      const fx = xs.f[x]!;
      for (let c = 0; c < 3; c++) {
        // BGR: channel 0 is blue, RGBA offset 2.
        const o = 2 - c;
        const top = frame[(row0 + x0) * 4 + o]! * (1 - fx) + frame[(row0 + x1) * 4 + o]! * fx;
        const bottom = frame[(row1 + x0) * 4 + o]! * (1 - fx) + frame[(row1 + x1) * 4 + o]! * fx;
        const v = (top * (1 - fy) + bottom * fy) / 255;
        out[(3 + c) * plane + y * faceSide + x] = v;
        if (y < faceSide / 2) out[c * plane + y * faceSide + x] = v;
      }
    }
  }
  return out;
}

const alphaMasks = new Map<string, { mask: Uint8Array; firstRow: number }>();

/**
 * Where the generated face shows: the lower half fully, fading to nothing over a few px above the seam (mid-face)
 * and towards the box's edges, so the patch blends into the avatar's own face instead of showing a square. With the
 * first row it shows at all (above it the patch is transparent and is not drawn).
 */
function alphaMask(width: number, height: number): { mask: Uint8Array; firstRow: number } {
  const key = `${width}x${height}`;
  let found = alphaMasks.get(key);
  if (found) return found;
  const mask = new Uint8Array(width * height);
  const feather = Math.max(2, Math.round(Math.min(width, height) * 0.06));
  const seam = height / 2;
  let firstRow = height;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const a = Math.min(
        (y + 0.5 - (seam - feather)) / feather,
        (x + 0.5) / feather,
        (width - x - 0.5) / feather,
        (height - y - 0.5) / feather,
      );
      mask[y * width + x] = Math.round(255 * Math.min(1, Math.max(0, a)));
      if (mask[y * width + x]! > 0) firstRow = Math.min(firstRow, y);
    }
  }
  found = { mask, firstRow };
  alphaMasks.set(key, found);
  return found;
}

/** Source rows resized across (facePatch's scratch: it runs synchronously, one frame at a time). */
let across = new Float64Array(0);
const acrossDone = new Uint8Array(faceSide);

/**
 * A generator output ([3, 96, 96] BGR 0..1) as the RGBA patch of the face box's size, resized up as wav2lip does
 * (bilinear, computed separably: each source row is resized across once, then rows are blended; the same sums as
 * the two-dimensional form). Only the rows the mask shows are drawn: this runs for every frame of every stream.
 */
export function facePatch(output: Float32Array, box: FaceBox): MouthPatch {
  const { width, height } = box;
  const data = new Uint8Array(width * height * 4);
  // Stores clamp to 0..255 and round (half to even: a tie differs by one level from Math.round, at most).
  const clamped = new Uint8ClampedArray(data.buffer);
  const { mask, firstRow } = alphaMask(width, height);
  const plane = faceSide * faceSide;
  const xs = axis(faceSide, width);
  const ys = axis(faceSide, height);
  if (across.length < 3 * faceSide * width) across = new Float64Array(3 * faceSide * width);
  acrossDone.fill(0);
  const acrossRow = (row: number) => {
    if (acrossDone[row]) return;
    acrossDone[row] = 1;
    for (let c = 0; c < 3; c++) {
      const from = c * plane + row * faceSide;
      const to = (c * faceSide + row) * width;
      for (let x = 0; x < width; x++) {
        const fx = xs.f[x]!;
        across[to + x] = output[from + xs.i0[x]!]! * (1 - fx) + output[from + xs.i1[x]!]! * fx;
      }
    }
  };
  for (let y = firstRow; y < height; y++) {
    const row0 = ys.i0[y]!;
    const row1 = ys.i1[y]!;
    const fy = ys.f[y]!;
    acrossRow(row0);
    acrossRow(row1);
    for (let c = 0; c < 3; c++) {
      const top = (c * faceSide + row0) * width;
      const bottom = (c * faceSide + row1) * width;
      // BGR to RGBA: channel c lands at offset 2 - c.
      let px = y * width * 4 + 2 - c;
      for (let x = 0; x < width; x++, px += 4)
        clamped[px] = 255 * (across[top + x]! * (1 - fy) + across[bottom + x]! * fy);
    }
    const row = y * width;
    for (let x = 0; x < width; x++) data[(row + x) * 4 + 3] = mask[row + x]!;
  }
  return { width, height, data };
}

/** The patch of a frame showing the avatar's own face (a cut-in's rest frame): nothing drawn over the base video. */
export function transparentPatch(box: FaceBox): MouthPatch {
  return { width: box.width, height: box.height, data: new Uint8Array(box.width * box.height * 4) };
}
