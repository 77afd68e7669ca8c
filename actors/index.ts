// actors: the virtual-actor runtime every live room runs on (placement, single fenced activation, durable
// mailboxes, timers, reminders, failover, drain), the room host process, the rooms' durable inbox, and what a valid
// comment is.
export { ActorHost, placementSubject, type ActorHostOptions } from "./host.js";
export { ActorClient, type AskOptions, type TellOptions } from "./client.js";
export { LeaseLostError, ActorHandlerError } from "./errors.js";
export { deadLetterStream, deadLetterSubject, type StoreSettings } from "./stores.js";
export type { ActorContext, ActorMessage, ActorTypeDefinition, AnyActorType } from "./types.js";
export {
  startRoomHost,
  roomHostServiceName,
  type RoomHost,
  type RoomHostOptions,
  type RoomHostStatus,
} from "./room-host.js";
export { enqueueComment } from "./inbox.js";
export { roomActor, type RoomActorState, type RoomMessage } from "./room-actor.js";
export { validateComment, validateRoomId, maxCommentLength } from "./validation.js";
