// The room's one clock. Audio is the master: the output advances one video frame at a time, and each frame carries
// exactly `samplesPerFrame` samples of 48 kHz audio (speech when an utterance is playing, silence otherwise), so
// video runs at exactly the configured fps and audio never gaps. An utterance's audio is consumed frame by frame;
// its n-th frame shows its n-th mouth frame (lip-sync frames are indexed from the utterance's first sample), so the
// mouth cannot drift from the sound. When speech is late (a chunk has not arrived) the frame is silent and the
// utterance resumes on the next frame; when a mouth frame is late the frame shows the idle avatar. Overlay cues
// are positions on an utterance's audio clock and fire on the frame that plays that sample.
import { InvalidArgumentError, ResourceExhaustedError } from "../errors/index.js";
import { outputSampleRate, supportedSpeechRates } from "./config.js";
import { Resampler } from "./resample.js";
import { aligned } from "./bytes.js";

export interface SpeechChunk {
  /** The utterance this audio belongs to, 1 to 64 characters; chunks of one utterance arrive in order. */
  utteranceId: string;
  /** 16-bit mono PCM: an Int16Array, or its little-endian bytes (as carried by SynthesizeResponse.pcm). */
  pcm: Int16Array | Uint8Array;
  /** 16000, 22050, 24000, 44100 or 48000. */
  sampleRateHz: number;
  /** True on the utterance's last chunk. */
  final?: boolean;
}

export interface MouthPatch {
  /** Top-left corner on the avatar's frame (the pack's size), in px. */
  x: number;
  y: number;
  width: number;
  height: number;
  /** width * height * 4 bytes, RGBA. */
  rgba: Uint8Array;
}

export interface MouthFrameInput {
  utteranceId: string;
  /** Frame of the utterance: 0 covers its first 1/fps s of audio (a lip-sync frame_index minus the utterance's first). */
  index: number;
  patch: MouthPatch;
}

/** A position on an utterance's audio clock (e.g. a word's start_ms), or the next frame. */
export type Cue = { utteranceId: string; atMs: number } | { now: true };

export type ClockAction = { type: "show" | "hide"; overlayId: string };

export type IdleReason = "silence" | "speech_late" | "animation_late";

export interface FrameTick {
  index: number;
  /** samplesPerFrame samples at 48 kHz. */
  audio: Int16Array;
  mouth?: MouthPatch;
  /** Why the avatar is idle on this frame (no mouth patch); absent when a mouth frame is shown. */
  idle?: IdleReason;
  actions: ClockAction[];
  /** The utterance whose first sample is on this frame, if one is. */
  started?: string;
  /** Utterances that finished on this frame, with the samples (48 kHz) they played. */
  ended: PlayedUtterance[];
}

/** An utterance that left the clock, and how much of it was heard (48 kHz samples; 0: it never started). */
export interface PlayedUtterance {
  id: string;
  samples: number;
}

export interface ClockOptions {
  fps: number;
  samplesPerFrame: number;
  /** An utterance starts once this much of its audio is queued (or it is complete): absorbs network jitter. */
  startBufferMs?: number;
  /**
   * Frames an utterance whose audio is ready may wait for its first mouth frame before it starts (the lip-sync worker
   * answers a few tens of ms after the audio), so it does not open with the idle mouth. Default 0: never waits.
   */
  mouthWaitFrames?: number;
  /** Speech queued across utterances, at most; more is refused with ResourceExhaustedError. */
  maxQueuedSeconds?: number;
  /** Mouth frames accepted this far ahead of the utterance's playing frame, at most. */
  maxFramesAhead?: number;
}

export interface ClockCounters {
  mouthFramesLate: number;
  mouthFramesUnknown: number;
  speechChunksDropped: number;
  cuesDropped: number;
}

interface Utterance {
  id: string;
  chunks: Int16Array[];
  /** Read position in chunks[0]. */
  offset: number;
  queued: number;
  consumed: number;
  final: boolean;
  started: boolean;
  /** Frames this utterance has waited, ready but for its first mouth frame. */
  waitedForMouth: number;
  framesEmitted: number;
  resampler: Resampler | undefined;
  rate: number;
  mouth: Map<number, MouthPatch>;
  cues: { atSample: number; action: ClockAction }[];
}

const maxUtterances = 64;
const maxCuesPerUtterance = 64;
const recentlyEndedKept = 256;

export class MediaClock {
  readonly fps: number;
  readonly samplesPerFrame: number;
  readonly counters: ClockCounters = {
    mouthFramesLate: 0,
    mouthFramesUnknown: 0,
    speechChunksDropped: 0,
    cuesDropped: 0,
  };
  #frame = 0;
  #queue: Utterance[] = [];
  #queuedSamples = 0;
  /** Cues for utterances whose audio has not arrived yet. */
  #pendingCues = new Map<string, { atSample: number; action: ClockAction }[]>();
  #nowActions: ClockAction[] = [];
  /** Interrupted or finished utterances: late chunks and frames for them are dropped, not replayed. */
  #ended = new Set<string>();
  readonly #startBuffer: number;
  readonly #mouthWait: number;
  readonly #maxQueued: number;
  readonly #maxAhead: number;

