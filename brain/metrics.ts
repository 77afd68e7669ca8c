// The brain's metrics, on the registry the caller passes in. Many rooms of one host share one set: each metric is
// made once per registry, and labels are bounded (decisions, intents, paths, reasons; never a room id).
import { Counter, Gauge, Histogram, latencyBuckets, type Registry } from "../observability/index.js";

export interface BrainMetrics {
  /** decision: allow|mask|block|reject; intent: the intent, or the block reason, or "invalid". */
  comments: Counter<"decision" | "intent">;
  /** Time from asking for an answer to its first sentence, by path: embedded|llm. */
  firstSentence: Histogram<"path">;
  /** LLM answers replaced by the embedded brain, by reason (first_token_timeout, http_status, guard, ...). */
  llmFallbacks: Counter<"reason">;
  /** LLM answers cut short after some sentences were already spoken, by reason. */
  llmTruncated: Counter<"reason">;
  /** outcome: queued|merged|dropped|evicted|expired. */
  questions: Counter<"outcome">;
  /** One comment from its text to its verdict and intent (validation, masking, the model); budget 2 ms p99. */
  understandSeconds: Histogram;
  /** The LLM's own verdict on comments the model let through: allow, or a block reason. */
  llmVerdicts: Counter<"verdict">;
  /** Whether the LLM's intent is the model's (agrees: true|false). */
  llmIntentAgreement: Counter<"agrees">;
  questionsPending: Gauge;
}

const made = new WeakMap<Registry, BrainMetrics>();

export function brainMetrics(registry: Registry): BrainMetrics {
  const existing = made.get(registry);
  if (existing) return existing;
  const registers = [registry];
  const metrics: BrainMetrics = {
    comments: new Counter({
      name: "livehost_brain_comments_total",
      help: "Viewer comments by moderation decision and intent",
      labelNames: ["decision", "intent"],
      registers,
    }),
    firstSentence: new Histogram({
      name: "livehost_brain_first_sentence_seconds",
      help: "Time from asking the brain for an answer to its first sentence, by path (embedded or llm)",
      labelNames: ["path"],
      buckets: latencyBuckets,
      registers,
    }),
    llmFallbacks: new Counter({
      name: "livehost_brain_llm_fallbacks_total",
      help: "LLM answers replaced by the embedded brain, by reason",
      labelNames: ["reason"],
      registers,
    }),
    llmTruncated: new Counter({
      name: "livehost_brain_llm_truncated_total",
      help: "LLM answers ended early after some sentences were spoken, by reason",
      labelNames: ["reason"],
      registers,
    }),
    questions: new Counter({
      name: "livehost_brain_questions_total",
      help: "Questions offered to the rooms' queues, by what became of them",
      labelNames: ["outcome"],
      registers,
    }),
    understandSeconds: new Histogram({
      name: "livehost_brain_understand_seconds",
      help: "Time to decide one comment: validation, masking, exact rules and the understanding model",
      buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.05],
      registers,
    }),
    llmVerdicts: new Counter({
      name: "livehost_brain_llm_verdicts_total",
      help: "The LLM's moderation verdict on comments the understanding model allowed (allow or a block reason)",
      labelNames: ["verdict"],
      registers,
    }),
    llmIntentAgreement: new Counter({
      name: "livehost_brain_llm_intent_agreement_total",
      help: "Answers by whether the LLM's intent was the understanding model's",
      labelNames: ["agrees"],
      registers,
    }),
    questionsPending: new Gauge({
      name: "livehost_brain_questions_pending",
      help: "Questions waiting in the rooms' queues",
      registers,
    }),
  };
  made.set(registry, metrics);
  return metrics;
}
