// onboarding: a merchant's path from upload to air (OnboardingService). Jobs are records in JetStream run step by
// step by job workers (worker.ts, with the real steps of steps.ts) with a checkpoint after each; the gateway submits,
// cancels and decides (jobs.ts); the FaceID library keeps descriptors only (face-library.ts, faces.ts).
export { JobStore, type JobRecord } from "./store.js";
export {
  submitJob,
  checkRetry,
  readJob,
  cancelJob,
  overrideQuality,
  updateScript,
  validateSubmission,
  jobIdFor,
  jobEnded,
} from "./jobs.js";
export { FaceLibrary } from "./face-library.js";
export { describeFace } from "./faces.js";
export { removeJobOutputs } from "./outputs.js";
export { startOnboardingWorker } from "./run.js";
