// operator: the Kubernetes operator that keeps enough TTS and lip-sync capacity ready, in the cheapest places that
// have it: WorkerPool, GpuOffering and LiveEvent custom resources, demand from the workers and the room directory,
// pure scaling decisions, and the control loop.
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
  roomsNeeded,
  streamsPerRoom,
  replicasFor,
  stabilize,
  planReplicas,
  planPool,
  gpuDemand,
  placeNodes,
  laneKey,
  judgeLane,
  healthyLane,
  pickNodesToRemove,
  defaultBackoff,
  type ScheduledPeak,
  type ScheduledRoom,
  type RoomsSeen,
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
export { startOperator, type Operator, type OperatorSettings } from "./controller.js";
export { setCondition } from "./conditions.js";
export {
  NatsWorkerDemand,
  type DemandSource,
  type WorkerLoad,
  type NatsWorkerDemandOptions,
  type RoomDirectoryView,
} from "./demand.js";
export { RoomDirectoryDemand, trackRoom, type RoomDirectoryDemandOptions } from "./room-demand.js";
export { LeaderElector, type LeaderSettings } from "./leader.js";
export { NotLeaderError } from "./errors.js";
export {
  startOperatorRole,
  compileOperatorOptions,
  inheritedWorkerEnv,
  type OperatorOptions,
  type OperatorRole,
  type OperatorRunSettings,
} from "./run.js";
export { workerDeployment, mergePatch, workerPodDefaults, workerRole, type WorkerPodSettings } from "./workload.js";
