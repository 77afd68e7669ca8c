// The one typed face on gstreamer-superficial, the GStreamer binding: pipelines from a launch description, their
// elements' properties, appsrc pushes with explicit timestamps, appsink pulls, bus messages, and pipelines run to
// their end (gst-files.ts builds the offline jobs' file decoding and encoding on it). Hazards of the binding that
// callers rely on this file for: a bus poll and an appsink pull each hold a libuv thread-pool thread while they wait,
// and keep their callbacks reachable for good (so every callback given to the binding is `releasable` and released
// when its pipeline stops); appsrc copies every buffer and never pushes back (callers bound their own queues by
// reading `current-level-bytes`, or set `block=true`); an appsink pull made before the pipeline plays returns nothing.
import { execFileSync } from "node:child_process";
import { createRequire } from "node:module";
import { CancelledError, UnavailableError } from "../errors/index.js";
import { MissingElementError } from "./errors.js";
import { watchGStreamerLog } from "./taps.js";

export interface GstMessage {
  type: string;
  _src_element_name?: string;
  /** Error messages: the element's path, the error text and its debug detail (which says e.g. "not-linked"). */
  name?: string;
  message?: string;
  debug?: string;
  [field: string]: unknown;
}

/** An element found by name; every GObject property reads and writes as a plain field. */
export interface GstElement {
  [property: string]: unknown;
}

export interface GstAppSrc extends GstElement {
  push(data: Buffer, pts?: Buffer): void;
}

export interface GstCapsObject {
  name?: string;
  streamheader?: Buffer[];
  [field: string]: unknown;
}

export interface GstAppSink extends GstElement {
  pull(callback: (buffer: Buffer | null, caps: GstCapsObject) => void): void;
}

export interface GstPipeline {
  play(): void;
  pause(): void;
  stop(): void;
  sendEOS(): void;
  findChild(name: string): GstElement | undefined;
  pollBus(callback: (message: GstMessage) => void): void;
}

let binding: { Pipeline: new (description: string) => GstPipeline } | undefined;

/** gstreamer-superficial, loaded on first use: a process that never builds a pipeline needs no GStreamer installed. */
function gstreamer(): { Pipeline: new (description: string) => GstPipeline } {
  binding ??= createRequire(import.meta.url)("gstreamer-superficial") as typeof binding;
  return binding!;
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

/**
 * Parses a launch description (throws with GStreamer's reason, e.g. a missing element) and sets properties on named
 * elements: file paths go in as properties, never spliced into the description.
 */
export function createPipeline(
  description: string,
  properties: Record<string, Record<string, unknown>> = {},
): GstPipeline {
  // From the first pipeline on, GStreamer's warnings are counted (livehost_media_gstreamer_warnings_total).
  watchGStreamerLog();
  const pipeline = new (gstreamer().Pipeline)(description);
  for (const [name, values] of Object.entries(properties)) Object.assign(findElement(pipeline, name), values);
  return pipeline;
}

const elementsSeen = new Map<string, boolean>();

/** Whether an element factory exists here (e.g. nvh264enc only registers when a CUDA device is usable). */
export function hasElement(factory: string): boolean {
  let known = elementsSeen.get(factory);
  if (known === undefined) {
    try {
      execFileSync("gst-inspect-1.0", ["--exists", factory], { stdio: "ignore", timeout: 30_000 });
      known = true;
    } catch {
      known = false;
    }
    elementsSeen.set(factory, known);
  }
  return known;
}

/** The element named `name`; the caller says what kind it is. */
export function findElement<Element extends GstElement = GstElement>(pipeline: GstPipeline, name: string): Element {
  const element = pipeline.findChild(name);
  if (!element) throw new MissingElementError(name);
  return element as Element;
}

export const findAppSrc = (pipeline: GstPipeline, name: string) => findElement<GstAppSrc>(pipeline, name);
export const findAppSink = (pipeline: GstPipeline, name: string) => findElement<GstAppSink>(pipeline, name);

/** The 8-byte big-endian nanosecond timestamp appsrc.push takes as its second argument. */
export function ptsBuffer(nanoseconds: number): Buffer {
  const buffer = Buffer.allocUnsafe(8);
  buffer.writeBigUInt64BE(BigInt(Math.round(nanoseconds)));
  return buffer;
}

/** Bytes queued in an appsrc (its own queue, not yet taken by the streaming thread). */
export function queuedBytes(src: GstAppSrc): number {
  return Number(src["current-level-bytes"] ?? 0);
}

export interface WatchedBus {
  /**
   * Stops the pipeline from inside a bus callback: at once when called from one, otherwise by sending end-of-stream
   * and stopping when it (or an error) arrives, or plainly after `timeoutMs`.
   */
  stop(timeoutMs?: number): Promise<void>;
}

/**
 * Watches a pipeline's bus and stops the pipeline from inside a bus callback. The binding waits for bus messages on a
 * libuv pool thread, at most 100 ms at a time (patches/gstreamer-superficial: with no timeout, each quiet live
 * pipeline held a pool thread for good, and past the pool's size every file read waited forever), and polls again
 * until the pipeline is back at NULL; stopping it here ends the poll with the message that follows the stop.
 */
export function watchBus(pipeline: GstPipeline, onMessage: (message: GstMessage) => void): WatchedBus {
  let inCallback = false;
  let stopped = false;
  let ended = false; // end-of-stream came through: no second one will
  let onEnd: (() => void) | undefined;
  const stopNow = () => {
    if (stopped) return;
    stopped = true;
    pipeline.stop();
    bus.release();
  };
  const bus = releasable((message: GstMessage) => {
    if (stopped) return;
    inCallback = true;
    try {
      if (message.type === "eos") ended = true;
      if (onEnd && (ended || message.type === "error")) {
        stopNow();
        onEnd();
        return;
      }
      onMessage(message);
    } finally {
      inCallback = false;
    }
  });
  pipeline.pollBus(bus.callback);
  return {
    stop(timeoutMs = 3_000) {
      if (stopped) return Promise.resolve();
      if (inCallback) {
        stopNow();
        return Promise.resolve();
      }
      return new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          stopNow();
          resolve();
        }, timeoutMs);
        onEnd = () => {
          clearTimeout(timer);
          resolve();
        };
        // At its end already, a pipeline posts no second end-of-stream; pausing it posts a state change instead.
        if (ended) pipeline.pause();
        else pipeline.sendEOS();
      });
    },
  };
}

