// RoomMediaGraph: one live room's output. JavaScript drives one clock (see clock.ts) and composes each frame (the
// avatar's idle loop, the lip-sync mouth, overlays) in I420; GStreamer encodes (x264, or nvh264enc when present) and
// muxes to the room's outputs: HLS (hlssink2), segmented MP4 (splitmuxsink) and RTMP pushes (FLV tags handed to
// separate push pipelines, see rtmp.ts). Audio and video are pushed together, one frame at a time, with timestamps
// from the same frame counter, so the outputs cannot drift. A GStreamer error rebuilds the main pipeline and the
// clock goes on; an RTMP ingest failure only restarts that push.
import { mkdir, stat } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { loadAvatarPack, type AvatarPack } from "../avatars/index.js";
import { rootLogger, tracer, type Logger, type Registry } from "../observability/index.js";
import type { OutputConfig } from "../proto/index.js";
import { InvalidArgumentError, ResourceExhaustedError } from "../errors/index.js";
import { EncoderUnavailableError, GraphStartedError } from "./errors.js";
import {
  MediaClock,
  type Cue,
  type FrameTick,
  type MouthFrameInput,
  type MouthPatch,
  type SpeechChunk,
} from "./clock.js";
import { compileOutputConfig, outputSampleRate, type CompiledOutput } from "./config.js";
import {
  collectBuffers,
  createPipeline,
  findAppSink,
  findAppSrc,
  hasElement,
  ptsBuffer,
  queuedBytes,
  releasable,
  watchBus,
  type GstAppSrc,
  type GstElement,
  type GstPipeline,
  type WatchedBus,
} from "./gst.js";
import { mediaMetrics, type MediaMetrics } from "./metrics.js";
import { overlayPose, renderOverlay, type OverlaySpec, type RenderedOverlay } from "./overlays.js";
import { blendInto, i420Size, resizeRgba, rgbaToYuva, type Yuva } from "./picture.js";
import { RtmpPush, type RtmpState } from "./rtmp.js";
import { HlsPlaylist } from "./hls-playlist.js";

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
   * "realtime" (default): frames leave at the wall clock's pace, for live rooms. `{ renderSeconds }`: render that much
   * stream as fast as the encoder goes, then end (previews, tests, benchmarks); `done` resolves when it is written.
   */
  pace?: "realtime" | { renderSeconds: number };
  /** Audio an utterance needs queued before it starts (jitter buffer); default 100 ms. */
  startBufferMs?: number;
  /** Frames an utterance may wait for its first mouth frame before it starts; default 0 (see MediaClock). */
  mouthWaitFrames?: number;
  /** Output status changes (RTMP connected / reconnecting, pipeline rebuilt). */
  onEvent?: (event: MediaEvent) => void;
  /**
   * Sees every composed frame (I420, reused for the next frame: copy what you keep) just before it goes to the
   * encoder: benchmarks encode exactly these frames with a plain pipeline to compare.
   */
  frameTap?: (i420: Uint8Array, frame: number) => void;
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
  /** An utterance's first sample went to the encoder on `frame` (its last, for "ended"). */
  | { type: "utterance"; utteranceId: string; state: "started" | "ended"; frame: number };

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

interface OverlayState {
  rendered: RenderedOverlay;
  shownAt?: number;
  hideAt?: number;
  /** Hidden while not showing yet: a show cue still to come is ignored. */
  hidden?: boolean;
}

/** An avatar pack ready to compose at this graph's frame size (see RoomMediaGraph.loadAvatar). */
export interface LoadedAvatar {
  readonly dir: string;
  readonly pack: AvatarPack;
  readonly baseFrames: Buffer[];
  /** Pack coordinates to frame coordinates. */
  readonly mouthTransform: { scale: number; dx: number; dy: number };
  readonly restMouth: Yuva;
}

