// Is a merchant's upload fit to become a host? Checks in order of cost, so a bad upload is refused early: the file's
// size, what ffprobe says (a video at all, its length and resolution, a sound track), whether anyone speaks (energy
// of the 16 kHz sound against its own noise floor), then the picture sampled twice a second: one face, and only one,
// in nearly every frame, and whose (the registered faces). What passes comes back as a report with the boxes the
// avatar pack needs (face and mouth, from the landmarks, medians over the frames, in the video's pixels).
import { decodeAudio } from "../media/index.js";
import { FailedPreconditionError, InvalidArgumentError } from "../errors/index.js";
import {
  faceBoxOf,
  faceDistance,
  faceMatchThreshold,
  matchFace,
  mouthBoxOf,
  type Box,
  type FaceModel,
  type RegisteredFace,
} from "./faces.js";
import { probeVideo, sampleFrames, UnreadableMediaError, type VideoInfo } from "./video-frames.js";

/** What a refused upload failed, for machines (a job's failure code); the message says it for people. */
export type MaterialCheck =
  | "unreadable"
  | "too_large"
  | "too_short"
  | "too_long"
  | "resolution"
  | "no_audio"
  | "silent"
  | "no_face"
  | "several_faces"
  | "face_not_registered";

export class MaterialRefusedError extends FailedPreconditionError {
  override name = "MaterialRefusedError";
  readonly check: MaterialCheck;

  constructor(check: MaterialCheck, message: string, options?: ErrorOptions) {
    super(message, options);
    this.check = check;
  }
}

export interface MaterialLimits {
  /** Length, seconds: enough speech to learn the mouth from, not so much that a check takes long. */
  minSeconds: number;
  maxSeconds: number;
  /** File size, bytes. */
  maxBytes: number;
  /** The picture's shorter side at least (the mouth must have pixels), its longer side at most. */
  minShortSide: number;
  maxLongSide: number;
  /** Share of the length with speech in it. */
  minSpeechFraction: number;
  /** Share of sampled frames with exactly one face. */
  minOneFaceFraction: number;
  /** Share of sampled frames with more than one face. */
  maxSeveralFacesFraction: number;
  /** Frames looked at per second (a whole number). */
  sampleFps: number;
}

/**
 * 10 s to 10 min, at most 500 MiB (10 min of 1080p at a phone's 6 Mbit/s is 450 MB), 360 to 4096 pixels, speech in
 * a quarter of it, one face in 90% of the frames and a second in no more than 5%, two frames a second.
 */
export const defaultMaterialLimits: Readonly<MaterialLimits> = Object.freeze({
  minSeconds: 10,
  maxSeconds: 600,
  maxBytes: 500 * 1024 * 1024,
  minShortSide: 360,
  maxLongSide: 4096,
  minSpeechFraction: 0.25,
  minOneFaceFraction: 0.9,
  maxSeveralFacesFraction: 0.05,
  sampleFps: 2,
});

/** Defaults filled in and every limit checked; a bad one is refused naming `limits.<name>`. */
export function compileMaterialLimits(limits: Partial<MaterialLimits> = {}): MaterialLimits {
  const compiled = { ...defaultMaterialLimits };
  for (const [name, value] of Object.entries(limits) as [keyof MaterialLimits, number | undefined][]) {
    if (value === undefined) continue;
    if (!(name in defaultMaterialLimits)) throw new InvalidArgumentError(`limits.${name}`, "is not a limit");
    if (typeof value !== "number" || !Number.isFinite(value) || value < 0) {
      throw new InvalidArgumentError(`limits.${name}`, `${String(value)} is not a number of 0 or more`);
    }
    if (name.endsWith("Fraction") && value > 1) throw new InvalidArgumentError(`limits.${name}`, `${value} is above 1`);
    compiled[name] = value;
  }
  if (compiled.minSeconds > compiled.maxSeconds) {
    throw new InvalidArgumentError("limits.minSeconds", `${compiled.minSeconds} is above maxSeconds`);
  }
  if (compiled.minShortSide > compiled.maxLongSide) {
    throw new InvalidArgumentError("limits.minShortSide", `${compiled.minShortSide} is above maxLongSide`);
  }
  if (!Number.isInteger(compiled.sampleFps) || compiled.sampleFps < 1 || compiled.sampleFps > 30) {
    throw new InvalidArgumentError("limits.sampleFps", `${compiled.sampleFps} is not a whole number from 1 to 30`);
  }
  return compiled;
}

