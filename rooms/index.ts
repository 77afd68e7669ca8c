// rooms: the live room as an actor on the actor runtime (its lifecycle, record and events), the room host process
// that runs rooms, the rooms' durable inbox, and what a valid comment is.
export {
  startRoomHost,
  roomHostServiceName,
  type RoomHost,
  type RoomHostOptions,
  type RoomHostStatus,
} from "./room-host.js";
export { enqueueComment } from "./inbox.js";
export { roomActor, roomActorType, type RoomActorState, type RoomMessage } from "./room-actor.js";
export { RoomClient } from "./client.js";
export { RoomDirectory, type ListRoomsQuery } from "./directory.js";
export { validateRoomSpec, applyUpdate, updatablePaths } from "./spec.js";
export { Voice, type Utterance, type VoiceOutput, type Spoken } from "./voice.js";
export { WorkerDirectory, type KnownWorker, type PickOptions } from "./workers.js";
export { validateComment, validateRoomId } from "./validation.js";
export type { LiveRoomDeps } from "./live-room.js";
export type { AnswerStages } from "./answer-timing.js";
