// gpu-workers: the face for tests and benchmarks — the public face (index.ts) and the internals only they use. Production
// code in other folders imports index.ts (lint checks it).
export * from "./index.js";
export { startWorker, type Worker, type WorkerOptions } from "./worker.js";
export { StreamSlots } from "./slots.js";
export { type SpeechWorker, type SpeechWorkerOptions } from "./tts/speech-worker.js";
export { synthesizeEmbedded, type SynthesisChunk } from "./tts/embedded.js";
export { normalize, type Segment, type Language } from "./tts/normalize.js";
export { supportedSampleRates, type EmbeddedVoice, type SpeechVoice } from "./tts/voices.js";
export { PiperVoice, loadPiperVoices } from "./tts/piper.js";
export { createSession, executionProviders } from "./onnx/runtime.js";
export { buildSyntheticPiperVoice, type PiperConfig } from "./tts/piper-synthetic.js";
export { type Evaluation as LipSyncEvaluation } from "./lipsync/train.js";
export { type LipSyncWorker, type LipSyncWorkerOptions } from "./lipsync/lipsync-worker.js";
export { batchedClassifier, type VisemeClassifier } from "./lipsync/animator.js";
export { Batcher, type BatcherOptions, type BatchRunner } from "./onnx/batcher.js";
export { featureSize } from "./lipsync/dataset.js";
export { visemeCount } from "./lipsync/visemes.js";
export { renderMouth, type MouthPatch } from "./lipsync/render.js";
export { drawDefaultHost, defaultMouthBox, defaultFaceBox } from "./lipsync/default-avatar.js";
export { NeuralAnimator } from "./lipsync/neural-animator.js";
export { batchedGenerator, faceInput, facePatch, talkingFaceContract } from "./lipsync/talking-face.js";
export { generatorGraph } from "./lipsync/wav2lip-graph.js";
export { projectGeneratorPath } from "./lipsync/lipsync-worker.js";
export { evaluateOnHeldOut } from "./lipsync/talking-face-eval.js";
export {
  AvatarRejectedError,
  type AvatarBuildOptions,
  type AvatarBuildReport,
  type RejectionReason,
} from "./lipsync/avatar-build.js";
export { visemeParams, visemeTrack } from "./lipsync/visemes.js";
