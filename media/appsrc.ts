// The two ways a room's frames reach its encoder's appsrc: through the GStreamer binding on the thread that built the
// pipeline (BindingSink), or from a compose worker through our small addon (native/appsrc.cc), which holds a counted
// reference to the appsrc and pushes from any thread (NativeSink). The addon is built by `npm run setup` next to the
// blend kernel; without it rooms compose on the graph's thread (see compose-pool.ts).
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { repoPath } from "../avatars/index.js";
import { ptsBuffer, queuedBytes, type GstAppSrc } from "./gst.js";
import type { FrameSink } from "./frames.js";

interface AppSrcAddon {
  retain(element: GstAppSrc): bigint;
  release(handle: bigint): void;
  push(handle: bigint, bytes: Uint8Array | Int16Array, ptsNs: number): number;
  level(handle: bigint): number;
}

const addonRelative = "media/native/build/Release/livehost_appsrc.node";
let addon: { loaded: AppSrcAddon | undefined } | undefined;

/** Where the addon is built (benchmarks load it in threads of their own). */
export function appsrcAddonPath(): string {
  return repoPath(addonRelative);
}

function appsrcAddon(): AppSrcAddon | undefined {
  if (!addon) {
    const path = appsrcAddonPath();
    addon = { loaded: existsSync(path) ? (createRequire(import.meta.url)(path) as AppSrcAddon) : undefined };
  }
  return addon.loaded;
}

/** Whether frames can be pushed from a worker thread here (the addon is built). */
export function nativePushAvailable(): boolean {
  return appsrcAddon() !== undefined;
}

/** A handle on `element` (an appsrc of a pipeline built here) that another thread can push into; release it there. */
export function retainAppSrc(element: GstAppSrc): bigint {
  const native = appsrcAddon();
  if (!native) throw new Error(`appsrc addon not built at ${repoPath(addonRelative)}`);
  // The addon reads the binding's wrapper: make sure it is the wrapper of an appsrc before it looks inside.
  if ((element as object).constructor?.name !== "GstAppSrc") throw new TypeError("not an appsrc element");
  return native.retain(element);
}

/** A sink on the appsrc handles of one pipeline (see retainAppSrc), for the thread that makes the frames. */
export class NativeSink implements FrameSink {
  readonly #native: AppSrcAddon;
  #video: bigint | undefined;
  #audio: bigint | undefined;

  constructor(video: bigint, audio: bigint) {
    const native = appsrcAddon();
    if (!native) throw new Error(`appsrc addon not built at ${repoPath(addonRelative)}`);
    this.#native = native;
    this.#video = video;
    this.#audio = audio;
  }

  video(i420: Uint8Array, ptsNs: number): void {
    if (this.#video !== undefined) this.#native.push(this.#video, i420, ptsNs);
  }

  audio(pcm: Int16Array, ptsNs: number): void {
    if (this.#audio !== undefined) this.#native.push(this.#audio, pcm, ptsNs);
  }

  queuedVideoBytes(): number {
    return this.#video === undefined ? 0 : this.#native.level(this.#video);
  }

  release(): void {
    if (this.#video !== undefined) this.#native.release(this.#video);
    if (this.#audio !== undefined) this.#native.release(this.#audio);
    this.#video = undefined;
    this.#audio = undefined;
  }
}

/** A sink on the binding's appsrc elements, for frames made on the thread that built the pipeline. */
export class BindingSink implements FrameSink {
  readonly #video: GstAppSrc;
  readonly #audio: GstAppSrc;

  constructor(video: GstAppSrc, audio: GstAppSrc) {
    this.#video = video;
    this.#audio = audio;
  }

  video(i420: Uint8Array, ptsNs: number): void {
    this.#video.push(Buffer.from(i420.buffer, i420.byteOffset, i420.byteLength), ptsBuffer(ptsNs));
  }

  audio(pcm: Int16Array, ptsNs: number): void {
    this.#audio.push(Buffer.from(pcm.buffer, pcm.byteOffset, pcm.byteLength), ptsBuffer(ptsNs));
  }

  queuedVideoBytes(): number {
    return queuedBytes(this.#video);
  }

  release(): void {}
}
