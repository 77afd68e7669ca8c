// NATS subjects and JetStream names: part of the contract, like the .proto files (see proto/livehost/v1/bus.proto).
import type { WorkerKindName } from "./worker-kind.js";

/** Room ids are safe as a subject token: [a-z0-9][a-z0-9-]{0,62}. */
export const roomIdPattern = /^[a-z0-9][a-z0-9-]{0,62}$/;

/** Viewer comments for a room (JetStream, stream ROOM_INBOX). */
export const roomComments = (roomId: string) => `rooms.${roomId}.comments`;
/** Commands for a room (JetStream, stream ROOM_INBOX). */
export const roomCommands = (roomId: string) => `rooms.${roomId}.commands`;
/**
 * A room's events (RoomEvent, protobuf), live (core NATS). Each is published here only after it was stored in the
 * room's event log (roomEventLog, stream ROOM_EVENTS), so a live watcher never sees an event the log refused. Not
 * under rooms.*.*: that namespace is the rooms' mailboxes, all of it captured by ROOM_INBOX.
 */
export const roomEvents = (roomId: string) => `livehost.events.rooms.${roomId}`;
/**
 * A room's event log: the same RoomEvents, stored in order in the ROOM_EVENTS stream for a while (WatchRoom replays
 * from it). Written by the room's owner only, conditionally on the subject's last sequence (rooms/event-log.ts).
 */
export const roomEventLog = (roomId: string) => `livehost.eventlog.rooms.${roomId}`;
/**
 * WebRTC viewers of a room (WHEP signalling, core NATS request-reply, JSON): the gateway asks, and only the room host
 * that has the room on air answers (the others stay silent). `{ "op": "offer", "sdp" }` -> `{ "session", "answer" }`;
 * `{ "op": "delete", "session" }` -> `{ "deleted": true }`; a refusal is `{ "error": { "code", "message",
 * "retryAfterSeconds"? } }` with an error code (errors/). Under livehost.*, not rooms.*.* (the rooms' mailboxes).
 */
export const roomWhep = (roomId: string) => `livehost.whep.rooms.${roomId}`;
/** What a room host subscribes to, answering for the rooms it has on air. */
export const allRoomWhep = "livehost.whep.rooms.*";
/** The stream keeping every room's recent events (livehost.eventlog.rooms.*), one subject per room. */
export const roomEventsStream = "ROOM_EVENTS";
/** Worker announcements; kind is "tts" or "lipsync". */
export const workerAnnounce = (kind: WorkerKindName) => `workers.${kind}.announce`;
export const allWorkerAnnouncements = "workers.*.announce";

/** The durable stream holding every room's mailbox: comments, commands and reminders (rooms.<id>.<channel>). */
export const roomInboxStream = "ROOM_INBOX";
export const roomInboxSubjects = ["rooms.*.*"];

/** KV bucket holding every room's record (Room, protobuf) by room id: written by the room's actor, read by gateways. */
export const roomDirectoryBucket = "livehost_rooms";

/** The append-only audit trail of control actions (AuditRecord), one subject per tenant and action. */
export const auditStream = "AUDIT";
export const audit = (tenant: string, action: string) => `livehost.audit.${tenant || "_"}.${action}`;
export const allAudit = "livehost.audit.>";

/** Onboarding jobs' records (JSON, see onboarding/store.ts) by job id: written by the gateway and job workers. */
export const jobsBucket = "livehost_jobs";
/** A job's events (JobEvent, protobuf), in order, kept while the job is kept (stream JOB_EVENTS). */
export const jobEvents = (jobId: string) => `livehost.jobs.events.${jobId}`;
export const jobEventsStream = "JOB_EVENTS";
/** The job workers' queue (stream JOB_QUEUE, work queue): a message is a job id to run, or to go on with. */
export const jobQueue = "livehost.jobs.queue";
export const jobQueueStream = "JOB_QUEUE";
/** Uploaded videos, one object per job, its SHA-256 checked on every read (object store). */
export const uploadsBucket = "livehost_uploads";
/** The FaceID library: one face descriptor per key <tenant>.<face id> (JSON); never photos. */
export const facesBucket = "livehost_faces";
/** Avatar packs built by onboarding jobs: the pack's files as objects <avatar id>/<file>, pack.json written last. */
export const avatarsBucket = "livehost_avatars";