export interface CheckMaterialOptions {
  faces: FaceModel;
  /**
   * The tenant's registered faces. When given (even empty) the video's face must be one of them
   * (face_not_registered otherwise); when left out, the report's `descriptor` is for the caller to match.
   */
  library?: readonly RegisteredFace[];
  limits?: Partial<MaterialLimits>;
  signal?: AbortSignal;
  /** Called as the checks go, with the share done (0 to 1) and what is being looked at. */
  onProgress?: (fraction: number, message: string) => void;
}

export interface MaterialReport {
  bytes: number;
  durationS: number;
  width: number;
  height: number;
  fps: number;
  hasAudio: boolean;
  /** Share of the length with speech. */
  speechFraction: number;
  framesSampled: number;
  oneFaceFraction: number;
  severalFacesFraction: number;
  /** The registered face it matched and how near (with `library` only). */
  faceId?: string;
  faceDistance?: number;
  /** Medians over the frames with one face, in the video's pixels. */
  faceBox: Box;
  mouthBox: Box;
  /** The host's face as the recognition net sees it (the mean over the frames described): compare, never show. */
  descriptor: Float32Array;
}

/** Frames with one face that are described (the recognition net is the costly part): about this many, spread out. */
const describedFrames = 24;
/** A face smaller than this share of the picture's shorter side is neither the host nor a second person. */
const minFaceShare = 0.1;
const speechRate = 16_000;

/**
 * Checks the video at `input` and reports what it found; a video that fails a check is refused with a
 * MaterialRefusedError naming the check. Cancelled by `signal`.
 */
