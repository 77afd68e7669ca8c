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
export { roomActor, type RoomActorState, type RoomMessage } from "./room-actor.js";
export { validateComment, validateRoomId, maxCommentLength } from "./validation.js";
