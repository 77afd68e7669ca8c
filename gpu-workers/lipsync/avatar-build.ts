// `livehost avatar build <video>`: the onboarding job that turns a merchant's talking-head video into an avatar pack.
//
//   1. audio   GStreamer decodes the video's sound to 16 kHz PCM;
//   2. labels  the lip-sync model (the worker's own MouthAnimator) gives each video frame a mouth shape and opening;
//   3. mouth   GStreamer decodes the picture at the pack's size, one frame at a time. The mouth is where the picture
//              changes with the speech: per 8x8 block, the correlation of its brightness with the mouth opening the
//              model heard (a mouth darkens as it opens; eyes, hair and background do not follow the words), tried at
//              a few frames of offset, since uploads are not always in sync;
//   4. loop    a second decode cuts the mouth images from the frames that best show each shape (the middle of its
//              longest run), and encodes the quietest stretch as the idle loop, its end cross-faded into its start;
//   5. pack    shapes never spoken borrow the nearest shape's image; the pack is written next to its final place
//              and renamed into it, so a failed job leaves nothing behind and an older pack keeps serving.
//
// An unusable upload is rejected with the reason: unreadable, no audio or no video track, too short, no speech the
// model recognises, or no mouth region found.
import { mkdir, rename, rm, stat, writeFile } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { InvalidArgumentError } from "../../errors/index.js";
import { decodeAudio, decodeVideo, Mp4Writer, PipelineError, probeMedia, writePng } from "../../media/index.js";
import { createSession, executionProviders, type ExecutionProviderChoice } from "../onnx/runtime.js";
import { repoPath, type AvatarPackManifest } from "../../avatars/index.js";
import * as ort from "onnxruntime-node";
import { MouthAnimator, onnxClassifier, type MouthFrame } from "./animator.js";
import { featureRate } from "./dataset.js";
import { Viseme, visemeCount, visemeParams, type VisemeId } from "./visemes.js";

export type RejectionReason = "unreadable" | "no-audio" | "no-video" | "too-short" | "no-speech" | "no-mouth";

/** An upload that cannot become an avatar, and why. */
export class AvatarRejectedError extends InvalidArgumentError {
  override name = "AvatarRejectedError";
  readonly reason: RejectionReason;

  constructor(reason: RejectionReason, message: string, options: { cause?: unknown } = {}) {
    super("video", `${reason}: ${message}`, options);
    this.reason = reason;
  }
}

export interface AvatarBuildProgress {
  stage: "audio" | "labels" | "mouth" | "loop" | "pack";
  /** Work done and total in the stage's unit (mouth and loop: video frames); equal when the stage is over. */
  done: number;
  total: number;
}

export interface AvatarBuildOptions {
  video: string;
  /** The pack's directory; replaced if it exists. */
  outDir: string;
  /** The avatar id rooms use: [a-z0-9][a-z0-9-]{0,62}. */
  id: string;
  /** Pack frame size and rate; default 720x1280 at 25 fps (portrait, letterboxed if the video is not). */
  width?: number;
  height?: number;
  fps?: number;
  /** Length of the idle loop; default 6 s (shorter when the video is). */
  loopSeconds?: number;
  /**
   * Where the mouth is, in the video's pixels, when something has found it already (onboarding's face landmarks):
   * the pack's box is this box letterboxed as the video is. Without one, the mouth is where the picture moves with
   * the speech (below); the search runs either way, for the picture's offset from the sound.
   */
  mouthBox?: { x: number; y: number; width: number; height: number };
  /** The face's box in the video's pixels (from landmarks), kept in the pack as `face` for renderers that need it. */
  faceBox?: { x: number; y: number; width: number; height: number };
  /** The viseme model; the project's by default. */
  modelPath?: string;
  executionProvider?: ExecutionProviderChoice;
  onProgress?: (progress: AvatarBuildProgress) => void;
  signal?: AbortSignal;
}

export interface AvatarBuildReport {
  manifest: AvatarPackManifest;
  dir: string;
}

