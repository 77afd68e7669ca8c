// Pictures for the FaceID engine, decoded by the project's GStreamer jobs (media's decodeVideo): a registration photo
// as one frame, a video as frames sampled a few times a second at a size the detector needs, never the whole video in
// memory. Frames come to a synchronous callback: the decoder's appsink holds a few buffers and waits while the
// callback runs, so a slow consumer slows the decoding instead of queueing frames.
import { mkdtemp, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { InvalidArgumentError } from "../errors/index.js";
import { decodeVideo, PipelineError, probeMedia } from "../media/index.js";

/** A picture as GStreamer hands it over: RGBA, rows of width * 4 bytes. */
export interface RgbaFrame {
  width: number;
  height: number;
  rgba: Uint8Array;
}

export interface VideoInfo {
  bytes: number;
  durationSeconds: number;
  width: number;
  height: number;
  fps: number;
  hasAudio: boolean;
}

/** A file that is not media GStreamer and ffprobe can read (missing, not a video, corrupt). */
export class UnreadableMediaError extends InvalidArgumentError {
  override name = "UnreadableMediaError";
}

/** Size, length, picture and sound of a file, from ffprobe; a file without a picture is unreadable as video. */
export async function probeVideo(path: string): Promise<VideoInfo> {
  const file = await stat(path).catch(() => undefined);
  if (!file?.isFile()) throw new UnreadableMediaError("video", `${path} is not a readable file`);
  const probe = await probeMedia(path).catch((err: unknown) => {
    throw new UnreadableMediaError("video", "not a video ffprobe can read", { cause: err });
  });
  if (!probe.video || !probe.video.width || !probe.video.height) {
    throw new UnreadableMediaError("video", "the file has no picture");
  }
  return {
    bytes: file.size,
    durationSeconds: probe.durationSeconds || probe.video.duration || 0,
    width: probe.video.width,
    height: probe.video.height,
    fps: probe.video.fps,
    hasAudio: probe.audio !== undefined,
  };
}

/** A size no larger than `maxSide` either way with the same shape, in even numbers (what the scaler takes). */
export function fitWithin(width: number, height: number, maxSide: number): { width: number; height: number } {
  const scale = Math.min(1, maxSide / Math.max(width, height));
  const even = (v: number) => Math.max(2, Math.round((v * scale) / 2) * 2);
  return { width: even(width), height: even(height) };
}

export interface SampleOptions {
  /** Frames a second to look at (a whole number; default 2). */
  fps?: number;
  /** Decoded frames are at most this wide or tall (default 720): the detector works on 512 x 512 anyway. */
  maxSide?: number;
  /** The video's own size, when known (else it is probed). */
  width?: number;
  height?: number;
  signal?: AbortSignal;
}

export interface SampledFrame extends RgbaFrame {
  index: number;
  /** Seconds from the video's first frame. */
  seconds: number;
  /** Multiply a position in this frame by these to get the video's pixels. */
  scaleX: number;
  scaleY: number;
}

/**
 * Decodes `path` at `fps` frames a second, calling `onFrame` for each in order. The frame's bytes belong to the
 * decoder: copy what must outlive the call. Resolves with the number of frames; rejects with an
 * UnreadableMediaError when GStreamer cannot decode the picture, or with the signal's reason.
 */
export async function sampleFrames(
  path: string,
  options: SampleOptions,
  onFrame: (frame: SampledFrame) => void,
): Promise<number> {
  const fps = options.fps ?? 2;
  if (!Number.isInteger(fps) || fps < 1 || fps > 60) throw new InvalidArgumentError("fps", `${fps} is not 1 to 60`);
  const source =
    options.width && options.height ? { width: options.width, height: options.height } : await probeVideo(path);
  const size = fitWithin(source.width, source.height, options.maxSide ?? 720);
  const [scaleX, scaleY] = [source.width / size.width, source.height / size.height];
  let frames = 0;
  await decodeVideo(
    path,
    { ...size, fps },
    (rgba, index) => {
      frames = index + 1;
      onFrame({ ...size, rgba, index, seconds: index / fps, scaleX, scaleY });
    },
    options.signal,
  ).catch((err: unknown) => {
    if (err instanceof PipelineError) {
      throw new UnreadableMediaError("video", `GStreamer cannot decode its picture: ${err.message}`, { cause: err });
    }
    throw err;
  });
  return frames;
}

/** Decodes a photo (JPEG, PNG: whatever GStreamer decodes) into one frame no larger than `maxSide`. */
export async function decodeImage(
  bytes: Uint8Array,
  options: { maxSide?: number; signal?: AbortSignal } = {},
): Promise<RgbaFrame> {
  if (bytes.length === 0) throw new InvalidArgumentError("photo", "the photo is empty");
  const dir = await mkdtemp(join(tmpdir(), "livehost-photo-"));
  try {
    const path = join(dir, "photo");
    await writeFile(path, bytes);
    const probe = await probeMedia(path).catch(() => undefined);
    if (!probe?.video?.width || !probe.video.height) {
      throw new InvalidArgumentError("photo", "not an image that can be decoded (JPEG or PNG)");
    }
    const size = fitWithin(probe.video.width, probe.video.height, options.maxSide ?? 1280);
    let frame: Uint8Array | undefined;
    await decodeVideo(
      path,
      { ...size, fps: 1 },
      (rgba) => {
        frame ??= new Uint8Array(rgba);
      },
      options.signal,
    ).catch((err: unknown) => {
      if (err instanceof PipelineError) {
        throw new InvalidArgumentError("photo", `the image cannot be decoded: ${err.message}`, { cause: err });
      }
      throw err;
    });
    if (!frame) throw new InvalidArgumentError("photo", "the image decoded to nothing");
    return { ...size, rgba: frame };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
