// The FaceID engine: face-api's SSD MobileNet v1 detector, 68-point landmarks and 128-number recognition net, on
// TensorFlow.js's WebAssembly backend (no native TensorFlow, nothing downloaded: the weights and the .wasm files ship
// in the npm packages). It registers a merchant's photo as one descriptor, matches a face against the registered
// ones, and gives the avatar pack's face and mouth boxes from the landmarks.
//
// WebAssembly rather than the pure-JavaScript CPU backend: the detector alone takes about 10 s a frame there, and
// 0.2-0.3 s here (XNNPACK's SIMD kernels, on one core). Detection is synchronous on purpose: every kernel runs on the
// calling thread whether or not the call is async, and a synchronous detect() called from a decoder's frame callback
// holds the decoder back while the frame is analysed, which is what bounds the memory of a long video
// (video-frames.ts).
import { readFile } from "node:fs/promises";
import { readdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { compileFunction } from "node:vm";
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-wasm";
import type * as FaceApi from "@vladmandic/face-api";
import { InternalError, InvalidArgumentError, UnavailableError } from "../errors/index.js";
import { decodeImage, type RgbaFrame } from "./video-frames.js";

export interface Box {
  x: number;
  y: number;
  width: number;
  height: number;
}

export interface Point {
  x: number;
  y: number;
}

export interface DetectedFace {
  /** The detector's box, in the frame's pixels. */
  box: Box;
  /** The detector's confidence, 0 to 1. */
  score: number;
  /** The 68 points of the iBUG 300-W scheme (jaw 0–16, brows 17–26, nose 27–35, eyes 36–47, mouth 48–67). */
  landmarks: Point[];
  /** 128 numbers; faces of one person lie within `faceMatchThreshold` of each other (Euclidean). */
  descriptor?: Float32Array;
}

export interface DetectOptions {
  /** Compute each face's descriptor (the costly part); default true. */
  descriptors?: boolean;
  /** Detector confidence below which a box is not a face; default 0.5 (face-api's own default). */
  minConfidence?: number;
}

export interface FaceModel {
  /** The faces in an RGBA frame, most confident first. */
  detect(frame: RgbaFrame, options?: DetectOptions): DetectedFace[];
  /** The descriptor of a face `detect` found on `frame` without one; undefined if it lies outside the frame. */
  describe(frame: RgbaFrame, face: DetectedFace): Float32Array | undefined;
  /** Tensors held by the engine (the weights included): flat from frame to frame, or something leaks. */
  tensors(): number;
}

export interface RegisteredFace {
  faceId: string;
  descriptor: ArrayLike<number>;
}

export interface FaceMatch {
  faceId: string;
  distance: number;
}

/**
 * Two faces closer than this (Euclidean distance between descriptors) are one person. face-api's authors use 0.6
 * (dlib's figure for this network on LFW), many apps 0.5. Measured by faceid-eval.ts on the package's photos under
 * crops, light, small turns and mirroring (22 people of one age and look, which brings impostors close): the nearest
 * impostor pair is 0.419, 0.5 accepts 0.5% of impostor pairs and 0.6 accepts 6.5%; half the genuine views lie within
 * 0.14 of their registration and 95% within 0.40, the farthest being 15° turns and mirrored, turned, dimmed views.
 * 0.40 accepts none of the 4482 impostor pairs and 88% of the 252 genuine ones (most of the rest show the detector
 * no face at all). Onboarding decides who may be shown as a brand's host: a false accept costs more than asking for
 * a clearer photo.
 */
export const faceMatchThreshold = 0.4;

const modelFiles = {
  detector: "ssd_mobilenetv1_model",
  landmarks: "face_landmark_68_model",
  recognition: "face_recognition_model",
} as const;

let loading: Promise<FaceModel> | undefined;

/** The engine, loaded once per process (about 12 MB of weights, a second or two). */
export function loadFaceModel(): Promise<FaceModel> {
  loading ??= load().catch((err: unknown) => {
    loading = undefined;
    throw err;
  });
  return loading;
}

/**
 * face-api on tfjs-core alone. face-api's Node entry (dist/face-api.node.js) takes its TensorFlow.js from
 * `@tensorflow/tfjs-node`, whose install downloads a native library; its other entries do not run on Node with a
 * TensorFlow.js of our own (the ESM builds bundle theirs, or import `@tensorflow/tfjs/dist/index.js`, whose
 * extensionless imports Node refuses). So the CommonJS entry is evaluated here as Node would, with
 * `@tensorflow/tfjs-node` answered by tfjs-core: face-api uses plain ops only, from the one copy our code uses too.
 */
function faceApi(tfjs: unknown): typeof FaceApi {
  const file = createRequire(import.meta.url).resolve("@vladmandic/face-api/dist/face-api.node.js");
  const requireThere = createRequire(file);
  const module = { exports: {} as unknown };
  const wrapper = compileFunction(
    readFileSync(file, "utf8"),
    ["exports", "require", "module", "__filename", "__dirname"],
    { filename: file },
  ) as (...args: unknown[]) => void;
  const substitute = (id: string): unknown => (id === "@tensorflow/tfjs-node" ? tfjs : requireThere(id));
  wrapper(module.exports, substitute, module, file, dirname(file));
  return module.exports as typeof FaceApi;
}

/**
 * Tensor methods (`x.mul(y)`, `x.as3D(...)`), which face-api calls throughout. tfjs-core ships them only as ES module
 * files with extensionless imports that Node cannot load (the `@tensorflow/tfjs` bundle inlines them, among the
 * converter, layers, data and WebGL backend we do not need): each file's one statement, `Tensor.prototype.op =
 * function (...) { return op(this, ...) }`, is run here with its imports bound to tfjs-core's CommonJS exports.
 */
function registerTensorMethods(tfjs: Record<string, unknown>): void {
  const dir = join(
    dirname(createRequire(import.meta.url).resolve("@tensorflow/tfjs-core/package.json")),
    "dist/public/chained_ops",
  );
  const bindings: Record<string, unknown> = {
    ...tfjs,
    ...(tfjs.image as object),
    assert: (tfjs.util as { assert: unknown }).assert,
    getGlobalTensorClass: () => tfjs.Tensor,
  };
  for (const name of readdirSync(dir)) {
    if (!name.endsWith(".js") || name.endsWith("_test.js") || name.startsWith("register_all")) continue;
    const filename = join(dir, name);
    const source = readFileSync(filename, "utf8");
    const imported = [...source.matchAll(/^import \{([^}]*)\} from .*$/gm)].flatMap((m) =>
      m[1]!.split(",").map((n) => n.trim()),
    );
    const missing = imported.filter((n) => bindings[n] === undefined);
    if (missing.length > 0) throw new InternalError(`tfjs-core ${name}: no ${missing.join(", ")} to bind`);
    const body = `"use strict";${source.replace(/^import .*$/gm, "")}`;
    (compileFunction(body, imported, { filename }) as (...args: unknown[]) => void)(
      ...imported.map((n) => bindings[n]),
    );
  }
}