  constructor(options: ClockOptions) {
    this.fps = options.fps;
    this.samplesPerFrame = options.samplesPerFrame;
    this.#startBuffer = Math.round(((options.startBufferMs ?? 100) * outputSampleRate) / 1000);
    this.#mouthWait = options.mouthWaitFrames ?? 0;
    this.#maxQueued = (options.maxQueuedSeconds ?? 120) * outputSampleRate;
    this.#maxAhead = options.maxFramesAhead ?? 30 * options.fps;
  }

  /** The next frame to be produced (frames since the clock started). */
  get frame(): number {
    return this.#frame;
  }

  /** Speech queued and not yet played, in seconds. */
  get queuedSeconds(): number {
    return this.#queuedSamples / outputSampleRate;
  }

  /** The utterance playing now (or next to play). */
  get current(): string | undefined {
    return this.#queue[0]?.id;
  }

  /** Utterances queued now, the playing one first. */
  get queuedIds(): string[] {
    return this.#queue.map((u) => u.id);
  }

  /** Whether `id` has played to its end or was interrupted (among the last 256 such). */
  hasEnded(id: string): boolean {
    return this.#ended.has(id);
  }

  pushSpeech(chunk: SpeechChunk): void {
    const id = chunk.utteranceId;
    if (typeof id !== "string" || id.length < 1 || id.length > 64) {
      throw new InvalidArgumentError("speech.utteranceId", "must be 1 to 64 characters");
    }
    if (!(supportedSpeechRates as readonly number[]).includes(chunk.sampleRateHz)) {
      throw new InvalidArgumentError("speech.sampleRateHz", `must be one of ${supportedSpeechRates.join(", ")}`);
    }
    if (chunk.pcm instanceof Uint8Array && chunk.pcm.byteLength % 2 !== 0) {
      throw new InvalidArgumentError("speech.pcm", "16-bit PCM must have an even number of bytes");
    }
    if (this.#ended.has(id)) {
      this.counters.speechChunksDropped++;
      return;
    }
    let utterance = this.#queue.find((u) => u.id === id);
    if (utterance?.final) throw new InvalidArgumentError("speech.final", `utterance ${id} was already complete`);
    if (utterance && utterance.rate !== chunk.sampleRateHz) {
      throw new InvalidArgumentError("speech.sampleRateHz", `utterance ${id} changed rate mid-way`);
    }
    const samples = chunk.pcm instanceof Int16Array ? chunk.pcm : int16View(aligned(chunk.pcm, 2));
    if (!utterance) {
      if (this.#queue.length >= maxUtterances) {
        throw new ResourceExhaustedError(`more than ${maxUtterances} utterances queued`);
      }
      utterance = {
        id,
        chunks: [],
        offset: 0,
        queued: 0,
        consumed: 0,
        final: false,
        started: false,
        waitedForMouth: 0,
        framesEmitted: 0,
        rate: chunk.sampleRateHz,
        resampler:
          chunk.sampleRateHz === outputSampleRate ? undefined : new Resampler(chunk.sampleRateHz, outputSampleRate),
        mouth: new Map(),
        cues: this.#pendingCues.get(id) ?? [],
      };
      this.#pendingCues.delete(id);
      this.#queue.push(utterance);
    }
    const resampled = utterance.resampler ? utterance.resampler.push(samples, chunk.final ?? false) : samples.slice();
    if (this.#queuedSamples + resampled.length > this.#maxQueued) {
      throw new ResourceExhaustedError(`more than ${this.#maxQueued / outputSampleRate} s of speech queued`);
    }
    if (resampled.length > 0) utterance.chunks.push(resampled);
    utterance.queued += resampled.length;
    this.#queuedSamples += resampled.length;
    utterance.final = chunk.final ?? false;
  }

  pushMouthFrame(frame: MouthFrameInput): void {
    const utterance = this.#queue.find((u) => u.id === frame.utteranceId);
    if (!utterance) {
      this.counters.mouthFramesUnknown++;
      return;
    }
    if (frame.index < utterance.framesEmitted) {
      this.counters.mouthFramesLate++;
      return;
    }
    if (frame.index >= utterance.framesEmitted + this.#maxAhead) {
      this.counters.mouthFramesUnknown++;
      return;
    }
    utterance.mouth.set(frame.index, frame.patch);
  }

