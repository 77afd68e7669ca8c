// brain: what a live room says. A pure library (no I/O but the LLM's HTTP stream) that the room actor calls:
//
//   catalog and persona   parseCatalog / parsePersonas / pickPersona   JSON (fixtures' format) -> contract types
//   the show              ShowPlan: at(position) -> the line to speak with its cues; afterSentence / nextLine
//   comments              RoomBrain.receive: validate -> mask personal data -> moderate -> intent + product -> queue
//   answers               RoomBrain.nextQuestion, RoomBrain.answer: sentences from the LLM (guarded) or the
//                         embedded brain (deterministic, catalog-grounded), with cues
//
// The parts are exported too, for tests, benchmarks and tools that need one step alone.
export { RoomBrain } from "./room-brain.js";
export type {
  RoomBrainOptions,
  IncomingComment,
  CommentOutcome,
  AnswerSentence,
  AnswerOptions,
  AnswerPath,
} from "./room-brain.js";
export { parseCatalog, parsePersonas, pickPersona, loadCatalogFile, loadPersonasFile, sampleFiles } from "./catalog.js";
export {
  ShowPlan,
  variantFor,
  type ShowPosition,
  type ShowUtterance,
  type ShowLineKind,
  type ShowOptions,
} from "./show.js";
export { findCues, type Cue, type CuedText } from "./cues.js";
export {
  CommentGate,
  validateCommentText,
  maskPersonalData,
  maxCommentLength,
  piiMask,
  type CommentGateOptions,
  type CommentVerdict,
  type CommentFlag,
  type RejectReason,
  type BlockReason,
  type PiiKind,
} from "./moderation.js";
export { understand, purchaseIntents, type Intent, type Understanding, type ProductReference } from "./intent.js";
export { QuestionQueue, type Question, type QuestionQueueOptions, type Offered } from "./queue.js";
export { EmbeddedBrain, type EmbeddedOptions } from "./embedded.js";
export { AnswerGuard, type GuardResult, type GuardViolation } from "./guard.js";
export {
  streamChat,
  compileLlmOptions,
  llmOptionsFromEnv,
  type LlmOptions,
  type LlmConfig,
  type ChatMessage,
} from "./llm.js";
export { systemPrompt, chatMessages } from "./prompt.js";
export { sentenceSpans, sentencesOf } from "./sentences.js";
export { LlmError, type LlmFailure } from "./errors.js";
export { brainMetrics, type BrainMetrics } from "./metrics.js";
export { formatMoney, moneyDigits, showLanguage, type ShowLanguage } from "./text.js";
