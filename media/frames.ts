// One room's frames: its clock (see clock.ts), its picture (the avatar's idle loop, the lip-sync mouth, overlays,
// composed in I420) and the push of each frame's picture and sound to the encoder, with timestamps from the same
// frame counter. It runs on a compose worker (compose-worker.ts) for a live room, or on the graph's own thread for
// offline renders; RoomMediaGraph drives it with commands either way and hears back through reports and a shared
// status block (frame counters a thread can read without a message). Nothing here touches GStreamer's binding: the
// sink it pushes into is handed in.
import {
  MediaClock,
  type ClockAction,
  type Cue,
  type FrameTick,
  type MouthFrameInput,
  type MouthPatch,
} from "./clock.js";
import { outputSampleRate } from "./config.js";
import { overlayPose, type RenderedOverlay } from "./overlays.js";
import { blendInto, copyFrame, resizeRgba, rgbaToYuva, type Yuva } from "./picture.js";
import { QualityMonitor, type QualitySnapshot } from "./quality-monitor.js";
import type { Rect } from "./quality.js";

/** Where a room's frames go: the encoder's two appsrc, stamped in nanoseconds of the current pipeline. */
export interface FrameSink {
  video(i420: Uint8Array, ptsNs: number): void;
  audio(pcm: Int16Array, ptsNs: number): void;
  /** Bytes of raw video waiting in front of the encoder. */
  queuedVideoBytes(): number;
  /** Lets go of the appsrc (the holder of the sink is done pushing). */
  release(): void;
}

/** An avatar pack's idle loop at the output size, in a form any thread can hold (frames in shared memory). */
export interface AvatarFrames {
  dir: string;
  /** The pack's frame rate: the loop plays at it whatever the output's fps. */
  fps: number;
  /** Distinct frames, back to back (frameBytes each). */
  frames: SharedArrayBuffer;
  frameBytes: number;
  /** Loop position -> index of its frame in `frames` (idle loops repeat themselves: identical frames share one). */
  loop: number[];
  /** The pack's mouth box (pack coordinates) and pack -> frame coordinates. */
  mouth: { x: number; y: number };
  transform: { scale: number; dx: number; dy: number };
  restMouth: Yuva;
}

export interface FramesInit {
  roomId: string;
  fps: number;
  samplesPerFrame: number;
  width: number;
  height: number;
  startBufferMs?: number;
  mouthWaitFrames: number;
  avatar: AvatarFrames;
  /** The status block (see FrameStatus), written here and read by the graph. */
  status: SharedArrayBuffer;
  /** See RoomMediaGraphOptions.outputGate. */
  outputGate?: SharedArrayBuffer;
}

/** What the graph tells a room's frames; each carries a sequence number (see FrameStatus.appliedSeq). */
export type FrameCommand = { seq: number } & (
  | { type: "speech"; utteranceId: string; pcm: Int16Array; sampleRateHz: number; final: boolean }
  | { type: "mouth"; frame: MouthFrameInput }
  | { type: "cue"; cue: Cue; action: ClockAction }
  | { type: "interrupt" }
  /** Scheduled (again): replaces the overlay's picture and lifts a hide made before it showed. */
  | { type: "overlay"; overlay: RenderedOverlay }
  /** Re-rendered in place: visible ones keep their timing. */
  | { type: "overlays"; overlays: RenderedOverlay[] }
  /** Gone for good (shown, hidden, and its id needed for another): its picture is let go. */
  | { type: "drop"; overlayId: string }
  | { type: "switch"; avatar: AvatarFrames; waitFor: string[]; withinFrames: number }
  /** Tests: the next `frames` frames fail while being made (see injectFrameFault). */
  | { type: "fault"; frames: number }
);

/**
 * An utterance on the output: "started" on the frame that carries its first sample, "ended" on the frame with its
 * last, "interrupted" when it was dropped (`playedMs` 0: never heard). `frame` is on the stream clock (frame * 1000 /
 * fps is its stream time); `outputUnixMs` is the wall time its frame went to the encoder (the interrupt, for
 * "interrupted"). One start at most and exactly one end (or interruption) per utterance the clock took.
 */