const minLoopSeconds = 2;
const fadeSeconds = 0.4;
const minSpeechSeconds = 1;
/** Below this, nothing in the picture follows the speech. */
const minMouthCorrelation = 0.5;
/** Blocks whose mean brightness varies less than this (luma levels squared) over the video are not searched. */
const minBlockVariance = 1;
const block = 8;

const visemeNames = Object.fromEntries(Object.entries(Viseme).map(([name, id]) => [id, name])) as Record<
  VisemeId,
  string
>;

export async function buildAvatarPack(options: AvatarBuildOptions): Promise<AvatarBuildReport> {
  const width = options.width ?? 720;
  const height = options.height ?? 1280;
  const fps = options.fps ?? 25;
  const progress = options.onProgress ?? (() => undefined);
  const signal = options.signal;
  if (!/^[a-z0-9][a-z0-9-]{0,62}$/.test(options.id)) {
    throw new InvalidArgumentError("id", `"${options.id}" is not [a-z0-9][a-z0-9-]{0,62}`);
  }
  if (![width, height].every((n) => Number.isInteger(n) && n >= 240 && n <= 3840 && n % 2 === 0)) {
    throw new InvalidArgumentError("size", `${width}x${height} must be even numbers from 240 to 3840`);
  }
  if (![15, 24, 25, 30, 50, 60].includes(fps))
    throw new InvalidArgumentError("fps", `${fps} is not 15, 24, 25, 30, 50 or 60`);
  const given = options.mouthBox;
  if (given && !(given.x >= 0 && given.y >= 0 && given.width > 0 && given.height > 0)) {
    throw new InvalidArgumentError("mouthBox", "x and y must be 0 or more, width and height above 0");
  }
  const file = await stat(options.video).catch(() => undefined);
  if (!file?.isFile()) throw new AvatarRejectedError("unreadable", `${options.video} is not a readable file`);

  // 1. The sound.
  progress({ stage: "audio", done: 0, total: 1 });
  const pcm = await decodeAudio(options.video, featureRate, signal).catch((err: unknown) => {
    throw rejection(err, "no-audio", "the video has no audio track: the mouth is learnt from the host's own voice");
  });
  const seconds = pcm.length / featureRate;
  const loopFrames = Math.round(Math.max(minLoopSeconds, options.loopSeconds ?? 6) * fps);
  const fadeFrames = Math.round(fadeSeconds * fps);
  const totalFrames = Math.floor(seconds * fps);
  if (totalFrames < Math.round(minLoopSeconds * fps) + fadeFrames) {
    throw new AvatarRejectedError(
      "too-short",
      `${seconds.toFixed(1)} s of audio; at least ${minLoopSeconds + fadeSeconds} s are needed`,
    );
  }
  progress({ stage: "audio", done: 1, total: 1 });

  // 2. Mouth shapes heard, one per video frame.
  progress({ stage: "labels", done: 0, total: 1 });
  const labels = await labelFrames(pcm, fps, options);
  const energy = frameEnergy(pcm, fps, labels.length);
  const spoken = labels.filter((f) => f.viseme !== Viseme.rest).length;
  if (spoken < minSpeechSeconds * fps) {
    throw new AvatarRejectedError(
      "no-speech",
      `the model heard ${(spoken / fps).toFixed(1)} s of speech; at least ${minSpeechSeconds} s are needed`,
    );
  }
  const exemplars = exemplarFrames(labels);
  // Not the last few frames: a video track often ends a little before its audio.
  const usable = energy.subarray(0, Math.max(0, labels.length - Math.ceil(fps / 5)));
  const loop = quietestStretch(usable, Math.min(loopFrames, usable.length - fadeFrames), fadeFrames);
  progress({ stage: "labels", done: 1, total: 1 });

  // 3. The picture, first pass: where the mouth is, and how far the picture is from the sound.
  const search = new MouthSearch(
    width,
    height,
    labels.map((f) => f.mouth.open),
  );
  let frames = 0;
  await decodeVideo(
    options.video,
    { width, height, fps },
    (rgba, index) => {
      frames = index + 1;
      search.add(rgba, index);
      if (index % fps === 0) progress({ stage: "mouth", done: index, total: totalFrames });
    },
    signal,
  ).catch((err: unknown) => {
    throw rejection(err, "no-video", "the file has no video track");
  });
  progress({ stage: "mouth", done: totalFrames, total: totalFrames });
  const found = search.mouthBox();
  if (found.correlation < minMouthCorrelation) {
    throw new AvatarRejectedError(
      "no-mouth",
      `nothing in the picture moves with the speech (best correlation ${found.correlation.toFixed(2)}, ` +
        `${minMouthCorrelation} needed): is the host's face visible and still?`,
    );
  }
  // Picture frame i shows the moment of audio frame i + lag.
  const toPicture = (audioFrame: number) => Math.max(0, audioFrame - found.lagFrames);
  const loopStart = toPicture(loop.start);
  const loopEnd = loopStart + fadeFrames + loop.frames;
  if (frames < loopEnd) {
    throw new AvatarRejectedError(
      "too-short",
      `the video track has ${frames} frames, the audio ${totalFrames}: the picture ends early`,
    );
  }

  // 4. Second pass: the mouth images and the idle loop, written next to the pack's place, then moved into it.
  const partial = join(dirname(options.outDir), `.${basename(options.outDir)}.partial-${process.pid}`);
  await rm(partial, { recursive: true, force: true });
  await mkdir(partial, { recursive: true });
  try {
    const mouth = given ? await letterboxed(options.video, given, width, height) : found.box;
    const wanted = new Map([...exemplars].map(([index, viseme]) => [toPicture(index), viseme]));
    const mouths = new Map<VisemeId, Uint8Array>();
    const fade: Uint8Array[] = [];
    let poster: Uint8Array | undefined;
    const writer = new Mp4Writer(join(partial, "base.mp4"), { width, height, fps });
    try {
      await decodeVideo(
        options.video,
        { width, height, fps },
        (rgba, index) => {
          const viseme = wanted.get(index);
          if (viseme !== undefined) mouths.set(viseme, crop(rgba, width, mouth));
          const inLoop = index - loopStart;
          if (inLoop >= 0 && inLoop < fadeFrames) fade.push(new Uint8Array(rgba));
          else if (inLoop >= fadeFrames && index < loopEnd - fadeFrames) {
            poster ??= new Uint8Array(rgba);
            writer.push(rgba);
          } else if (index >= loopEnd - fadeFrames && index < loopEnd) {
            const j = index - (loopEnd - fadeFrames);
            writer.push(crossFade(rgba, fade[j]!, (j + 1) / (fadeFrames + 1)));
          }
          if (index % fps === 0) progress({ stage: "loop", done: index, total: frames });
        },
        signal,
      );
    } catch (err) {
      await writer.abort();
      throw err;
    }
    await writer.finish();
    progress({ stage: "loop", done: frames, total: frames });

    progress({ stage: "pack", done: 0, total: 1 });
    const { atlas, seen, substituted } = fillAtlas(mouths, mouth);
    await writeFile(join(partial, "atlas.rgba"), atlas);
    await writePng(join(partial, "base.png"), poster!, width, height);
    const face = options.faceBox ? await letterboxed(options.video, options.faceBox, width, height) : undefined;
    const manifest: AvatarPackManifest = {
      id: options.id,
      width,
      height,
      fps,
      mouth,
      ...(face ? { face } : {}),
      base: { image: "base.png", video: "base.mp4", loopSeconds: Math.round((loop.frames / fps) * 100) / 100 },
      atlas: "atlas.rgba",
      visemes: visemeCount,
      madeBy: `livehost avatar build ${basename(options.video)}`,
      build: {
        source: basename(options.video),
        durationS: Math.round(seconds * 10) / 10,
        visemesSeen: seen.map((v) => visemeNames[v]),
        substituted: Object.fromEntries(substituted.map(([v, by]) => [visemeNames[v], visemeNames[by]])),
        mouthCorrelation: Math.round(found.correlation * 100) / 100,
      },
    };
    await writeFile(join(partial, "pack.json"), `${JSON.stringify(manifest, null, 2)}\n`);
    await rm(options.outDir, { recursive: true, force: true });
    await mkdir(dirname(options.outDir), { recursive: true });
    await rename(partial, options.outDir);
    progress({ stage: "pack", done: 1, total: 1 });
    return { manifest, dir: options.outDir };
  } finally {
    await rm(partial, { recursive: true, force: true });
  }
}

