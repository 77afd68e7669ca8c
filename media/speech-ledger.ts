// The graph's own account of the speech it handed to its room's frames, which may be made on another thread: what
// is queued in which order, what has ended, and how much is queued. It answers at once what callers ask of the graph
// (refusals naming the field, the utterance playing, the speech left to play) with the clock's own rules (see
// clock.ts), and corrects itself from the frames' reports and status block: exact for what has reached the clock,
// an estimate (the length at 48 kHz) for speech still on its way there.
import { InvalidArgumentError, ResourceExhaustedError } from "../errors/index.js";
import { outputSampleRate, supportedSpeechRates } from "./config.js";
import type { Cue } from "./clock.js";
import type { FrameStatus } from "./frames.js";

const maxUtterances = 64;
const maxCuesPerUtterance = 64;
const recentlyEndedKept = 256;

export class SpeechLedger {
  /** Queued utterances in play order, with what their next chunk must agree with. */
  readonly #queue = new Map<string, { rate: number; final: boolean }>();
  readonly #ended = new Set<string>();
  /** Cues per utterance not ended (queued or still to come). */
  readonly #cues = new Map<string, number>();
  /** Speech sent and not yet applied by the clock: command sequence and its length at 48 kHz. */
  #inFlight: { seq: number; samples: number }[] = [];
  /** The last interrupt's sequence: until the clock has applied it, nothing sent before it is queued. */
  #interruptSeq = -1;
  readonly #maxQueuedSamples: number;

  constructor(maxQueuedSeconds = 120) {
    this.#maxQueuedSamples = maxQueuedSeconds * outputSampleRate;
  }

  /** The utterance playing now (or next to play). */
  get current(): string | undefined {
    return this.#queue.keys().next().value;
  }

  get queuedIds(): string[] {
    return [...this.#queue.keys()];
  }

  /**
   * Checks a chunk as the clock will (InvalidArgumentError naming the field, ResourceExhaustedError past the
   * limits) and records it; false when it is for an utterance that has ended (it is dropped, as the clock would).
   */
  speech(
    chunk: { utteranceId: string; pcm: Int16Array | Uint8Array; sampleRateHz: number; final?: boolean },
    seq: number,
    status: FrameStatus | undefined,
  ): boolean {
    const id = chunk.utteranceId;
    if (typeof id !== "string" || id.length < 1 || id.length > 64) {
      throw new InvalidArgumentError("speech.utteranceId", "must be 1 to 64 characters");
    }
    if (!(supportedSpeechRates as readonly number[]).includes(chunk.sampleRateHz)) {
      throw new InvalidArgumentError("speech.sampleRateHz", `must be one of ${supportedSpeechRates.join(", ")}`);
    }
    const isBytes = chunk.pcm instanceof Uint8Array;
    if (!isBytes && !(chunk.pcm instanceof Int16Array)) {
      throw new InvalidArgumentError("speech.pcm", "must be an Int16Array or its bytes");
    }
    if (isBytes && chunk.pcm.byteLength % 2 !== 0) {
      throw new InvalidArgumentError("speech.pcm", "16-bit PCM must have an even number of bytes");
    }
    if (this.#ended.has(id)) return false;
    const utterance = this.#queue.get(id);
    if (utterance?.final) throw new InvalidArgumentError("speech.final", `utterance ${id} was already complete`);
    if (utterance && utterance.rate !== chunk.sampleRateHz) {
      throw new InvalidArgumentError("speech.sampleRateHz", `utterance ${id} changed rate mid-way`);
    }
    if (!utterance && this.#queue.size >= maxUtterances) {
      throw new ResourceExhaustedError(`more than ${maxUtterances} utterances queued`);
    }
    const samples = Math.ceil((chunk.pcm.byteLength / 2) * (outputSampleRate / chunk.sampleRateHz));
    if (this.queuedSamples(status) + samples > this.#maxQueuedSamples) {
      throw new ResourceExhaustedError(`more than ${this.#maxQueuedSamples / outputSampleRate} s of speech queued`);
    }
    this.#queue.set(id, { rate: chunk.sampleRateHz, final: chunk.final ?? false });
    this.#inFlight.push({ seq, samples });
    return true;
  }

  /** Checks a cue as the clock will. */
  cue(cue: Cue): void {
    if ("now" in cue) return;
    if (!Number.isFinite(cue.atMs) || cue.atMs < 0) throw new InvalidArgumentError("cue.atMs", "must be >= 0");
    if (this.#ended.has(cue.utteranceId)) return;
    const count = this.#cues.get(cue.utteranceId);
    if (count === undefined) {
      const future = [...this.#cues.keys()].filter((id) => !this.#queue.has(id)).length;
      if (!this.#queue.has(cue.utteranceId) && future >= maxUtterances) {
        throw new ResourceExhaustedError(`cues for more than ${maxUtterances} future utterances`);
      }
    } else if (count >= maxCuesPerUtterance) {
      throw new ResourceExhaustedError(`more than ${maxCuesPerUtterance} cues on utterance ${cue.utteranceId}`);
    }
    this.#cues.set(cue.utteranceId, (count ?? 0) + 1);
  }

  /** Everything queued is dropped (with its cues); returns the queued utterance ids, the playing one first. */
  interrupt(seq: number): string[] {
    const dropped = this.queuedIds;
    for (const id of dropped) this.#markEnded(id);
    for (const id of [...this.#cues.keys()]) this.#markEnded(id);
    this.#inFlight = [];
    this.#interruptSeq = seq;
    return dropped;
  }

  /** The clock played `utteranceId` to its end. */
  ended(utteranceId: string): void {
    this.#markEnded(utteranceId);
  }

  hasEnded(utteranceId: string): boolean {
    return this.#ended.has(utteranceId);
  }

  /** Speech queued and not yet played, in 48 kHz samples: the clock's figure plus what is on its way to it. */
  queuedSamples(status: FrameStatus | undefined): number {
    const applied = status?.appliedSeq ?? -1;
    this.#inFlight = this.#inFlight.filter((entry) => entry.seq > applied);
    const atClock = status === undefined || this.#interruptSeq > applied ? 0 : status.queuedSamples;
    return this.#inFlight.reduce((sum, entry) => sum + entry.samples, atClock);
  }

  #markEnded(id: string) {
    this.#queue.delete(id);
    this.#cues.delete(id);
    this.#ended.add(id);
    if (this.#ended.size > recentlyEndedKept) this.#ended.delete(this.#ended.values().next().value!);
  }
}