async function loadWeights(dir: string, name: string): Promise<tf.NamedTensorMap> {
  const manifest = JSON.parse(await readFile(join(dir, `${name}-weights_manifest.json`), "utf8")) as {
    paths: string[];
    weights: tf.io.WeightsManifestEntry[];
  }[];
  const parts = await Promise.all(manifest.flatMap((group) => group.paths.map((path) => readFile(join(dir, path)))));
  const bytes = Buffer.concat(parts);
  const buffer = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length);
  return tf.io.decodeWeights(
    buffer,
    manifest.flatMap((group) => group.weights),
  );
}

async function load(): Promise<FaceModel> {
  // Production mode: no development checks or warnings.
  tf.env().set("PROD", true);
  if (!(await tf.setBackend("wasm"))) throw new UnavailableError("TensorFlow.js's WebAssembly backend did not start");
  await tf.ready();
  const tfjs = createRequire(import.meta.url)("@tensorflow/tfjs-core") as Record<string, unknown>;
  registerTensorMethods(tfjs);
  const api = faceApi(tfjs);
  const dir = join(dirname(createRequire(import.meta.url).resolve("@vladmandic/face-api/package.json")), "model");
  const detector = new api.SsdMobilenetv1();
  const landmarker = new api.FaceLandmark68Net();
  const recognizer = new api.FaceRecognitionNet();
  // face-api declares its own copy of tfjs-core's types: the tensors are the same objects.
  const loadNet = async (net: { loadFromWeightMap(map: never): void }, name: string) =>
    net.loadFromWeightMap((await loadWeights(dir, name)) as never);
  await loadNet(detector, modelFiles.detector);
  await loadNet(landmarker, modelFiles.landmarks);
  await loadNet(recognizer, modelFiles.recognition);
  const netInput = (image: tf.Tensor3D) => new api.NetInput([image as never]);
  const read = (tensor: { dataSync(): unknown; dispose(): void }) => {
    const data = tensor.dataSync() as Float32Array;
    tensor.dispose();
    return data;
  };

  return {
    tensors: () => tf.memory().numTensors,
    detect(frame, options = {}) {
      const minConfidence = options.minConfidence ?? 0.5;
      const image = rgbTensor(frame);
      try {
        // As face-api's SsdMobilenetv1.locateFaces, synchronously: boxes are [top, left, bottom, right] relative to
        // the image padded (right and bottom) to a square.
        const input = netInput(image);
        const out = detector.forwardInput(input);
        const boxes = read(out.boxes[0]!);
        const scores = read(out.scores[0]!);
        const { width: reshapedW, height: reshapedH } = input.getReshapedInputDimensions(0);
        const [padX, padY] = [(input.inputSize ?? 512) / reshapedW, (input.inputSize ?? 512) / reshapedH];
        const kept = tf.tidy(() =>
          tf.image.nonMaxSuppression(tf.tensor2d(boxes, [scores.length, 4]), scores, 100, 0.5, minConfidence),
        );
        const indices = Array.from(read(kept));
        return indices.map((i) => {
          const top = Math.max(0, boxes[i * 4]!) * padY * frame.height;
          const left = Math.max(0, boxes[i * 4 + 1]!) * padX * frame.width;
          const bottom = Math.min(1, boxes[i * 4 + 2]!) * padY * frame.height;
          const right = Math.min(1, boxes[i * 4 + 3]!) * padX * frame.width;
          const box = { x: left, y: top, width: right - left, height: bottom - top };
          const landmarks = locateLandmarks(image, box);
          const face: DetectedFace = { box, score: scores[i]!, landmarks };
          if ((options.descriptors ?? true) && landmarks.length === 68) {
            face.descriptor = describe(image, alignedBox(landmarks));
          }
          return face;
        });
      } finally {
        image.dispose();
      }
    },
    describe(frame, face) {
      if (face.landmarks.length !== 68) return undefined;
      const image = rgbTensor(frame);
      try {
        return describe(image, alignedBox(face.landmarks));
      } finally {
        image.dispose();
      }
    },
  };

  /**
   * The 68 points in the frame's pixels, from the detector's box cut out of the frame and placed back at the box's
   * unrounded corner, both as face-api does: the recognition net's alignment expects its landmarks to the pixel.
   */
  function locateLandmarks(image: tf.Tensor3D, box: Box): Point[] {
    const crop = cut(image, box);
    if (!crop) return [];
    try {
      const relative = read(landmarker.forwardInput(netInput(crop.tensor)));
      return Array.from({ length: 68 }, (_, i) => ({
        x: box.x + relative[i * 2]! * crop.width,
        y: box.y + relative[i * 2 + 1]! * crop.height,
      }));
    } finally {
      crop.tensor.dispose();
    }
  }

  function describe(image: tf.Tensor3D, box: Box): Float32Array | undefined {
    const crop = cut(image, box);
    if (!crop) return undefined;
    try {
      return Float32Array.from(read(recognizer.forwardInput(netInput(crop.tensor))));
    } finally {
      crop.tensor.dispose();
    }
  }
}

