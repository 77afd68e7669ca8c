// actors: the virtual-actor runtime every live room runs on (placement, single fenced activation, durable
// mailboxes, timers, reminders, failover, drain). The rooms themselves are in rooms/.
export { ActorHost } from "./host.js";
export type { LoadGuardOptions } from "./load-guard.js";
export { ActorClient } from "./client.js";
export { UnknownChannelError } from "./errors.js";
export { ensureStream, whileJetStreamStarts, type StoreSettings } from "./stores.js";
export { stateUnchanged, type ActorContext, type ActorTypeDefinition } from "./types.js";