/** A box in the video's pixels on the pack's frame, which decodeVideo letterboxes the video into: even numbers, inside. */
async function letterboxed(
  video: string,
  box: { x: number; y: number; width: number; height: number },
  width: number,
  height: number,
) {
  const source = (await probeMedia(video)).video!;
  const scale = Math.min(width / source.width, height / source.height);
  const [left, top] = [(width - source.width * scale) / 2, (height - source.height * scale) / 2];
  const even = (v: number) => Math.round(v / 2) * 2;
  const w = Math.min(width, Math.max(2, even(box.width * scale)));
  const h = Math.min(height, Math.max(2, even(box.height * scale)));
  return {
    x: Math.min(width - w, Math.max(0, even(left + box.x * scale))),
    y: Math.min(height - h, Math.max(0, even(top + box.y * scale))),
    width: w,
    height: h,
  };
}

/** A GStreamer failure as the rejection it means: a missing track shows as "not-linked", anything else as unreadable. */
function rejection(err: unknown, missing: RejectionReason, missingMessage: string): Error {
  if (!(err instanceof PipelineError)) return err as Error;
  if (err.debug.includes("not-linked")) return new AvatarRejectedError(missing, missingMessage, { cause: err });
  return new AvatarRejectedError("unreadable", `GStreamer cannot decode it: ${err.message}`, { cause: err });
}

