// actors: the face for tests and benchmarks — the public face (index.ts) and the internals only they use. Production
// code in other folders imports index.ts (lint checks it).
export * from "./index.js";
export { placementSubject, type ActorHostOptions } from "./host.js";
export { Membership, heartbeatSubject, type HostInfo } from "./membership.js";
export { LoadGuard } from "./load-guard.js";
export { type AskOptions, type TellOptions } from "./client.js";
export { LeaseLostError } from "./errors.js";
export { deadLetterStream, deadLetterSubject } from "./stores.js";
export type { ActorMessage, AnyActorType } from "./types.js";
