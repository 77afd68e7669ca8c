// How well FaceID tells people apart, measured on real photos at run time: the six group photos in face-api's npm
// package (demo/sample1.jpg … sample6.jpg, 22 faces of 22 different people) and the project's drawn default host.
// Each face is registered from a plain crop and probed with other views of it: other crops, light changes
// (brightness, contrast, gamma), small turns and mirror images (pose changes). A genuine pair is a face against its
// own registration, an impostor pair a face against another's; the drawn host is an impostor for everyone.
// The picture helpers here (cutting a turned, scaled region out of a photo, changing its light) also serve the
// talking-head videos of onboarding/testing/.
import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { loadAvatarPack, repoPath, Viseme } from "../avatars/index.js";
import { faceDistance, faceMatchThreshold, loadFaceModel, type Box, type DetectedFace } from "./faces.js";
import { decodeImage, type RgbaFrame } from "./video-frames.js";

/** The group photos face-api ships, 1 to 6. */
export const samplePhotoNumbers = [1, 2, 3, 4, 5, 6] as const;

export interface SamplePhoto {
  sample: number;
  file: string;
  frame: RgbaFrame;
  /** The faces on it, left to right. */
  faces: DetectedFace[];
}

const pictures = new Map<number, Promise<RgbaFrame>>();
const photos = new Map<number, Promise<SamplePhoto>>();

export function samplePhotoPath(sample: number): string {
  const pkg = createRequire(import.meta.url).resolve("@vladmandic/face-api/package.json");
  return join(dirname(pkg), "demo", `sample${sample}.jpg`);
}

/** A package photo decoded at full size (1920 wide); decoded once per process. */
export function samplePicture(sample: number): Promise<RgbaFrame> {
  let picture = pictures.get(sample);
  if (!picture) {
    picture = readFile(samplePhotoPath(sample)).then((bytes) => decodeImage(bytes, { maxSide: 1920 }));
    pictures.set(sample, picture);
  }
  return picture;
}

/** A package photo with its faces, left to right; found once per process. */
export function samplePhoto(sample: number): Promise<SamplePhoto> {
  let photo = photos.get(sample);
  if (!photo) {
    photo = (async () => {
      const frame = await samplePicture(sample);
      const faces = (await loadFaceModel()).detect(frame, { descriptors: false }).sort((a, b) => a.box.x - b.box.x);
      return { sample, file: samplePhotoPath(sample), frame, faces };
    })();
    photos.set(sample, photo);
  }
  return photo;
}

export interface View {
  /** Centre of the region in the source, its pixels. */
  cx: number;
  cy: number;
  /** Source pixels per output pixel. */
  scale: number;
  /** Turn of the region, radians, clockwise. */
  angle?: number;
  /** Mirror image. */
  flip?: boolean;
}

/**
 * A region of `source` turned, scaled and perhaps mirrored into a `width` x `height` frame (bilinear; outside the
 * source, `fill` if given, else the nearest edge).
 */
export function renderView(
  source: RgbaFrame,
  view: View,
  width: number,
  height: number,
  fill?: readonly [number, number, number],
): RgbaFrame {
  const out = new Uint8Array(width * height * 4);
  const [cos, sin] = [Math.cos(view.angle ?? 0) * view.scale, Math.sin(view.angle ?? 0) * view.scale];
  const { rgba, width: sw, height: sh } = source;
  for (let v = 0; v < height; v++) {
    for (let u = 0; u < width; u++) {
      const du = (view.flip ? width - 1 - u : u) - width / 2;
      const dv = v - height / 2;
      const x = view.cx + du * cos - dv * sin;
      const y = view.cy + du * sin + dv * cos;
      const o = (v * width + u) * 4;
      if (fill && (x < 0 || y < 0 || x > sw - 1 || y > sh - 1)) {
        [out[o], out[o + 1], out[o + 2], out[o + 3]] = [fill[0], fill[1], fill[2], 255];
        continue;
      }
      const x0 = Math.min(sw - 1, Math.max(0, Math.floor(x)));
      const y0 = Math.min(sh - 1, Math.max(0, Math.floor(y)));
      const x1 = Math.min(sw - 1, x0 + 1);
      const y1 = Math.min(sh - 1, y0 + 1);
      const fx = Math.min(1, Math.max(0, x - x0));
      const fy = Math.min(1, Math.max(0, y - y0));
      for (let c = 0; c < 3; c++) {
        const top = rgba[(y0 * sw + x0) * 4 + c]! * (1 - fx) + rgba[(y0 * sw + x1) * 4 + c]! * fx;
        const bottom = rgba[(y1 * sw + x0) * 4 + c]! * (1 - fx) + rgba[(y1 * sw + x1) * 4 + c]! * fx;
        out[o + c] = top * (1 - fy) + bottom * fy;
      }
      out[o + 3] = 255;
    }
  }
  return { width, height, rgba: out };
}