async function labelFrames(pcm: Int16Array, fps: number, options: AvatarBuildOptions): Promise<MouthFrame[]> {
  const eps = await executionProviders(options.executionProvider ?? "cpu");
  const session = await createSession(
    options.modelPath ?? repoPath("gpu-workers/lipsync/model/viseme-mlp.onnx"),
    eps.providers,
  );
  try {
    const animator = new MouthAnimator({ fps, inputRate: featureRate, classify: onnxClassifier(session, ort.Tensor) });
    return [...(await animator.push(pcm)), ...(await animator.flush())];
  } finally {
    await session.release();
  }
}

/** RMS of the audio under each video frame. */
function frameEnergy(pcm: Int16Array, fps: number, frames: number): Float64Array {
  const energy = new Float64Array(frames);
  for (let i = 0; i < frames; i++) {
    const from = Math.round((i * featureRate) / fps);
    const to = Math.min(pcm.length, Math.round(((i + 1) * featureRate) / fps));
    let sum = 0;
    for (let s = from; s < to; s++) sum += pcm[s]! * pcm[s]!;
    energy[i] = Math.sqrt(sum / Math.max(1, to - from));
  }
  return energy;
}

/** For each mouth shape heard, the frame in the middle of its longest run: the shape held, not in passing. */
function exemplarFrames(labels: MouthFrame[]): Map<number, VisemeId> {
  const best = new Map<VisemeId, { start: number; length: number }>();
  for (let start = 0; start < labels.length;) {
    const viseme = labels[start]!.viseme;
    let end = start + 1;
    while (end < labels.length && labels[end]!.viseme === viseme) end++;
    if ((best.get(viseme)?.length ?? 0) < end - start) best.set(viseme, { start, length: end - start });
    start = end;
  }
  return new Map([...best].map(([viseme, run]) => [run.start + (run.length >> 1), viseme]));
}

/** The stretch of `frames + fade` frames with the least sound: the host at rest makes the best idle loop. */
function quietestStretch(energy: Float64Array, frames: number, fade: number): { start: number; frames: number } {
  const span = frames + fade;
  let sum = 0;
  for (let i = 0; i < span; i++) sum += energy[i]!;
  let best = { start: 0, sum };
  for (let start = 1; start + span <= energy.length; start++) {
    sum += energy[start + span - 1]! - energy[start - 1]!;
    if (sum < best.sum) best = { start, sum };
  }
  return { start: best.start, frames };
}

