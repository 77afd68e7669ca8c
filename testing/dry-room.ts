// A room on air with no voice, lip-sync or media: it exists only for the control-plane benchmark (bench/festival.ts),
// so that thousands of rooms fit on one machine and what is measured is the actors, NATS and the brain. It runs the
// real RoomBrain and comment pipeline and follows LiveRoom's loop (rooms/live-room.ts) sentence for sentence: the same
// events (utteranceStarted, cueFired, utteranceEnded, commentAnswered, commentRejected for invalid, moderated, busy,
// evicted and expired comments) with the same fields, in the same order, at the pace the room would speak.
//
// Timing replaces speech. A sentence lasts as long as the embedded voice would say it: one syllable per CJK
// character, digit or latin word, at the voice's words per minute (gpu-workers/tts/voices.ts; espeak-ng counts a
// Mandarin syllable as a word) times the spec's voice speed. Its "synthesis" takes 60 ms plus 1/20 of its duration (a
// voice well ahead of real time); then it is queued to play. As in LiveRoom, the next sentence starts when less than
// 600 ms of speech is left, and a question cuts in at the end of the sentence playing or at once when that sentence
// has more than 250 ms to go (the cut show sentence is said again after the answer).
import { randomUUID } from "node:crypto";
import { RoomBrain, type Cue, type GuardResult, type ShowPosition } from "../brain/index.js";
import { CueFired_Kind, UtteranceSource, type Comment, type Product, type RoomSpec } from "../proto/index.js";
import type { LiveRoomDeps, LiveRoomProgress, OnAirRoom, OpenRoom } from "../rooms/internal.js";

const leadMs = 600;
const cutInMs = 250;

/** Words a minute of the embedded voices at speed 1 (gpu-workers/tts/voices.ts, not imported: it loads onnxruntime). */
const voiceRates: Record<string, number> = {
  "zh-female-warm": 190,
  "zh-male-calm": 170,
  "en-male-bright": 180,
  "en-female-clear": 175,
};

/** How long the embedded voice takes to say `text`, in ms. */
export function spokenMs(text: string, voiceId: string, speed: number): number {
  const syllables = text.match(/\p{Script=Han}|\d|[A-Za-z]+/gu)?.length ?? 0;
  const wordsPerMinute = (voiceRates[voiceId] ?? 180) * (speed > 0 ? speed : 1);
  return Math.max(200, Math.round((syllables / wordsPerMinute) * 60_000));
}

interface Line {
  utteranceId: string;
  text: string;
  source: UtteranceSource;
  cues: Cue[];
  commentId?: string;
  after?: ShowPosition;
}

const onAir = new Set<DryRoom>();

/** The dry rooms on air in this process (started, not stopped). */
export function dryRoomsOnAir(): DryRoom[] {
  return [...onAir];
}

export class DryRoom implements OnAirRoom {
  readonly roomId: string;
  brain: RoomBrain;
  readonly #deps: LiveRoomDeps;
  #spec: RoomSpec;
  #position: ShowPosition;
  #answered = 0;
  #rejected = 0;
  #spokenMs = 0;
  #onScreen: string | undefined;
  readonly #abort = new AbortController();
  readonly #humanLines: Line[] = [];
  #answer?: AsyncGenerator<Line, void>;
  /** The sentence being synthesized, and how to cut it. */
  #current?: { line: Line; cut: AbortController };
  /** The last show sentence queued to play, where the show was before it, and when it has played out. */
  #queued?: { line: Line; before: ShowPosition; endsAt: number };
  /** performance.now() when the speech queued so far has played out. */
  #playedUntil = 0;
  #startedAt = 0;
  #wake?: () => void;
  #loop?: Promise<void>;
  #stopping?: Promise<void>;

  constructor(roomId: string, spec: RoomSpec, position: unknown, deps: LiveRoomDeps) {
    this.roomId = roomId;
    this.#spec = spec;
    this.#deps = deps;
    this.brain = this.#newBrain(spec);
    this.#position = position === undefined ? this.brain.show.start() : this.brain.show.restore(position);
  }

  get stopped(): boolean {
    return this.#stopping !== undefined;
  }