export interface Light {
  /** Added after contrast, -255 to 255. */
  brightness?: number;
  /** Around mid-grey; 1 leaves it. */
  contrast?: number;
  /** Applied first; above 1 darkens the mid-tones. */
  gamma?: number;
}

/** `frame` under other light. */
export function relight(frame: RgbaFrame, light: Light): RgbaFrame {
  const table = new Uint8Array(256);
  for (let v = 0; v < 256; v++) {
    const curved = 255 * (v / 255) ** (light.gamma ?? 1);
    table[v] = Math.max(0, Math.min(255, (curved - 128) * (light.contrast ?? 1) + 128 + (light.brightness ?? 0)));
  }
  const out = new Uint8Array(frame.rgba.length);
  for (let i = 0; i < out.length; i += 4) {
    out[i] = table[frame.rgba[i]!]!;
    out[i + 1] = table[frame.rgba[i + 1]!]!;
    out[i + 2] = table[frame.rgba[i + 2]!]!;
    out[i + 3] = 255;
  }
  return { width: frame.width, height: frame.height, rgba: out };
}

/** The view of a face: its box's centre, `context` times its size across `side` pixels. */
export function faceView(box: Box, side: number, context: number, change: Partial<View> = {}): View {
  const size = Math.max(box.width, box.height) * context;
  return {
    cx: box.x + box.width / 2 + (change.cx ?? 0) * size,
    cy: box.y + box.height / 2 + (change.cy ?? 0) * size,
    scale: size / side,
    angle: change.angle ?? 0,
    flip: change.flip ?? false,
  };
}

interface Variant {
  name: string;
  /** Context around the face, offset of the centre (in region sizes), turn in degrees, mirror. */
  context: number;
  dx?: number;
  dy?: number;
  degrees?: number;
  flip?: boolean;
  light?: Light;
}

/** Registration: a plain crop, twice the face's box. */
const registration: Variant = { name: "register", context: 2 };

/** The views a face is probed with. */
const probes: Variant[] = [
  { name: "tight crop", context: 1.5 },
  { name: "wide crop", context: 3 },
  { name: "off-centre crop", context: 2, dx: 0.1, dy: -0.08 },
  { name: "brighter", context: 2, light: { brightness: 45 } },
  { name: "darker", context: 2, light: { brightness: -45 } },
  { name: "low contrast", context: 2, light: { contrast: 0.6 } },
  { name: "high contrast", context: 2, light: { contrast: 1.4 } },
  { name: "gamma 0.6", context: 2, light: { gamma: 0.6 } },
  { name: "gamma 1.6", context: 2, light: { gamma: 1.6 } },
  { name: "turned 8° left", context: 2, degrees: -8 },
  { name: "turned 8° right", context: 2, degrees: 8 },
  { name: "turned 15°", context: 2, degrees: 15 },
  { name: "mirrored", context: 2, flip: true },
  { name: "mirrored, turned, dim", context: 2.4, flip: true, degrees: -10, light: { brightness: -30, gamma: 1.3 } },
];

/** Probes and registrations are drawn at this size (a phone selfie's face is larger; a video frame's smaller). */
const side = 320;

function render(photo: SamplePhoto, face: DetectedFace, variant: Variant): RgbaFrame {
  const view = faceView(face.box, side, variant.context, {
    cx: variant.dx ?? 0,
    cy: variant.dy ?? 0,
    angle: ((variant.degrees ?? 0) * Math.PI) / 180,
    flip: variant.flip ?? false,
  });
  const frame = renderView(photo.frame, view, side, side);
  return variant.light ? relight(frame, variant.light) : frame;
}

/** The drawn default host with its mouth at rest, as a room shows it. */
async function drawnHost(): Promise<RgbaFrame> {
  const pack = await loadAvatarPack(repoPath("models/avatars/default"));
  const { manifest } = pack;
  const frame = await decodeImage(await readFile(join(pack.dir, manifest.base.image)), { maxSide: 4096 });
  const mouth = pack.mouthImage(Viseme.rest);
  const { x, y, width, height } = manifest.mouth;
  for (let j = 0; j < height; j++) {
    for (let i = 0; i < width; i++) {
      const p = (j * width + i) * 4;
      const o = ((y + j) * frame.width + x + i) * 4;
      const alpha = mouth[p + 3]! / 255;
      for (let c = 0; c < 3; c++) frame.rgba[o + c] = mouth[p + c]! * alpha + frame.rgba[o + c]! * (1 - alpha);
    }
  }
  return frame;
}

