// One room's brain, what the room actor holds: its show plan, its comment gate and question queue, and its
// answerer (an LLM when configured, guarded, with the embedded brain behind it). Comments go in through
// receive(); the actor takes the most useful question with nextQuestion() when the show reaches a sentence
// boundary, and speaks answer()'s sentences as they come.
import { SpanStatusCode } from "@opentelemetry/api";
import { rootLogger, tracer, type Logger, type Registry } from "../observability/index.js";
import type { Catalog, Persona, ShowScript } from "../proto/index.js";
import { findCues, sliceCues, type Cue } from "./cues.js";
import { EmbeddedBrain } from "./embedded.js";
import { LlmError, type LlmFailure } from "./errors.js";
import { AnswerGuard, type GuardResult } from "./guard.js";
import { understand } from "./intent.js";
import { compileLlmOptions, streamChat, type LlmConfig, type LlmOptions } from "./llm.js";
import { brainMetrics, type BrainMetrics } from "./metrics.js";
import {
  CommentGate,
  type BlockReason,
  type CommentGateOptions,
  type CommentReader,
  type RejectReason,
} from "./moderation.js";
import { chatMessages, promptRules, replyFormat } from "./prompt.js";
import { QuestionQueue, type Question, type QuestionQueueOptions } from "./queue.js";
import { sentenceSpans, sentencesOf } from "./sentences.js";
import { ShowPlan } from "./show.js";
import { sharedClassifier, sharedReader } from "./understanding/classifier.js";
import type { BlockLabel, IntentLabel } from "./understanding/corpus.js";
import { structuredReply, type StructuredPart } from "./structured.js";

export interface RoomBrainOptions {
  catalog: Catalog;
  persona: Persona;
  /** Seeds the show's and the answers' wording. Default 0. */
  seed?: number;
  /**
   * The show written ahead (RoomSpec.script, valid as checkScript says): the show speaks its variations, one per
   * loop, instead of the templates. Answers are the same either way.
   */
  script?: ShowScript;
  /** An OpenAI-compatible LLM; without it the embedded brain answers everything. */
  llm?: LlmOptions;
  gate?: Omit<CommentGateOptions, "reader">;
  /** The understanding model; default the shipped one, loaded once per process. */
  reader?: CommentReader;
  queue?: QuestionQueueOptions;
  /** Where the brain's metrics go (shared by the rooms of a host). */
  registry?: Registry;
  logger?: Logger;
  /** Unix ms; tests pass their own clock. */
  now?: () => number;
}

export interface IncomingComment {
  commentId: string;
  viewerId: string;
  /** As received; bytes are decoded strictly (invalid UTF-8 is rejected). */
  text: string | Uint8Array;
}

export type CommentOutcome =
  /** Invalid input: tell the sender (CommentRejected with the field). */
  | { status: "rejected"; reason: RejectReason; field: "text"; message: string }
  /** Moderated away: never answered, never spoken. */
  | { status: "blocked"; reason: BlockReason; message: string }
  /** Waiting for an answer; `masked` when personal data was hidden; `evicted` left the full queue unanswered. */
  | { status: "queued" | "merged"; question: Question; masked: boolean; evicted?: Question }
  /** The queue was full of more useful questions. */
  | { status: "dropped"; question: Question; masked: boolean };

export type AnswerPath = "embedded" | "llm";

export interface AnswerSentence {
  text: string;
  /** Overlays for this sentence, offsets into `text`. */
  cues: Cue[];
  /** 0 for the first sentence of the answer. */
  index: number;
  path: AnswerPath;
  /** On an LLM answer's first sentence: what the LLM understood the comment to ask, and about which product. */
  understood?: { intent: IntentLabel; productId: string | undefined };
}

/** How an answer ended: `blocked` when the LLM judged the comment not to be answered (nothing was said). */
export interface AnswerEnd {
  blocked?: BlockLabel;
}

export interface AnswerOptions {
  /** Cancels the answer (an Interrupt); the LLM request is aborted and no fallback is spoken. */
  signal?: AbortSignal;
}

const spans = tracer("brain");

export class RoomBrain {
  readonly catalog: Catalog;
  readonly persona: Persona;
  readonly show: ShowPlan;
  readonly embedded: EmbeddedBrain;
  readonly guard: AnswerGuard;
  readonly #gate: CommentGate;
  readonly #queue: QuestionQueue;
  readonly #llm: LlmConfig | undefined;
  readonly #metrics: BrainMetrics | undefined;
  readonly #log: Logger;
  readonly #now: () => number;