/** A mouth patch (pack coordinates, RGBA) as YUVA at the frame's scale. */
function toFrameYuva(patch: MouthPatch, scale: number): Yuva {
  if (scale === 1) return rgbaToYuva(patch.rgba, patch.width, patch.height);
  const w = Math.max(1, Math.round(patch.width * scale));
  const h = Math.max(1, Math.round(patch.height * scale));
  return rgbaToYuva(resizeRgba(patch.rgba, patch.width, patch.height, w, h), w, h);
}

/** Frames (raw I420) queued towards the encoder, at most; beyond, a live room drops frames instead of growing. */
const maxQueuedFrames = 8;
const maxOverlays = 32;
/** Live pacing keeps this many frames ahead of the wall clock. */
const leadFrames = 2;

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
 * avenc_aac (ffmpeg's AAC encoder) starts its output with 1024 samples of encoder delay that MPEG-TS and MP4 players
 * play as sound: the video is stamped that much later, so picture and sound line up on content, not just on paper.
 */
const aacEncoderDelayNs = (1024 / outputSampleRate) * 1e9;

const stamp = () => new Date().toISOString().replace(/[-:]/g, "").replace(/\..*/, "");

export class RoomMediaGraph implements AsyncDisposable {
  readonly roomId: string;
  #config: CompiledOutput;
  readonly #options: RoomMediaGraphOptions;
  readonly #log: Logger;
  readonly #metrics: MediaMetrics;
  readonly #clock: MediaClock;
  readonly #encoder: "x264enc" | "nvh264enc";
  readonly #recordingPrefix = `rec-${stamp()}-`;
  #avatar: LoadedAvatar | undefined;
  /** An avatar waiting to take over once the utterances animated for the current one have played. */
  #nextAvatar: { avatar: LoadedAvatar; waitFor: string[]; deadline: number } | undefined;
  #frame: Buffer = Buffer.alloc(0);
  #overlays = new Map<string, OverlayState>();
  #video: GstAppSrc | undefined;
  #audio: GstAppSrc | undefined;
  #generation = 0;
  /** Clock frame at which the current pipeline started: its timestamps count from there. */
  #generationStart = 0;
  #hlsSegments = 0;
  /** The public HLS playlist, continued across pipeline rebuilds. */
  #hls: HlsPlaylist | undefined;
  #recordingSegments = 0;
  #rtmp: { label: string; push: RtmpPush }[] = [];
  #flvHeader: Buffer[] = [];
  #rebuilds = 0;
  #recentFailures = 0;
  #rebuilding = false;
  #stopping = false;
  #started = false;
  /** The main pipeline's bus, through which it is stopped. */
  #bus: WatchedBus | undefined;
  #ticker: NodeJS.Timeout | undefined;
  /** Frames in a row that failed to be made (see #onFrameError). */
  #failedFrames = 0;
  /** Lets go of the pending FLV pull's callback, which the binding would otherwise keep (and this graph with it). */
  #releaseFlvPull: (() => void) | undefined;
  #stats: NodeJS.Timeout | undefined;
  #wallStart = 0;
  #pushedAudioSamples = 0;
  #pushedVideoFrames = 0;
  #framesThisSecond = 0;
  #bytesThisSecond = 0;
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
    this.#clock = new MediaClock({
      fps: this.config.fps,
      samplesPerFrame: this.config.samplesPerFrame,
      ...(options.startBufferMs !== undefined ? { startBufferMs: options.startBufferMs } : {}),
      mouthWaitFrames: options.mouthWaitFrames ?? 0,
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

  get hlsPlaylist(): string | undefined {
    return this.config.hls ? join(this.#options.outputDir, "hls", "index.m3u8") : undefined;
  }

  get recordingDir(): string | undefined {
    return this.config.recording ? join(this.#options.outputDir, this.config.recording.path) : undefined;
  }

  /** Loads the avatar, opens every output and starts the clock. `signal` stops the graph (like stop()). */
  async start(signal?: AbortSignal): Promise<void> {
    if (this.#started) throw new GraphStartedError();
    this.#started = true;
    await tracer("media").startActiveSpan("media.start", async (span) => {
      try {
        span.setAttribute("livehost.room_id", this.roomId);
        span.setAttribute("livehost.media.encoder", this.#encoder);
        signal?.throwIfAborted();
        this.#avatar = await this.loadAvatar(this.#options.avatarDir);
        this.#frame = Buffer.alloc(i420Size(this.config.width, this.config.height));
        await this.#openHls();
        if (this.recordingDir) await mkdir(this.recordingDir, { recursive: true });
        const keys = await this.#streamKeys(this.config);
        this.#buildPipeline();
        this.#rtmp = this.#rtmpPushes(this.config, keys);
      } catch (err) {
        void this.#bus?.stop();
        this.#stopping = true;
        span.recordException(err as Error);
        throw err;
      } finally {
        span.end();
      }
    });
    signal?.addEventListener("abort", () => void this.stop(), { once: true });
    this.#wallStart = performance.now();
    this.#stats = setInterval(() => this.#reportStats(), 1000);
    this.#stats.unref();
    this.#log.info({ encoder: this.#encoder, ...this.#summary() }, "media graph started");
    if (this.#options.pace === undefined || this.#options.pace === "realtime") this.#tickRealtime();
    else void this.#renderOffline(this.#options.pace.renderSeconds);
  }

  /** Queues speech on the clock (see SpeechChunk). Throws InvalidArgumentError / ResourceExhaustedError. */
  pushSpeech(chunk: SpeechChunk): void {
    this.#clock.pushSpeech(chunk);
  }

  /** Queues a lip-sync mouth frame; one that arrives after its frame was shown is dropped (and counted). */
  pushMouthFrame(frame: MouthFrameInput): void {
    const patch = frame.patch;
    if (!patch || patch.rgba.byteLength !== patch.width * patch.height * 4 || patch.width < 1 || patch.height < 1) {
      throw new InvalidArgumentError("frame.patch", "must be width * height * 4 bytes of RGBA");
    }
    const before = this.#clock.counters.mouthFramesLate;
    this.#clock.pushMouthFrame(frame);
    if (this.#clock.counters.mouthFramesLate > before) this.#metrics.droppedFrames.inc({ reason: "animation_late" });
  }

  /**
   * Renders an overlay and shows it at `cue` (a word's start on its utterance's clock, or now), for its duration
   * or until hidden. A bad spec (missing image, empty title) throws InvalidArgumentError naming the field.
   */
  async scheduleOverlay(spec: OverlaySpec, cue: Cue = { now: true }): Promise<void> {
    if (!this.#overlays.has(spec.id) && this.#overlays.size >= maxOverlays) {
      throw new ResourceExhaustedError(`at most ${maxOverlays} overlays per room`);
    }
    const rendered = await renderOverlay(spec, this.config.width, this.config.height);
    const existing = this.#overlays.get(spec.id);
    if (existing) {
      existing.rendered = rendered;
      existing.hidden = false;
    } else this.#overlays.set(spec.id, { rendered });
    this.#clock.cue(cue, { type: "show", overlayId: spec.id });
  }

  /** Re-renders overlays in place (e.g. a new price); visible ones keep their timing. */
  async updateOverlays(specs: OverlaySpec[]): Promise<void> {
    const added = new Set(specs.map((s) => s.id).filter((id) => !this.#overlays.has(id)));
    if (this.#overlays.size + added.size > maxOverlays) {
      throw new ResourceExhaustedError(`at most ${maxOverlays} overlays per room`);
    }
    const rendered = await Promise.all(
      specs.map((spec, i) => renderOverlay(spec, this.config.width, this.config.height, `overlays[${i}]`)),
    );
    // All rendered, or none applied.
    for (const overlay of rendered) {
      const state = this.#overlays.get(overlay.spec.id);
      if (state) state.rendered = overlay;
      else this.#overlays.set(overlay.spec.id, { rendered: overlay });
    }
  }

  /** Hides an overlay at `cue` (with its leaving animation). */
  hideOverlay(id: string, cue: Cue = { now: true }): void {
    if (!this.#overlays.has(id)) throw new InvalidArgumentError("overlay.id", `no overlay ${id}`);
    this.#clock.cue(cue, { type: "hide", overlayId: id });
  }

  /** A viewer question cuts in: queued speech, mouth frames and cues go at once; the clock and overlays stay. */
  interrupt(): string[] {
    return this.#clock.interrupt();
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
    if (this.#flvHeader.length > 0) for (const { push } of this.#rtmp) push.start(this.#flvHeader);
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
        onState: (state, error) =>
          this.#options.onEvent?.({ type: "rtmp", output: label, state, ...(error ? { error } : {}) }),
      });
      return { label, push };
    });
  }

  status(): MediaStatus {
    return {
      frame: this.#clock.frame,
      streamSeconds: this.#clock.frame / this.config.fps,
      encoder: this.#encoder,
      speaking: this.#clock.current,
      queuedSpeechSeconds: this.#clock.queuedSeconds,
      overlaysVisible: [...this.#overlays].filter(([, s]) => s.shownAt !== undefined).map(([id]) => id),
      rtmp: this.#rtmp.map(({ label, push }) => ({ output: label, state: push.state })),
      rebuilds: this.#rebuilds,
    };
  }

  /** Ends the stream cleanly: the outputs are finalized (MP4 index, HLS end of playlist), then every pipeline stops. */
  async stop(): Promise<void> {
    if (this.#stopping) return this.#done;
    this.#stopping = true;
    clearTimeout(this.#ticker);
    clearInterval(this.#stats);
    this.#releaseFlvPull?.();
    // End-of-stream first, so the last segments and recordings are complete; stopped from the bus (see watchBus).
    await this.#bus?.stop(10_000);
    await this.#hls?.end(this.#generation).catch((err: unknown) => this.#log.warn({ err }, "HLS playlist not ended"));
    for (const { push } of this.#rtmp) push.stop();
    this.#log.info({ frames: this.#clock.frame, rebuilds: this.#rebuilds }, "media graph stopped");
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
    const pack = await loadAvatarPack(avatarDir).catch((err: unknown) => {
      throw new InvalidArgumentError("avatarDir", err instanceof Error ? err.message : String(err), { cause: err });
    });
    const { width, height } = this.config;
    const m = pack.manifest;
    const maxFrames = Math.max(1, Math.ceil(m.fps * 10));
    const frames = await collectBuffers(
      `filesrc name=file ! decodebin ! videoconvert ! videoscale add-borders=true ! ` +
        `video/x-raw,format=I420,width=${width},height=${height},pixel-aspect-ratio=1/1,colorimetry=bt709 ! appsink name=out sync=false`,
      {
        limit: maxFrames,
        configure: (p) => ((p.findChild("file") as GstElement).location = join(pack.dir, m.base.video)),
      },
    ).catch((err: unknown) => {
      throw new InvalidArgumentError("avatarDir", `${m.base.video}: ${(err as Error).message}`, { cause: err });
    });
    if (frames.length === 0) throw new InvalidArgumentError("avatarDir", `${m.base.video} has no video frames`);
    // Idle loops repeat themselves: identical frames share one buffer.
    const baseFrames = frames.map((frame, i) => (i > 0 && frame.equals(frames[i - 1]!) ? frames[i - 1]! : frame));
    for (let i = 1; i < baseFrames.length; i++) {
      if (baseFrames[i]!.equals(baseFrames[i - 1]!)) baseFrames[i] = baseFrames[i - 1]!;
    }
    const scale = Math.min(width / m.width, height / m.height);
    const mouthTransform = { scale, dx: (width - m.width * scale) / 2, dy: (height - m.height * scale) / 2 };
    const restMouth = toFrameYuva({ ...m.mouth, rgba: pack.mouthImage(0) }, scale);
    return { dir: avatarDir, pack, baseFrames, mouthTransform, restMouth };
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
    const waitFor = [...this.#clock.queuedIds, ...(options.after ?? [])];
    this.#nextAvatar = { avatar, waitFor, deadline: this.#clock.frame + 15 * this.config.fps };
    this.#log.info({ avatar: avatar.dir, waitingFor: waitFor.length }, "avatar switch armed");
  }

  /** Switches the avatar once the new pack is loaded (loadAvatar, then switchAvatar after what is queued now). */
  async setAvatar(avatarDir: string): Promise<void> {
    this.switchAvatar(await this.loadAvatar(avatarDir));
  }

  get avatarDir(): string | undefined {
    return this.#avatar?.dir;
  }

  #maybeSwitchAvatar() {
    const next = this.#nextAvatar;
    if (!next) return;
    const frame = this.#clock.frame;
    if (frame < next.deadline && !next.waitFor.every((id) => this.#clock.hasEnded(id))) return;
    this.#avatar = next.avatar;
    this.#nextAvatar = undefined;
    this.#metrics.avatarSwitches.inc();
    this.#options.onEvent?.({ type: "avatar", avatarDir: next.avatar.dir, frame });
    this.#log.info({ avatar: next.avatar.dir, frame }, "avatar switched");
  }

  #pipelineDescription(): string {
    const c = this.config;
    const videoCaps =
      `video/x-raw,format=I420,width=${c.width},height=${c.height},framerate=${c.fps}/1,` +
      "pixel-aspect-ratio=1/1,colorimetry=bt709,interlace-mode=progressive";
    const encoder =
      this.#encoder === "nvh264enc"
        ? `nvh264enc bitrate=${c.videoKbps} gop-size=${c.keyframeInterval} rc-mode=cbr zerolatency=true bframes=0`
        : `x264enc speed-preset=${this.#options.x264Preset ?? "veryfast"} tune=zerolatency bitrate=${c.videoKbps} ` +
          `key-int-max=${c.keyframeInterval}`;
    const parts = [
      `appsrc name=video format=time max-bytes=0 caps="${videoCaps}" ! queue max-size-buffers=2 max-size-bytes=0 ` +
        `max-size-time=0 ! ${encoder} ! video/x-h264,profile=main ! tee name=vt`,
      `appsrc name=audio format=time max-bytes=0 caps="audio/x-raw,format=S16LE,layout=interleaved,rate=${outputSampleRate},channels=1" ` +
        `! audioconvert ! avenc_aac bitrate=${c.audioKbps * 1000} ! aacparse ! tee name=at`,
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
          "appsink name=flvtap sync=false max-buffers=0 wait-on-eos=false",
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
    if (this.#hls) this.#hls.configure(settings);
    else this.#hls = new HlsPlaylist(dir, settings);
  }

  #buildPipeline() {
    const generation = ++this.#generation;
    this.#generationStart = this.#clock.frame;
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
    this.#video = findAppSrc(pipeline, "video");
    this.#audio = findAppSrc(pipeline, "audio");
    pipeline.play();
    if (this.config.rtmp.length > 0) this.#pullFlv(pipeline, generation);
  }

  #pullFlv(pipeline: GstPipeline, generation: number) {
    const tap = findAppSink(pipeline, "flvtap");
    let announced = false;
    this.#releaseFlvPull?.();
    const pull = releasable((tag: Buffer | null, caps: { streamheader?: Buffer[] }) => {
      if (generation !== this.#generation || !tag) return;
      if (!announced && caps?.streamheader) {
        announced = true;
        this.#flvHeader = caps.streamheader;
        for (const { push } of this.#rtmp) {
          if (generation === 1 && push.state === "connecting") push.start(this.#flvHeader);
          else push.restart(this.#flvHeader);
        }
      }
      this.#bytesThisSecond += tag.length;
      for (const { push } of this.#rtmp) push.feed(tag);
      tap.pull(pull.callback);
    });
    this.#releaseFlvPull = pull.release;
    tap.pull(pull.callback);
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
    this.#log.error({ error, frame: this.#clock.frame }, "media pipeline failed; rebuilding");
    this.#metrics.rebuilds.inc();
    this.#rebuilds++;
    this.#recentFailures++;
    setTimeout(() => this.#recentFailures--, 30_000).unref();
    this.#options.onEvent?.({ type: "rebuilt", error, frame: this.#clock.frame });
    this.#restartPipeline(error, Math.min(5_000, 50 * 2 ** (this.#recentFailures - 1)));
  }

  /** Stops the main pipeline and builds it again after `delayMs`; the clock runs on (frames meanwhile are dropped). */
  #restartPipeline(reason: string, delayMs = 0) {
    this.#rebuilding = true;
    void this.#bus?.stop();
    this.#video = undefined;
    this.#audio = undefined;
    const rebuild = async () => {
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

  #tickRealtime() {
    if (this.#stopping) return;
    const fps = this.config.fps;
    const due = Math.floor(((performance.now() - this.#wallStart) * fps) / 1000) + leadFrames;
    try {
      while (this.#clock.frame < due) {
        this.#produce(true);
        this.#failedFrames = 0;
      }
    } catch (err) {
      // A timer callback: an error left to escape would end the room host and every room on it.
      if (!this.#onFrameError(err)) return;
    }
    const nextAt = this.#wallStart + ((this.#clock.frame - leadFrames + 1) * 1000) / fps;
    this.#ticker = setTimeout(() => this.#tickRealtime(), Math.max(0, nextAt - performance.now()));
  }

  /**
   * One room's frame failed. It is counted, and said once per run of failures; after a second of failures in a row
   * the graph stops its output and says why (false: do not tick again), so a bug in one room ends that room's
   * stream, never its host.
   */
  #onFrameError(err: unknown): boolean {
    const error = err instanceof Error ? err.message : String(err);
    const frame = this.#clock.frame;
    this.#metrics.frameErrors.inc();
    this.#failedFrames++;
    if (this.#failedFrames === 1) {
      this.#log.error({ err, frame }, "media frame failed; going on with the next frame");
      this.#options.onEvent?.({ type: "frame_failed", error, frame });
    }
    if (this.#failedFrames < this.config.fps) return true;
    this.#log.error({ err, frame, failures: this.#failedFrames }, "media frames keep failing; stopping the output");
    this.#options.onEvent?.({ type: "failed", error, frame });
    this.stop().catch((stopErr: unknown) => this.#log.error({ err: stopErr }, "media graph stop failed"));
    return false;
  }

  async #renderOffline(seconds: number) {
    const total = Math.round(seconds * this.config.fps);
    const limit = maxQueuedFrames * this.#frame.length;
    try {
      let sinceYield = 0;
      while (this.#clock.frame < total && !this.#stopping) {
        if (this.#rebuilding || (this.#video && queuedBytes(this.#video) > limit)) {
          await sleep(2);
          continue;
        }
        this.#produce(false);
        if (++sinceYield >= 10) {
          sinceYield = 0;
          await new Promise((resolve) => setImmediate(resolve));
        }
      }
      await this.stop();
    } catch (err) {
      this.#rejectDone(err as Error);
    }
  }

  /** One frame: advance the clock, compose the picture, push picture and sound with the same timestamp. */
  #produce(live: boolean) {
    this.#maybeSwitchAvatar();
    const tick = this.#clock.next();
    for (const action of tick.actions) this.#applyAction(action, tick.index);
    const composeStarted = performance.now();
    this.#compose(tick);
    this.#metrics.composeSeconds.observe((performance.now() - composeStarted) / 1000);
    if (tick.idle) this.#metrics.idleFrames.inc({ reason: tick.idle });
    this.#metrics.frames.inc({ kind: tick.mouth ? "speech" : "idle" });

    const video = this.#video;
    const audio = this.#audio;
    if (!video || !audio) {
      this.#metrics.droppedFrames.inc({ reason: "rebuilding" });
      return;
    }
    const ns = ((tick.index - this.#generationStart) * 1e9) / this.config.fps;
    const pts = ptsBuffer(ns);
    if (live && queuedBytes(video) > maxQueuedFrames * this.#frame.length) {
      this.#metrics.droppedFrames.inc({ reason: "encoder_behind" });
    } else {
      this.#options.frameTap?.(this.#frame, tick.index);
      video.push(this.#frame, ptsBuffer(ns + aacEncoderDelayNs));
      this.#pushedVideoFrames = tick.index + 1;
      this.#framesThisSecond++;
    }
    audio.push(Buffer.from(tick.audio.buffer, tick.audio.byteOffset, tick.audio.byteLength), pts);
    this.#pushedAudioSamples = (tick.index + 1) * this.config.samplesPerFrame;
    const onEvent = this.#options.onEvent;
    if (tick.started) onEvent?.({ type: "utterance", utteranceId: tick.started, state: "started", frame: tick.index });
    for (const utteranceId of tick.ended)
      onEvent?.({ type: "utterance", utteranceId, state: "ended", frame: tick.index });
  }

  #applyAction(action: { type: "show" | "hide"; overlayId: string }, frame: number) {
    const state = this.#overlays.get(action.overlayId);
    if (!state) return;
    const transition = this.#transitionFrames(state.rendered);
    if (action.type === "show") {
      // Hidden before its show cue came: it stays hidden (until scheduled again).
      if (state.hidden) return;
      const visible = state.shownAt !== undefined && (state.hideAt === undefined || frame < state.hideAt);
      if (!visible) state.shownAt = frame;
      const duration = state.rendered.spec.durationMs ?? 0;
      state.hideAt =
        duration > 0 ? frame + Math.max(transition, Math.round((duration * this.config.fps) / 1000)) : undefined;
    } else if (state.shownAt !== undefined) {
      state.hideAt = Math.min(state.hideAt ?? Number.POSITIVE_INFINITY, frame);
    } else {
      state.hidden = true;
    }
  }

  #transitionFrames(overlay: RenderedOverlay) {
    return (overlay.spec.animation ?? "fade") === "none" ? 0 : Math.round(this.config.fps * 0.3);
  }

  #compose(tick: FrameTick) {
    const { width, height, fps } = this.config;
    const avatar = this.#avatar!;
    const packFps = avatar.pack.manifest.fps;
    const base = avatar.baseFrames[Math.floor((tick.index * packFps) / fps) % avatar.baseFrames.length]!;
    base.copy(this.#frame);
    const m = avatar.pack.manifest.mouth;
    const { scale, dx, dy } = avatar.mouthTransform;
    const mouth = tick.mouth;
    const mouthImage = mouth ? toFrameYuva(mouth, scale) : avatar.restMouth;
    const mx = mouth?.x ?? m.x;
    const my = mouth?.y ?? m.y;
    blendInto(this.#frame, width, height, mouthImage, dx + mx * scale, dy + my * scale);
    for (const [id, state] of this.#overlays) {
      if (state.shownAt === undefined || tick.index < state.shownAt) continue;
      const transition = this.#transitionFrames(state.rendered);
      const left = state.hideAt === undefined ? Number.POSITIVE_INFINITY : state.hideAt + transition - tick.index;
      if (left <= 0) {
        state.shownAt = undefined;
        state.hideAt = undefined;
        this.#overlays.set(id, state);
        continue;
      }
      const pose = overlayPose(state.rendered, tick.index - state.shownAt, left, transition);
      blendInto(this.#frame, width, height, state.rendered.image, pose.x, pose.y, pose.opacity);
    }
  }

  #reportStats() {
    const cpu = process.cpuUsage(this.#cpuMark);
    this.#cpuMark = process.cpuUsage();
    this.#metrics.outputFps.set(this.#framesThisSecond);
    if (this.#framesThisSecond > 0)
      this.#metrics.cpuPerFrame.set((cpu.user + cpu.system) / 1e6 / this.#framesThisSecond);
    if (this.#rtmp.length > 0) this.#metrics.bitrate.set(this.#bytesThisSecond * 8);
    this.#metrics.avOffset.set(this.#pushedAudioSamples / outputSampleRate - this.#pushedVideoFrames / this.config.fps);
    this.#framesThisSecond = 0;
    this.#bytesThisSecond = 0;
  }
}
