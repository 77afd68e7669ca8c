// brain: the face for tests and benchmarks — the public face (index.ts) and the internals only they use. Production
// code in other folders imports index.ts (lint checks it).
export * from "./index.js";
export type {
  RoomBrainOptions,
  IncomingComment,
  CommentOutcome,
  AnswerSentence,
  AnswerOptions,
  AnswerPath,
} from "./room-brain.js";
export {
  ShowPlan,
  variantFor,
  showLineKinds,
  type ShowUtterance,
  type ShowLineKind,
  type ShowOptions,
  type ShowOutlineLine,
} from "./show.js";
export { findCues, type CuedText } from "./cues.js";
export {
  CommentGate,
  maskPersonalData,
  maxCommentLength,
  piiMask,
  type CommentGateOptions,
  type CommentVerdict,
  type CommentFlag,
  type RejectReason,
  type BlockReason,
  type PiiKind,
  type CommentReader,
  type TextDecision,
  moderationFlags,
} from "./moderation.js";
export { sharedClassifier, shippedModelPath } from "./understanding/classifier.js";
export {
  generateCorpus,
  intentLabels,
  blockLabels,
  type LabelledComment,
  type IntentLabel,
  type BlockLabel,
} from "./understanding/corpus.js";
export { featureIds, featureStrings, normalizeComment } from "./understanding/features.js";
export { readLabelled, score, type Scores } from "./understanding/evaluate.js";
export { labelledSetNotes, labelledSets } from "./understanding/train.js";
export { understand, purchaseIntents, type Intent, type Understanding, type ProductReference } from "./intent.js";
export { QuestionQueue, type Question, type QuestionQueueOptions, type Offered } from "./queue.js";
export { EmbeddedBrain, type EmbeddedOptions } from "./embedded.js";
export { AnswerGuard, type GuardResult, type GuardViolation } from "./guard.js";
export { streamChat, compileLlmOptions, type LlmConfig, type ChatMessage } from "./llm.js";
export { systemPrompt, chatMessages, scriptMessages } from "./prompt.js";
export { sentenceSpans, sentencesOf } from "./sentences.js";
export { LlmError, type LlmFailure } from "./errors.js";
export {
  scriptLimits,
  maxScriptBytes,
  type WriteScriptOptions,
  type CheckScriptOptions,
  type ScriptFallback,
  type ScriptAuthor,
} from "./script.js";
export { brainMetrics, type BrainMetrics } from "./metrics.js";
export { moneyDigits, type ShowLanguage } from "./text.js";
export { startFakeLlm, type FakeLlmServer, type FakeReply } from "./testing/fake-llm.js";
