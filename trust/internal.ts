// trust: the public face, for tests and benchmarks too.
export * from "./index.js";
export { type DevelopmentCredential } from "./credentials.js";
export { roles, type Role } from "./policy.js";
export { Caller } from "./policy.js";
export type { AuditQuery } from "./audit.js";
export type { AuthenticatorOptions, Identity } from "./identity.js";
