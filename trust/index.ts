// trust: who is calling and what they may do. Identities from verified tokens or client certificates, the policy
// that binds them to tenants and roles, local mode's development credential, and the append-only audit trail.
export { Authenticator, type PeerAuth } from "./identity.js";
export { Caller, Policy, isTier, tierReserve, validateTenant, type Action, type Tier } from "./policy.js";
export { PolicyFile } from "./policy-file.js";
export { credentialDir, ensureDevelopmentCredential, findToken } from "./credentials.js";
export { AuditLog, readAudit, type AuditEntry, type AuditSettings } from "./audit.js";
