// GStreamer on files, for the offline jobs (avatar packs): decoding a file into raw frames or samples, and encoding
// frames and audio into an MP4 or a PNG. File paths are set as element properties, never spliced into launch
// descriptions. Appsinks hold at most a few buffers, so decoding runs at the pace of the code that reads it; appsrc
// pushes block when the encoder is behind (`block=true`), so encoding does too.
import { createPipeline, findAppSrc, ptsBuffer, pullToEnd, runToEnd, type GstAppSrc, type GstPipeline } from "./gst.js";

/** Decodes the first audio track of a file to 16-bit mono PCM at `rate`. A file without audio fails "not-linked". */
export async function decodeAudio(path: string, rate: number, signal?: AbortSignal): Promise<Int16Array> {
  const pipeline = createPipeline(
    "filesrc name=file ! decodebin ! audioconvert ! audioresample ! " +
      `audio/x-raw,format=S16LE,channels=1,rate=${rate},layout=interleaved ! appsink name=sink sync=false max-buffers=8`,
    { file: { location: path } },
  );
  const parts: Buffer[] = [];
  await pullToEnd(pipeline, "sink", (buffer) => parts.push(Buffer.from(buffer)), signal);
  const bytes = Buffer.concat(parts);
  return new Int16Array(bytes.buffer, bytes.byteOffset, bytes.length >> 1);
}

/**
 * Decodes the first video track of a file into RGBA frames of `width`x`height` at `fps` (letterboxed when the aspect
 * differs), calling `onFrame` for each in order. A file without video fails "not-linked". Frames are numbered from
 * the first one decoded: a picture that starts later than the sound (an AAC encoder's priming, an edit list) is not
 * padded at the front, so callers matching frames to audio allow for a small offset.
 */
export function decodeVideo(
  path: string,
  format: { width: number; height: number; fps: number },
  onFrame: (rgba: Buffer, index: number) => void,
  signal?: AbortSignal,
): Promise<void> {
  const pipeline = createPipeline(
    "filesrc name=file ! decodebin ! videoconvert ! videoscale add-borders=true ! videorate ! " +
      `video/x-raw,format=RGBA,width=${format.width},height=${format.height},framerate=${format.fps}/1,` +
      "pixel-aspect-ratio=1/1 ! appsink name=sink sync=false max-buffers=4",
    { file: { location: path } },
  );
  let index = 0;
  return pullToEnd(pipeline, "sink", (rgba) => onFrame(rgba, index++), signal);
}

/** The timestamp appsrc.push takes, from seconds. */
const pts = (seconds: number) => ptsBuffer(seconds * 1e9);

export interface Mp4Options {
  width: number;
  height: number;
  fps: number;
  /** Mono 16-bit speech at `audioRate` to mux as AAC; none gives a video-only file. */
  audio?: Int16Array;
  audioRate?: number;
  /** x264 preset; default veryfast. */
  preset?: string;
}

/**
 * An H.264 (+ AAC) MP4 being written: frames are pushed one at a time (with the audio of their interval, when the
 * file has audio), so a long job never holds more than a frame. `push` blocks while the encoder is behind.
 */
export class Mp4Writer {
  readonly #pipeline: GstPipeline;
  readonly #video: GstAppSrc;
  readonly #audio?: GstAppSrc;
  readonly #options: Mp4Options;
  readonly #done: Promise<void>;
  #frames = 0;
  #failed?: Error;
  /**
   * The AAC encoder puts 1024 samples of priming before the sound and mp4mux writes no edit list to hide them, so
   * players hear everything 1024 samples late: the pictures are delayed as much to stay in sync.
   */
  readonly #videoDelay: number;

  constructor(path: string, options: Mp4Options) {
    const { width, height, fps } = options;
    const rate = options.audioRate ?? 16_000;
    const video =
      `appsrc name=video format=time block=true max-bytes=${width * height * 8} ` +
      `caps=video/x-raw,format=RGBA,width=${width},height=${height},framerate=${fps}/1 ! queue ! videoconvert ! ` +
      `video/x-raw,format=I420 ! x264enc speed-preset=${options.preset ?? "veryfast"} key-int-max=${fps} ! ` +
      "video/x-h264,profile=high ! h264parse ! mux. ";
    const audio = options.audio
      ? `appsrc name=audio format=time block=true max-bytes=${rate * 2} ` +
        `caps=audio/x-raw,format=S16LE,channels=1,rate=${rate},layout=interleaved ! queue ! audioconvert ! ` +
        "audioresample ! avenc_aac ! aacparse ! mux. "
      : "";
    this.#options = options;
    this.#videoDelay = options.audio ? 1024 / rate : 0;
    this.#pipeline = createPipeline(`${video}${audio}mp4mux name=mux faststart=true ! filesink name=file`, {
      file: { location: path },
    });
    this.#video = findAppSrc(this.#pipeline, "video");
    if (options.audio) this.#audio = findAppSrc(this.#pipeline, "audio");
    this.#done = runToEnd(this.#pipeline).catch((err: Error) => {
      this.#failed = err;
      throw err;
    });
  }

  /** Adds the next frame (RGBA of the writer's size). */
  push(rgba: Uint8Array): void {
    if (this.#failed) throw this.#failed;
    const { fps, audio } = this.#options;
    const index = this.#frames++;
    if (this.#audio && audio) {
      const rate = this.#options.audioRate ?? 16_000;
      const from = Math.round((index / fps) * rate);
      const to = Math.min(audio.length, Math.round(((index + 1) / fps) * rate));
      if (to > from) {
        const slice = audio.subarray(from, to);
        this.#audio.push(Buffer.from(slice.buffer, slice.byteOffset, slice.byteLength), pts(from / rate));
      }
    }
    this.#video.push(Buffer.from(rgba.buffer, rgba.byteOffset, rgba.byteLength), pts(index / fps + this.#videoDelay));
  }

  /** Ends the file and waits until it is written. */
  finish(): Promise<void> {
    this.#pipeline.sendEOS();
    return this.#done;
  }

  /** Gives up: ends the pipeline (the caller discards the file) and never throws. */
  async abort(): Promise<void> {
    if (!this.#failed) this.#pipeline.sendEOS();
    await this.#done.catch(() => undefined);
  }
}

/** Encodes RGBA frames (and audio, interleaved by time) into an H.264 (+ AAC) MP4 at `path`. */
export async function writeMp4(path: string, frames: Iterable<Uint8Array>, options: Mp4Options): Promise<void> {
  const writer = new Mp4Writer(path, options);
  try {
    for (const frame of frames) writer.push(frame);
  } catch (err) {
    await writer.abort();
    throw err;
  }
  await writer.finish();
}

/** Writes one RGBA frame as a PNG. */
export function writePng(path: string, rgba: Uint8Array, width: number, height: number): Promise<void> {
  const pipeline = createPipeline(
    `appsrc name=src num-buffers=1 format=time caps=video/x-raw,format=RGBA,width=${width},height=${height},` +
      "framerate=0/1 ! videoconvert ! pngenc ! filesink name=file",
    { file: { location: path } },
  );
  const src = findAppSrc(pipeline, "src");
  return runToEnd(pipeline, () => {
    src.push(Buffer.from(rgba.buffer, rgba.byteOffset, rgba.byteLength));
    pipeline.sendEOS();
  });
}