export interface UtteranceReport {
  type: "utterance";
  utteranceId: string;
  state: "started" | "ended" | "interrupted";
  frame: number;
  playedMs: number;
  outputUnixMs: number;
  /** "started": the timestamp its frame was given in the current encoder's pipeline (when it was pushed there). */
  videoPtsNs?: number;
}

/** What a room's frames tell the graph (in order, after the frame they happened on). */
export type FrameReport =
  | UtteranceReport
  | { type: "avatar"; avatarDir: string; frame: number }
  | { type: "overlay"; overlayId: string; visible: boolean }
  /** The live quality gate's view of the output (about once a second; live rooms only). */
  | { type: "quality"; snapshot: QualitySnapshot }
  /** A frame failed to be made; `run` counts the failures in a row (the room gives up at fps of them). */
  | { type: "frame_error"; error: string; frame: number; run: number }
  /** A command could not be applied (the graph checks them first: this is a bug, said and counted). */
  | { type: "refused"; command: string; error: string };

/** Raw frames queued in front of the encoder, at most; beyond, a live room drops frames instead of growing. */
export const maxQueuedFrames = 8;
/** Live pacing keeps this many frames ahead of the wall clock. */
export const leadFrames = 2;

/**
 * avenc_aac (ffmpeg's AAC encoder) starts its output with 1024 samples of encoder delay that MPEG-TS and MP4 players
 * play as sound: the video is stamped that much later, so picture and sound line up on content, not just on paper.
 */
const aacEncoderDelayNs = (1024 / outputSampleRate) * 1e9;

const slot = {
  frame: 0,
  queuedSamples: 1,
  appliedSeq: 2,
  pushedVideoFrames: 3,
  pushedAudioSamples: 4,
  framesOut: 5,
  speech: 6,
  idle: 7,
  idleSilence: 8,
  idleSpeechLate: 9,
  idleAnimationLate: 10,
  droppedEncoderBehind: 11,
  droppedRebuilding: 12,
  droppedAnimationLate: 13,
  late: 14,
  withheld: 15,
} as const;
const slots = 16;
/** Compose times kept for the reader (a ring): enough for 20 s of frames at 25 fps between two reads. */
const ringSize = 512;

/** Counters of one room's frames, cumulative, in one shared block: one thread writes them, another reads them. */
export type FrameCounts = Record<Exclude<keyof typeof slot, "frame" | "queuedSamples" | "appliedSeq">, number>;

/**
 * The status block: the frame counter, speech queued, the last command applied, the counters behind the metrics, and
 * a ring of compose times. One writer (the room's frames); any thread reads. Plain 64-bit slots (x86-64 and arm64
 * do not tear them); the ring's write count is an atomic, written after the entry, so a reader never sees an entry
 * before it is written.
 */
export class FrameStatus {
  readonly buffer: SharedArrayBuffer;
  readonly #values: Float64Array;
  readonly #ring: Float64Array;
  readonly #written: Int32Array;
  #read = 0;

  constructor(buffer = new SharedArrayBuffer(8 * (slots + ringSize) + 8)) {
    this.buffer = buffer;
    this.#values = new Float64Array(buffer, 0, slots);
    this.#ring = new Float64Array(buffer, 8 * slots, ringSize);
    this.#written = new Int32Array(buffer, 8 * (slots + ringSize), 1);
  }

  /** The next frame to be made (frames since the clock started). */
  get frame(): number {
    return this.#values[slot.frame]!;
  }

  /** Speech queued and not yet played, in 48 kHz samples, as of the last command applied. */
  get queuedSamples(): number {
    return this.#values[slot.queuedSamples]!;
  }

  get appliedSeq(): number {
    return this.#values[slot.appliedSeq]!;
  }

  counts(): FrameCounts {
    const v = this.#values;
    const counts = {} as FrameCounts;
    for (const [name, at] of Object.entries(slot)) {
      if (name !== "frame" && name !== "queuedSamples" && name !== "appliedSeq")
        counts[name as keyof FrameCounts] = v[at]!;
    }
    return counts;
  }

