// brain: what a live room says. A pure library (no I/O but the LLM's HTTP stream) that the room actor calls:
//
//   catalog and persona   parseCatalog / parsePersonas / pickPersona   JSON (fixtures' format) -> contract types
//   the show              ShowPlan: at(position) -> the line to speak with its cues; afterSentence / nextLine
//   a show written ahead  writeScript (an LLM, guarded, or the embedded brain) / checkScript -> RoomSpec.script
//   comments              RoomBrain.receive: validate -> mask personal data -> moderate -> intent + product -> queue
//   answers               RoomBrain.nextQuestion, RoomBrain.answer: sentences from the LLM (guarded) or the
//                         embedded brain (deterministic, catalog-grounded), with cues
//
// This face is what the room actor and the CLI use; tests and benchmarks reach one step alone through internal.ts.
export { RoomBrain } from "./room-brain.js";
export {
  isCalendarDate,
  parseCatalog,
  parsePersonas,
  pickPersona,
  loadCatalogFile,
  loadPersonasFile,
  sampleFiles,
} from "./catalog.js";
export { type ShowPosition } from "./show.js";
export { writeScript, checkScript, checkCatalogWording } from "./script.js";
export { type Cue } from "./cues.js";
export { type GuardResult } from "./guard.js";
export { maskPersonalData, validateCommentText, decideText } from "./moderation.js";
export { CommentClassifier } from "./understanding/classifier.js";
export { llmOptionsFromEnv, type LlmOptions } from "./llm.js";
export { formatMoney, showLanguage } from "./text.js";
export { trainUnderstandingModel } from "./understanding/train.js";