export async function checkMaterial(input: string, options: CheckMaterialOptions): Promise<MaterialReport> {
  const limits = compileMaterialLimits(options.limits);
  const { signal } = options;
  const progress = options.onProgress ?? (() => undefined);
  const refuse = (check: MaterialCheck, message: string, cause?: unknown) =>
    new MaterialRefusedError(check, message, cause === undefined ? undefined : { cause });

  progress(0, "reading the file");
  let info: VideoInfo;
  try {
    info = await probeVideo(input);
  } catch (err) {
    if (err instanceof UnreadableMediaError) {
      throw refuse("unreadable", `the upload cannot be read: ${err.message}`, err);
    }
    throw err;
  }
  const mib = (bytes: number) => `${(bytes / 1024 ** 2).toFixed(0)} MiB`;
  if (info.bytes > limits.maxBytes) {
    throw refuse("too_large", `the video is ${mib(info.bytes)}; at most ${mib(limits.maxBytes)} is taken`);
  }
  if (info.durationSeconds < limits.minSeconds) {
    throw refuse(
      "too_short",
      `the video is ${info.durationSeconds.toFixed(1)} s long; at least ${limits.minSeconds} s are needed`,
    );
  }
  if (info.durationSeconds > limits.maxSeconds) {
    throw refuse("too_long", `the video is ${info.durationSeconds.toFixed(0)} s long; at most ${limits.maxSeconds} s`);
  }
  const [short, long] = [Math.min(info.width, info.height), Math.max(info.width, info.height)];
  if (short < limits.minShortSide || long > limits.maxLongSide) {
    throw refuse(
      "resolution",
      `the video is ${info.width}x${info.height}; its shorter side must be at least ${limits.minShortSide} ` +
        `pixels and its longer side at most ${limits.maxLongSide}`,
    );
  }
  if (!info.hasAudio) {
    throw refuse("no_audio", "the video has no sound track: the host's mouth is learnt from the host's own voice");
  }
  if (options.library?.length === 0) {
    throw refuse("face_not_registered", "no face is registered: register the host's face first");
  }

  progress(0.02, "listening for speech");
  signal?.throwIfAborted();
  const pcm = await decodeAudio(input, speechRate, signal).catch((err: unknown) => {
    if (signal?.aborted) throw err;
    throw refuse("unreadable", "the sound track cannot be decoded", err);
  });
  const speechFraction = speechShare(pcm);
  if (speechFraction < limits.minSpeechFraction) {
    throw refuse(
      "silent",
      `speech is heard in ${(speechFraction * 100).toFixed(0)}% of the video; at least ` +
        `${(limits.minSpeechFraction * 100).toFixed(0)}% is needed: the host should talk to the camera`,
    );
  }

  progress(0.1, "looking for the host's face");
  const expected = Math.max(1, Math.floor(info.durationSeconds * limits.sampleFps));
  const describeEvery = Math.max(1, Math.ceil(expected / describedFrames));
  const faceBoxes: Box[] = [];
  const mouthBoxes: Box[] = [];
  const descriptors: Float32Array[] = [];
  let [sampled, oneFace, severalFaces] = [0, 0, 0];
  const tooFewWithOne = Math.floor((1 - limits.minOneFaceFraction) * expected);
  const tooManyWithSeveral = Math.floor(limits.maxSeveralFacesFraction * expected);
  await sampleFrames(
    input,
    { fps: limits.sampleFps, maxSide: 640, width: info.width, height: info.height, signal },
    (frame) => {
      sampled++;
      const minSide = Math.min(frame.width, frame.height) * minFaceShare;
      const faces = options.faces
        .detect(frame, { descriptors: false })
        .filter((f) => f.box.height >= minSide && f.landmarks.length === 68);
      if (faces.length > 1) severalFaces++;
      if (faces.length === 1) {
        oneFace++;
        const toVideo = (b: Box): Box => ({
          x: b.x * frame.scaleX,
          y: b.y * frame.scaleY,
          width: b.width * frame.scaleX,
          height: b.height * frame.scaleY,
        });
        faceBoxes.push(toVideo(faceBoxOf(faces[0]!.landmarks)));
        mouthBoxes.push(toVideo(mouthBoxOf(faces[0]!.landmarks)));
        if ((oneFace - 1) % describeEvery === 0) {
          const described = options.faces.describe(frame, faces[0]!);
          if (described) descriptors.push(described);
        }
      }
      // Refused as soon as the rest of the video could not make up for it.
      if (severalFaces > tooManyWithSeveral) throw severalFacesRefusal(severalFaces / expected, limits);
      if (sampled - oneFace > tooFewWithOne) throw noFaceRefusal(oneFace / sampled, limits);
      if (sampled % 4 === 0) progress(0.1 + 0.88 * Math.min(1, sampled / expected), "looking for the host's face");
    },
  ).catch((err: unknown) => {
    if (err instanceof UnreadableMediaError) throw refuse("unreadable", `the picture cannot be decoded`, err);
    throw err;
  });
  const oneFaceFraction = sampled ? oneFace / sampled : 0;
  const severalFacesFraction = sampled ? severalFaces / sampled : 0;
  if (severalFacesFraction > limits.maxSeveralFacesFraction) throw severalFacesRefusal(severalFacesFraction, limits);
  if (oneFaceFraction < limits.minOneFaceFraction || descriptors.length === 0) {
    throw noFaceRefusal(oneFaceFraction, limits);
  }

  const descriptor = mean(descriptors);
  const report: MaterialReport = {
    bytes: info.bytes,
    durationS: info.durationSeconds,
    width: info.width,
    height: info.height,
    fps: info.fps,
    hasAudio: info.hasAudio,
    speechFraction,
    framesSampled: sampled,
    oneFaceFraction,
    severalFacesFraction,
    faceBox: inside(medianBox(faceBoxes), info),
    mouthBox: inside(medianBox(mouthBoxes), info),
    descriptor,
  };
  if (options.library) {
    const match = matchFace(descriptor, options.library);
    const registered = match && options.library.find((f) => f.faceId === match.faceId)!.descriptor;
    // The same person throughout: most frames on their own match the face the whole video matches.
    const agreeing = registered
      ? descriptors.filter((d) => faceDistance(d, registered) < faceMatchThreshold).length
      : 0;
    if (!match || agreeing * 2 < descriptors.length) {
      throw refuse(
        "face_not_registered",
        "the face in the video matches none of the registered faces: only a registered face may host",
      );
    }
    report.faceId = match.faceId;
    report.faceDistance = match.distance;
  }
  progress(1, "material checked");
  return report;
}