export interface FaceIdEvaluation {
  /** The package photos used, by file name. */
  images: string[];
  /** People found on them (each face is one person). */
  identities: number;
  /** People whose plain crop registered (the others, turned too far away, serve as impostors only). */
  registered: number;
  genuine_pairs: number;
  impostor_pairs: number;
  /** Genuine pairs under the threshold (a probe where no face was found counts as rejected). */
  true_accept_rate: number;
  /** Impostor pairs under the threshold: their share, and how many. */
  false_accept_rate: number;
  false_accepts: number;
  threshold: number;
  /** Distances, for choosing a threshold: the nearest impostor pair; the genuine pairs' median and 95th percentile. */
  nearest_impostor: number;
  genuine_median: number;
  genuine_p95: number;
  /** Genuine views that showed the detector no face (counted as rejected; impostor views without one are left out). */
  genuine_without_face: number;
  /** Views of the drawn default host (whole frame, face, mirrored and turned) and how many showed a face. */
  drawn_host_views: number;
  drawn_host_faces: number;
  /** Whether the drawn host matched any registered face (it must not). */
  drawn_host_matched: boolean;
  /** The rates at other thresholds, face-api's usual 0.5–0.6 among them. */
  sweep: { threshold: number; true_accept_rate: number; false_accept_rate: number; false_accepts: number }[];
}

export async function evaluateFaceId(
  options: { threshold?: number; samples?: readonly number[]; signal?: AbortSignal } = {},
): Promise<FaceIdEvaluation> {
  const threshold = options.threshold ?? faceMatchThreshold;
  const model = await loadFaceModel();
  const describe = (frame: RgbaFrame): Float32Array | undefined => {
    options.signal?.throwIfAborted();
    // The face the view is centred on: the detector's most confident one near the middle.
    const faces = model.detect(frame).filter((f) => {
      const [cx, cy] = [f.box.x + f.box.width / 2, f.box.y + f.box.height / 2];
      return Math.abs(cx - frame.width / 2) < frame.width / 4 && Math.abs(cy - frame.height / 2) < frame.height / 4;
    });
    return faces[0]?.descriptor;
  };

  // Every face found is a person; those whose plain crop shows a face are registered, and every view of every
  // person is a probe: of their own registration (genuine) and of everyone else's (impostor).
  const people: { registered?: Float32Array; views: (Float32Array | undefined)[] }[] = [];
  const images: string[] = [];
  for (const sample of options.samples ?? samplePhotoNumbers) {
    const photo = await samplePhoto(sample);
    images.push(`sample${sample}.jpg`);
    for (const face of photo.faces) {
      people.push({
        registered: describe(render(photo, face, registration)),
        views: probes.map((variant) => describe(render(photo, face, variant))),
      });
    }
  }
  const host = await drawnHost();
  const hostBox = { x: host.width * 0.25, y: host.height * 0.22, width: host.width * 0.5, height: host.height * 0.35 };
  const hostViews = [
    host,
    renderView(host, faceView(hostBox, side, 1.6), side, side),
    renderView(host, faceView(hostBox, side, 1.6, { flip: true, angle: 0.1 }), side, side),
  ].map(describe);

  const genuine: number[] = [];
  const impostor: number[] = [];
  const enrolled = people.filter((p) => p.registered);
  for (const person of enrolled) {
    for (const view of person.views) {
      genuine.push(view ? faceDistance(view, person.registered!) : Number.POSITIVE_INFINITY);
    }
    for (const other of people) {
      if (other === person) continue;
      for (const view of [other.registered, ...other.views]) {
        if (view) impostor.push(faceDistance(view, person.registered!));
      }
    }
  }
  const hostDistances = hostViews.flatMap((v) => (v ? enrolled.map((p) => faceDistance(v, p.registered!)) : []));
  impostor.push(...hostDistances);
  const described = genuine.filter(Number.isFinite).sort((a, b) => a - b);
  const quantile = (q: number) => described[Math.min(described.length - 1, Math.floor(q * described.length))] ?? NaN;
  const round = (v: number, places = 3) => Math.round(v * 10 ** places) / 10 ** places;
  const rates = (limit: number) => {
    const accepted = impostor.filter((d) => d < limit).length;
    return {
      true_accept_rate: round(genuine.filter((d) => d < limit).length / genuine.length),
      false_accept_rate: round(accepted / impostor.length, 5),
      false_accepts: accepted,
    };
  };
  return {
    images,
    identities: people.length,
    registered: enrolled.length,
    genuine_pairs: genuine.length,
    impostor_pairs: impostor.length,
    ...rates(threshold),
    threshold,
    nearest_impostor: round(Math.min(...impostor)),
    genuine_median: round(quantile(0.5)),
    genuine_p95: round(quantile(0.95)),
    genuine_without_face: genuine.length - described.length,
    drawn_host_views: hostViews.length,
    drawn_host_faces: hostViews.filter((v) => v !== undefined).length,
    drawn_host_matched: hostDistances.some((d) => d < threshold),
    sweep: [0.35, 0.4, 0.45, 0.5, 0.55, 0.6].map((limit) => ({ threshold: limit, ...rates(limit) })),
  };
}
