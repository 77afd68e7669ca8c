// gateway: the face for tests and benchmarks — the public face (index.ts) and the internals only they use. Production
// code in other folders imports index.ts (lint checks it).
export * from "./index.js";
export { type Gateway, type GatewayOptions } from "./gateway.js";
export { Access, Admitted } from "./access.js";
export { roomService } from "./room-service.js";