  /** Compose times (s) written since the last call; the oldest are lost past the ring's size. */
  composeTimes(): number[] {
    const written = Atomics.load(this.#written, 0);
    const from = Math.max(this.#read, written - ringSize);
    const times: number[] = [];
    for (let i = from; i < written; i++) times.push(this.#ring[i % ringSize]!);
    this.#read = written;
    return times;
  }

  // The writer's side.
  set(name: "frame" | "queuedSamples" | "appliedSeq" | "pushedVideoFrames" | "pushedAudioSamples", value: number) {
    this.#values[slot[name]] = value;
  }

  add(name: keyof typeof slot, n = 1) {
    this.#values[slot[name]]! += n;
  }

  composed(seconds: number) {
    const written = Atomics.load(this.#written, 0);
    this.#ring[written % ringSize] = seconds;
    Atomics.store(this.#written, 0, written + 1);
  }
}

interface OverlayState {
  rendered: RenderedOverlay;
  shownAt?: number;
  hideAt?: number;
  /** Hidden while not showing yet: a show cue still to come is ignored. */
  hidden?: boolean;
}

interface Avatar {
  source: AvatarFrames;
  /** Buffers, not plain views: Buffer#copy out of shared memory is a memmove, TypedArray#set a slower atomic copy. */
  frames: Buffer[];
}

function avatarOf(source: AvatarFrames): Avatar {
  const distinct = Math.max(0, ...source.loop) + 1;
  const frames = Array.from({ length: distinct }, (_, i) =>
    Buffer.from(source.frames, i * source.frameBytes, source.frameBytes),
  );
  return { source, frames };
}

/** A mouth patch (pack coordinates, RGBA) as YUVA at the frame's scale. */
export function toFrameYuva(patch: MouthPatch, scale: number): Yuva {
  if (scale === 1) return rgbaToYuva(patch.rgba, patch.width, patch.height);
  const w = Math.max(1, Math.round(patch.width * scale));
  const h = Math.max(1, Math.round(patch.height * scale));
  return rgbaToYuva(resizeRgba(patch.rgba, patch.width, patch.height, w, h), w, h);
}

export class RoomFrames {
  readonly roomId: string;
  readonly fps: number;
  readonly status: FrameStatus;
  readonly #init: FramesInit;
  readonly #clock: MediaClock;
  readonly #report: (report: FrameReport) => void;
  readonly #frame: Buffer;
  readonly #gate: Float64Array | undefined;
  #avatar: Avatar;
  #nextAvatar: { avatar: Avatar; waitFor: string[]; deadline: number } | undefined;
  #overlays = new Map<string, OverlayState>();
  #sink: FrameSink | undefined;
  /** Clock frame at which the current pipeline started: its timestamps count from there. */
  #generationStart = 0;
  #failedFrames = 0;
  #faults = 0;
  /** The live quality gate, fed every frame that goes out (see quality-monitor.ts). */
  readonly #quality: QualityMonitor;
  /** Where the mouth was drawn on the frame being made. */
  #mouthRect: Rect = { x: 0, y: 0, width: 0, height: 0 };
  /** Sees every frame just before it goes to the encoder (the graph's frameTap; on the graph's own thread only). */
  tap: ((i420: Uint8Array, frame: number) => void) | undefined;

  constructor(init: FramesInit, report: (report: FrameReport) => void) {
    this.#init = init;
    this.roomId = init.roomId;
    this.fps = init.fps;
    this.status = new FrameStatus(init.status);
    this.#report = report;
    this.#clock = new MediaClock({
      fps: init.fps,
      samplesPerFrame: init.samplesPerFrame,
      ...(init.startBufferMs !== undefined ? { startBufferMs: init.startBufferMs } : {}),
      mouthWaitFrames: init.mouthWaitFrames,
    });
    this.#avatar = avatarOf(init.avatar);
    this.#frame = Buffer.alloc(init.avatar.frameBytes);
    this.#quality = new QualityMonitor({ width: init.width, height: init.height, fps: init.fps });
    this.#gate = init.outputGate && new Float64Array(init.outputGate);
  }

  get frame(): number {
    return this.#clock.frame;
  }

  /** Bytes of one raw video frame. */
  get frameBytes(): number {
    return this.#frame.byteLength;
  }

  get attached(): boolean {
    return this.#sink !== undefined;
  }

  /** The encoder of a new pipeline: its timestamps start from the next frame. */
  attach(sink: FrameSink): void {
    this.#sink?.release();
    this.#sink = sink;
    this.#generationStart = this.#clock.frame;
  }

  /** No encoder until the next attach: frames made meanwhile are counted as dropped (rebuilding). */
  detach(): void {
    this.#sink?.release();
    this.#sink = undefined;
  }

  apply(command: FrameCommand): void {
    try {
      this.#apply(command);
    } catch (err) {
      this.#report({ type: "refused", command: command.type, error: err instanceof Error ? err.message : String(err) });
    } finally {
      this.status.set("appliedSeq", command.seq);
      this.status.set("queuedSamples", this.#clock.queuedSeconds * outputSampleRate);
    }
  }

  #apply(command: FrameCommand) {
    switch (command.type) {
      case "speech":
        this.#clock.pushSpeech(command);
        return;
      case "mouth": {
        const before = this.#clock.counters.mouthFramesLate;
        this.#clock.pushMouthFrame(command.frame);
        if (this.#clock.counters.mouthFramesLate > before) this.status.add("droppedAnimationLate");
        return;
      }
      case "cue":
        this.#clock.cue(command.cue, command.action);
        return;
      case "interrupt": {
        const frame = this.#clock.frame;
        for (const { id, samples } of this.#clock.interrupt()) {
          this.#report({
            type: "utterance",
            utteranceId: id,
            state: "interrupted",
            frame,
            playedMs: (samples * 1000) / outputSampleRate,
            outputUnixMs: Date.now(),
          });
        }
        return;
      }
      case "overlay": {
        const existing = this.#overlays.get(command.overlay.spec.id);
        if (existing) {
          existing.rendered = command.overlay;
          existing.hidden = false;
        } else this.#overlays.set(command.overlay.spec.id, { rendered: command.overlay });
        return;
      }
      case "overlays":
        for (const overlay of command.overlays) {
          const state = this.#overlays.get(overlay.spec.id);
          if (state) state.rendered = overlay;
          else this.#overlays.set(overlay.spec.id, { rendered: overlay });
        }
        return;
      case "drop":
        this.#overlays.delete(command.overlayId);
        return;
      case "switch":
        this.#nextAvatar = {
          avatar: avatarOf(command.avatar),
          waitFor: command.waitFor,
          deadline: this.#clock.frame + command.withinFrames,
        };
        return;
      case "fault":
        this.#faults = command.frames;
        return;
    }
  }

  /**
   * Makes the next frame and pushes it. A failure is caught and reported (the stream goes on with the next frame);
   * false once frames have failed for a second in a row: the room is to stop, nothing else is touched.
   */
  produce(live: boolean, late = false): boolean {
    try {
      this.#produce(live, late);
      this.#failedFrames = 0;
      return true;
    } catch (err) {
      this.#failedFrames++;
      this.status.set("frame", this.#clock.frame);
      this.#report({
        type: "frame_error",
        error: err instanceof Error ? err.message : String(err),
        frame: this.#clock.frame - 1,
        run: this.#failedFrames,
      });
      return this.#failedFrames < this.fps;
    }
  }

