// A merchant's talking-head video, made here from a real face so onboarding can be tested without uploads: one face of
// face-api's package photos (demo/sample*.jpg, group photos: the face is cut out with the detector) framed as a
// portrait, its lower lip and jaw opening with the loudness of speech synthesised by espeak-ng, the head swaying a
// few pixels so no two frames are alike. Encoded with GStreamer (x264 + AAC) from frames pushed one at a time: the
// push waits while the encoder is behind, so a 60 s 720x1280 video holds one frame in memory.
// Variants for the refusals: a second person beside the host, no face at all, a silent sound track. Also the photos
// a merchant would register (a crop of one face, changed as a second photo would be) and a photo of no one.
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { EspeakEngine } from "../../gpu-workers/index.js";
import { Mp4Writer, Resampler, writePng } from "../../media/index.js";
import { loadFaceModel, mouthBoxOf, faceBoxOf, type Box, type Point } from "../faces.js";
import { faceView, relight, renderView, samplePhoto, samplePicture, type Light } from "../faceid-eval.js";
import type { RgbaFrame } from "../video-frames.js";

/** One face of the package photos: the photo (1 to 6) and the face's place from the left (0 first). */
export interface SampleFace {
  sample: number;
  face: number;
}

/** Faces that look at the camera: the default host, and another person. */
export const hostFace: SampleFace = { sample: 3, face: 2 };
export const otherFace: SampleFace = { sample: 6, face: 3 };

export interface TalkingHeadOptions {
  out: string;
  seconds: number;
  width?: number;
  height?: number;
  fps?: number;
  /** The host; default `hostFace`. */
  photo?: SampleFace;
  /** A second person beside the host (`otherFace` when true). */
  secondPerson?: boolean | SampleFace;
  /** Background only: nobody in the picture (the sound is still speech). */
  noFace?: boolean;
  /** A sound track of silence (the mouth stays shut). */
  silent?: boolean;
  text?: string;
  /** An espeak-ng voice; default "en-us+f3". */
  voice?: string;
  signal?: AbortSignal;
}

export interface TalkingHead {
  path: string;
  seconds: number;
  width: number;
  height: number;
  fps: number;
  /** Where the host's face and mouth are with the head at rest, by the landmarks (absent without a face). */
  face?: Box;
  mouth?: Box;
}

const rate = 16_000;
/** Pixels the head sways either way (the portrait is drawn this much larger all round). */
const sway = 6;
const defaultText =
  "Hello and welcome back to the shop! Today I have something special for you: this ceramic kettle keeps tea warm " +
  "for two hours, pours without a drop, and comes in three colours. Order in the next ten minutes and the matching " +
  "cups are free. Ask me anything in the comments!";

async function face(which: SampleFace) {
  const photo = await samplePhoto(which.sample);
  const found = photo.faces[which.face];
  if (!found) throw new Error(`sample${which.sample}.jpg has no face ${which.face} (it has ${photo.faces.length})`);
  return { photo, box: found.box };
}

