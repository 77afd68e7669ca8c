// gpu-workers: the TTS and lip-sync worker pools. Every worker shares one core (gRPC server with health, stream cap,
// NATS announcements, drain on shutdown); the speech and lip-sync models plug into it.
export { startWorker, type Worker, type WorkerOptions } from "./worker.js";
export { StreamSlots } from "./slots.js";
export { seededRandom } from "./random.js";
export { startSpeechWorker, type SpeechWorker, type SpeechWorkerOptions } from "./tts/speech-worker.js";
export { EspeakEngine } from "./tts/espeak.js";
export { synthesizeEmbedded, synthesizeToPcm, type SynthesisChunk } from "./tts/embedded.js";
export { normalize, type Segment, type Language } from "./tts/normalize.js";
export { embeddedVoices, supportedSampleRates, type EmbeddedVoice, type SpeechVoice } from "./tts/voices.js";
export { PiperVoice, loadPiperVoices } from "./tts/piper.js";
export { executionProviders, type ExecutionProviderChoice } from "./onnx/runtime.js";
export { buildSyntheticPiperVoice, writeSyntheticPiperVoice, type PiperConfig } from "./tts/piper-synthetic.js";
export { trainLipSyncModel, type Evaluation as LipSyncEvaluation } from "./lipsync/train.js";
export { startLipSyncWorker, type LipSyncWorker, type LipSyncWorkerOptions } from "./lipsync/lipsync-worker.js";
export { MouthAnimator, onnxClassifier, type MouthFrame, type VisemeClassifier } from "./lipsync/animator.js";
export { renderMouth, type MouthPatch } from "./lipsync/render.js";
export { writeDefaultAvatarPack, drawDefaultHost, defaultMouthBox } from "./lipsync/default-avatar.js";
export {
  buildAvatarPack,
  AvatarRejectedError,
  type AvatarBuildOptions,
  type AvatarBuildProgress,
  type AvatarBuildReport,
  type RejectionReason,
} from "./lipsync/avatar-build.js";
export { visemeParams, visemeTrack } from "./lipsync/visemes.js";
