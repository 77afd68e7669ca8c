// A typed face on gstreamer-superficial, the GStreamer binding: pipelines from a launch description, their elements'
// properties, appsrc pushes with explicit timestamps, appsink pulls, bus messages, and one-shot pipelines that render a
// still image. Hazards of the binding that callers rely on this file for: a bus poll and an appsink pull each hold a
// libuv thread-pool thread while they wait, and keep their callbacks reachable for good (so every callback given to
// the binding is `releasable` and released when its pipeline stops); appsrc copies every buffer and never pushes back
// (callers bound their own queues by reading `current-level-bytes`); an appsink pull made before the pipeline plays
// returns nothing.
import { execFileSync } from "node:child_process";
import { gstreamerBinding, pullToEnd, releasable } from "../gpu-workers/index.js";

export interface GstMessage {
  type: string;
  _src_element_name?: string;
  /** Error messages: the element's path and the error text. */
  name?: string;
  message?: string;
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

/** Parses a launch description; throws with GStreamer's reason (e.g. a missing element). */
export function createPipeline(description: string): GstPipeline {
  return new (gstreamerBinding<GstPipeline>().Pipeline)(description);
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

export function findAppSrc(pipeline: GstPipeline, name: string): GstAppSrc {
  const element = pipeline.findChild(name);
  if (!element) throw new Error(`pipeline has no element named ${name}`);
  return element as GstAppSrc;
}

export function findAppSink(pipeline: GstPipeline, name: string): GstAppSink {
  const element = pipeline.findChild(name);
  if (!element) throw new Error(`pipeline has no element named ${name}`);
  return element as GstAppSink;
}

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
 * Watches a pipeline's bus so that stopping never strands a thread. The binding waits for bus messages on a libuv
 * pool thread with no timeout, and waits again after each message unless the pipeline is stopped by then; a
 * pipeline stopped from anywhere else can leave that thread waiting forever (a pool thread lost for good, and a
 * process that cannot exit). So pipelines are stopped through this, which stops them inside a bus callback.
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
