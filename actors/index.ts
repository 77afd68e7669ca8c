// actors: the virtual-actor runtime every live room runs on (placement, single fenced activation, durable
// mailboxes, timers, reminders, failover, drain). The rooms themselves are in rooms/.
export { ActorHost, placementSubject, type ActorHostOptions } from "./host.js";
export { ActorClient, type AskOptions, type TellOptions } from "./client.js";
export { LeaseLostError, UnknownChannelError } from "./errors.js";
export { deadLetterStream, deadLetterSubject, whileJetStreamStarts, type StoreSettings } from "./stores.js";
export type { ActorContext, ActorMessage, ActorTypeDefinition, AnyActorType } from "./types.js";
