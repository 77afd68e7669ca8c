// rooms: the live room as an actor on the actor runtime (its lifecycle, record and events), the room host process
// that runs rooms, the rooms' durable inbox, and what a valid comment is.
export { startRoomHost } from "./room-host.js";
export { enqueueComment, refusedCounter as inboxRefusedCounter } from "./inbox.js";
export { RoomClient } from "./client.js";
export { RoomDirectory } from "./directory.js";
export { validateRoomSpec } from "./spec.js";
export { validateComment, validateEnum, validateLength, validateRequestId, validateRoomId } from "./validation.js";
export { RoomEndedError } from "./errors.js";
export { streamKeysFrom } from "./stream-keys.js";