  /**
   * Fires `action` on the frame that plays the cue's position (at once if that frame has passed). On an utterance
   * that has already ended (played out or interrupted), a hide fires at once and a show is dropped: what was cued
   * on speech that is over must not stay up, nor come up late.
   */
  cue(cue: Cue, action: ClockAction): void {
    if ("now" in cue) {
      this.#nowActions.push(action);
      return;
    }
    if (!Number.isFinite(cue.atMs) || cue.atMs < 0) throw new InvalidArgumentError("cue.atMs", "must be >= 0");
    const entry = { atSample: Math.round((cue.atMs * outputSampleRate) / 1000), action };
    if (this.#ended.has(cue.utteranceId)) {
      if (action.type === "hide") this.#nowActions.push(action);
      else this.counters.cuesDropped++;
      return;
    }
    const utterance = this.#queue.find((u) => u.id === cue.utteranceId);
    let list = utterance?.cues ?? this.#pendingCues.get(cue.utteranceId);
    if (!list) {
      if (this.#pendingCues.size >= maxUtterances) {
        throw new ResourceExhaustedError(`cues for more than ${maxUtterances} future utterances`);
      }
      list = [];
      this.#pendingCues.set(cue.utteranceId, list);
    }
    if (list.length >= maxCuesPerUtterance) {
      throw new ResourceExhaustedError(`more than ${maxCuesPerUtterance} cues on utterance ${cue.utteranceId}`);
    }
    list.push(entry);
  }

  /**
   * Drops every queued utterance (the one playing stops at the next frame), their mouth frames and cues; the clock
   * keeps running. Late chunks of the dropped utterances are ignored. Returns the dropped utterances, with what of
   * each was played.
   */
  interrupt(): PlayedUtterance[] {
    const dropped = this.#queue.map((u) => ({ id: u.id, samples: u.consumed }));
    for (const u of this.#queue) {
      this.counters.cuesDropped += u.cues.length;
      this.#markEnded(u.id);
    }
    for (const [id, cues] of this.#pendingCues) {
      this.counters.cuesDropped += cues.length;
      this.#markEnded(id);
    }
    this.#pendingCues.clear();
    this.#queue = [];
    this.#queuedSamples = 0;
    return dropped;
  }

  /** Produces the next frame: its audio, the mouth to draw, and the overlay actions due on it. */
  next(): FrameTick {
    const spf = this.samplesPerFrame;
    const tick: FrameTick = { index: this.#frame++, audio: new Int16Array(spf), actions: this.#nowActions, ended: [] };
    this.#nowActions = [];
    const utterance = this.#queue[0];
    if (!utterance) {
      tick.idle = "silence";
      return tick;
    }
    const available = utterance.queued - utterance.consumed;
    if (!utterance.started && available < this.#startBuffer && !utterance.final) {
      tick.idle = "silence";
      return tick;
    }
    if (!utterance.started && !utterance.mouth.has(0) && utterance.waitedForMouth < this.#mouthWait) {
      utterance.waitedForMouth++;
      tick.idle = "silence";
      return tick;
    }
    utterance.started = true;
    if (available < spf && !utterance.final) {
      tick.idle = "speech_late";
      return tick;
    }
    const start = utterance.consumed;
    if (start === 0) tick.started = utterance.id;
    this.#take(utterance, tick.audio, Math.min(spf, available));
    const index = utterance.framesEmitted++;
    const mouth = utterance.mouth.get(index);
    utterance.mouth.delete(index);
    if (mouth) tick.mouth = mouth;
    else tick.idle = "animation_late";
    const end = start + spf;
    const done = utterance.final && utterance.consumed >= utterance.queued;
    utterance.cues = utterance.cues.filter((cue) => {
      if (cue.atSample < end || done) {
        tick.actions.push(cue.action);
        return false;
      }
      return true;
    });
    if (done) {
      this.#queue.shift();
      this.#markEnded(utterance.id);
      tick.ended.push({ id: utterance.id, samples: utterance.consumed });
    }
    return tick;
  }

  #take(utterance: Utterance, into: Int16Array, count: number) {
    let filled = 0;
    while (filled < count) {
      const chunk = utterance.chunks[0]!;
      const n = Math.min(count - filled, chunk.length - utterance.offset);
      into.set(chunk.subarray(utterance.offset, utterance.offset + n), filled);
      filled += n;
      utterance.offset += n;
      if (utterance.offset === chunk.length) {
        utterance.chunks.shift();
        utterance.offset = 0;
      }
    }
    utterance.consumed += count;
    this.#queuedSamples -= count;
  }

  #markEnded(id: string) {
    this.#ended.add(id);
    if (this.#ended.size > recentlyEndedKept) this.#ended.delete(this.#ended.values().next().value!);
  }
}

function int16View(bytes: Uint8Array): Int16Array {
  return new Int16Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 2);
}