function crossFade(from: Uint8Array, to: Uint8Array, weight: number): Uint8Array {
  const out = new Uint8Array(from.length);
  for (let i = 0; i < from.length; i++) out[i] = from[i]! + (to[i]! - from[i]!) * weight;
  return out;
}

/**
 * Per 8x8 block of the frame, the correlation of its brightness with the mouth opening heard, at a few frames of
 * offset either way: uploads are not always in sync, and the best offset is part of what is found.
 */
class MouthSearch {
  static readonly maxLag = 3;
  readonly #width: number;
  readonly #cols: number;
  readonly #rows: number;
  readonly #open: number[];
  readonly #sx: Float64Array;
  readonly #sxx: Float64Array;
  /** Σ x(t)·open(t + lag), one array per lag from -maxLag to maxLag. */
  readonly #sxy: Float64Array[];
  readonly #luma: Float64Array;
  #n = 0;

  /** `open`: the mouth opening heard in each video frame. */
  constructor(width: number, height: number, open: number[]) {
    this.#width = width;
    this.#cols = Math.floor(width / block);
    this.#rows = Math.floor(height / block);
    this.#open = open;
    const blocks = this.#cols * this.#rows;
    this.#sx = new Float64Array(blocks);
    this.#sxx = new Float64Array(blocks);
    this.#sxy = Array.from({ length: 2 * MouthSearch.maxLag + 1 }, () => new Float64Array(blocks));
    this.#luma = new Float64Array(blocks);
  }

