// RoomMediaGraph: one live room's output. Its frames (one clock, see clock.ts; the avatar's idle loop, the lip-sync
// mouth and overlays composed in I420; see frames.ts) are made on a compose worker shared with other rooms of the
// process, or on this thread for offline renders (see compose-pool.ts); GStreamer encodes (x264, or nvh264enc when
// present) and muxes to the room's outputs: HLS (hlssink2), segmented MP4 (splitmuxsink) and RTMP pushes (FLV tags
// handed to separate push pipelines, see rtmp.ts), and WebRTC viewers (WHEP, see webrtc.ts) fed from the same encode.
// Audio and video are pushed together, one frame at a time, with
// timestamps from the same frame counter, so the outputs cannot drift. This thread builds and watches the pipelines:
// a GStreamer error rebuilds the main pipeline and the clock goes on; an RTMP ingest failure only restarts that push.
import { mkdir, stat } from "node:fs/promises";
import { join } from "node:path";
import type { Transferable } from "node:worker_threads";
import { loadAvatarPack, type AvatarPack } from "../avatars/index.js";
import { rootLogger, tracer, type Logger, type Registry } from "../observability/index.js";
import type { OutputConfig } from "../proto/index.js";
import { InvalidArgumentError, ResourceExhaustedError, UnavailableError } from "../errors/index.js";
import { EncoderUnavailableError, GraphStartedError } from "./errors.js";
import type { ClockAction, Cue, MouthFrameInput, SpeechChunk } from "./clock.js";
import {
  compileOutputConfig,
  compileWebRtcSettings,
  outputSampleRate,
  type CompiledOutput,
  type WebRtcOptions,
} from "./config.js";
import {
  collectBuffers,
  createPipeline,
  findAppSrc,
  findElement,
  hasElement,
  watchBus,
  type GstElement,
  type WatchedBus,
} from "./gst.js";
import { mediaMetrics, type MediaMetrics } from "./metrics.js";
import { renderOverlay, subtitlePages, type OverlaySpec, type RenderedOverlay, type SubtitlePage } from "./overlays.js";
import { i420Size, type Yuva } from "./picture.js";
import { RtmpPush, maxRtmpQueuedBytes, type RtmpState } from "./rtmp.js";
import { EncoderClock, FlvRelay } from "./taps.js";
import { HlsPlaylist } from "./hls-playlist.js";
import {
  FrameStatus,
  toFrameYuva,
  type AvatarFrames,
  type FrameCommand,
  type FrameCounts,
  type FrameReport,
  type FramesInit,
  type UtteranceReport,
} from "./frames.js";
import { InlineFrames, WorkerFrames, composesOnWorkers, type FrameDriver } from "./compose-pool.js";
import { nativePushAvailable } from "./appsrc.js";
import { SpeechLedger } from "./speech-ledger.js";
import { WebRtcViewers } from "./webrtc.js";
import { qualityMetrics, type QualitySnapshot } from "./quality-monitor.js";
import { aiLabelText, labelEncoder, writeHlsMaster } from "./ai-label.js";

export type X264Preset = "ultrafast" | "superfast" | "veryfast" | "faster" | "fast" | "medium";
export type VideoEncoderChoice = "auto" | "x264" | "nvh264enc";

export interface RoomMediaGraphOptions {
  roomId: string;
  /** The room's OutputConfig (proto): frame size, fps, bitrates, outputs. Checked when the graph is made. */
  output: OutputConfig;
  /** An avatar pack directory (see avatars/ loadAvatarPack), e.g. models/avatars/default. */
  avatarDir: string;
  /** Where outputs are written: HLS in <outputDir>/hls, recordings in <outputDir>/<recording.path>. */
  outputDir: string;
  /** Metrics go here (see metrics.ts). */
  registry: Registry;
  logger?: Logger;
  /** Resolves an RTMP output's stream_key_secret to the key (required when an RTMP output is configured). */
  streamKey?: (secretName: string) => string | Promise<string>;
  /** "auto" (default): nvh264enc when GStreamer has it, x264 otherwise. */
  encoder?: VideoEncoderChoice;
  /** x264 speed preset; default "veryfast". */
  x264Preset?: X264Preset;
  /**
   * "realtime" (default): frames leave at the wall clock's pace, for live rooms, made on a compose worker (see
   * compose-pool.ts). `{ renderSeconds }`: render that much stream as fast as the encoder goes, on this thread, then
   * end (previews, tests, benchmarks); `done` resolves when it is written. There, onEvent runs inside the frame loop:
   * what it does lands on the next frame.
   */
  pace?: "realtime" | { renderSeconds: number };
  /** Audio an utterance needs queued before it starts (jitter buffer); default 100 ms. */
  startBufferMs?: number;
  /** Frames an utterance may wait for its first mouth frame before it starts; default 0 (see MediaClock). */
  mouthWaitFrames?: number;
  /**
   * One Float64 (Unix ms): frames are pushed to the outputs only while the clock is before it. The room refreshes it
   * while its host certainly holds the room; a host paused past its lease finds it expired when it wakes, and makes
   * no frame go out (counted as dropped, reason not_held) before it learns the room is held elsewhere.
   */
  outputGate?: SharedArrayBuffer;
  /** Output status changes (RTMP connected / reconnecting, pipeline rebuilt). An error it throws is logged. */
  onEvent?: (event: MediaEvent) => void;
  /**
   * Sees every composed frame (I420, reused for the next frame: copy what you keep) just before it goes to the
   * encoder: benchmarks encode exactly these frames with a plain pipeline to compare. The frames are then made on
   * this thread, also for a live room.
   */
  frameTap?: (i420: Uint8Array, frame: number) => void;
  /**
   * Added to the RTMP pushes' timestamps, in ms (default 0): tests start them just before RTMP's 24-bit millisecond
   * timestamps wrap (4 h 39 min), where long pushes are known to fail.
   */
  rtmpTimestampOffsetMs?: number;
  /** WebRTC (WHEP) viewers: how many a room takes, ICE ports (see config.ts; the environment fills what is left). */
  webrtc?: WebRtcOptions;
  /**
   * Emit `encoded` events (when each utterance's first frame left the encoder; benchmarks). Off by default: finding
   * it polls the encoder clock for each utterance. Every frame's encode time is in the metrics either way.
   */
  reportEncoded?: boolean;
}

