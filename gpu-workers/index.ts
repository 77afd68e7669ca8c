// gpu-workers: the TTS and lip-sync worker pools. Every worker shares one core (gRPC server with health, stream cap,
// NATS announcements, drain on shutdown); the speech and lip-sync models plug into it.
export { startSpeechWorker } from "./tts/speech-worker.js";
export { EspeakEngine } from "./tts/espeak.js";
export { type ExecutionProviderChoice } from "./onnx/runtime.js";
export { writeSyntheticPiperVoice } from "./tts/piper-synthetic.js";
export { trainLipSyncModel } from "./lipsync/train.js";
export { trainTalkingFace } from "./lipsync/talking-face-train.js";
export { startLipSyncWorker } from "./lipsync/lipsync-worker.js";
export { writeDefaultAvatarPack } from "./lipsync/default-avatar.js";
export { AvatarRejectedError, buildAvatarPack, type AvatarBuildProgress } from "./lipsync/avatar-build.js";
// The engines themselves, for work done outside a worker (onboarding renders a built avatar speaking to score it).
export { synthesizeToPcm } from "./tts/embedded.js";
export { embeddedVoices } from "./tts/voices.js";
export { MouthAnimator, onnxClassifier, type MouthFrame } from "./lipsync/animator.js";
