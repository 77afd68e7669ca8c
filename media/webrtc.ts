// WebRTC viewers of one room (WHEP): each viewer is a webrtcbin of its own in the room's main pipeline, fed from the
// room's one H.264 encode (tee `vt`) and one Opus encode. The Opus encode is added lazily, with the first viewer who
// wants audio, on a branch of the raw audio (tee `araw`), and stays until the pipeline is rebuilt or stops: rooms
// nobody watches over WebRTC pay nothing for it. Payloaders are per viewer (each offer names its own payload types)
// behind a leaky queue, so a slow viewer drops its own packets and never holds the tee. Signalling runs in the
// native addon (native/webrtc.cc; GstPromise, which the binding cannot do); without it open() refuses with 503.
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { repoPath } from "../avatars/index.js";
import { CancelledError, InvalidArgumentError, UnavailableError } from "../errors/index.js";
import { Counter, Gauge, Histogram, tracer, type Logger, type Registry } from "../observability/index.js";
import type { WebRtcSettings } from "./config.js";
import { ViewersFullError, WebRtcUnavailableError } from "./errors.js";
import type { GstElement, GstPipeline } from "./gst.js";
import { readViewerOffer, type OfferedFormat, type ViewerOffer } from "./webrtc-sdp.js";

interface NativeEvent {
  id: number;
  type: "answer" | "error" | "state" | "closed";
  text: string;
}

interface Branch {
  tee: GstElement;
  mline: number;
  caps: string;
  element: string;
  ghost: string;
}

interface WebRtcAddon {
  setHandler(handler: (events: NativeEvent[]) => void): void;
  open(
    id: number,
    spec: {
      offer: string;
      bin: string;
      video?: Branch;
      audio?: Branch;
      minPort: number;
      maxPort: number;
      gatherTimeoutMs: number;
    },
  ): void;
  close(id: number): boolean;
  addBranch(tee: GstElement, description: string, name: string): void;
  elements(element: GstElement): string[];
}

/** How a viewer's session ended (livehost_webrtc_sessions_total{outcome}); refusals are outcomes too. */
export type ViewerOutcome =
  | "bad_offer"
  | "full"
  | "unavailable"
  | "negotiation_failed"
  | "closed"
  | "failed"
  | "disconnected"
  | "connect_timeout"
  | "media_restarted"
  | "stopped";

export interface WebRtcMetrics {
  viewers: Gauge;
  sessions: Counter<"outcome">;
  negotiationSeconds: Histogram;
}

const byRegistry = new WeakMap<Registry, WebRtcMetrics>();

/** The WebRTC metrics on `registry` (one set per registry, no room label: bounded). */
export function webrtcMetrics(registry: Registry): WebRtcMetrics {
  let metrics = byRegistry.get(registry);
  if (!metrics) {
    const registers = [registry];
    metrics = {
      viewers: new Gauge({
        name: "livehost_webrtc_viewers",
        help: "WebRTC (WHEP) viewers held by the rooms of this process: negotiating or connected.",
        registers,
      }),
      sessions: new Counter({
        name: "livehost_webrtc_sessions_total",
        help: "WHEP offers by how they ended: refused (bad_offer, full, unavailable, negotiation_failed) or a viewer gone (closed by DELETE, failed, disconnected, connect_timeout, media_restarted, stopped).",
        labelNames: ["outcome"],
        registers,
      }),
      negotiationSeconds: new Histogram({
        name: "livehost_webrtc_negotiation_seconds",
        help: "From a WHEP offer received by the room's graph to its answer ready, ICE candidates gathered.",
        buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
        registers,
      }),
    };
    byRegistry.set(registry, metrics);
  }
  return metrics;
}

const addonRelative = "media/native/build/Release/livehost_webrtc.node";
let loaded: { addon: WebRtcAddon | undefined } | undefined;
/** Every native session of the process by its native id: the addon's events are dispatched from here. */
const nativeSessions = new Map<number, Viewer>();
let nextNativeId = 1;

function webrtcAddon(): WebRtcAddon | undefined {
  if (!loaded) {
    const path = repoPath(addonRelative);
    let addon: WebRtcAddon | undefined;
    try {
      addon = existsSync(path) ? (createRequire(import.meta.url)(path) as WebRtcAddon) : undefined;
    } catch {
      addon = undefined; // built against libraries this machine lacks: the host runs on without WebRTC
    }
    addon?.setHandler((events) => {
      for (const event of events) nativeSessions.get(event.id)?.onNative(event);
    });
    loaded = { addon };
  }
  return loaded.addon;
}