/** The frame as the nets take it: float RGB, height x width x 3. */
function rgbTensor(frame: RgbaFrame): tf.Tensor3D {
  const { width, height, rgba } = frame;
  const rgb = new Float32Array(width * height * 3);
  for (let p = 0, q = 0; p < width * height * 4; p += 4, q += 3) {
    rgb[q] = rgba[p]!;
    rgb[q + 1] = rgba[p + 1]!;
    rgb[q + 2] = rgba[p + 2]!;
  }
  return tf.tensor3d(rgb, [height, width, 3], "float32");
}

/**
 * `box` clipped to the image and cut out of it, rounded as face-api's extractFaceTensors rounds it (the nets were
 * tuned on its crops); undefined when nothing is left.
 */
function cut(image: tf.Tensor3D, box: Box) {
  const [height, width] = image.shape;
  const [left, top] = [Math.max(0, box.x), Math.max(0, box.y)];
  const x = Math.floor(left);
  const y = Math.floor(top);
  const w = Math.floor(Math.min(box.x + box.width - left, width - left));
  const h = Math.floor(Math.min(box.y + box.height - top, height - top));
  if (w <= 0 || h <= 0) return undefined;
  return { x, y, width: w, height: h, tensor: tf.slice3d(image, [y, x, 0], [h, w, 3]) };
}

const centre = (points: Point[]): Point => ({
  x: points.reduce((s, p) => s + p.x, 0) / points.length,
  y: points.reduce((s, p) => s + p.y, 0) / points.length,
});