  add(rgba: Uint8Array, index: number): void {
    if (index >= this.#open.length) return;
    const luma = this.#luma.fill(0);
    // Every other pixel of every other row: plenty for 8x8 block means.
    for (let y = 0; y < this.#rows * block; y += 2) {
      const rowBase = Math.floor(y / block) * this.#cols;
      for (let x = 0; x < this.#cols * block; x += 2) {
        const o = (y * this.#width + x) * 4;
        luma[rowBase + Math.floor(x / block)]! += 0.299 * rgba[o]! + 0.587 * rgba[o + 1]! + 0.114 * rgba[o + 2]!;
      }
    }
    const opens = this.#sxy.map((_, k) => this.#open[index + k - MouthSearch.maxLag] ?? this.#open[index]!);
    for (let b = 0; b < luma.length; b++) {
      const x = luma[b]! / ((block * block) / 4);
      this.#sx[b]! += x;
      this.#sxx[b]! += x * x;
      for (let k = 0; k < opens.length; k++) this.#sxy[k]![b]! += x * opens[k]!;
    }
    this.#n++;
  }

  /** The mouth box (3:2, even numbers, inside the frame) around the blocks that follow the speech best. */
  mouthBox() {
    const n = this.#n;
    let best = { r: new Float64Array(0), peak: 0, lag: 0 };
    this.#sxy.forEach((sxy, k) => {
      // The opening as it was paired with the frames at this lag (see add()).
      const heard = Array.from({ length: n }, (_, i) => this.#open[i + k - MouthSearch.maxLag] ?? this.#open[i]!);
      const sy = heard.reduce((a, b) => a + b, 0);
      const vy = n * heard.reduce((a, b) => a + b * b, 0) - sy * sy;
      const r = new Float64Array(this.#sx.length);
      let peak = 0;
      for (let b = 0; b < r.length; b++) {
        const vx = n * this.#sxx[b]! - this.#sx[b]! * this.#sx[b]!;
        const cov = n * sxy[b]! - this.#sx[b]! * sy;
        // A block whose brightness hardly moves (variance under one luma level squared) follows nothing: its tiny
        // variance, a difference of large sums, would make any covariance look like a perfect correlation.
        const still = vx < n * n * minBlockVariance;
        r[b] = still || vy <= 1e-12 ? 0 : Math.min(1, Math.abs(cov / Math.sqrt(vx * vy)));
        if (r[b]! > r[peak]!) peak = b;
      }
      if (best.r.length === 0 || r[peak]! > best.r[best.peak]!) best = { r, peak, lag: k - MouthSearch.maxLag };
    });
    const { r, peak } = best;
    // The connected blocks around the peak that correlate at least half as well.
    const threshold = r[peak]! * 0.5;
    const [peakCol, peakRow] = [peak % this.#cols, Math.floor(peak / this.#cols)];
    let [left, right, top, bottom] = [peakCol, peakCol, peakRow, peakRow];
    const seen = new Uint8Array(r.length);
    const stack = [peak];
    seen[peak] = 1;
    while (stack.length > 0) {
      const b = stack.pop()!;
      const [col, row] = [b % this.#cols, Math.floor(b / this.#cols)];
      [left, right, top, bottom] = [
        Math.min(left, col),
        Math.max(right, col),
        Math.min(top, row),
        Math.max(bottom, row),
      ];
      for (const [dc, dr] of [
        [1, 0],
        [-1, 0],
        [0, 1],
        [0, -1],
      ] as const) {
        const [c, w] = [col + dc, row + dr];
        if (
          c < 0 ||
          w < 0 ||
          c >= this.#cols ||
          w >= this.#rows ||
          Math.abs(c - peakCol) > 12 ||
          Math.abs(w - peakRow) > 8
        )
          continue;
        const next = w * this.#cols + c;
        if (!seen[next] && r[next]! >= threshold) {
          seen[next] = 1;
          stack.push(next);
        }
      }
    }
    // Lips move more than the dark opening between them: pad the moving area, keep the 3:2 shape of mouth patches.
    const height = this.#rows * block;
    const centreX = ((left + right + 1) / 2) * block;
    const centreY = ((top + bottom + 1) / 2) * block;
    const even = (v: number) => Math.max(2, Math.round(v / 2) * 2);
    const boxWidth = Math.min(
      this.#width,
      Math.max((right - left + 1) * block * 1.5, this.#width * 0.08, (bottom - top + 1) * block * 1.5 * 1.5),
    );
    const w = even(boxWidth);
    const h = Math.min(even((boxWidth * 2) / 3), height);
    const x = Math.min(Math.max(0, even(centreX - w / 2)), this.#width - w);
    const y = Math.min(Math.max(0, even(centreY - h / 2)), height - h);
    return { box: { x, y, width: w, height: h }, correlation: r[peak]!, lagFrames: best.lag };
  }
}

/** The atlas: a viseme the host never held borrows the image of the nearest one heard (by jaw, width and rounding). */
function fillAtlas(mouths: Map<VisemeId, Uint8Array>, mouth: { width: number; height: number }) {
  const seen = [...mouths.keys()].sort((a, b) => a - b);
  const substituted: [VisemeId, VisemeId][] = [];
  const size = mouth.width * mouth.height * 4;
  const atlas = new Uint8Array(visemeCount * size);
  for (let index = 0; index < visemeCount; index++) {
    const viseme = index as VisemeId;
    let image = mouths.get(viseme);
    if (!image) {
      const nearest = seen.reduce((a, b) => (distance(viseme, b) < distance(viseme, a) ? b : a));
      substituted.push([viseme, nearest]);
      image = mouths.get(nearest)!;
    }
    atlas.set(image, index * size);
  }
  return { atlas, seen, substituted };
}

function distance(a: VisemeId, b: VisemeId): number {
  const [p, q] = [visemeParams[a], visemeParams[b]];
  return Math.hypot(p.open - q.open, p.width - q.width, p.round - q.round);
}

/** The mouth box of a frame, its edges feathered so the patch blends into the base video. */
function crop(frame: Uint8Array, frameWidth: number, box: { x: number; y: number; width: number; height: number }) {
  const out = new Uint8Array(box.width * box.height * 4);
  const feather = Math.max(2, Math.round(Math.min(box.width, box.height) * 0.2));
  for (let y = 0; y < box.height; y++) {
    const row = ((box.y + y) * frameWidth + box.x) * 4;
    out.set(frame.subarray(row, row + box.width * 4), y * box.width * 4);
    for (let x = 0; x < box.width; x++) {
      const edge = Math.min(x, y, box.width - 1 - x, box.height - 1 - y);
      out[(y * box.width + x) * 4 + 3] = Math.round(255 * Math.min(1, edge / feather));
    }
  }
  return out;
}
