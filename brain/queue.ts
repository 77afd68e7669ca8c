// A busy room's questions: bounded, most useful first (someone about to buy the product on screen before
// chit-chat), duplicates merged (the same intent about the same product is answered once for everyone who asked),
// and old questions expire instead of being answered minutes late.
import { purchaseIntents, type Intent, type Understanding } from "./intent.js";

export interface Question {
  /** The first asker's comment id; the answer's id. */
  id: string;
  /** Every comment this answer answers (merged duplicates), in arrival order. */
  commentIds: string[];
  /** The first asker's masked text. */
  text: string;
  understanding: Understanding;
  /** When the first asker's comment arrived (Unix ms). */
  receivedAtMs: number;
}

export interface QuestionQueueOptions {
  /** Questions kept; past it the least useful is dropped. Default 32. */
  capacity?: number;
  /** A question older than this is dropped unanswered. Default 30 s. */
  maxAgeMs?: number;
}

/**
 * What became of an offered question: queued, merged into an earlier one (same intent and product), or dropped
 * because the queue was full and it was the least useful. `evicted` is a queued question that made room for it.
 */
export interface Offered {
  status: "queued" | "merged" | "dropped";
  question: Question;
  evicted?: Question;
}

const intentWeight: Record<Intent, number> = {
  price: 100,
  stock: 100,
  coupon: 95,
  size: 95,
  spec: 90,
  shipping: 85,
  aftersales: 80,
  injection: 20,
  greeting: 15,
  chitchat: 10,
  // A reaction or a signal ("666", "扣1"): thanked only when nothing else waits.
  other: 5,
};

const mergeKey = (u: Understanding) => `${u.intent}/${u.productId ?? "-"}`;

export class QuestionQueue {
  readonly capacity: number;
  readonly maxAgeMs: number;
  readonly #questions = new Map<string, Question>();

  constructor(options: QuestionQueueOptions = {}) {
    this.capacity = options.capacity ?? 32;
    this.maxAgeMs = options.maxAgeMs ?? 30_000;
  }

  get size(): number {
    return this.#questions.size;
  }

  /**
   * How useful answering `q` is now: purchase intent, the product on screen, how many asked. Equal scores go
   * first come, first served (the queue keeps arrival order); age only matters through expiry.
   */
  score(q: Question, onScreenId?: string): number {
    const u = q.understanding;
    let score = intentWeight[u.intent];
    if (purchaseIntents.has(u.intent) && u.productId !== undefined && u.productId === onScreenId) score += 30;
    score += Math.min(5, q.commentIds.length - 1) * 10;
    return score;
  }

  offer(question: Question, onScreenId?: string): Offered {
    const key = mergeKey(question.understanding);
    const existing = this.#questions.get(key);
    if (existing) {
      existing.commentIds.push(...question.commentIds);
      return { status: "merged", question: existing };
    }
    this.#questions.set(key, question);
    if (this.#questions.size <= this.capacity) return { status: "queued", question };
    const [leastKey, least] = [...this.#questions].reduce((a, b) =>
      this.score(b[1], onScreenId) <= this.score(a[1], onScreenId) ? b : a,
    );
    this.#questions.delete(leastKey);
    return least === question ? { status: "dropped", question } : { status: "queued", question, evicted: least };
  }

  /**
   * The most useful question now (removed from the queue), and those that expired unanswered. `expireOnly`: only
   * the expired ones (the show's turn: nothing is taken).
   */
  take(
    nowMs: number,
    onScreenId?: string,
    { expireOnly = false }: { expireOnly?: boolean } = {},
  ): { question: Question | undefined; expired: Question[] } {
    const expired: Question[] = [];
    let best: [string, Question, number] | undefined;
    for (const [key, q] of this.#questions) {
      if (nowMs - q.receivedAtMs > this.maxAgeMs) {
        expired.push(q);
        this.#questions.delete(key);
        continue;
      }
      const score = this.score(q, onScreenId);
      if (!best || score > best[2]) best = [key, q, score];
    }
    if (expireOnly) return { question: undefined, expired };
    if (best) this.#questions.delete(best[0]);
    return { question: best?.[1], expired };
  }
}
