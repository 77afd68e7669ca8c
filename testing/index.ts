// testing: harnesses for integration tests (real nats-server processes, gRPC servers on port 0, child processes
// of the livehost CLI). Production code never imports this folder.
export { startNatsServer, NatsCluster, NatsServer } from "./nats.js";
export { startTestGrpcServer, roomServiceClient } from "./grpc.js";
export { eventually } from "./eventually.js";
export { allowGStreamerWarnings } from "./gstreamer-warnings.js";
export { fakeRoomService } from "./fakes.js";
export { runCli, processAlive, cliPath, type CliProcess } from "./cli.js";
export { counterActor, encodeOp, type CounterState, type CounterOp, type CounterSnapshot } from "./counter-actor.js";
export { startActorHostProcess, type ActorHostProcess } from "./actor-hosts.js";
export {
  startFestivalHostProcess,
  festivalHostStatus,
  festivalHostStatusSubject,
  type FestivalHostProcess,
  type FestivalHostStatus,
} from "./festival-host.js";
export { recordAnnouncements } from "./announcements.js";
export { writeTalkingVideo, type TalkingVideo, type TalkingVideoOptions } from "./talking-video.js";
export { sampleRoomSpec } from "./rooms.js";
export { KubeApiTestServer, operatorResourceTypes, type KubeObject, type ResourceType } from "./kube-api-server.js";
export {
  capiMachine,
  capiMachineDeployment,
  gpuNode,
  insufficientCapacityMessage,
  karpenterInsufficientCapacityEvent,
  karpenterNodeClaim,
  karpenterNodePool,
} from "./kube-objects.js";
export { startSecureNatsServer, type SecureNatsServer } from "./secure-nats.js";
export {
  startTestOperator,
  testOperatorLease,
  testGpuOfferingSpec,
  testWorkerPoolSpec,
  type TestOperator,
  type TestOperatorOptions,
} from "./operator.js";
export {
  startTestRoomStack,
  testFrame,
  showPlace,
  compareShowPlaces,
  type TestRoomStack,
  type TestRoomStackOptions,
  type TestRoomHost,
  type TestRoomStackWith,
  type TestWorker,
  type TestSpeechWorker,
  type TestLipSyncWorker,
} from "./room-stack.js";
export {
  animateUtterance,
  startTestLipSyncWorker,
  voicedTone,
  type TestLipSyncWorkerOptions,
} from "./lipsync-worker.js";
export { killOnExit } from "./children.js";