/** Whether this process can serve WebRTC viewers (the addon is built). */
export function webrtcAvailable(): boolean {
  return webrtcAddon() !== undefined;
}

/** Time a viewer's answer may take, ICE gathering included, before the offer is refused. */
const negotiationTimeoutMs = 10_000;
const gatherTimeoutMs = 5_000;
/** What a viewer turned away because the room is full is told to wait, in s. */
const fullRetryAfterSeconds = 10;

export interface WebRtcViewersOptions {
  roomId: string;
  settings: WebRtcSettings;
  registry: Registry;
  log: Logger;
}

/** The room's pipeline as the viewers see it: where the shared encodes are. */
interface Attached {
  pipeline: GstPipeline;
  video: GstElement;
  rawAudio: GstElement;
  opus: GstElement | undefined;
}

/** One viewer, from its offer until its bin has left the pipeline. */
class Viewer {
  readonly sessionId = randomBytes(16).toString("base64url");
  readonly nativeId = nextNativeId++;
  state: "negotiating" | "answered" | "connected" | "closing" = "negotiating";
  outcome: ViewerOutcome | undefined;
  #answer = resolvers<string>();
  #closed = resolvers<void>();
  #timer: NodeJS.Timeout | undefined;
  readonly #owner: WebRtcViewers;

  constructor(owner: WebRtcViewers) {
    this.#owner = owner;
    void this.#answer.promise.catch(() => undefined);
  }

  get answer(): Promise<string> {
    return this.#answer.promise;
  }

  get closed(): Promise<void> {
    return this.#closed.promise;
  }

  /** Runs `then` after `ms` unless another timer is set or cleared first. */
  timer(ms: number | undefined, then?: () => void) {
    clearTimeout(this.#timer);
    this.#timer = ms === undefined ? undefined : setTimeout(then!, ms);
    this.#timer?.unref();
  }

  onNative(event: NativeEvent) {
    switch (event.type) {
      case "answer":
        this.#answer.resolve(event.text);
        return;
      case "error":
        this.#answer.reject(new Error(event.text));
        if (this.state !== "negotiating") void this.#owner.end(this, "failed", event.text);
        return;
      case "state":
        this.#owner.onState(this, event.text);
        return;
      case "closed":
        nativeSessions.delete(this.nativeId);
        this.#closed.resolve();
        return;
    }
  }
}

/**
 * The WebRTC viewers of one room's graph. The graph attaches each main pipeline it builds and detaches it (every
 * viewer let go) before stopping it; viewers of a rebuilt pipeline reconnect (the viewer page does).
 */
export class WebRtcViewers {
  readonly #options: WebRtcViewersOptions;
  readonly #metrics: WebRtcMetrics;
  readonly #viewers = new Map<string, Viewer>();
  #attached: Attached | undefined;

  constructor(options: WebRtcViewersOptions) {
    this.#options = options;
    this.#metrics = webrtcMetrics(options.registry);
  }

  /** Viewers held now (negotiating or connected). */
  get count(): number {
    return this.#viewers.size;
  }

  /** A new main pipeline: `video` is the H.264 tee, `rawAudio` the tee of the raw audio. */
  attach(pipeline: GstPipeline, video: GstElement, rawAudio: GstElement): void {
    this.#attached = { pipeline, video, rawAudio, opus: undefined };
  }

