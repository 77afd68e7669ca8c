// The GStreamer work of the offline jobs (avatar packs): decoding a file into raw frames or samples, and encoding
// frames and audio into an MP4, through gstreamer-superficial. File paths are set as element properties, never
// spliced into launch descriptions. Appsinks hold at most a few buffers, so decoding runs at the pace of the code
// that reads it; appsrc pushes block when the encoder is behind (`block=true`), so encoding does too.
import { createRequire } from "node:module";
import { UnavailableError } from "../transport/index.js";

export interface GstMessage {
  type: string;
  message?: string;
  debug?: string;
  [field: string]: unknown;
}

interface GstElement {
  [property: string]: unknown;
}

interface GstPipeline {
  play(): void;
  pause(): void;
  stop(): void;
  sendEOS(): void;
  findChild(name: string): GstElement | undefined;
  pollBus(callback: (message: GstMessage) => void): void;
}

let binding: unknown;

/**
 * gstreamer-superficial, loaded on first use: a process that never builds a pipeline (a TTS worker, the operator)
 * needs no GStreamer installed. `Pipeline` is typed by the caller's view of it.
 */
export function gstreamerBinding<Pipeline>(): { Pipeline: new (description: string) => Pipeline } {
  binding ??= createRequire(import.meta.url)("gstreamer-superficial");
  return binding as { Pipeline: new (description: string) => Pipeline };
}

/**
 * A callback for the binding (a bus poll, an appsink pull) that can be let go of. The binding keeps every callback
 * it was given reachable for good, even after its pipeline stops, and with it everything the callback's scope holds
 * (decoded frames, a whole media graph). The callback made here holds only a box; `release()` empties the box.
 */
export function releasable<A extends unknown[]>(
  handler: (...args: A) => void,
): { callback: (...args: A) => void; release: () => void } {
  const box: { handler?: (...args: A) => void } = { handler };
  return { callback: forwardTo(box), release: () => (box.handler = undefined) };
}

// Its own scope, so the closure holds the box and nothing else.
function forwardTo<A extends unknown[]>(box: { handler?: (...args: A) => void }) {
  return (...args: A) => box.handler?.(...args);
}

/** A pipeline that failed: GStreamer's message and its debug detail (which says e.g. "not-linked"). */
export class PipelineError extends UnavailableError {
  readonly debug: string;
  constructor(message: GstMessage) {
    super(`GStreamer: ${message.message ?? "error"}${message.debug ? ` (${message.debug.split("\n").pop()})` : ""}`);
    this.debug = message.debug ?? "";
  }
}

/** Parses `description` and sets properties on named elements (file locations and the like). */
export function createPipeline(
  description: string,
  properties: Record<string, Record<string, unknown>> = {},
): GstPipeline {
  const pipeline = new (gstreamerBinding<GstPipeline>().Pipeline)(description);
  for (const [name, values] of Object.entries(properties)) Object.assign(child(pipeline, name), values);
  return pipeline;
}

function child(pipeline: GstPipeline, name: string): GstElement {
  const element = pipeline.findChild(name);
  if (!element) throw new Error(`pipeline has no element named ${name}`);
  return element;
}

/**
 * Plays `pipeline` to end-of-stream, handing each buffer of the appsink `sink` to `onBuffer` (its caps with the
 * first). Resolves once the bus has reported the end and the sink has handed over every buffer it held; rejects
 * with a PipelineError, or when `signal` aborts. The pipeline is stopped either way.
 */
export function pullToEnd(
  pipeline: GstPipeline,
  sink: string,
  onBuffer: (buffer: Buffer) => void,
  signal?: AbortSignal,
): Promise<void> {
  const appsink = child(pipeline, sink) as GstElement & {
    pull(callback: (buffer: Buffer | null, caps: unknown) => void): void;
  };
  return new Promise<void>((resolve, reject) => {
    let settled = false;
    let failure: Error | undefined;
    let ended = false; // the bus reported end-of-stream
    let drained = false; // the sink's pull came back empty: it has handed over everything
    // The pipeline is stopped inside a bus callback (at the end or on an error): the binding waits for bus
    // messages on a pool thread with no timeout, and a pipeline stopped elsewhere can strand that thread for good.
    const settle = () => {
      if (settled) return;
      settled = true;
      signal?.removeEventListener("abort", onAbort);
      pipeline.stop();
      bus.release();
      data.release();
      if (failure) reject(failure);
      else resolve();
    };
    const onAbort = () => {
      failure = signal?.reason instanceof Error ? signal.reason : new Error("aborted");
      pipeline.sendEOS();
      setTimeout(settle, 3_000).unref();
    };
    signal?.addEventListener("abort", onAbort, { once: true });
    const bus = releasable((message: GstMessage) => {
      if (message.type === "error") {
        failure ??= new PipelineError(message);
        settle();
        return;
      }
      if (message.type === "eos") ended = true;
      if (ended && drained) settle();
    });
    pipeline.pollBus(bus.callback);
    const data = releasable((buffer: Buffer | null) => {
      if (settled) return;
      if (!buffer) {
        drained = true;
        // The bus can report the end before the last buffers' pulls come back (each runs on its own thread).
        // Then no message is left to come: pausing posts a state change, so the stop still happens in a bus callback.
        if (ended) pipeline.pause();
        return;
      }
      if (!failure) {
        try {
          onBuffer(buffer);
        } catch (err) {
          failure = err as Error;
          pipeline.sendEOS();
        }
      }
      appsink.pull(data.callback);
    });
    pipeline.play();
    appsink.pull(data.callback);
  });
}

/** Plays `pipeline` until end-of-stream (after `feed` has pushed its input and sent EOS). */
export function runToEnd(pipeline: GstPipeline, feed?: () => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const bus = releasable((message: GstMessage) => {
      if (message.type === "eos") {
        pipeline.stop();
        bus.release();
        resolve();
      } else if (message.type === "error") {
        pipeline.stop();
        bus.release();
        reject(new PipelineError(message));
      }
    });
    pipeline.pollBus(bus.callback);
    pipeline.play();
    try {
      feed?.();
    } catch (err) {
      pipeline.stop();
      bus.release();
      reject(err instanceof Error ? err : new Error(String(err)));
    }
  });
}

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

/** The 8-byte big-endian nanosecond timestamp appsrc.push takes. */
function pts(seconds: number): Buffer {
  const buffer = Buffer.alloc(8);
  buffer.writeBigUInt64BE(BigInt(Math.round(seconds * 1e9)));
  return buffer;
}

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
  readonly #video: AppSrc;
  readonly #audio?: AppSrc;
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
    this.#video = child(this.#pipeline, "video") as AppSrc;
    if (options.audio) this.#audio = child(this.#pipeline, "audio") as AppSrc;
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

type AppSrc = GstElement & { push(data: Buffer, pts: Buffer): void };

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
  const src = child(pipeline, "src") as GstElement & { push(data: Buffer): void };
  return runToEnd(pipeline, () => {
    src.push(Buffer.from(rgba.buffer, rgba.byteOffset, rgba.byteLength));
    pipeline.sendEOS();
  });
}
