// One RTMP push, separable from the rest of the room's graph: the main pipeline muxes FLV once (flvmux streamable),
// and each push is its own small pipeline (appsrc ! rtmp2sink) that the FLV relay (taps.ts) feeds with those tags on
// the muxer's streaming thread. When the ingest fails, only this pipeline is torn down; it reconnects with backoff
// while HLS and recording go on, and resumes with the FLV header and codec configuration, then tags from the next
// key frame. (rtmpsink, the librtmp element, crashes the process with this feeding pattern here; rtmp2sink does not.)
import type { Logger } from "../observability/index.js";
import { createPipeline, findAppSrc, watchBus, type GstElement, type WatchedBus } from "./gst.js";
import type { MediaMetrics } from "./metrics.js";
import type { FlvRelay } from "./taps.js";

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

/** Tags queued towards the ingest, at most; past this the push skips to the next key frame (see FlvRelay). */
export const maxRtmpQueuedBytes = 8 * 1024 * 1024;
/** A push that has run this long without an error resets the backoff. */
const healthyAfterMs = 10_000;

export class RtmpPush {
  readonly #options: RtmpPushOptions;
  #bus: WatchedBus | undefined;
  #relay: FlvRelay | undefined;
  /** This push's place in the relay while its pipeline runs. */
  #target: number | undefined;
  #generation = 0;
  #state: RtmpState = "connecting";
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

  /** Starts pushing what `relay` carries, from its next key frame on. */
  start(relay: FlvRelay): void {
    this.#relay = relay;
    this.#connect();
  }

  /** The FLV stream was restarted (the main pipeline was rebuilt, with a new relay): reconnect to it. */
  restart(relay: FlvRelay): void {
    if (this.#state === "stopped") return;
    this.#teardown();
    this.#relay = relay;
    if (this.#state !== "reconnecting") this.#connect(); // else its retry connects to this relay
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
    try {
      const pipeline = createPipeline(
        "appsrc name=src is-live=true format=bytes max-bytes=0 caps=video/x-flv ! queue ! rtmp2sink name=sink sync=false async-connect=true",
      );
      (pipeline.findChild("sink") as GstElement).location = this.#options.url;
      this.#bus = watchBus(pipeline, (message) => {
        if (generation !== this.#generation) return;
        if (message.type === "error") this.#fail(message.message ?? "RTMP error");
      });
      pipeline.play();
      this.#target = this.#relay!.add(findAppSrc(pipeline, "src"), this.#options.timestampOffsetMs ?? 0);
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
    if (this.#target !== undefined) this.#relay?.remove(this.#target);
    this.#target = undefined;
    void this.#bus?.stop();
    this.#bus = undefined;
    if (this.#connectedGauge) this.#options.metrics.rtmpConnected.dec();
    this.#connectedGauge = false;
  }
}
