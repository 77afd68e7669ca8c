// How long a viewer waits for an answer, and where that time goes: each waiting question's stage times (received,
// taken by the loop, first sentence, first audio chunk, first mouth frame) until its first sample goes into the
// stream, observed into the rooms' metrics and handed to benchmarks as AnswerStages.
import type { RoomMetrics } from "./metrics.js";

/** Where the time went between a comment reaching its room and its answer going into the stream, in ms. */
export interface AnswerStages {
  total: number;
  /** Waiting for the sentence playing to end, and the brain's first sentence. */
  brain: number;
  /** The brain's own time to its first sentence (model compute, without the wait). */
  brainCompute: number;
  ttsFirstChunk: number;
  lipsyncFirstFrame: number;
  /** From the first audio chunk to its first sample going to the encoder (jitter buffer, queue). */
  mux: number;
}

/** What the voice reports of one sentence being spoken: its first audio chunk and first mouth frame. */
export interface SentenceTiming {
  chunk(): void;
  frame(): void;
}

/** The utterance id of an answer's `index`th sentence; its first sentence going on air ends the answer's timing. */
export const answerUtteranceId = (questionId: string, index: number) => `answer-${questionId}-${index}`;

/** The question whose answer starts with `utteranceId`, or undefined for any other utterance. */
const firstAnswerSentence = (utteranceId: string) => /^answer-(.+)-0$/.exec(utteranceId)?.[1];

interface Times {
  received: number;
  speakStarted?: number;
  taken?: number;
  firstSentence?: number;
  firstChunk?: number;
  firstFrame?: number;
}

/** Bounds the questions followed: one never answered (expired, dropped) is forgotten after this many newer ones. */
const maxFollowed = 1_000;
const untimed: SentenceTiming = { chunk: () => undefined, frame: () => undefined };

/** The stage times of a room's waiting questions, by question id (all times are performance.now()). */
export class AnswerTimings {
  readonly #metrics: RoomMetrics;
  readonly #onHeard?: (questionId: string, stages: AnswerStages) => void;
  readonly #times = new Map<string, Times>();

  constructor(metrics: RoomMetrics, onHeard?: (questionId: string, stages: AnswerStages) => void) {
    this.#metrics = metrics;
    this.#onHeard = onHeard;
  }

  /** A comment reached the room and was queued as (or merged into) this question; the first arrival counts. */
  received(questionId: string, at: number): void {
    if (this.#times.has(questionId)) return;
    this.#times.set(questionId, { received: at });
    if (this.#times.size > maxFollowed) this.#times.delete(this.#times.keys().next().value!);
  }

  /** The room's loop took the question: the brain starts its answer. */
  taken(questionId: string): void {
    const times = this.#times.get(questionId);
    if (times) times.taken = performance.now();
  }

  /** The brain gave the answer's first sentence. */
  firstSentence(questionId: string): void {
    const times = this.#times.get(questionId);
    if (!times) return;
    times.firstSentence = performance.now();
    this.#metrics.stage.observe({ stage: "brain" }, (times.firstSentence - times.taken!) / 1000);
  }

  /** A sentence starts being spoken: an answer's first sentence is timed to its first chunk and frame. */
  speaking(utteranceId: string): SentenceTiming {
    const questionId = firstAnswerSentence(utteranceId);
    const times = questionId === undefined ? undefined : this.#times.get(questionId);
    if (!times) return untimed;
    const started = performance.now();
    times.speakStarted = started;
    return {
      chunk: () => {
        if (times.firstChunk !== undefined) return;
        times.firstChunk = performance.now();
        this.#metrics.stage.observe({ stage: "tts_first_chunk" }, (times.firstChunk - started) / 1000);
      },
      frame: () => {
        if (times.firstChunk === undefined || times.firstFrame !== undefined) return;
        times.firstFrame = performance.now();
        this.#metrics.stage.observe({ stage: "lipsync_first_frame" }, (times.firstFrame - times.firstChunk) / 1000);
      },
    };
  }

  /** An utterance's first sample went into the stream: for an answer, the end of the comment → audio path. */
  heard(utteranceId: string): void {
    const questionId = firstAnswerSentence(utteranceId);
    const times = questionId === undefined ? undefined : this.#times.get(questionId);
    if (!times) return;
    this.#times.delete(questionId!);
    const now = performance.now();
    this.#metrics.commentToAudio.observe((now - times.received) / 1000);
    if (times.firstChunk !== undefined) this.#metrics.stage.observe({ stage: "mux" }, (now - times.firstChunk) / 1000);
    const ms = (from: number | undefined, to: number | undefined) =>
      from === undefined || to === undefined ? 0 : to - from;
    const model =
      ms(times.taken, times.firstSentence) +
      ms(times.speakStarted, times.firstChunk) +
      ms(times.firstChunk, times.firstFrame);
    this.#metrics.answerOverhead.observe(Math.max(0, now - times.received - model) / 1000);
    this.#onHeard?.(questionId!, {
      total: now - times.received,
      brain: ms(times.received, times.firstSentence),
      brainCompute: ms(times.taken, times.firstSentence),
      ttsFirstChunk: ms(times.speakStarted, times.firstChunk),
      lipsyncFirstFrame: ms(times.firstChunk, times.firstFrame),
      mux: ms(times.firstChunk, now),
    });
  }
}