function severalFacesRefusal(fraction: number, limits: MaterialLimits) {
  return new MaterialRefusedError(
    "several_faces",
    `more than one face in ${(fraction * 100).toFixed(0)}% of the frames (at most ` +
      `${(limits.maxSeveralFacesFraction * 100).toFixed(0)}%): the host should be alone in the picture`,
  );
}

function noFaceRefusal(fraction: number, limits: MaterialLimits) {
  return new MaterialRefusedError(
    "no_face",
    `one face in ${(fraction * 100).toFixed(0)}% of the frames; at least ` +
      `${(limits.minOneFaceFraction * 100).toFixed(0)}% are needed: keep the host's face in the picture, facing the camera`,
  );
}

/**
 * Share of 20 ms windows with speech: louder than the sound's own noise floor (its 10th percentile) by 15 dB and than
 * -55 dBFS, with pauses under 200 ms between them counted as speech.
 */
export function speechShare(pcm: Int16Array): number {
  const window = speechRate / 50;
  const count = Math.floor(pcm.length / window);
  if (count === 0) return 0;
  const levels = new Float64Array(count);
  for (let w = 0; w < count; w++) {
    let sum = 0;
    for (let s = w * window; s < (w + 1) * window; s++) sum += pcm[s]! * pcm[s]!;
    levels[w] = 10 * Math.log10(sum / window / 32768 ** 2 + 1e-12);
  }
  const floor = [...levels].sort((a, b) => a - b)[Math.floor(count * 0.1)]!;
  const threshold = Math.max(Math.max(floor, -90) + 15, -55);
  const hangover = 10;
  let speech = 0;
  let lastLoud = -Infinity;
  for (let w = 0; w < count; w++) {
    if (levels[w]! > threshold) {
      // The pause since the last loud window was short: part of the speech.
      if (w - lastLoud <= hangover) speech += w - lastLoud - 1;
      speech++;
      lastLoud = w;
    }
  }
  return speech / count;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? 0;
}

function medianBox(boxes: Box[]): Box {
  return {
    x: median(boxes.map((b) => b.x)),
    y: median(boxes.map((b) => b.y)),
    width: median(boxes.map((b) => b.width)),
    height: median(boxes.map((b) => b.height)),
  };
}

/** In whole pixels, inside the picture. */
function inside(box: Box, size: { width: number; height: number }): Box {
  const x = Math.max(0, Math.round(box.x));
  const y = Math.max(0, Math.round(box.y));
  return {
    x,
    y,
    width: Math.min(size.width - x, Math.round(box.x + box.width) - x),
    height: Math.min(size.height - y, Math.round(box.y + box.height) - y),
  };
}

function mean(descriptors: Float32Array[]): Float32Array {
  const out = new Float32Array(descriptors[0]?.length ?? 0);
  for (const d of descriptors) for (let i = 0; i < out.length; i++) out[i]! += d[i]! / descriptors.length;
  return out;
}