  progress(): LiveRoomProgress {
    // No media: no frames rendered.
    const spokenSeconds = this.#spokenMs / 1_000;
    const { loop, line, sentence } = this.#position;
    // The bench's rooms keep no share of their voice.
    const show = { productId: "", loop, line, sentence, showSecondsLastHour: 0, answerSecondsLastHour: 0 };
    return {
      position: this.#position,
      answered: this.#answered,
      rejected: this.#rejected,
      spokenSeconds,
      frames: 0,
      show,
    };
  }

  start(): Promise<void> {
    this.#startedAt = performance.now();
    onAir.add(this);
    this.#loop = this.#run().catch((err: unknown) => {
      if (!this.#abort.signal.aborted) this.#deps.log.error({ err }, "dry room loop failed");
    });
    return Promise.resolve();
  }

  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      onAir.delete(this);
      this.#abort.abort();
      this.#wake?.();
      this.#current?.cut.abort();
      await this.#loop;
    })();
    return this.#stopping;
  }

  update(spec: RoomSpec, paths: string[]): Promise<void> {
    this.#spec = spec;
    if (paths.includes("catalog") || paths.includes("persona")) {
      this.brain = this.#newBrain(spec);
      this.#position = this.brain.show.restore(this.#position);
    }
    return Promise.resolve();
  }

  /** As LiveRoom.receive: validated, masked, moderated and queued by the brain; refusals become events. */
  receive(comment: Comment): void {
    this.#receiving = this.#receiving.then(() => this.#receive(comment));
  }

  #receiving: Promise<void> = Promise.resolve();

  async #receive(comment: Comment): Promise<void> {
    const outcome = await this.brain.receive(
      { commentId: comment.commentId, viewerId: comment.viewerId, text: comment.text },
      this.#onScreen,
    );
    if (outcome.status === "rejected" || outcome.status === "blocked") {
      this.#rejected++;
      this.#deps.publish({
        $case: "commentRejected",
        value: {
          commentId: comment.commentId,
          reason: outcome.reason,
          field: outcome.status === "rejected" ? outcome.field : "",
          message: outcome.message,
        },
      });
      return;
    }
    const busy = outcome.status === "dropped" ? [comment.commentId] : (outcome.evicted?.commentIds ?? []);
    for (const commentId of busy) {
      this.#rejected++;
      this.#deps.publish({
        $case: "commentRejected",
        value: { commentId, reason: "busy", field: "", message: "more useful questions first" },
      });
    }
    if (outcome.status !== "dropped") this.#cutIn();
  }

  checkLine(text: string): GuardResult {
    return this.brain.checkLine(text);
  }

  say(text: string, interrupt: boolean, utteranceId: string): void {
    this.#humanLines.push({ utteranceId, text, source: UtteranceSource.UTTERANCE_SOURCE_HUMAN, cues: [] });
    if (interrupt) this.interrupt();
    else this.#wake?.();
  }

  interrupt(): void {
    for (const line of [this.#current?.line, this.#playing()?.line]) {
      if (!line) continue;
      this.#deps.publish({
        $case: "utteranceEnded",
        value: { utteranceId: line.utteranceId, interrupted: true, durationMs: 0, ...this.#now(), words: [] },
      });
    }
    this.#current?.cut.abort();
    const queued = this.#playing();
    if (queued) this.#position = queued.before;
    this.#queued = undefined;
    this.#playedUntil = performance.now();
    this.#wake?.();
  }

  #newBrain(spec: RoomSpec): RoomBrain {
    const zh = spec.catalog?.language.startsWith("zh") ?? false;
    const persona = spec.persona ?? {
      id: "default",
      name: zh ? "小雅" : "Ava",
      language: spec.catalog?.language ?? "en-US",
      style: "",
      catchphrases: [],
      rules: [],
    };
    return new RoomBrain({
      catalog: spec.catalog!,
      persona,
      registry: this.#deps.registry,
      llm: this.#deps.llm,
      logger: this.#deps.log,
      seed: seedOf(this.roomId),
    });
  }

  /** Speech queued and not yet played, in ms. */
  #queuedMs(): number {
    return Math.max(0, this.#playedUntil - performance.now());
  }

  /** The show sentence still playing, if any (LiveRoom learns it from the media graph's utterance events). */
  #playing(): { line: Line; before: ShowPosition } | undefined {
    if (this.#queued && this.#queued.endsAt <= performance.now()) this.#queued = undefined;
    return this.#queued;
  }

  /** A question is waiting: cut the show sentence if its end is far; it is said again after the answer. */
  #cutIn(): void {
    const left = this.#queuedMs();
    const queued = this.#playing();
    if (this.#current?.line.source === UtteranceSource.UTTERANCE_SOURCE_SHOW && left > cutInMs) {
      this.interrupt();
    } else if (queued && left > cutInMs) {
      this.#playedUntil = performance.now();
      this.#position = queued.before;
      this.#queued = undefined;
      this.#deps.publish({
        $case: "utteranceEnded",
        value: { utteranceId: queued.line.utteranceId, interrupted: true, durationMs: 0, ...this.#now(), words: [] },
      });
    }
    this.#wake?.();
  }

  async #run(): Promise<void> {
    const signal = this.#abort.signal;
    while (!signal.aborted) {
      const early = this.#queuedMs() - leadMs;
      if (early > 0) {
        await this.#sleep(early);
        continue;
      }
      // As LiveRoom: nothing is said while this host is not sure it holds the room (a stall, JetStream electing a
      // leader); its actor stops the room if the lease is lost.
      if (this.#deps.owns && !this.#deps.owns()) {
        await this.#sleep(100);
        continue;
      }
      const line = await this.#next();
      if (!line) {
        await this.#sleep(100);
        continue;
      }
      const cut = new AbortController();
      this.#current = { line, cut };
      try {
        const before = this.#position;
        const endsAt = await this.#say(line, AbortSignal.any([signal, cut.signal]));
        this.#queued = line.source === UtteranceSource.UTTERANCE_SOURCE_SHOW ? { line, before, endsAt } : undefined;
        if (line.after) this.#position = line.after;
      } catch (err) {
        if (signal.aborted || cut.signal.aborted) continue;
        throw err;
      } finally {
        this.#current = undefined;
      }
    }
  }

  /** As LiveRoom's: a human's line, an answer sentence, or the show's next sentence. */
  async #next(): Promise<Line | undefined> {
    const human = this.#humanLines.shift();
    if (human) return human;
    if (this.#answer) {
      const sentence = await this.#answer.next();
      if (!sentence.done) return sentence.value;
      this.#answer = undefined;
    }
    const { question, expired } = this.brain.nextQuestion(this.#onScreen);
    for (const q of expired) {
      for (const commentId of q.commentIds) {
        this.#rejected++;
        this.#deps.publish({
          $case: "commentRejected",
          value: { commentId, reason: "expired", field: "", message: "not answered in time" },
        });
      }
    }
    if (question) {
      this.#answer = this.#answerLines(question);
      const first = await this.#answer.next();
      if (!first.done) return first.value;
      this.#answer = undefined;
    }
    const show = this.brain.show.at(this.#position);
    const [start, end] = show.sentences[0] ?? [0, show.text.length];
    this.#onScreen = show.productId ?? this.#onScreen;
    return {
      utteranceId: `${show.id}-${this.#position.sentence}-${randomUUID().slice(0, 8)}`,
      text: show.text.slice(start, end).trim(),
      source: UtteranceSource.UTTERANCE_SOURCE_SHOW,
      cues: show.cues
        .filter((c) => c.start >= start && c.start < end)
        .map((c) => ({ ...c, start: c.start - start, end: c.end - start })),
      after: this.brain.show.afterSentence(this.#position),
    };
  }

  async *#answerLines(question: Parameters<RoomBrain["answer"]>[0]): AsyncGenerator<Line, void> {
    let index = 0;
    const answer = this.brain.answer(question, { signal: this.#abort.signal });
    for (let step = await answer.next(); ; step = await answer.next()) {
      if (step.done) {
        for (const commentId of step.value.blocked ? question.commentIds : []) {
          this.#rejected++;
          this.#deps.publish({
            $case: "commentRejected",
            value: { commentId, reason: step.value.blocked!, field: "", message: `blocked: ${step.value.blocked}` },
          });
        }
        return;
      }
      const sentence = step.value;
      if (index === 0) {
        this.#answered += question.commentIds.length;
        for (const commentId of question.commentIds) {
          this.#deps.publish({
            $case: "commentAnswered",
            value: {
              commentId,
              utteranceId: answerId(question.id, 0),
              intent: sentence.understood?.intent ?? question.understanding.intent,
              answeredTogether: question.commentIds.length,
            },
          });
        }
      }
      yield {
        utteranceId: answerId(question.id, index++),
        text: sentence.text,
        source: UtteranceSource.UTTERANCE_SOURCE_ANSWER,
        cues: sentence.cues,
        commentId: question.id,
      };
    }
  }

  /** One sentence "spoken": its events as LiveRoom publishes them; resolves with when it will have played out. */
  async #say(line: Line, signal: AbortSignal): Promise<number> {
    const zh = this.#spec.catalog?.language.startsWith("zh") ?? false;
    const voiceId = this.#spec.voice?.voiceId || (zh ? "zh-female-warm" : "en-female-clear");
    const durationMs = spokenMs(line.text, voiceId, this.#spec.voice?.speed ?? 0);
    const streamTimeMs = Math.round(performance.now() - this.#startedAt + this.#queuedMs());
    this.#deps.publish({
      $case: "utteranceStarted",
      value: {
        utteranceId: line.utteranceId,
        source: line.source,
        text: line.text,
        words: [],
        streamTimeMs,
        commentId: line.commentId ?? "",
        outputUnixMs: Date.now(),
        show: undefined,
      },
    });
    await sleep(60 + durationMs / 20, signal);
    for (const cue of line.cues) {
      const product = this.brain.catalog.products.find((p) => p.id === cue.productId);
      if (!product || !hasOverlay(cue, product)) continue;
      this.#deps.publish({
        $case: "cueFired",
        value: {
          kind: cue.kind,
          utteranceId: line.utteranceId,
          productId: product.id,
          couponId: cue.couponId ?? "",
          text: "",
          streamTimeMs: streamTimeMs + Math.round((durationMs * cue.start) / Math.max(1, line.text.length)),
          durationMs: 6_000,
          outputUnixMs: Date.now(),
        },
      });
    }
    this.#deps.publish({
      $case: "utteranceEnded",
      value: { utteranceId: line.utteranceId, interrupted: false, durationMs, ...this.#now(), words: [] },
    });
    this.#playedUntil = Math.max(performance.now(), this.#playedUntil) + durationMs;
    this.#spokenMs += durationMs;
    return this.#playedUntil;
  }

  /** Stream and wall time now, as the events stamp them. */
  #now() {
    return { streamTimeMs: Math.round(performance.now() - this.#startedAt), outputUnixMs: Date.now() };
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.#wake = done;
    });
  }
}

/** Puts a DryRoom on air instead of a LiveRoom (RoomHostOptions.live.openRoom). */
export const openDryRoom: OpenRoom = (roomId, spec, position, deps) => new DryRoom(roomId, spec, position, deps);

/** Which cues LiveRoom shows (and so announces): product cards, price tags, and coupons the product has. */
function hasOverlay(cue: Cue, product: Product): boolean {
  if (cue.kind === CueFired_Kind.KIND_PRODUCT_CARD || cue.kind === CueFired_Kind.KIND_PRICE_TAG) return true;
  return cue.kind === CueFired_Kind.KIND_COUPON && product.coupons.some((c) => c.id === cue.couponId);
}

/** An answer sentence's utterance id, as rooms/answer-timing.ts names it. */
const answerId = (questionId: string, index: number) => `answer-${questionId}-${index}`;

/** A stable seed per room, as LiveRoom's: two rooms with one catalog word their shows differently. */
function seedOf(roomId: string): number {
  let h = 2166136261;
  for (const c of roomId) h = Math.imul(h ^ c.charCodeAt(0), 16777619);
  return h >>> 0;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason as Error);
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason as Error);
    };
    signal.addEventListener("abort", onAbort, { once: true });
  });
}
