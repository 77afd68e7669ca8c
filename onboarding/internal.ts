// onboarding: the face for tests and benchmarks — the public face (index.ts) and the internals only they use.
export * from "./index.js";
export { stepNames, isFinal, type JobRecord, type StepName } from "./store.js";
export { defaultUploadMaxBytes, maxChunkBytes, jobIdFor } from "./jobs.js";
export { startJobWorker, StepRefusedError, type JobWorker, type JobSteps } from "./worker.js";
export type { OnboardingWorkerOptions } from "./run.js";
export { facePhoto, hostFace, otherFace, makeTalkingHeadVideo, noFacePhoto } from "./testing/talking-head.js";
export { evaluateFaceId, type FaceIdEvaluation } from "./faceid-eval.js";
export { submission, submitVideo, followJob } from "./testing/client.js";
