// Taps on a room's main pipeline that run on its streaming threads (native/taps.cc): the FLV relay that hands the
// muxer's tags to each RTMP push without the JavaScript thread, and the encoder clock that says when a frame left
// the encoder; and the count of GStreamer's warnings. Built by `npm run setup` with the other addons; RTMP pushes need
// it.
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { repoPath } from "../avatars/index.js";
import { UnavailableError } from "../errors/index.js";
import type { GstAppSrc, GstElement } from "./gst.js";

interface TapsAddon {
  relay(muxer: GstElement, maxQueuedBytes: number): bigint;
  relayAdd(relay: bigint, src: GstAppSrc, offsetMs: number): number;
  relayRemove(relay: bigint, id: number): boolean;
  relayTake(relay: bigint): [bytes: number, skipped: number];
  relayClose(relay: bigint): void;
  encoderClock(encoder: GstElement): bigint;
  encodedAt(clock: bigint, ptsNs: number): number | undefined;
  encodeTimes(clock: bigint): number[];
  encoderClockClose(clock: bigint): void;
  logWatch(): void;
  logCounts(): [warnings: number, criticals: number, recent: string[]];
}

const addonRelative = "media/native/build/Release/livehost_taps.node";
let addon: { loaded: TapsAddon | undefined } | undefined;

function tapsAddon(): TapsAddon | undefined {
  if (!addon) {
    const path = repoPath(addonRelative);
    addon = { loaded: existsSync(path) ? (createRequire(import.meta.url)(path) as TapsAddon) : undefined };
  }
  return addon.loaded;
}

function required(): TapsAddon {
  const native = tapsAddon();
  if (!native) throw new UnavailableError(`the media taps addon is not built at ${addonRelative} (npm run setup)`);
  return native;
}

/**
 * Every tag a muxer puts out, handed on its streaming thread to the appsrc of each push added: from a key frame on,
 * after the stream's header. A push whose queue passes `maxQueuedBytes` skips to the next key frame.
 */
export class FlvRelay {
  readonly #native: TapsAddon;
  #handle: bigint | undefined;

  constructor(muxer: GstElement, maxQueuedBytes: number) {
    this.#native = required();
    this.#handle = this.#native.relay(muxer, maxQueuedBytes);
  }

  /** `src` gets the stream from the next key frame on, each tag stamped `offsetMs` later; returns its id. */
  add(src: GstAppSrc, offsetMs = 0): number {
    if (this.#handle === undefined) throw new UnavailableError("the FLV relay is closed");
    return this.#native.relayAdd(this.#handle, src, offsetMs);
  }

  remove(id: number): void {
    if (this.#handle !== undefined) this.#native.relayRemove(this.#handle, id);
  }

  /** Bytes relayed and tags skipped (a push behind) since the last call. */
  take(): { bytes: number; skipped: number } {
    if (this.#handle === undefined) return { bytes: 0, skipped: 0 };
    const [bytes, skipped] = this.#native.relayTake(this.#handle);
    return { bytes, skipped };
  }

  close(): void {
    if (this.#handle !== undefined) this.#native.relayClose(this.#handle);
    this.#handle = undefined;
  }
}

/** When each frame went into and came out of an encoder (wall clock, noted on its streaming threads). */
export class EncoderClock {
  readonly #native: TapsAddon;
  #handle: bigint | undefined;

  /** Undefined when the addon is not built (the graph then has no encoder-out times). */
  static open(encoder: GstElement): EncoderClock | undefined {
    const native = tapsAddon();
    return native ? new EncoderClock(native, native.encoderClock(encoder)) : undefined;
  }

  private constructor(native: TapsAddon, handle: bigint) {
    this.#native = native;
    this.#handle = handle;
  }

  /** Unix ms when the first frame stamped `ptsNs` or later going in came out, once it has (~20 s are remembered). */
  encodedAt(ptsNs: number): number | undefined {
    return this.#handle === undefined ? undefined : this.#native.encodedAt(this.#handle, ptsNs);
  }

  /** Milliseconds each frame spent in the encoder, for the frames out since the last call. */
  takeEncodeTimes(): number[] {
    return this.#handle === undefined ? [] : this.#native.encodeTimes(this.#handle);
  }

  close(): void {
    if (this.#handle !== undefined) this.#native.encoderClockClose(this.#handle);
    this.#handle = undefined;
  }
}

/** What GStreamer and GLib said was wrong in this process, since the first pipeline was made here. */
export interface GStreamerLog {
  warnings: number;
  criticals: number;
  /** The last few messages, oldest first ("GStreamer-WARNING: …"). */
  recent: string[];
}

/**
 * Counts this process's GLib warnings and criticals from now on (GStreamer's "Got data flow before segment event",
 * failed assertions): they are still printed as before. Called when the first pipeline is made; a no-op when the
 * addon is not built.
 */
export function watchGStreamerLog(): void {
  if (watching) return;
  const native = tapsAddon();
  native?.logWatch();
  watching = native !== undefined;
}

let watching = false;

/** Whether this process counts GStreamer's warnings (a pipeline was made here, and the addon is built). */
export function gstreamerLogWatched(): boolean {
  return watching;
}

/** The counts since watchGStreamerLog() (zeros before it, or without the addon). */
export function gstreamerLog(): GStreamerLog {
  const native = tapsAddon();
  if (!native) return { warnings: 0, criticals: 0, recent: [] };
  try {
    const [warnings, criticals, recent] = native.logCounts();
    return { warnings, criticals, recent };
  } catch {
    return { warnings: 0, criticals: 0, recent: [] };
  }
}