async function pngBytes(frame: RgbaFrame): Promise<Uint8Array> {
  const dir = await mkdtemp(join(tmpdir(), "livehost-photo-"));
  try {
    await writePng(join(dir, "photo.png"), frame.rgba, frame.width, frame.height);
    return new Uint8Array(await readFile(join(dir, "photo.png")));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * A photo of one face as a merchant would register it (PNG): a crop around it, `context` times the face (default
 * 2.2), perhaps turned (degrees), mirrored or under other light, as a second photo of the same person would differ.
 */
export async function facePhoto(
  which: SampleFace,
  change: { context?: number; degrees?: number; flip?: boolean; light?: Light; side?: number } = {},
): Promise<Uint8Array> {
  const { photo, box } = await face(which);
  const side = change.side ?? 400;
  const view = faceView(box, side, change.context ?? 2.2, {
    angle: ((change.degrees ?? 0) * Math.PI) / 180,
    flip: change.flip ?? false,
  });
  const frame = renderView(photo.frame, view, side, side);
  return pngBytes(change.light ? relight(frame, change.light) : frame);
}

/** A photo of a staircase from the package's fifth photo: no one on it. */
export async function noFacePhoto(): Promise<Uint8Array> {
  return pngBytes(renderView(await samplePicture(5), { cx: 210, cy: 360, scale: 1.2 }, 320, 480));
}

async function speech(options: TalkingHeadOptions, samples: number): Promise<Int16Array> {
  const audio = new Int16Array(samples);
  if (options.silent) return audio;
  const engine = await EspeakEngine.start();
  const parts: Int16Array[] = [];
  try {
    const resampler = new Resampler(engine.sampleRate, rate);
    const job = engine.synthesize(options.text ?? defaultText, options.voice ?? "en-us+f3", 165, options.signal);
    for await (const chunk of job) parts.push(resampler.push(chunk.samples));
    parts.push(resampler.push(new Int16Array(0), true));
  } finally {
    await engine.close();
  }
  const pcm = new Int16Array(parts.reduce((n, p) => n + p.length, 0));
  let filled = 0;
  for (const part of parts) {
    pcm.set(part, filled);
    filled += part.length;
  }
  // Half a second of quiet first, then the text again and again with a breath between, to the end.
  const gap = Math.round(rate * 0.4);
  for (let at = Math.round(rate * 0.5); at < samples; at += pcm.length + gap) {
    audio.set(pcm.subarray(0, Math.min(pcm.length, samples - at)), at);
  }
  return audio;
}

/** How far the mouth is open in each frame, 0 to 1, following the speech's loudness (fast to open, slower to close). */
function openness(audio: Int16Array, fps: number, frames: number): Float32Array {
  const rms = new Float32Array(frames);
  for (let i = 0; i < frames; i++) {
    const [from, to] = [Math.round((i * rate) / fps), Math.min(audio.length, Math.round(((i + 1) * rate) / fps))];
    let sum = 0;
    for (let s = from; s < to; s++) sum += audio[s]! * audio[s]!;
    rms[i] = Math.sqrt(sum / Math.max(1, to - from));
  }
  const loud = [...rms].sort((a, b) => a - b)[Math.floor(frames * 0.9)] || 1;
  const open = new Float32Array(frames);
  let last = 0;
  for (let i = 0; i < frames; i++) {
    const target = Math.min(1, (rms[i]! / loud) ** 0.8);
    last = target > last ? target : last * 0.5 + target * 0.5;
    open[i] = last < 0.05 ? 0 : last;
  }
  return open;
}

/** Lays the soft-edged disc inscribed in `patch` over `target`, the patch's top left corner at (x, y). */
function paste(target: RgbaFrame, patch: RgbaFrame, x: number, y: number): void {
  const [rx, ry] = [patch.width / 2, patch.height / 2];
  for (let j = 0; j < patch.height; j++) {
    const ty = y + j;
    if (ty < 0 || ty >= target.height) continue;
    for (let i = 0; i < patch.width; i++) {
      const tx = x + i;
      if (tx < 0 || tx >= target.width) continue;
      const r = Math.hypot((i - rx) / rx, (j - ry) / ry);
      const alpha = Math.min(1, Math.max(0, (1 - r) * 5));
      if (alpha === 0) continue;
      const [p, o] = [(j * patch.width + i) * 4, (ty * target.width + tx) * 4];
      for (let c = 0; c < 3; c++) target.rgba[o + c] = patch.rgba[p + c]! * alpha + target.rgba[o + c]! * (1 - alpha);
    }
  }
}

/** The host's portrait, `sway` pixels larger than the frame all round, with another person pasted beside if asked. */
async function portrait(options: TalkingHeadOptions, width: number, height: number): Promise<RgbaFrame> {
  const [bigW, bigH] = [width + 2 * sway, height + 2 * sway];
  const second = options.secondPerson === true ? otherFace : options.secondPerson || undefined;
  const host = await face(options.photo ?? hostFace);
  if (options.noFace) {
    // The photo's colours as a plain backdrop: a room with no one in it.
    const backdrop = renderView(host.photo.frame, { cx: host.box.x, cy: host.box.y, scale: 40 }, 2, 2);
    const [top, bottom] = [backdrop.rgba.subarray(0, 3), backdrop.rgba.subarray(8, 11)];
    const rgba = new Uint8Array(bigW * bigH * 4);
    for (let y = 0; y < bigH; y++) {
      for (let x = 0; x < bigW; x++) {
        const o = (y * bigW + x) * 4;
        for (let c = 0; c < 3; c++) rgba[o + c] = top[c]! + ((bottom[c]! - top[c]!) * y) / bigH;
        rgba[o + 3] = 255;
      }
    }
    return { width: bigW, height: bigH, rgba };
  }
  // The host's face centred 40% down the frame, 42% of its width wide (30%, and to the left, when someone stands
  // beside).
  const [share, at] = second ? [0.3, 0.33] : [0.42, 0.5];
  const scale = host.box.width / (share * width);
  const [faceX, faceY] = [host.box.x + host.box.width / 2, host.box.y + host.box.height / 2];
  const frame = renderView(
    host.photo.frame,
    {
      cx: faceX + (bigW / 2 - (at * width + sway)) * scale,
      cy: faceY + (bigH / 2 - (0.4 * height + sway)) * scale,
      scale,
    },
    bigW,
    bigH,
  );
  if (second) {
    const other = await face(second);
    const side = Math.round(0.28 * width * 2);
    const patch = renderView(other.photo.frame, faceView(other.box, side, 2), side, side);
    paste(frame, patch, Math.round(0.76 * width + sway - side / 2), Math.round(0.4 * height + sway - side / 2));
  }
  return frame;
}

/** The mouth as it opens: what warps the frame, from the lips' landmarks. */
interface Mouth {
  x: number;
  y: number;
  halfWidth: number;
  drop: number;
  below: number;
}

function mouthOf(landmarks: Point[]): Mouth {
  const inner = landmarks.slice(60, 68);
  const width = Math.hypot(landmarks[54]!.x - landmarks[48]!.x, landmarks[54]!.y - landmarks[48]!.y);
  return {
    x: inner.reduce((s, p) => s + p.x, 0) / inner.length,
    y: inner.reduce((s, p) => s + p.y, 0) / inner.length,
    halfWidth: width * 0.62,
    drop: width * 0.32,
    below: width * 0.95,
  };
}

/**
 * Draws frame content: the portrait's window at the sway's offset, the mouth opened by `open`: below the lips the
 * picture is pushed down (lower lip and chin drop), leaving the dark of an open mouth between the lips.
 */
function drawFrame(out: RgbaFrame, big: RgbaFrame, dx: number, dy: number, mouth: Mouth | undefined, open: number) {
  const { width, height } = out;
  const rowBytes = width * 4;
  for (let y = 0; y < height; y++) {
    const from = ((y + sway + dy) * big.width + sway + dx) * 4;
    out.rgba.set(big.rgba.subarray(from, from + rowBytes), y * rowBytes);
  }
  if (!mouth || open <= 0) return;
  const [mx, my] = [mouth.x - dx, mouth.y - dy];
  const x0 = Math.max(0, Math.floor(mx - mouth.halfWidth));
  const x1 = Math.min(width - 1, Math.ceil(mx + mouth.halfWidth));
  const y1 = Math.min(height - 1, Math.ceil(my + mouth.below));
  const sample = (x: number, y: number, c: number) => {
    const by = Math.min(big.height - 1, Math.max(0, Math.round(y + sway + dy)));
    return big.rgba[(by * big.width + x + sway + dx) * 4 + c]!;
  };
  for (let x = x0; x <= x1; x++) {
    const u = (x - mx) / mouth.halfWidth;
    const across = 1 - u * u;
    if (across <= 0) continue;
    const gap = open * mouth.drop * across;
    for (let y = Math.max(0, Math.ceil(my)); y <= y1; y++) {
      const w = y - my;
      const o = (y * width + x) * 4;
      if (w < gap) {
        // Inside the mouth: dark, fading into the lips at the corners.
        const alpha = Math.min(1, across * 4);
        const dark = [52, 22, 26];
        for (let c = 0; c < 3; c++) out.rgba[o + c] = dark[c]! * alpha + sample(x, my, c) * (1 - alpha);
      } else {
        const source = my + ((w - gap) * mouth.below) / (mouth.below - gap);
        for (let c = 0; c < 3; c++) out.rgba[o + c] = sample(x, source, c);
      }
    }
  }
}

export async function makeTalkingHeadVideo(options: TalkingHeadOptions): Promise<TalkingHead> {
  const width = options.width ?? 720;
  const height = options.height ?? 1280;
  const fps = options.fps ?? 25;
  const frames = Math.round(options.seconds * fps);
  const audio = await speech(options, Math.round(options.seconds * rate));
  const open = options.silent ? new Float32Array(frames) : openness(audio, fps, frames);
  const big = await portrait(options, width, height);

  const out: RgbaFrame = { width, height, rgba: new Uint8Array(width * height * 4) };
  let landmarks: Point[] | undefined;
  if (!options.noFace) {
    drawFrame(out, big, 0, 0, undefined, 0);
    const model = await loadFaceModel();
    const hostX = (options.secondPerson ? 0.33 : 0.5) * width;
    const host = model
      .detect(out, { descriptors: false })
      .sort((a, b) => Math.abs(a.box.x + a.box.width / 2 - hostX) - Math.abs(b.box.x + b.box.width / 2 - hostX))[0];
    if (!host) throw new Error("the detector finds no face on the portrait: choose another sample face");
    landmarks = host.landmarks;
  }
  const mouth = landmarks && mouthOf(landmarks);

  const writer = new Mp4Writer(options.out, { width, height, fps, audio, audioRate: rate, preset: "superfast" });
  try {
    for (let i = 0; i < frames; i++) {
      options.signal?.throwIfAborted();
      const t = i / fps;
      const dx = Math.round(sway * 0.6 * Math.sin((2 * Math.PI * t) / 3.1));
      const dy = Math.round(sway * 0.4 * Math.sin((2 * Math.PI * t) / 4.3 + 1));
      drawFrame(out, big, dx, dy, mouth, open[i]!);
      writer.push(out.rgba);
    }
  } catch (err) {
    await writer.abort();
    throw err;
  }
  await writer.finish();
  return {
    path: options.out,
    seconds: frames / fps,
    width,
    height,
    fps,
    ...(landmarks ? { face: faceBoxOf(landmarks), mouth: mouthBoxOf(landmarks) } : {}),
  };
}