  /** Lets every viewer go (their bins leave the pipeline) before the pipeline stops. */
  async detach(outcome: "media_restarted" | "stopped"): Promise<void> {
    this.#attached = undefined;
    await Promise.all([...this.#viewers.values()].map((viewer) => this.end(viewer, outcome)));
  }

  /**
   * Answers a viewer's offer: resolves with the session id (for close) and the answer SDP with every ICE candidate.
   * InvalidArgumentError("offer") for an offer that cannot be answered, ViewersFullError when the room is full,
   * WebRtcUnavailableError without the addon, UnavailableError when the room's pipeline is not running.
   */
  async open(offer: string, signal?: AbortSignal): Promise<{ sessionId: string; answer: string }> {
    const addon = webrtcAddon();
    const refuse = (outcome: ViewerOutcome, error: Error) => {
      this.#metrics.sessions.inc({ outcome });
      return error;
    };
    if (!addon) throw refuse("unavailable", new WebRtcUnavailableError());
    let wanted: ViewerOffer;
    try {
      wanted = readViewerOffer(offer);
    } catch (err) {
      throw refuse("bad_offer", err as Error);
    }
    const { settings, roomId, log } = this.#options;
    if (this.#viewers.size >= settings.maxViewers) {
      throw refuse("full", new ViewersFullError(settings.maxViewers, fullRetryAfterSeconds));
    }
    const attached = this.#attached;
    if (!attached) throw refuse("unavailable", new UnavailableError("the room's media is not running; try again"));
    signal?.throwIfAborted();
    return await tracer("media").startActiveSpan("media.webrtc.negotiate", async (span) => {
      span.setAttribute("livehost.room_id", roomId);
      const started = performance.now();
      const viewer = new Viewer(this);
      try {
        if (wanted.audio && !attached.opus) attached.opus = this.#addOpus(addon, attached);
        const spec = {
          offer,
          bin: viewerBin(wanted),
          ...(wanted.video ? { video: branch(attached.video, wanted.video, "video") } : {}),
          ...(wanted.audio ? { audio: branch(attached.opus!, wanted.audio, "audio") } : {}),
          minPort: settings.ports?.min ?? 0,
          maxPort: settings.ports?.max ?? 0,
          stunServer: settings.stunServer ?? "",
          turnServer: settings.turnServer ?? "",
          gatherTimeoutMs,
        };
        this.#viewers.set(viewer.sessionId, viewer);
        this.#metrics.viewers.inc();
        nativeSessions.set(viewer.nativeId, viewer);
        addon.open(viewer.nativeId, spec);
      } catch (err) {
        span.recordException(err as Error);
        span.end();
        if (this.#viewers.has(viewer.sessionId)) void this.end(viewer, "negotiation_failed");
        else this.#metrics.sessions.inc({ outcome: "negotiation_failed" });
        throw new UnavailableError(`WebRTC viewer not added: ${(err as Error).message}`, { cause: err });
      }
      const aborted = new Promise<never>((_, reject) => {
        const timeout = AbortSignal.timeout(negotiationTimeoutMs);
        const either = signal ? AbortSignal.any([signal, timeout]) : timeout;
        either.addEventListener("abort", () =>
          reject(
            signal?.aborted
              ? new CancelledError("the viewer went away while negotiating")
              : new UnavailableError("WebRTC negotiation took too long"),
          ),
        );
      });
      aborted.catch(() => undefined);
      try {
        const answer = await Promise.race([viewer.answer, aborted]);
        this.#metrics.negotiationSeconds.observe((performance.now() - started) / 1000);
        viewer.state = "answered";
        viewer.timer(settings.connectTimeoutMs, () => void this.end(viewer, "connect_timeout"));
        log.info({ session: viewer.sessionId, viewers: this.#viewers.size }, "WebRTC viewer answered");
        return { sessionId: viewer.sessionId, answer };
      } catch (err) {
        span.recordException(err as Error);
        void this.end(viewer, "negotiation_failed");
        const message = (err as Error).message;
        log.warn({ error: message }, "WebRTC negotiation failed");
        // webrtcbin refusing the offer itself is the offer's fault; anything else is ours.
        if (/^(set-remote-description|create-answer|offer):/.test(message)) {
          throw new InvalidArgumentError("offer", `cannot be answered: ${message}`, { cause: err });
        }
        throw err instanceof CancelledError || err instanceof UnavailableError
          ? err
          : new UnavailableError(`WebRTC negotiation failed: ${message}`, { cause: err });
      } finally {
        span.end();
      }
    });
  }

  /** Lets viewer `sessionId` go (WHEP DELETE); false when the room has no such viewer. */
  async close(sessionId: string): Promise<boolean> {
    const viewer = this.#viewers.get(sessionId);
    if (!viewer) return false;
    await this.end(viewer, "closed");
    return true;
  }

  /** Connection state changes of a viewer, from webrtcbin. */
  onState(viewer: Viewer, state: string): void {
    if (viewer.state === "closing") return;
    if (state === "connected") {
      viewer.state = "connected";
      viewer.timer(undefined);
    } else if (state === "failed" || state === "closed") {
      void this.end(viewer, "failed");
    } else if (state === "disconnected") {
      viewer.timer(this.#options.settings.disconnectedMs, () => void this.end(viewer, "disconnected"));
    }
  }

  /** Ends a viewer once: its bin leaves the pipeline, and it is counted by how it ended. */
  async end(viewer: Viewer, outcome: ViewerOutcome, detail?: string): Promise<void> {
    if (viewer.state !== "closing") {
      const wasConnected = viewer.state === "connected";
      viewer.state = "closing";
      viewer.outcome = outcome;
      viewer.timer(undefined);
      // Never added (its bin did not build): nothing to wait for.
      if (!webrtcAddon()?.close(viewer.nativeId)) viewer.onNative({ id: viewer.nativeId, type: "closed", text: "" });
      this.#options.log.info({ session: viewer.sessionId, outcome, wasConnected, detail }, "WebRTC viewer gone");
      void viewer.closed.then(() => {
        this.#viewers.delete(viewer.sessionId);
        this.#metrics.viewers.dec();
        this.#metrics.sessions.inc({ outcome });
      });
    }
    await viewer.closed;
  }

  /** Tests: the names of every element in the room's main pipeline, at any depth (none when not attached). */
  elementNames(): string[] {
    const attached = this.#attached;
    return attached ? (webrtcAddon()?.elements(attached.video) ?? []) : [];
  }

  #addOpus(addon: WebRtcAddon, attached: Attached): GstElement {
    // The graph's audio is S16LE mono at 48 kHz, what opusenc takes; 20 ms frames, as browsers expect. The queue holds
    // half a second, counted in bytes (48 000), not in time: see viewerBin.
    addon.addBranch(
      attached.rawAudio,
      "queue leaky=downstream max-size-buffers=0 max-size-bytes=48000 max-size-time=0 ! audioconvert ! " +
        "opusenc bitrate=64000 frame-size=20",
      "opus",
    );
    const opus = attached.pipeline.findChild("opus");
    if (!opus) throw new UnavailableError("the Opus branch was not added");
    this.#options.log.info("Opus encode added for WebRTC viewers");
    return opus;
  }
}

function resolvers<T>() {
  let resolve!: (value: T) => void;
  let reject!: (err: Error) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

function branch(tee: GstElement, format: OfferedFormat, ghost: "video" | "audio"): Branch {
  const caps =
    ghost === "video"
      ? `application/x-rtp,media=(string)video,encoding-name=(string)H264,clock-rate=(int)90000,` +
        `payload=(int)${format.payloadType},packetization-mode=(string)1,profile-level-id=(string)${format.profileLevelId}`
      : `application/x-rtp,media=(string)audio,encoding-name=(string)OPUS,clock-rate=(int)48000,` +
        `payload=(int)${format.payloadType}`;
  return { tee, mline: format.mline, caps, element: `${ghost}_out`, ghost };
}

/**
 * A viewer's bin: webrtcbin and, per stream, a leaky queue (`<kind>_in`, what the tee feeds) and a payloader with
 * the offer's payload type (`<kind>_out`). The H.264 stream is main profile; its caps are stamped with the offer's
 * profile-level-id, which webrtcbin compares as a string (decoders take the stream as it is).
 */
function viewerBin(offer: ViewerOffer): string {
  // Queues bounded in buffers, not in time: a queue of GStreamer 1.22 fed from a tee already running measures what it
  // holds against an output segment it has not seen yet, takes itself for full of the room's whole running time at
  // its first buffers, and leaks its first events from the tee's thread while its own thread pushes them (a caps
  // stored before its stream-start: "Sticky event misordering"). About a second: 50 Opus frames of 20 ms (see
  // #addOpus), 60 video frames (a second at the highest frame rate a room has, more at the others).
  const queue = (name: string, buffers: number) =>
    `queue name=${name} leaky=downstream max-size-buffers=${buffers} max-size-bytes=0 max-size-time=0`;
  const parts = ["webrtcbin name=webrtc bundle-policy=max-bundle"];
  if (offer.video) {
    parts.push(
      `${queue("video_in", 60)} ! rtph264pay pt=${offer.video.payloadType} config-interval=-1 aggregate-mode=zero-latency ` +
        `! capssetter name=video_out caps="application/x-rtp,profile-level-id=(string)${offer.video.profileLevelId}"`,
    );
  }
  // The audio's RTP timestamps are the room's stream clock (48 kHz from the pipeline's start, no random offset): a
  // player can tell which moment of the room it plays, and so can the latency benchmark.
  if (offer.audio) {
    parts.push(`${queue("audio_in", 50)} ! rtpopuspay name=audio_out pt=${offer.audio.payloadType} timestamp-offset=0`);
  }
  return parts.join(" ");
}