  /** One frame: advance the clock, compose the picture, push picture and sound with the same timestamp. */
  #produce(live: boolean, late: boolean) {
    this.#maybeSwitchAvatar();
    const tick = this.#clock.next();
    const status = this.status;
    status.set("frame", this.#clock.frame);
    status.set("queuedSamples", this.#clock.queuedSeconds * outputSampleRate);
    for (const action of tick.actions) this.#applyAction(action, tick.index);
    const composeStarted = performance.now();
    this.#compose(tick);
    status.composed((performance.now() - composeStarted) / 1000);
    if (tick.idle === "silence") status.add("idleSilence");
    else if (tick.idle === "speech_late") status.add("idleSpeechLate");
    else if (tick.idle === "animation_late") status.add("idleAnimationLate");
    status.add(tick.mouth ? "speech" : "idle");

    const sink = this.#sink;
    let videoPtsNs: number | undefined;
    let pushedAt: number | undefined;
    if (!sink) {
      status.add("droppedRebuilding");
    } else if (this.#gate && Date.now() > this.#gate[0]!) {
      // This host may no longer hold the room (it was paused, another host may stream it now): nothing goes out.
      status.add("withheld");
    } else {
      const ns = ((tick.index - this.#generationStart) * 1e9) / this.fps;
      if (live && sink.queuedVideoBytes() > maxQueuedFrames * this.#frame.byteLength) {
        status.add("droppedEncoderBehind");
      } else {
        this.tap?.(this.#frame, tick.index);
        videoPtsNs = ns + aacEncoderDelayNs;
        sink.video(this.#frame, videoPtsNs);
        pushedAt = Date.now();
        status.set("pushedVideoFrames", tick.index + 1);
        status.add("framesOut");
        if (late) status.add("late");
        // What went out, as the quality gate sees it (a frame dropped here is a gap in its frame numbers).
        if (live) this.#quality.push(this.#frame, tick.audio, tick.index, this.#mouthRect);
      }
      sink.audio(tick.audio, ns);
      status.set("pushedAudioSamples", (tick.index + 1) * this.#init.samplesPerFrame);
    }
    // When the picture went to the encoder (the sound goes with it; the quality gate's look comes after).
    const outputUnixMs = pushedAt ?? Date.now();
    if (tick.started) {
      const utteranceId = tick.started;
      this.#report({
        type: "utterance",
        utteranceId,
        state: "started",
        frame: tick.index,
        playedMs: 0,
        outputUnixMs,
        ...(videoPtsNs !== undefined ? { videoPtsNs } : {}),
      });
    }
    for (const { id, samples } of tick.ended) {
      const playedMs = (samples * 1000) / outputSampleRate;
      this.#report({ type: "utterance", utteranceId: id, state: "ended", frame: tick.index, playedMs, outputUnixMs });
    }
    if (live && tick.index % this.fps === this.fps - 1) {
      this.#report({ type: "quality", snapshot: this.#quality.snapshot() });
    }
  }

  /** Bytes of raw video waiting in front of the encoder (0 with none attached). */
  queuedVideoBytes(): number {
    return this.#sink?.queuedVideoBytes() ?? 0;
  }

  /** Lets go of the encoder; nothing is pushed after this. */
  close(): void {
    this.detach();
  }

  #maybeSwitchAvatar() {
    const next = this.#nextAvatar;
    if (!next) return;
    const frame = this.#clock.frame;
    if (frame < next.deadline && !next.waitFor.every((id) => this.#clock.hasEnded(id))) return;
    this.#avatar = next.avatar;
    this.#nextAvatar = undefined;
    this.#report({ type: "avatar", avatarDir: next.avatar.source.dir, frame });
  }

  #applyAction(action: ClockAction, frame: number) {
    const state = this.#overlays.get(action.overlayId);
    if (!state) return;
    const transition = this.#transitionFrames(state.rendered);
    if (action.type === "show") {
      // Hidden before its show cue came: it stays hidden (until scheduled again).
      if (state.hidden) return;
      const visible = state.shownAt !== undefined && (state.hideAt === undefined || frame < state.hideAt);
      if (!visible) {
        if (state.shownAt === undefined) this.#report({ type: "overlay", overlayId: action.overlayId, visible: true });
        state.shownAt = frame;
      }
      const duration = state.rendered.spec.durationMs ?? 0;
      state.hideAt = duration > 0 ? frame + Math.max(transition, Math.round((duration * this.fps) / 1000)) : undefined;
    } else if (state.shownAt !== undefined) {
      state.hideAt = Math.min(state.hideAt ?? Number.POSITIVE_INFINITY, frame);
    } else {
      state.hidden = true;
    }
  }

  #transitionFrames(overlay: RenderedOverlay) {
    return (overlay.spec.animation ?? "fade") === "none" ? 0 : Math.round(this.fps * 0.3);
  }

  #compose(tick: FrameTick) {
    const { width, height } = this.#init;
    if (this.#faults > 0) {
      this.#faults--;
      throw new Error("injected fault");
    }
    const avatar = this.#avatar;
    const source = avatar.source;
    const position = Math.floor((tick.index * source.fps) / this.fps) % source.loop.length;
    copyFrame(avatar.frames[source.loop[position]!]!, this.#frame);
    const { scale, dx, dy } = source.transform;
    const mouth = tick.mouth;
    const mouthImage = mouth ? toFrameYuva(mouth, scale) : source.restMouth;
    const mx = mouth?.x ?? source.mouth.x;
    const my = mouth?.y ?? source.mouth.y;
    const mouthRect = { x: dx + mx * scale, y: dy + my * scale, width: mouthImage.width, height: mouthImage.height };
    blendInto(this.#frame, width, height, mouthImage, mouthRect.x, mouthRect.y);
    this.#mouthRect = mouthRect;
    for (const [id, state] of this.#overlays) {
      if (state.shownAt === undefined || tick.index < state.shownAt) continue;
      const transition = this.#transitionFrames(state.rendered);
      const left = state.hideAt === undefined ? Number.POSITIVE_INFINITY : state.hideAt + transition - tick.index;
      if (left <= 0) {
        state.shownAt = undefined;
        state.hideAt = undefined;
        this.#report({ type: "overlay", overlayId: id, visible: false });
        continue;
      }
      const pose = overlayPose(state.rendered, tick.index - state.shownAt, left, transition);
      blendInto(this.#frame, width, height, state.rendered.image, pose.x, pose.y, pose.opacity);
    }
  }
}

/**
 * Paces live rooms on one thread: each room's frames leave at its fps, `leadFrames` ahead of the wall clock, from
 * one timer for all of them. A room that falls behind catches up at once (its frames are never skipped by the pacer:
 * the encoder's queue bound drops them, counted); a frame handed over after its own time is counted as late.
 */
export class FramePacer {
  readonly #rooms = new Map<RoomFrames, { startedAt: number; onGiveUp: () => void }>();
  #timer: NodeJS.Timeout | undefined;
  #running = false;

  get size(): number {
    return this.#rooms.size;
  }

  /** Starts pacing `room` from now; `onGiveUp` when its frames keep failing (it is no longer paced). */
  add(room: RoomFrames, onGiveUp: () => void): void {
    this.#rooms.set(room, { startedAt: performance.now(), onGiveUp });
    this.#schedule(0);
  }

  delete(room: RoomFrames): void {
    this.#rooms.delete(room);
    if (this.#rooms.size === 0) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
  }

  #schedule(delayMs: number) {
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => this.#tick(), Math.max(0, delayMs));
  }

  #tick() {
    if (this.#running) return;
    this.#running = true;
    let nextAt = Number.POSITIVE_INFINITY;
    try {
      for (const [room, entry] of this.#rooms) {
        const period = 1000 / room.fps;
        const due = Math.floor((performance.now() - entry.startedAt) / period) + leadFrames;
        while (room.frame < due) {
          // Frame f is due (f - lead) periods after the start and shown f periods after it: past that, it is late.
          const late = performance.now() > entry.startedAt + (room.frame + 1) * period;
          if (!room.produce(true, late)) {
            this.#rooms.delete(room);
            entry.onGiveUp();
            break;
          }
        }
        if (this.#rooms.has(room)) nextAt = Math.min(nextAt, entry.startedAt + (room.frame - leadFrames + 1) * period);
      }
    } finally {
      this.#running = false;
    }
    if (this.#rooms.size > 0) this.#schedule(nextAt - performance.now());
    else this.#timer = undefined;
  }
}
