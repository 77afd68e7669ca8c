// actors: the room host and the rooms that live on it; the durable inbox rooms read their comments and commands
// from; what a valid comment is.
export {
  startRoomHost,
  roomHostServiceName,
  type RoomHost,
  type RoomHostOptions,
  type RoomHostStatus,
} from "./room-host.js";
export { ensureRoomInbox, enqueueComment, type InboxSettings } from "./inbox.js";
export { validateComment, validateRoomId, maxCommentLength } from "./validation.js";