/**
 * The square the recognition net was trained on (face-api's dlib alignment): sized from the eyes-to-mouth distance,
 * placed on the centre of the eyes and mouth.
 */
function alignedBox(landmarks: Point[]): Box {
  const [leftEye, rightEye, mouth] = [
    centre(landmarks.slice(36, 42)),
    centre(landmarks.slice(42, 48)),
    centre(landmarks.slice(48, 68)),
  ];
  const eyeToMouth =
    (Math.hypot(mouth.x - leftEye.x, mouth.y - leftEye.y) + Math.hypot(mouth.x - rightEye.x, mouth.y - rightEye.y)) / 2;
  const size = Math.floor(eyeToMouth / 0.45);
  const reference = centre([leftEye, rightEye, mouth]);
  return {
    x: Math.floor(Math.max(0, reference.x - 0.5 * size)),
    y: Math.floor(Math.max(0, reference.y - 0.43 * size)),
    width: size,
    height: size,
  };
}

/** A clockwise quarter turn of an RGBA frame. */
function turn(frame: RgbaFrame): RgbaFrame {
  const { width, height, rgba } = frame;
  const out = new Uint8Array(rgba.length);
  const view = new Uint32Array(out.buffer);
  const source = new Uint32Array(rgba.buffer, rgba.byteOffset, width * height);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) view[x * height + (height - 1 - y)] = source[y * width + x]!;
  }
  return { width: height, height: width, rgba: out };
}

/**
 * The descriptor of the one face on a photo (JPEG or PNG bytes). A photo with no face, or with several, is refused
 * naming `photo`. A photo that shows no face upright is tried a quarter turn at a time: phone pictures often stand on
 * their side with only an EXIF tag to say so, which the decoder does not apply.
 */
export async function describeFace(photo: Uint8Array, options: { signal?: AbortSignal } = {}): Promise<Float32Array> {
  const model = await loadFaceModel();
  let frame = await decodeImage(photo, { maxSide: 1280, signal: options.signal });
  let faces: DetectedFace[] = [];
  for (let turns = 0; turns < 4 && faces.length === 0; turns++) {
    if (turns > 0) frame = turn(frame);
    options.signal?.throwIfAborted();
    faces = model.detect(frame);
  }
  if (faces.length === 0)
    throw new InvalidArgumentError("photo", "no face found: use a clear, well-lit photo of one face");
  if (faces.length > 1) {
    throw new InvalidArgumentError("photo", `${faces.length} faces found: use a photo of the host alone`);
  }
  const descriptor = faces[0]!.descriptor;
  if (!descriptor) throw new InvalidArgumentError("photo", "the face is cut off by the photo's edge");
  return descriptor;
}

export function faceDistance(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += (a[i]! - b[i]!) ** 2;
  return Math.sqrt(sum);
}

/** The registered face nearest to `descriptor`, if it is within `threshold`. */
export function matchFace(
  descriptor: ArrayLike<number>,
  registered: readonly RegisteredFace[],
  threshold = faceMatchThreshold,
): FaceMatch | undefined {
  let best: FaceMatch | undefined;
  for (const face of registered) {
    const distance = faceDistance(descriptor, face.descriptor);
    if (distance < threshold && (!best || distance < best.distance)) best = { faceId: face.faceId, distance };
  }
  return best;
}

/**
 * The face box from the landmarks: jaw, brows and nose, raised by a third of the brows-to-chin height for the forehead
 * the 68 points do not reach.
 */
export function faceBoxOf(landmarks: Point[]): Box {
  const xs = landmarks.map((p) => p.x);
  const ys = landmarks.map((p) => p.y);
  const [left, right, top, bottom] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
  const forehead = (bottom - top) / 3;
  return { x: left, y: top - forehead, width: right - left, height: bottom - top + forehead };
}

/**
 * The avatar pack's mouth box from the landmarks: the lips' centre, 1.6 times the corner-to-corner width, 3:2 like the
 * patches the moving-block search makes (gpu-workers/lipsync/avatar-build.ts), so an opening jaw stays inside it.
 */
export function mouthBoxOf(landmarks: Point[]): Box {
  const mouth = landmarks.slice(48, 68);
  const middle = centre(mouth);
  const corners = Math.hypot(landmarks[54]!.x - landmarks[48]!.x, landmarks[54]!.y - landmarks[48]!.y);
  const width = corners * 1.6;
  const height = (width * 2) / 3;
  return { x: middle.x - width / 2, y: middle.y - height / 2, width, height };
}