/**
 * Plays `pipeline` to end-of-stream, handing each buffer of the appsink `sink` to `onBuffer`. Resolves once the bus
 * has reported the end and the sink has handed over every buffer it held; rejects with a PipelineError, or when
 * `signal` aborts. The pipeline is stopped either way.
 */
export function pullToEnd(
  pipeline: GstPipeline,
  sink: string,
  onBuffer: (buffer: Buffer) => void,
  signal?: AbortSignal,
): Promise<void> {
  return pullAllToEnd(pipeline, { [sink]: onBuffer }, signal);
}

/**
 * pullToEnd for several appsinks: each named sink's buffers go to its handler. A handler that returns true has had
 * enough: once every one has, the pipeline is ended early (end-of-stream, then stopped). A handler that throws ends
 * it too, and the promise rejects with that error.
 */
export function pullAllToEnd(
  pipeline: GstPipeline,
  handlers: Record<string, (buffer: Buffer) => boolean | void>,
  signal?: AbortSignal,
): Promise<void> {
  const names = Object.keys(handlers);
  const sinks = names.map((name) => findAppSink(pipeline, name));
  return new Promise<void>((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason instanceof Error ? signal.reason : new CancelledError("aborted"));
      return;
    }
    let settled = false;
    let failure: Error | undefined;
    let ended = false; // the bus reported end-of-stream
    let endSent = false;
    const drained = new Set<string>(); // sinks whose pull came back empty: they have handed over everything
    const enough = new Set<string>();
    // The pipeline is stopped inside a bus callback (at the end or on an error): see watchBus.
    const settle = () => {
      if (settled) return;
      settled = true;
      signal?.removeEventListener("abort", onAbort);
      pipeline.stop();
      bus.release();
      for (const pull of pulls) pull.release();
      if (failure) reject(failure);
      else resolve();
    };
    const endNow = () => {
      if (endSent) return;
      endSent = true;
      pipeline.sendEOS();
      setTimeout(settle, 3_000).unref();
    };
    const onAbort = () => {
      failure = signal?.reason instanceof Error ? signal.reason : new CancelledError("aborted");
      endNow();
    };
    signal?.addEventListener("abort", onAbort, { once: true });
    const bus = releasable((message: GstMessage) => {
      if (message.type === "error") {
        failure ??= new PipelineError(message);
        settle();
        return;
      }
      if (message.type === "eos") ended = true;
      if (ended && drained.size === names.length) settle();
    });
    pipeline.pollBus(bus.callback);
    const pulls = names.map((name, i) => {
      const pull = releasable((buffer: Buffer | null) => {
        if (settled) return;
        if (!buffer) {
          drained.add(name);
          // The bus can report the end before the last buffers' pulls come back (each runs on its own thread).
          // Then no message is left to come: pausing posts a state change, so the stop still happens in a bus
          // callback.
          if (ended && drained.size === names.length) pipeline.pause();
          return;
        }
        if (!failure && !enough.has(name)) {
          try {
            if (handlers[name]!(buffer) === true) {
              enough.add(name);
              if (enough.size === names.length) endNow();
            }
          } catch (err) {
            failure = err as Error;
            endNow();
          }
        }
        sinks[i]!.pull(pull.callback);
      });
      return pull;
    });
    pipeline.play();
    sinks.forEach((sink, i) => sink.pull(pulls[i]!.callback));
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

/**
 * Runs a pipeline that ends in `appsink name=out` and collects buffers until end-of-stream (or `limit` buffers);
 * rejects with GStreamer's error text. Used to render overlay bitmaps and decode the avatar's loop once.
 */
export async function collectBuffers(
  description: string,
  options: { limit?: number; configure?: (pipeline: GstPipeline) => void } = {},
): Promise<Buffer[]> {
  const pipeline = createPipeline(description);
  options.configure?.(pipeline);
  const limit = options.limit ?? Number.POSITIVE_INFINITY;
  const buffers: Buffer[] = [];
  await pullToEnd(pipeline, "out", (buffer) => {
    if (buffers.length === limit) return; // the end was asked for; what was already made drains
    buffers.push(buffer);
    if (buffers.length === limit) pipeline.sendEOS();
  });
  return buffers;
}
