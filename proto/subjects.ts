// NATS subjects and JetStream names: part of the contract, like the .proto files (see proto/livehost/v1/bus.proto).
import type { WorkerKindName } from "./worker-kind.js";

/** Room ids are safe as a subject token: [a-z0-9][a-z0-9-]{0,62}. */
export const roomIdPattern = /^[a-z0-9][a-z0-9-]{0,62}$/;

/** Viewer comments for a room (JetStream, stream ROOM_INBOX). */
export const roomComments = (roomId: string) => `rooms.${roomId}.comments`;
/** Commands for a room (JetStream, stream ROOM_INBOX). */
export const roomCommands = (roomId: string) => `rooms.${roomId}.commands`;
/**
 * A room's events (core NATS fan-out). Not under rooms.*.*: that namespace is the rooms' mailboxes, all of it
 * captured by the ROOM_INBOX stream.
 */
export const roomEvents = (roomId: string) => `livehost.events.rooms.${roomId}`;
/** Worker announcements; kind is "tts" or "lipsync". */
export const workerAnnounce = (kind: WorkerKindName) => `workers.${kind}.announce`;
export const allWorkerAnnouncements = "workers.*.announce";

/** The durable stream holding every room's mailbox: comments, commands and reminders (rooms.<id>.<channel>). */
export const roomInboxStream = "ROOM_INBOX";
export const roomInboxSubjects = ["rooms.*.*"];

/** KV bucket holding every room's record (Room, protobuf) by room id: written by the room's actor, read by gateways. */
export const roomDirectoryBucket = "livehost_rooms";
