// operator: the face for tests and benchmarks — the public face (index.ts) and the internals only they use. Production
// code in other folders imports index.ts (lint checks it).
export * from "./index.js";
export {
  group,
  version,
  apiVersion,
  type ObjectMeta,
  type Condition,
  type WorkerPoolSpec,
  type WorkerPoolStatus,
  type WorkerPool,
  type NodeGroupRef,
  type CapacityLaneSpec,
  type GpuOfferingSpec,
  type CapacityType,
  type LaneStatus,
  type GpuOfferingStatus,
  type GpuOffering,
  type LiveEventSpec,
  type LiveEventStatus,
  type LiveEvent,
  type ResourceDefinition,
  type JsonSchema,
  workerPoolDefinition,
  gpuOfferingDefinition,
  liveEventDefinition,
  definitions,
  type WorkerKindName,
} from "./resources.js";
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
  peakFactor,
  trendStreams,
  interruptionBurst,
  noticesQuietMs,
  roomsNeeded,
  streamsPerRoom,
  replicasFor,
  stabilize,
  planReplicas,
  planPool,
  planJobWorkers,
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
  type Observation,
  type Recommendation,
  type WorkerReplica,
  type ReplicaPlan,
  type PoolDecision,
  type PoolInput,
  type JobWorkerBounds,
  type JobWorkerInput,
  type JobWorkerDecision,
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
export { type OperatorRole } from "./run.js";
export { workerDeployment, mergePatch, workerRole, type WorkerPodSettings } from "./workload.js";
export { LeadTimes, type LeadSample } from "./capacity.js";
export { NatsJobQueue, jobWorkersConsumer, type JobQueueSource, type JobQueueView } from "./job-queue.js";
export { planJobWorkerDeployment, type JobWorkerSettings, type JobWorkerPlan } from "./job-workers.js";