export type MediaEvent =
  | { type: "rtmp"; output: string; state: RtmpState; error?: string }
  | { type: "rebuilt"; error: string; frame: number }
  /**
   * Making a frame failed (the first of a run of failures). "failed": frames kept failing for a second, and the
   * graph stopped its output; the rest of the process is untouched.
   */
  | { type: "frame_failed" | "failed"; error: string; frame: number }
  /** A new avatar took over on `frame` (see switchAvatar). */
  | { type: "avatar"; avatarDir: string; frame: number }
  /** An utterance's first sample went to the encoder on `frame`, its last ("ended"), or it was cut (see UtteranceReport). */
  | UtteranceReport
  /** The frame carrying an utterance's first sample came out of the encoder (wall clock, Unix ms; see reportEncoded). */
  | { type: "encoded"; utteranceId: string; outputUnixMs: number }
  /** An overlay became visible (its first frame went out) or is gone (its last frame went out). */
  | { type: "overlay"; overlayId: string; visible: boolean };

export interface MediaStatus {
  frame: number;
  /** Stream time on the audio clock, in s. */
  streamSeconds: number;
  encoder: string;
  speaking: string | undefined;
  queuedSpeechSeconds: number;
  overlaysVisible: string[];
  rtmp: { output: string; state: RtmpState }[];
  rebuilds: number;
}

/** An avatar pack ready to compose at this graph's frame size (see RoomMediaGraph.loadAvatar). */
export interface LoadedAvatar {
  readonly dir: string;
  readonly pack: AvatarPack;
  /** The idle loop, one I420 frame per loop position (views on `frames.frames`). */
  readonly baseFrames: Buffer[];
  /** Pack coordinates to frame coordinates. */
  readonly mouthTransform: { scale: number; dx: number; dy: number };
  readonly restMouth: Yuva;
  /** The same in the form a compose worker takes (the loop in shared memory, not copied). */
  readonly frames: AvatarFrames;
}

const maxOverlays = 32;

/** The video encoder this machine would use for "auto". */
export function detectVideoEncoder(choice: VideoEncoderChoice = "auto"): "x264enc" | "nvh264enc" {
  if (choice === "x264") return "x264enc";
  if (choice === "nvh264enc" || hasElement("nvh264enc")) {
    if (!hasElement("nvh264enc")) throw new EncoderUnavailableError("nvh264enc");
    return "nvh264enc";
  }
  return "x264enc";
}

/**
 * Avatars decoded at a frame size, by size and directory: the entry of a pack rewritten since (its directory or
 * manifest changed) is not used. Held weakly: a loop no graph holds any more is let go.
 */
const decodedAvatars = new Map<string, { version: string; avatar: WeakRef<LoadedAvatar> | Promise<LoadedAvatar> }>();

/** Test seams: see injectFrameFault and webrtcElementNames. */
const injectFault = Symbol("injectFault");
const webrtcElements = Symbol("webrtcElements");
let warnedInline = false;

const stamp = () => new Date().toISOString().replace(/[-:]/g, "").replace(/\..*/, "");

export class RoomMediaGraph implements AsyncDisposable {
  readonly roomId: string;
  #config: CompiledOutput;
  readonly #options: RoomMediaGraphOptions;
  readonly #log: Logger;
  readonly #metrics: MediaMetrics;
  readonly #webrtc: WebRtcViewers;
  readonly #encoder: "x264enc" | "nvh264enc";
  readonly #recordingPrefix = `rec-${stamp()}-`;
  /** The avatar on screen. */
  #avatar: LoadedAvatar | undefined;
  /** An avatar armed to take over (see switchAvatar), until the frames say it did. */
  #nextAvatar: LoadedAvatar | undefined;
  /** The room's frames, once started; commands given before wait in #pending. */
  #frames: FrameDriver | undefined;
  #pending: { command: FrameCommand; transfer: Transferable[] }[] = [];
  /** Every command to the frames is numbered (see SpeechLedger). */
  #seq = 0;
  readonly #ledger = new SpeechLedger();
  /** Overlays scheduled (their pictures are with the frames), and those on screen as the frames last said. */
  readonly #overlayIds = new Set<string>();
  readonly #visible = new Set<string>();
  /** Scheduled, not shown yet. */
  readonly #showing = new Set<string>();
  /** Shown and hidden again since it was last scheduled, oldest first: what #makeRoom lets go. */
  readonly #gone = new Set<string>();
  /** Of those not shown yet, the utterance whose cue shows each: if it is cut or ends first, the overlay never shows. */
  readonly #showOn = new Map<string, string>();
  #generation = 0;
  #hlsSegments = 0;
  /** The public HLS playlist, continued across pipeline rebuilds. */
  #hls: HlsPlaylist | undefined;
  #recordingSegments = 0;
  #rtmp: { label: string; push: RtmpPush }[] = [];
  /** The main pipeline's taps (taps.ts): the FLV relay to the RTMP pushes, and its encoder's clock. */
  #relay: FlvRelay | undefined;
  #encoderClock: EncoderClock | undefined;
  #rebuilds = 0;
  #recentFailures = 0;
  #rebuilding = false;
  #stopping = false;
  #started = false;
  /** The main pipeline's bus, through which it is stopped. */
  #bus: WatchedBus | undefined;
  #stats: NodeJS.Timeout | undefined;
  /** The frame counters as last brought into the metrics (see #drain); frames out at the last stats report. */
  #counted: FrameCounts | undefined;
  #framesOutMark = 0;
  #cpuMark = process.cpuUsage();
  #done: Promise<void>;
  #resolveDone!: () => void;
  #rejectDone!: (err: Error) => void;