  /** Whether a human's line may be said: each of its sentences through the guard that checks generated speech. */
  checkLine(text: string): GuardResult {
    for (const [start, end] of sentenceSpans(text)) {
      const verdict = this.guard.check(text.slice(start, end));
      if (!verdict.ok) return verdict;
    }
    return { ok: true };
  }

  /**
   * `catalog` and `persona` must be valid contract values (the gateway checks RoomSpec); a bad LLM option throws
   * InvalidArgumentError naming the field.
   */
  constructor(options: RoomBrainOptions) {
    const { catalog, persona, seed = 0, script } = options;
    this.catalog = catalog;
    this.persona = persona;
    this.show = new ShowPlan(catalog, persona, { seed, script });
    this.embedded = new EmbeddedBrain(catalog, persona, { seed });
    this.guard = new AnswerGuard(catalog, persona, [...promptRules, ...replyFormat]);
    this.#gate = new CommentGate({ ...options.gate, reader: options.reader ?? sharedReader });
    // Loaded once per process, ahead of the first comment; a failed load is tried again by that comment (which is
    // rejected, reason unavailable, if it fails again).
    if (!options.reader) sharedClassifier().catch(() => undefined);
    this.#queue = new QuestionQueue(options.queue);
    this.#llm = options.llm ? compileLlmOptions(options.llm) : undefined;
    this.#metrics = options.registry ? brainMetrics(options.registry) : undefined;
    this.#log = options.logger ?? rootLogger().child({ component: "brain" });
    this.#now = options.now ?? Date.now;
  }

  /** Questions waiting for an answer. */
  get pending(): number {
    return this.#queue.size;
  }

