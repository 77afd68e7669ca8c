// NATS subjects and JetStream names: part of the contract, like the .proto files (see proto/livehost/v1/bus.proto).

/** Room ids are safe as a subject token: [a-z0-9][a-z0-9-]{0,62}. */
export const roomIdPattern = /^[a-z0-9][a-z0-9-]{0,62}$/;

/** Viewer comments for a room (JetStream, stream ROOM_INBOX). */
export const roomComments = (roomId: string) => `rooms.${roomId}.comments`;
/** Commands for a room (JetStream, stream ROOM_INBOX). */
export const roomCommands = (roomId: string) => `rooms.${roomId}.commands`;
/** A room's events (core NATS fan-out). */
export const roomEvents = (roomId: string) => `rooms.${roomId}.events`;
/** Worker announcements; kind is "tts" or "lipsync". */
export const workerAnnounce = (kind: "tts" | "lipsync") => `workers.${kind}.announce`;
export const allWorkerAnnouncements = "workers.*.announce";

/** The durable stream holding every room's comments and commands until the room has handled them. */
export const roomInboxStream = "ROOM_INBOX";
export const roomInboxSubjects = ["rooms.*.comments", "rooms.*.commands"];