  /** Checks the configuration (throws InvalidArgumentError naming the field); start() opens the outputs. */
  constructor(options: RoomMediaGraphOptions) {
    this.#options = options;
    this.roomId = options.roomId;
    this.#config = compileOutputConfig(options.output);
    if (this.config.rtmp.length > 0 && !options.streamKey) {
      throw new InvalidArgumentError("streamKey", "an RTMP output needs a stream key resolver");
    }
    const pace = options.pace ?? "realtime";
    if (pace !== "realtime" && !(pace.renderSeconds > 0 && pace.renderSeconds <= 86_400)) {
      throw new InvalidArgumentError("pace.renderSeconds", "must be more than 0 and at most 86400");
    }
    if (
      options.x264Preset &&
      !["ultrafast", "superfast", "veryfast", "faster", "fast", "medium"].includes(options.x264Preset)
    ) {
      throw new InvalidArgumentError("x264Preset", "must be ultrafast, superfast, veryfast, faster, fast or medium");
    }
    this.#encoder = detectVideoEncoder(options.encoder);
    this.#log = (options.logger ?? rootLogger()).child({ role: "media", roomId: options.roomId });
    this.#metrics = mediaMetrics(options.registry);
    this.#webrtc = new WebRtcViewers({
      roomId: options.roomId,
      settings: compileWebRtcSettings(options.webrtc),
      registry: options.registry,
      log: this.#log,
    });
    this.#done = new Promise((resolve, reject) => {
      this.#resolveDone = resolve;
      this.#rejectDone = reject;
    });
    this.#done.catch(() => undefined);
  }

  /** The outputs as compiled from the room's OutputConfig (setOutputs replaces them). */
  get config(): CompiledOutput {
    return this.#config;
  }

  /** Resolves when the graph has stopped and its files are complete (a `renderSeconds` graph stops by itself). */
  get done(): Promise<void> {
    return this.#done;
  }

  get encoder(): string {
    return this.#encoder;
  }

  /** Where this room's frames are made: "worker" (a compose worker) or "inline" (this thread); undefined before start. */
  get composedOn(): "worker" | "inline" | undefined {
    return this.#frames?.where;
  }

  get hlsPlaylist(): string | undefined {
    return this.config.hls ? join(this.#options.outputDir, "hls", "index.m3u8") : undefined;
  }

  get recordingDir(): string | undefined {
    return this.config.recording ? join(this.#options.outputDir, this.config.recording.path) : undefined;
  }

  /**
   * Loads the avatar, sets the room's frames up (on a compose worker for a live room), opens every output and starts
   * the clock. `signal` stops the graph (like stop()), also while it starts.
   */
  async start(signal?: AbortSignal): Promise<void> {
    if (this.#started) throw new GraphStartedError();
    this.#started = true;
    await tracer("media").startActiveSpan("media.start", async (span) => {
      try {
        span.setAttribute("livehost.room_id", this.roomId);
        span.setAttribute("livehost.media.encoder", this.#encoder);
        signal?.throwIfAborted();
        this.#avatar = await this.loadAvatar(this.#options.avatarDir);
        await this.#openHls();
        if (this.recordingDir) await mkdir(this.recordingDir, { recursive: true });
        const keys = await this.#streamKeys(this.config);
        this.#frames = await this.#openFrames(this.#avatar, signal);
        span.setAttribute("livehost.media.composed_on", this.#frames.where);
        this.#rtmp = this.#rtmpPushes(this.config, keys);
        this.#buildPipeline();
      } catch (err) {
        this.#stopping = true;
        void this.#bus?.stop();
        void this.#frames?.stop();
        span.recordException(err as Error);
        throw err;
      } finally {
        span.end();
      }
    });
    signal?.addEventListener("abort", () => void this.stop(), { once: true });
    this.#metrics.frameSources.add(this.#drain);
    this.#stats = setInterval(() => this.#reportStats(), 1000);
    this.#stats.unref();
    this.#log.info(
      { encoder: this.#encoder, composedOn: this.#frames!.where, ...this.#summary() },
      "media graph started",
    );
    if (this.#options.pace === undefined || this.#options.pace === "realtime") this.#frames!.start();
    else void this.#renderOffline(this.#options.pace.renderSeconds);
  }

  /** Queues speech on the clock (see SpeechChunk). Throws InvalidArgumentError / ResourceExhaustedError. */
  pushSpeech(chunk: SpeechChunk): void {
    const seq = ++this.#seq;
    if (!this.#ledger.speech(chunk, seq, this.#frames?.status)) return;
    // A copy of its own: the caller's bytes may be a view into a larger (gRPC) buffer, and they go to another thread.
    const pcm = chunk.pcm instanceof Int16Array ? chunk.pcm.slice() : new Int16Array(new Uint8Array(chunk.pcm).buffer);
    const { utteranceId, sampleRateHz } = chunk;
    this.#command({ seq, type: "speech", utteranceId, pcm, sampleRateHz, final: chunk.final ?? false }, [pcm.buffer]);
  }

  /** Queues a lip-sync mouth frame; one that arrives after its frame was shown is dropped (and counted). */
  pushMouthFrame(frame: MouthFrameInput): void {
    const patch = frame.patch;
    if (
      !patch ||
      !(patch.rgba instanceof Uint8Array) ||
      !Number.isInteger(patch.width) ||
      !Number.isInteger(patch.height) ||
      patch.rgba.byteLength !== patch.width * patch.height * 4 ||
      patch.width < 1 ||
      patch.height < 1
    ) {
      throw new InvalidArgumentError("frame.patch", "must be width * height * 4 bytes of RGBA");
    }
    if (!Number.isFinite(patch.x) || !Number.isFinite(patch.y)) {
      throw new InvalidArgumentError("frame.patch", "x and y must be numbers");
    }
    const rgba = new Uint8Array(patch.rgba); // its own bytes (see pushSpeech)
    const { utteranceId, index } = frame;
    this.#command(
      {
        seq: ++this.#seq,
        type: "mouth",
        frame: {
          utteranceId,
          index,
          patch: { x: patch.x, y: patch.y, width: patch.width, height: patch.height, rgba },
        },
      },
      [rgba.buffer],
    );
  }

  /**
   * Renders an overlay and shows it at `cue` (a word's start on its utterance's clock, or now), for its duration
   * or until hidden. A bad spec (missing image, empty title) throws InvalidArgumentError naming the field.
   */
  async scheduleOverlay(spec: OverlaySpec, cue: Cue = { now: true }): Promise<void> {
    const room = () => this.#overlayIds.has(spec.id) || this.#makeRoom(1);
    if (!room()) throw new ResourceExhaustedError(`at most ${maxOverlays} overlays per room`);
    const rendered = await renderOverlay(spec, this.config.width, this.config.height);
    if (!room()) throw new ResourceExhaustedError(`at most ${maxOverlays} overlays per room`);
    this.#overlayIds.add(spec.id);
    this.#gone.delete(spec.id);
    this.#showing.add(spec.id);
    this.#command({ seq: ++this.#seq, type: "overlay", overlay: rendered });
    this.#cue(cue, { type: "show", overlayId: spec.id });
    if ("utteranceId" in cue) {
      this.#showOn.set(spec.id, cue.utteranceId);
      // Cut (or over) while the overlay was rendered: its cue never comes, and the room may schedule others instead.
      if (this.#ledger.hasEnded(cue.utteranceId)) this.#neverShown([cue.utteranceId]);
    }
  }

  /**
   * Overlays whose show was cued on these utterances, which were cut or played to their end without it: they will not
   * show, so they make room like those shown and gone (a long-running room would otherwise fill up with them).
   */
  #neverShown(utteranceIds: string[]) {
    const over = new Set(utteranceIds);
    for (const [id, utteranceId] of this.#showOn) {
      if (!over.has(utteranceId)) continue;
      this.#showOn.delete(id);
      if (!this.#showing.delete(id)) continue;
      if (!this.#visible.has(id)) this.#gone.add(id);
    }
  }

  /**
   * Room for `count` more overlays: the oldest of those shown and gone again (hidden, not scheduled since) are let
   * go. A room that names each sentence's subtitle by its utterance never runs out.
   */
  #makeRoom(count: number): boolean {
    for (const id of this.#gone) {
      if (this.#overlayIds.size + count <= maxOverlays) break;
      this.#gone.delete(id);
      this.#overlayIds.delete(id);
      this.#command({ seq: ++this.#seq, type: "drop", overlayId: id });
    }
    return this.#overlayIds.size + count <= maxOverlays;
  }

  /** The pages of subtitles `text` takes on this room's picture: at most two lines each (see overlays.ts). */
  subtitlePages(text: string): SubtitlePage[] {
    return subtitlePages(text, this.config.width, this.config.height);
  }

  /** Re-renders overlays in place (e.g. a new price); visible ones keep their timing. */
  async updateOverlays(specs: OverlaySpec[]): Promise<void> {
    const added = new Set(specs.map((s) => s.id).filter((id) => !this.#overlayIds.has(id)));
    if (!this.#makeRoom(added.size)) throw new ResourceExhaustedError(`at most ${maxOverlays} overlays per room`);
    const rendered: RenderedOverlay[] = await Promise.all(
      specs.map((spec, i) => renderOverlay(spec, this.config.width, this.config.height, `overlays[${i}]`)),
    );
    // All rendered, or none applied.
    for (const overlay of rendered) this.#overlayIds.add(overlay.spec.id);
    this.#command({ seq: ++this.#seq, type: "overlays", overlays: rendered });
  }

  /** Hides an overlay at `cue` (with its leaving animation). */
  hideOverlay(id: string, cue: Cue = { now: true }): void {
    if (!this.#overlayIds.has(id)) throw new InvalidArgumentError("overlay.id", `no overlay ${id}`);
    this.#cue(cue, { type: "hide", overlayId: id });
  }

  #cue(cue: Cue, action: ClockAction) {
    this.#ledger.cue(cue);
    this.#command({ seq: ++this.#seq, type: "cue", cue, action });
  }

  /** A viewer question cuts in: queued speech, mouth frames and cues go at once; the clock and overlays stay. */
  interrupt(): string[] {
    const seq = ++this.#seq;
    const cued = new Set(this.#showOn.values());
    const dropped = this.#ledger.interrupt(seq);
    this.#command({ seq, type: "interrupt" });
    this.#neverShown([...cued].filter((id) => this.#ledger.hasEnded(id)));
    return dropped;
  }

  #command(command: FrameCommand, transfer: Transferable[] = []) {
    if (this.#stopping) return;
    if (this.#frames) this.#frames.command(command, transfer);
    else this.#pending.push({ command, transfer });
  }

  /**
   * A WebRTC viewer's offer (WHEP): resolves with its session id and the answer SDP (every ICE candidate in it). The
   * viewer is let go by closeViewer, or when its connection fails or never comes up. InvalidArgumentError("offer")
   * names what in the offer cannot be answered; UnavailableError when the room is full (ViewersFullError), the host
   * has no WebRTC, or the output is not running.
   */
  openViewer(offer: string, signal?: AbortSignal): Promise<{ sessionId: string; answer: string }> {
    if (this.#stopping) return Promise.reject(new UnavailableError("the room's media has stopped"));
    return this.#webrtc.open(offer, signal);
  }

  /** Lets WebRTC viewer `sessionId` go (its webrtcbin leaves the pipeline); false when there is no such viewer. */
  closeViewer(sessionId: string): Promise<boolean> {
    return this.#webrtc.close(sessionId);
  }

  /** WebRTC viewers held now (negotiating or connected). */
  get webrtcViewers(): number {
    return this.#webrtc.count;
  }

  /** Test seam (see webrtcElementNames). */
  [webrtcElements](): string[] {
    return this.#webrtc.elementNames();
  }

  /** Test seam (see injectFrameFault): the next `frames` frames fail while being made. */
  [injectFault](frames: number): void {
    this.#command({ seq: ++this.#seq, type: "fault", frames });
  }

  /** Changes the outputs. RTMP pushes change without touching the rest; other changes rebuild the main pipeline. */
  async setOutputs(output: OutputConfig): Promise<void> {
    const next = compileOutputConfig(output);
    const { width, height, fps } = this.config;
    if (next.width !== width || next.height !== height || next.fps !== fps) {
      throw new InvalidArgumentError("output.video", "frame size and fps are fixed while the room is live; restart it");
    }
    const keys = await this.#streamKeys(next);
    const rebuild =
      JSON.stringify({ ...this.config, rtmp: next.rtmp.length > 0 }) !==
      JSON.stringify({ ...next, rtmp: this.config.rtmp.length > 0 });
    for (const { push } of this.#rtmp) push.stop();
    // HLS taken away: its playlist says the stream ended there.
    if (this.config.hls && !next.hls) {
      await this.#hls?.end(this.#generation).catch((err: unknown) => this.#log.warn({ err }, "HLS playlist not ended"));
    }
    // Replaced whole: an output left out of the new config (a recording, HLS) is gone, not kept from the old one.
    this.#config = next;
    await this.#openHls();
    if (this.recordingDir) await mkdir(this.recordingDir, { recursive: true });
    if (rebuild) this.#restartPipeline("outputs changed");
    this.#rtmp = this.#rtmpPushes(next, keys);
    // A rebuild under way starts them on its new pipeline's relay.
    if (this.#relay) for (const { push } of this.#rtmp) push.start(this.#relay);
  }
  /** Each RTMP output's stream key, from the resolver; InvalidArgumentError when there is none or it is unusable. */
  async #streamKeys(config: CompiledOutput): Promise<string[]> {
    if (config.rtmp.length === 0) return [];
    const resolve = this.#options.streamKey;
    if (!resolve) throw new InvalidArgumentError("streamKey", "an RTMP output needs a stream key resolver");
    return await Promise.all(
      config.rtmp.map(async (r, i) => {
        const key = await resolve(r.streamKeySecret);
        if (!/^[A-Za-z0-9._~?=&-]{1,512}$/.test(key)) {
          throw new InvalidArgumentError(`output.outputs.rtmp[${i}].stream_key_secret`, "resolved to an unusable key");
        }
        return key;
      }),
    );
  }

  #rtmpPushes(config: CompiledOutput, keys: string[]) {
    return config.rtmp.map((r, i) => {
      const label = `${r.url}/<key ${i}>`;
      const push = new RtmpPush({
        url: `${r.url}/${keys[i]}`,
        label,
        metrics: this.#metrics,
        log: this.#log,
        onState: (state, error) => this.#emit({ type: "rtmp", output: label, state, ...(error ? { error } : {}) }),
        ...(this.#options.rtmpTimestampOffsetMs ? { timestampOffsetMs: this.#options.rtmpTimestampOffsetMs } : {}),
      });
      return { label, push };
    });
  }

  status(): MediaStatus {
    const frames = this.#frames?.status;
    const frame = frames?.frame ?? 0;
    return {
      frame,
      streamSeconds: frame / this.config.fps,
      encoder: this.#encoder,
      speaking: this.#ledger.current,
      queuedSpeechSeconds: this.#ledger.queuedSamples(frames) / outputSampleRate,
      overlaysVisible: [...this.#overlayIds].filter((id) => this.#visible.has(id)),
      rtmp: this.#rtmp.map(({ label, push }) => ({ output: label, state: push.state })),
      rebuilds: this.#rebuilds,
    };
  }

  /**
   * Ends the stream cleanly: the frames stop (the room leaves its compose worker), the outputs are finalized (MP4
   * index, HLS end of playlist), then every pipeline stops.
   */
  async stop(): Promise<void> {
    if (this.#stopping) return this.#done;
    this.#stopping = true;
    clearInterval(this.#stats);
    // No frame may follow the end-of-stream: the frames stop first.
    await this.#frames?.stop();
    this.#drain();
    this.#metrics.frameSources.delete(this.#drain);
    qualityMetrics(this.#options.registry).remove(this.#options.roomId);
    await this.#webrtc.detach("stopped");
    // End-of-stream first, so the last segments and recordings are complete; stopped from the bus (see watchBus).
    await this.#bus?.stop(10_000);
    await this.#hls?.end(this.#generation).catch((err: unknown) => this.#log.warn({ err }, "HLS playlist not ended"));
    for (const { push } of this.#rtmp) push.stop();
    this.#closeTaps();
    this.#log.info({ frames: this.status().frame, rebuilds: this.#rebuilds }, "media graph stopped");
    this.#resolveDone();
    return this.#done;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }

  #summary() {
    const { width, height, fps, hls, recording, rtmp } = this.config;
    return { width, height, fps, hls: !!hls, recording: !!recording, rtmp: rtmp.length };
  }

  /**
   * Loads an avatar pack for this graph's frame size (its idle loop decoded once, its rest mouth), for
   * switchAvatar; the stream goes on meanwhile. A pack that cannot be used throws InvalidArgumentError naming
   * "avatarDir".
   */
  async loadAvatar(avatarDir: string): Promise<LoadedAvatar> {
    // Rooms of a process on the same pack and frame size share one decoded loop while any of them holds it.
    const { width, height } = this.config;
    const key = `${width}x${height}:${avatarDir}`;
    const version = await Promise.all([stat(avatarDir), stat(join(avatarDir, "pack.json"))]).then(
      ([dir, manifest]) => `${dir.mtimeMs}:${manifest.mtimeMs}:${manifest.size}`,
      () => undefined,
    );
    const cached = decodedAvatars.get(key);
    if (version !== undefined && cached?.version === version) {
      const avatar =
        cached.avatar instanceof WeakRef ? cached.avatar.deref() : await cached.avatar.catch(() => undefined);
      if (avatar) return avatar;
    }
    const loading = this.#decodeAvatar(avatarDir);
    if (version === undefined) return loading;
    decodedAvatars.set(key, { version, avatar: loading });
    try {
      const avatar = await loading;
      decodedAvatars.set(key, { version, avatar: new WeakRef(avatar) });
      return avatar;
    } catch (err) {
      if (decodedAvatars.get(key)?.avatar === loading) decodedAvatars.delete(key);
      throw err;
    }
  }

  async #decodeAvatar(avatarDir: string): Promise<LoadedAvatar> {
    const pack = await loadAvatarPack(avatarDir).catch((err: unknown) => {
      throw new InvalidArgumentError("avatarDir", err instanceof Error ? err.message : String(err), { cause: err });
    });
    const { width, height } = this.config;
    const m = pack.manifest;
    const maxFrames = Math.max(1, Math.ceil(m.fps * 10));
    const decoded = await collectBuffers(
      `filesrc name=file ! decodebin ! videoconvert ! videoscale add-borders=true ! ` +
        `video/x-raw,format=I420,width=${width},height=${height},pixel-aspect-ratio=1/1,colorimetry=bt709 ! appsink name=out sync=false`,
      {
        limit: maxFrames,
        configure: (p) => ((p.findChild("file") as GstElement).location = join(pack.dir, m.base.video)),
      },
    ).catch((err: unknown) => {
      throw new InvalidArgumentError("avatarDir", `${m.base.video}: ${(err as Error).message}`, { cause: err });
    });
    if (decoded.length === 0) throw new InvalidArgumentError("avatarDir", `${m.base.video} has no video frames`);
    // Idle loops repeat themselves: identical frames in a row are kept once. The loop goes into shared memory, which
    // a compose worker reads without a copy.
    const frameBytes = i420Size(width, height);
    const distinct: Buffer[] = [];
    const loop = decoded.map((frame) => {
      if (!distinct.at(-1)?.equals(frame)) distinct.push(frame);
      return distinct.length - 1;
    });
    const shared = new SharedArrayBuffer(distinct.length * frameBytes);
    distinct.forEach((frame, i) => new Uint8Array(shared, i * frameBytes, frameBytes).set(frame));
    const baseFrames = loop.map((i) => Buffer.from(shared, i * frameBytes, frameBytes));
    const scale = Math.min(width / m.width, height / m.height);
    const mouthTransform = { scale, dx: (width - m.width * scale) / 2, dy: (height - m.height * scale) / 2 };
    const restMouth = toFrameYuva({ ...m.mouth, rgba: pack.mouthImage(0) }, scale);
    const frames: AvatarFrames = {
      dir: avatarDir,
      fps: m.fps,
      frames: shared,
      frameBytes,
      loop,
      mouth: { x: m.mouth.x, y: m.mouth.y },
      transform: mouthTransform,
      restMouth,
    };
    return { dir: avatarDir, pack, baseFrames, mouthTransform, restMouth, frames };
  }

  /**
   * Puts `avatar` (from loadAvatar) on screen without restarting the stream. Mouth frames are drawn for one avatar,
   * so it takes over on the first frame after every utterance queued now, and those named in `after` (speech
   * still being synthesized for the current avatar), have played or been interrupted; at the latest 15 s from now.
   * Speech pushed from now on, other than `after`, should be animated for the new avatar.
   */
  switchAvatar(avatar: LoadedAvatar, options: { after?: string[] } = {}): void {
    if (avatar.baseFrames[0]?.length !== i420Size(this.config.width, this.config.height)) {
      throw new InvalidArgumentError("avatar", "was loaded for another frame size (use this graph's loadAvatar)");
    }
    const waitFor = [...this.#ledger.queuedIds, ...(options.after ?? [])];
    this.#nextAvatar = avatar;
    this.#command({
      seq: ++this.#seq,
      type: "switch",
      avatar: avatar.frames,
      waitFor,
      withinFrames: 15 * this.config.fps,
    });
    this.#log.info({ avatar: avatar.dir, waitingFor: waitFor.length }, "avatar switch armed");
  }

  /** Switches the avatar once the new pack is loaded (loadAvatar, then switchAvatar after what is queued now). */
  async setAvatar(avatarDir: string): Promise<void> {
    this.switchAvatar(await this.loadAvatar(avatarDir));
  }

  get avatarDir(): string | undefined {
    return this.#avatar?.dir;
  }

  #pipelineDescription(): string {
    const c = this.config;
    const videoCaps =
      `video/x-raw,format=I420,width=${c.width},height=${c.height},framerate=${c.fps}/1,` +
      "pixel-aspect-ratio=1/1,colorimetry=bt709,interlace-mode=progressive";
    const encoder =
      this.#encoder === "nvh264enc"
        ? `nvh264enc name=venc bitrate=${c.videoKbps} gop-size=${c.keyframeInterval} rc-mode=cbr zerolatency=true bframes=0`
        : `x264enc name=venc speed-preset=${this.#options.x264Preset ?? "veryfast"} tune=zerolatency bitrate=${c.videoKbps} ` +
          `key-int-max=${c.keyframeInterval}`;
    const parts = [
      `appsrc name=video format=time max-bytes=0 caps="${videoCaps}" ! queue max-size-buffers=2 max-size-bytes=0 ` +
        `max-size-time=0 ! ${encoder} ! video/x-h264,profile=main,stream-format=byte-stream,alignment=au ! tee name=vt`,
      `appsrc name=audio format=time max-bytes=0 caps="audio/x-raw,format=S16LE,layout=interleaved,rate=${outputSampleRate},channels=1" ` +
        // Raw audio is teed for the Opus encode WebRTC viewers add when the first one comes (see webrtc.ts).
        `! tee name=araw ! audioconvert ! avenc_aac bitrate=${c.audioKbps * 1000} ! aacparse ! tee name=at`,
    ];
    if (c.hls) {
      parts.push(
        `vt. ! queue ! h264parse ! hls.video at. ! queue ! hls.audio hlssink2 name=hls target-duration=${c.hls.segmentSeconds} ` +
          `playlist-length=${c.hls.playlistLength} max-files=${c.hls.playlistLength + 2} send-keyframe-requests=false`,
      );
    }
    if (c.recording) {
      parts.push(
        `vt. ! queue ! h264parse ! rec.video at. ! queue ! rec.audio_0 splitmuxsink name=rec ` +
          `max-size-time=${c.recording.segmentSeconds * 1_000_000_000} send-keyframe-requests=true start-index=${this.#recordingSegments} ` +
          // Fragmented MP4: a file cut short by a crash or a pipeline error still plays up to its last fragment.
          `muxer-properties="properties,fragment-duration=(uint)2000"`,
      );
    }
    if (c.rtmp.length > 0) {
      parts.push(
        "vt. ! queue ! h264parse ! flv.video at. ! queue ! flv.audio flvmux name=flv streamable=true ! " +
          "fakesink name=flvtap sync=false async=false",
      );
    }
    return parts.join(" ");
  }

  async #openHls() {
    const hls = this.config.hls;
    if (!hls) {
      this.#hls = undefined;
      return;
    }
    const dir = join(this.#options.outputDir, "hls");
    await mkdir(dir, { recursive: true });
    const settings = { window: hls.playlistLength, targetSeconds: hls.segmentSeconds };
    await writeHlsMaster(dir, this.config, aiLabelText(this.#options.roomId));
    if (this.#hls) this.#hls.configure(settings);
    else this.#hls = new HlsPlaylist(dir, settings);
  }

  #buildPipeline() {
    const generation = ++this.#generation;
    this.#hlsSegments = 0;
    const pipeline = createPipeline(this.#pipelineDescription());
    const dir = this.#options.outputDir;
    const hls = pipeline.findChild("hls");
    if (hls) {
      hls.location = join(dir, "hls", `segment-g${generation}-%05d.ts`);
      // Its own playlist, merged into the public one (see HlsPlaylist: it continues across rebuilds).
      hls["playlist-location"] = this.#hls!.sourceOf(generation);
    }
    const rec = pipeline.findChild("rec");
    if (rec) rec.location = join(this.recordingDir!, `${this.#recordingPrefix}%05d.mp4`);
    // The implicit AI-content label: in every key frame, and in the RTMP stream's metadata (see ai-label.ts).
    const label = aiLabelText(this.#options.roomId);
    if (!labelEncoder(pipeline.findChild("venc") as GstElement, label) && generation === 1) {
      this.#log.warn("the H.264 AI-content label is not available here (media/native not built): metadata labels only");
    }
    const flv = pipeline.findChild("flv");
    if (flv) flv.metadatacreator = label;
    // Its taps, on its streaming threads: each RTMP push is fed by the relay (and starts over on a new pipeline).
    this.#closeTaps();
    if (flv) {
      this.#relay = new FlvRelay(flv, maxRtmpQueuedBytes);
      for (const { push } of this.#rtmp) push.restart(this.#relay);
    }
    this.#encoderClock = EncoderClock.open(findElement(pipeline, "venc"));
    this.#bus = watchBus(pipeline, (message) => {
      // A pipeline being replaced still closes its last HLS segments (end-of-stream): they belong in the playlist.
      if (
        message.type === "element" &&
        message.name === "splitmuxsink-fragment-closed" &&
        message._src_element_name !== "rec"
      ) {
        this.#hls?.update(generation).catch((err: unknown) => this.#log.warn({ err }, "HLS playlist not updated"));
      }
      if (generation !== this.#generation) return;
      if (message.type === "error")
        this.#onPipelineError(`${message.name ?? "pipeline"}: ${message.message ?? "error"}`);
      else if (message.type === "element" && message._src_element_name === "rec") {
        // The next pipeline continues the numbering, also after a file cut short by an error.
        if (message.name === "splitmuxsink-fragment-opened") this.#recordingSegments++;
      } else if (message.type === "element" && message.name === "splitmuxsink-fragment-closed") {
        void this.#measureHlsSegment(generation, this.#hlsSegments++);
      }
    });
    pipeline.play();
    this.#webrtc.attach(pipeline, findElement(pipeline, "vt"), findElement(pipeline, "araw"));
    // The room's frames go into this pipeline from its next frame on (timestamps from 0 again).
    this.#frames!.attach(findAppSrc(pipeline, "video"), findAppSrc(pipeline, "audio"));
  }

  /** Says when the frame stamped `ptsNs` comes out of the encoder (looked for over 2 s; a rebuild ends the search). */
  #followEncode(utteranceId: string, ptsNs: number) {
    const clock = this.#encoderClock;
    let tries = 0;
    const check = () => {
      if (!clock || clock !== this.#encoderClock) return;
      const at = clock.encodedAt(ptsNs);
      if (at !== undefined) this.#emit({ type: "encoded", utteranceId, outputUnixMs: Math.round(at) });
      else if (++tries < 100) setTimeout(check, 20).unref();
    };
    check();
  }

  #closeTaps() {
    this.#relay?.close();
    this.#relay = undefined;
    this.#encoderClock?.close();
    this.#encoderClock = undefined;
  }

  async #measureHlsSegment(generation: number, index: number) {
    if (this.#rtmp.length > 0) return;
    const file = join(this.#options.outputDir, "hls", `segment-g${generation}-${String(index).padStart(5, "0")}.ts`);
    const size = await stat(file).then(
      (s) => s.size,
      () => undefined,
    );
    if (size !== undefined && this.config.hls) this.#metrics.bitrate.set((size * 8) / this.config.hls.segmentSeconds);
  }

  #onPipelineError(error: string) {
    if (this.#stopping || this.#rebuilding) return;
    const frame = this.status().frame;
    this.#log.error({ error, frame }, "media pipeline failed; rebuilding");
    this.#metrics.rebuilds.inc();
    this.#rebuilds++;
    this.#recentFailures++;
    setTimeout(() => this.#recentFailures--, 30_000).unref();
    this.#emit({ type: "rebuilt", error, frame });
    this.#restartPipeline(error, Math.min(5_000, 50 * 2 ** (this.#recentFailures - 1)));
  }

  /** Stops the main pipeline and builds it again after `delayMs`; the clock runs on (frames meanwhile are dropped). */
  #restartPipeline(reason: string, delayMs = 0) {
    this.#rebuilding = true;
    // The frames leave the pipeline before its end-of-stream, so none is pushed after it (and lost uncounted).
    const bus = this.#bus;
    // Viewers of the old pipeline are let go first (their webrtcbins leave it); they reconnect to the new one.
    const detached = Promise.all([this.#frames!.detach(), this.#webrtc.detach("media_restarted")]);
    void detached.then(() => bus?.stop());
    const rebuild = async () => {
      await detached;
      await tracer("media").startActiveSpan("media.rebuild", async (span) => {
        span.setAttribute("livehost.room_id", this.roomId);
        span.setAttribute("livehost.media.reason", reason.slice(0, 200));
        try {
          if (this.hlsPlaylist) await mkdir(join(this.#options.outputDir, "hls"), { recursive: true });
          if (this.recordingDir) await mkdir(this.recordingDir, { recursive: true });
          if (!this.#stopping) this.#buildPipeline();
        } catch (err) {
          span.recordException(err as Error);
          this.#log.error({ err }, "media pipeline rebuild failed");
          this.#rebuilding = false;
          this.#onPipelineError(err instanceof Error ? err.message : String(err));
          return;
        } finally {
          span.end();
        }
        this.#rebuilding = false;
      });
    };
    setTimeout(() => void rebuild(), delayMs);
  }

  /** The room's frames: on a compose worker for a live room, else (or when no worker can push) on this thread. */
  async #openFrames(avatar: LoadedAvatar, signal?: AbortSignal): Promise<FrameDriver> {
    const { width, height, fps, samplesPerFrame } = this.config;
    const status = new FrameStatus();
    const init: FramesInit = {
      roomId: this.roomId,
      fps,
      samplesPerFrame,
      width,
      height,
      ...(this.#options.startBufferMs !== undefined ? { startBufferMs: this.#options.startBufferMs } : {}),
      mouthWaitFrames: this.#options.mouthWaitFrames ?? 0,
      avatar: avatar.frames,
      status: status.buffer,
      ...(this.#options.outputGate ? { outputGate: this.#options.outputGate } : {}),
    };
    const onReport = (report: FrameReport) => this.#onReport(report);
    const live = this.#options.pace === undefined || this.#options.pace === "realtime";
    let frames: FrameDriver;
    if (live && !this.#options.frameTap && composesOnWorkers()) {
      frames = await WorkerFrames.open(init, onReport, signal);
    } else {
      if (live && !this.#options.frameTap && !nativePushAvailable() && !warnedInline) {
        warnedInline = true;
        this.#log.warn("appsrc addon not built: live rooms compose on the main thread (npm run setup builds it)");
      }
      const inline = new InlineFrames(init, onReport, () => undefined);
      inline.room.tap = this.#options.frameTap;
      frames = inline;
    }
    for (const { command, transfer } of this.#pending) frames.command(command, transfer);
    this.#pending = [];
    return frames;
  }

  /** What the room's frames say, in order (on a worker: as messages, after the frames they happened on). */
  #onReport(report: FrameReport) {
    switch (report.type) {
      case "utterance":
        if (report.state !== "started") {
          this.#ledger.ended(report.utteranceId);
          this.#neverShown([report.utteranceId]);
        }
        this.#emit(report);
        if (this.#options.reportEncoded && report.videoPtsNs !== undefined) {
          this.#followEncode(report.utteranceId, report.videoPtsNs);
        }
        return;
      case "avatar":
        if (this.#nextAvatar?.frames.dir === report.avatarDir) this.#avatar = this.#nextAvatar;
        this.#nextAvatar = undefined;
        this.#metrics.avatarSwitches.inc();
        this.#emit(report);
        this.#log.info({ avatar: report.avatarDir, frame: report.frame }, "avatar switched");
        return;
      case "overlay":
        if (report.visible) {
          this.#visible.add(report.overlayId);
          this.#showOn.delete(report.overlayId);
          this.#showing.delete(report.overlayId);
          this.#gone.delete(report.overlayId);
        } else {
          this.#visible.delete(report.overlayId);
          // Gone, unless it was scheduled again since (its show still to come).
          if (this.#overlayIds.has(report.overlayId) && !this.#showing.has(report.overlayId)) {
            this.#gone.add(report.overlayId);
          }
        }
        this.#emit({ type: "overlay", overlayId: report.overlayId, visible: report.visible });
        return;
      case "frame_error":
        this.#onFrameError(report);
        return;
      case "refused":
        this.#log.warn({ command: report.command, error: report.error }, "media command refused by the frames");
        return;
      case "quality":
        this.#quality = report.snapshot;
        if (!this.#stopping) qualityMetrics(this.#options.registry).update(this.#options.roomId, report.snapshot);
        return;
    }
  }

  #quality: QualitySnapshot | undefined;

  /** The live quality gate's last view of the output: the last minute and since start (live rooms only). */
  quality(): QualitySnapshot | undefined {
    return this.#quality;
  }

  /** Tells the graph's user; what its handler throws is theirs to fix, and ends nothing here. */
  #emit(event: MediaEvent) {
    try {
      this.#options.onEvent?.(event);
    } catch (err) {
      this.#log.error({ err, event: event.type }, "media event handler failed");
    }
  }

  /**
   * One room's frame failed. It is counted, and said once per run of failures; after a second of failures in a row
   * the graph stops its output and says why (its frames stop being made), so a bug in one room ends that room's
   * stream, never its host nor the other rooms of its compose worker.
   */
  #onFrameError(report: { error: string; frame: number; run: number }) {
    const { error, frame } = report;
    this.#metrics.frameErrors.inc();
    if (report.run === 1) {
      this.#log.error({ error, frame }, "media frame failed; going on with the next frame");
      this.#emit({ type: "frame_failed", error, frame });
    }
    if (report.run < this.config.fps || this.#stopping) return;
    this.#log.error({ error, frame, failures: report.run }, "media frames keep failing; stopping the output");
    this.#emit({ type: "failed", error, frame });
    this.stop().catch((stopErr: unknown) => this.#log.error({ err: stopErr }, "media graph stop failed"));
  }

  async #renderOffline(seconds: number) {
    const frames = this.#frames as InlineFrames;
    try {
      await frames.render(Math.round(seconds * this.config.fps), this.#drain);
      await this.stop();
    } catch (err) {
      this.#rejectDone(err as Error);
    }
  }

  /** Brings the frames' counters into the metrics (see metrics.ts frameSources). */
  readonly #drain = () => {
    const status = this.#frames?.status;
    if (!status) return;
    const now = status.counts();
    const last = this.#counted;
    this.#counted = now;
    const m = this.#metrics;
    const add = (counter: { inc(n: number): void }, key: keyof FrameCounts) => {
      const n = now[key] - (last?.[key] ?? 0);
      if (n > 0) counter.inc(n);
    };
    add({ inc: (n) => m.frames.inc({ kind: "speech" }, n) }, "speech");
    add({ inc: (n) => m.frames.inc({ kind: "idle" }, n) }, "idle");
    add({ inc: (n) => m.idleFrames.inc({ reason: "silence" }, n) }, "idleSilence");
    add({ inc: (n) => m.idleFrames.inc({ reason: "speech_late" }, n) }, "idleSpeechLate");
    add({ inc: (n) => m.idleFrames.inc({ reason: "animation_late" }, n) }, "idleAnimationLate");
    add({ inc: (n) => m.droppedFrames.inc({ reason: "encoder_behind" }, n) }, "droppedEncoderBehind");
    add({ inc: (n) => m.droppedFrames.inc({ reason: "rebuilding" }, n) }, "droppedRebuilding");
    add({ inc: (n) => m.droppedFrames.inc({ reason: "animation_late" }, n) }, "droppedAnimationLate");
    add({ inc: (n) => m.droppedFrames.inc({ reason: "not_held" }, n) }, "withheld");
    add(m.lateFrames, "late");
    for (const seconds of status.composeTimes()) m.composeSeconds.observe(seconds);
  };

  #reportStats() {
    this.#drain();
    const counts = this.#counted;
    if (!counts) return;
    const framesThisSecond = counts.framesOut - this.#framesOutMark;
    this.#framesOutMark = counts.framesOut;
    const cpu = process.cpuUsage(this.#cpuMark);
    this.#cpuMark = process.cpuUsage();
    this.#metrics.outputFps.set(framesThisSecond);
    if (framesThisSecond > 0) this.#metrics.cpuPerFrame.set((cpu.user + cpu.system) / 1e6 / framesThisSecond);
    const relayed = this.#relay?.take();
    if (relayed && this.#rtmp.length > 0) this.#metrics.bitrate.set(relayed.bytes * 8);
    if (relayed?.skipped) this.#metrics.droppedFrames.inc({ reason: "rtmp_behind" }, relayed.skipped);
    for (const ms of this.#encoderClock?.takeEncodeTimes() ?? []) this.#metrics.encodeSeconds.observe(ms / 1000);
    this.#metrics.avOffset.set(
      counts.pushedAudioSamples / outputSampleRate - counts.pushedVideoFrames / this.config.fps,
    );
  }
}

/**
 * Tests: the room's next `frames` frames fail while being made (where they are made, on a compose worker or on the
 * graph's thread), as a bug in its picture would; see the frame-fault guard (#onFrameError).
 */
export function injectFrameFault(graph: RoomMediaGraph, frames: number): void {
  graph[injectFault](frames);
}

/** Tests: every element in the room's main pipeline at any depth, by name (WebRTC viewers' bins are whep_<n>). */
export function webrtcElementNames(graph: RoomMediaGraph): string[] {
  return graph[webrtcElements]();
}
