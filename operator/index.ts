// operator: the Kubernetes operator that keeps enough TTS and lip-sync capacity ready, in the cheapest places that
// have it: WorkerPool, GpuOffering and LiveEvent custom resources, demand from the workers and the room directory,
// pure scaling decisions, and the control loop; it also sizes the onboarding job workers from their queue.
export {
  startOperatorRole,
  compileOperatorOptions,
  inheritedWorkerEnv,
  type OperatorOptions,
  type OperatorRunSettings,
} from "./run.js";
export { workerPodDefaults } from "./workload.js";
export { capacityDefaults } from "./capacity.js";
export { jobWorkerDefaults } from "./job-workers.js";