  /**
   * Validates, masks, moderates and classifies a comment, and queues it if it is to be answered.
   * `onScreenId` is the product on screen now (what "多少钱" without a name is about).
   */
  async receive(comment: IncomingComment, onScreenId?: string): Promise<CommentOutcome> {
    const now = this.#now();
    const started = performance.now();
    const verdict = await this.#gate.check(comment.viewerId, comment.text, now);
    this.#metrics?.understandSeconds.observe((performance.now() - started) / 1000);
    if (verdict.decision === "reject") {
      this.#count("reject", "invalid");
      this.#log.debug({ commentId: comment.commentId, reason: verdict.reason }, "comment rejected");
      return { status: "rejected", reason: verdict.reason, field: verdict.field, message: verdict.message };
    }
    if (verdict.decision === "block") {
      this.#count("block", verdict.reason);
      this.#log.debug(
        { commentId: comment.commentId, reason: verdict.reason, pii: { text: verdict.text } },
        "comment blocked",
      );
      return { status: "blocked", reason: verdict.reason, message: verdict.message };
    }
    const understanding = understand(verdict.text, this.catalog, verdict.flags, verdict.intent, onScreenId);
    this.#count(verdict.decision, understanding.intent);
    this.#log.debug(
      {
        commentId: comment.commentId,
        intent: understanding.intent,
        productId: understanding.productId,
        pii: { text: verdict.text },
      },
      "comment accepted",
    );
    const question: Question = {
      id: comment.commentId,
      commentIds: [comment.commentId],
      text: verdict.text,
      understanding,
      receivedAtMs: now,
    };
    const offered = this.#queue.offer(question, onScreenId);
    const masked = verdict.decision === "mask";
    this.#metrics?.questions.inc({ outcome: offered.status });
    if (offered.status === "queued") this.#metrics?.questionsPending.inc();
    if (offered.evicted) {
      this.#metrics?.questions.inc({ outcome: "evicted" });
      this.#metrics?.questionsPending.dec();
    }
    return { ...offered, masked };
  }

  /** The most useful question to answer now (taken off the queue), and the ones that expired waiting. */
  nextQuestion(
    onScreenId?: string,
    options: { expireOnly?: boolean } = {},
  ): { question: Question | undefined; expired: Question[] } {
    const taken = this.#queue.take(this.#now(), onScreenId, options);
    const left = taken.expired.length + (taken.question ? 1 : 0);
    if (left > 0) this.#metrics?.questionsPending.dec(left);
    if (taken.expired.length > 0) this.#metrics?.questions.inc({ outcome: "expired" }, taken.expired.length);
    return taken;
  }

  /**
   * The answer to a question, sentence by sentence. With an LLM configured, one structured call judges the comment,
   * understands it and answers it (structured.ts); its sentences come as they are written, each checked by the guard.
   * If the LLM judges the comment not to be answered, nothing is said and the end says why (`blocked`). If the LLM is
   * slow to start, fails, refuses, or its first sentence breaks a rule, the embedded brain answers instead. A rule
   * broken later ends the answer before that sentence. Injection attempts are always answered by the embedded brain.
   */
  async *answer(question: Question, options: AnswerOptions = {}): AsyncGenerator<AnswerSentence, AnswerEnd> {
    const u = question.understanding;
    const span = spans.startSpan("brain.answer", {
      attributes: {
        "livehost.comment_id": question.id,
        "livehost.intent": u.intent,
        "livehost.product_id": u.productId ?? "",
        "livehost.comments_merged": question.commentIds.length,
      },
    });
    const started = performance.now();
    const firstSentence = (path: AnswerPath) => {
      this.#metrics?.firstSentence.observe({ path }, (performance.now() - started) / 1000);
      span.setAttribute("livehost.brain.path", path);
    };
    try {
      // An injection attempt never reaches the LLM: the embedded brain answers it from the catalog.
      if (this.#llm && u.intent !== "injection") {
        let index = 0;
        let failure: LlmFailure | undefined;
        try {
          const reply = structuredReply(
            streamChat(this.#llm, chatMessages(this.catalog, this.persona, question.text), options.signal, {
              json: true,
            }),
            this.catalog.products.length,
          );
          const first = await reply.next();
          if (first.done || !("header" in first.value)) throw new LlmError("protocol", "the reply has no verdict");
          const header = first.value.header;
          const understood = { intent: header.intent, productId: this.catalog.products[header.product - 1]?.id };
          span.setAttribute("livehost.brain.llm_verdict", header.moderation);
          span.setAttribute("livehost.brain.llm_intent", header.intent);
          this.#metrics?.llmVerdicts.inc({ verdict: header.moderation });
          // Counted by llmVerdicts (comments_total counted the comment once, when it was received).
          if (header.moderation !== "allow") return { blocked: header.moderation };
          this.#metrics?.llmIntentAgreement.inc({ agrees: String(header.intent === u.intent) });
          for await (const text of sentencesOf(answerText(reply))) {
            const verdict = this.guard.check(text);
            if (!verdict.ok) {
              failure = "guard";
              span.setAttribute("livehost.brain.guard_violation", verdict.violation);
              break;
            }
            if (index === 0) firstSentence("llm");
            const n = index++;
            yield {
              text,
              cues: findCues(text, this.catalog),
              index: n,
              path: "llm",
              ...(n === 0 ? { understood } : {}),
            };
          }
        } catch (err) {
          if (options.signal?.aborted) throw err;
          failure = err instanceof LlmError ? err.reason : "network";
          this.#log.warn({ err, reason: failure }, "LLM answer failed");
        }
        if (failure !== undefined) span.setAttribute("livehost.brain.llm_failure", failure);
        if (index > 0) {
          if (failure !== undefined) this.#metrics?.llmTruncated.inc({ reason: failure });
          return {};
        }
        this.#metrics?.llmFallbacks.inc({ reason: failure ?? "protocol" });
      }
      options.signal?.throwIfAborted();
      const answer = this.embedded.answer(u);
      firstSentence("embedded");
      let index = 0;
      for (const [start, end] of sentenceSpans(answer.text)) {
        yield {
          text: answer.text.slice(start, end).trim(),
          cues: sliceCues(answer.cues, start, end),
          index: index++,
          path: "embedded",
        };
      }
      return {};
    } catch (err) {
      span.setStatus({ code: SpanStatusCode.ERROR, message: (err as Error).message });
      throw err;
    } finally {
      span.end();
    }
  }

  #count(decision: string, intent: string): void {
    this.#metrics?.comments.inc({ decision, intent });
  }
}

/** The answer's text pieces of a structured reply (its header already taken). */
async function* answerText(reply: AsyncIterable<StructuredPart>): AsyncGenerator<string> {
  for await (const part of reply) if ("text" in part) yield part.text;
}
