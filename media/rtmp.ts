// One RTMP push, separable from the rest of the room's graph: the main pipeline muxes FLV once (flvmux streamable)
// into an appsink, and each push is its own small pipeline (appsrc ! rtmp2sink) fed with those FLV tags. When the
// ingest fails, only this pipeline is torn down; it reconnects with backoff while HLS and recording go on, and
// resumes with the FLV header and codec configuration, then tags from the next key frame. (rtmpsink, the librtmp
// element, crashes the process with this feeding pattern here; rtmp2sink does not.)
import type { Logger } from "../observability/index.js";
import {
  createPipeline,
  findAppSrc,
  queuedBytes,
  watchBus,
  type GstAppSrc,
  type GstElement,
  type WatchedBus,
} from "./gst.js";
import type { MediaMetrics } from "./metrics.js";

export type RtmpState = "connecting" | "pushing" | "reconnecting" | "stopped";

export interface RtmpPushOptions {
  /** Full ingest URL with the stream key; never logged. */
  url: string;
  /** The URL without the key, for logs and events. */
  label: string;
  metrics: MediaMetrics;
  log: Logger;
  onState: (state: RtmpState, error?: string) => void;
  initialBackoffMs?: number;
  maxBackoffMs?: number;
  /** Added to every tag's timestamp (see RoomMediaGraphOptions.rtmpTimestampOffsetMs). */
  timestampOffsetMs?: number;
}

/** Tags queued towards the ingest, at most; past this the push skips to the next key frame. */
const maxQueuedBytes = 8 * 1024 * 1024;
/** A push that has run this long without an error resets the backoff. */
const healthyAfterMs = 10_000;

const isKeyframeTag = (tag: Buffer) => tag.length > 11 && tag[0] === 9 && tag[11]! >> 4 === 1;

/** A copy of an FLV tag stamped `offsetMs` later (24 bits, then the extended byte); the file header as it is. */
function shifted(tag: Buffer, offsetMs: number): Buffer {
  if (tag.length < 11 || tag.subarray(0, 3).toString("latin1") === "FLV") return tag;
  const copy = Buffer.from(tag);
  const ms = ((copy.readUIntBE(4, 3) | (copy[7]! << 24)) >>> 0) + offsetMs;
  copy.writeUIntBE(ms & 0xffffff, 4, 3);
  copy[7] = (ms >>> 24) & 0xff;
  return copy;
}

export class RtmpPush {
  readonly #options: RtmpPushOptions;
  #bus: WatchedBus | undefined;
  #src: GstAppSrc | undefined;
  #generation = 0;
  #state: RtmpState = "connecting";
  #header: Buffer[] = [];
  #waitingForKeyframe = true;
  #backoffMs: number;
  #retry: NodeJS.Timeout | undefined;
  #healthy: NodeJS.Timeout | undefined;
  #connectedGauge = false;

  constructor(options: RtmpPushOptions) {
    this.#options = options;
    this.#backoffMs = options.initialBackoffMs ?? 500;
  }

  get state(): RtmpState {
    return this.#state;
  }

  /** Starts pushing: the next tags from a key frame on, after `header` (FLV header, metadata, codec configs). */
  start(header: Buffer[]): void {
    this.#header = header;
    this.#connect();
  }

  /** The FLV stream was restarted (the main pipeline was rebuilt): reconnect and start over from its header. */
  restart(header: Buffer[]): void {
    this.#header = header;
    this.#teardown();
    this.#connect();
  }

  /** One FLV tag from the room's muxer. */
  feed(tag: Buffer): void {
    const src = this.#src;
    if (!src || this.#state === "stopped" || this.#state === "reconnecting") return;
    if (queuedBytes(src) > maxQueuedBytes) {
      this.#options.metrics.droppedFrames.inc({ reason: "rtmp_behind" });
      this.#waitingForKeyframe = true;
      return;
    }
    if (this.#waitingForKeyframe) {
      if (!isKeyframeTag(tag)) return;
      this.#waitingForKeyframe = false;
      for (const buffer of this.#header) src.push(this.#stamp(buffer));
    }
    src.push(this.#stamp(tag));
  }

  #stamp(tag: Buffer): Buffer {
    const offset = this.#options.timestampOffsetMs;
    return offset ? shifted(tag, offset) : tag;
  }

  stop(): void {
    this.#state = "stopped";
    clearTimeout(this.#retry);
    this.#teardown();
    this.#options.onState("stopped");
  }

  #connect() {
    const generation = ++this.#generation;
    this.#state = "connecting";
    this.#waitingForKeyframe = true;
    try {
      const pipeline = createPipeline(
        "appsrc name=src is-live=true format=bytes max-bytes=0 caps=video/x-flv ! queue ! rtmp2sink name=sink sync=false async-connect=true",
      );
      (pipeline.findChild("sink") as GstElement).location = this.#options.url;
      this.#bus = watchBus(pipeline, (message) => {
        if (generation !== this.#generation) return;
        if (message.type === "error") this.#fail(message.message ?? "RTMP error");
      });
      this.#src = findAppSrc(pipeline, "src");
      pipeline.play();
    } catch (err) {
      this.#fail(err instanceof Error ? err.message : String(err));
      return;
    }
    this.#state = "pushing";
    if (!this.#connectedGauge) this.#options.metrics.rtmpConnected.inc();
    this.#connectedGauge = true;
    this.#options.onState("pushing");
    this.#healthy = setTimeout(() => {
      this.#backoffMs = this.#options.initialBackoffMs ?? 500;
    }, healthyAfterMs);
    this.#healthy.unref();
  }

  #fail(error: string) {
    if (this.#state === "stopped" || this.#state === "reconnecting") return;
    this.#options.log.warn({ output: this.#options.label, error, retryInMs: this.#backoffMs }, "RTMP push failed");
    this.#teardown();
    this.#state = "reconnecting";
    this.#options.onState("reconnecting", error);
    this.#retry = setTimeout(() => {
      this.#options.metrics.rtmpReconnects.inc();
      this.#connect();
    }, this.#backoffMs);
    this.#backoffMs = Math.min(this.#backoffMs * 2, this.#options.maxBackoffMs ?? 10_000);
  }

  #teardown() {
    clearTimeout(this.#healthy);
    this.#generation++;
    void this.#bus?.stop();
    this.#bus = undefined;
    this.#src = undefined;
    if (this.#connectedGauge) this.#options.metrics.rtmpConnected.dec();
    this.#connectedGauge = false;
  }
}
