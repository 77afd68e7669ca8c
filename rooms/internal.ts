// rooms: the face for tests and benchmarks — the public face (index.ts) and the internals only they use. Production
// code in other folders imports index.ts (lint checks it).
export * from "./index.js";
export { roomHostServiceName, type RoomHost, type RoomHostOptions, type RoomHostStatus } from "./room-host.js";
export { roomActor, roomActorType, type RoomActorState, type RoomMessage } from "./room-actor.js";
export { type ListRoomsQuery } from "./directory.js";
export { applyUpdate, updatablePaths } from "./spec.js";
// On the face (index.ts) once another folder's production code calls them (the gateway: ListRooms' state, request ids).
export { Voice, type Utterance, type VoiceOutput, type Spoken } from "./voice.js";
export { WorkerDirectory, type KnownWorker, type PickOptions } from "./workers.js";
export type { LiveRoom, LiveRoomDeps, LiveRoomProgress, OnAirRoom, OpenRoom } from "./live-room.js";
export { RoomEventLog, ensureRoomEventsStream, type RoomEventsSettings } from "./event-log.js";
export type { AnswerStages } from "./answer-timing.js";
export { defaultRenderAheadBytes, type RenderAheadOptions } from "./render-ahead.js";
