// operator: the Kubernetes operator that keeps enough TTS and lip-sync capacity ready, in the cheapest places that
// have it: WorkerPool, GpuOffering and LiveEvent custom resources, pure scaling decisions, and the control loop.
export * from "./resources.js";
export { crdFiles, customResourceDefinition, type CustomResourceDefinition } from "./crds.js";
export {
  checkWorkerPool,
  checkGpuOffering,
  checkLiveEvent,
  describeProblems,
  type Problem,
  type Checked,
} from "./validate.js";
export {
  compilePeak,
  scheduledRooms,
  streamsNeeded,
  replicasFor,
  stabilize,
  planReplicas,
  decidePool,
  gpuDemand,
  placeNodes,
  laneKey,
  judgeLane,
  healthyLane,
  pickNodesToRemove,
  defaultBackoff,
  type ScheduledPeak,
  type Recommendation,
  type WorkerReplica,
  type ReplicaPlan,
  type PoolDecision,
  type PoolInput,
  type Lane,
  type GpuDemand,
  type LaneHealth,
  type LaneObservation,
  type LaneVerdict,
} from "./decide.js";
