// Every RoomService call is admitted here before it does anything: the caller is authenticated (UNAUTHENTICATED
// otherwise), found in the policy, allowed the action by its role, and scoped to its tenants' rooms
// (PERMISSION_DENIED otherwise). Changes, and every refused call, are written to the audit trail with their result.
import type { Metadata } from "@grpc/grpc-js";
import { trace } from "@opentelemetry/api";
import { InvalidArgumentError, LivehostError, NotFoundError, PermissionDeniedError } from "../errors/index.js";
import { Counter, Histogram, latencyBuckets, type Registry } from "../observability/index.js";
import type { Room } from "../proto/index.js";
import type { RoomDirectory } from "../rooms/index.js";
import { TokenBucket } from "./token-bucket.js";
import type { Action, AuditEntry, AuditLog, Authenticator, Caller, PeerAuth, Policy } from "../trust/index.js";
import { validateTenant } from "../trust/index.js";

/** Actions that change something: audited whatever their result. Reads are audited only when refused. */
const changes: ReadonlySet<Action> = new Set([
  ...["CreateRoom", "UpdateRoom", "StartRoom", "StopRoom", "Say", "Interrupt"],
  ...["SubmitJob", "CancelJob", "OverrideQuality", "UpdateScript", "RegisterFace", "DeleteFace"],
] as Action[]);

/** Rooms whose tenant the gateway remembers (a room's tenant never changes, so the memory is never stale). */
const rememberedRooms = 100_000;

export interface AccessDeps {
  authenticator: Authenticator;
  /** The policy in force (it may be reloaded between calls). */
  policy: () => Policy;
  audit: AuditLog;
  directory: RoomDirectory;
  registry?: Registry;
}

/** A call admitted: who makes it, and its audit entry (which the handler completes with the room's tenant). */
export class Admitted {
  readonly caller: Caller;
  readonly entry: AuditEntry;
  readonly #access: Access;

  constructor(access: Access, caller: Caller, entry: AuditEntry) {
    this.#access = access;
    this.caller = caller;
    this.entry = entry;
  }

  /**
   * Checks the caller may act on this room (NOT_FOUND when there is none, PERMISSION_DENIED when it is not theirs);
   * resolves to the room's tenant.
   */
  async room(roomId: string): Promise<string> {
    this.entry.roomId = roomId;
    const tenant = await this.#access.tenantOf(roomId);
    if (tenant === undefined) throw new NotFoundError(`room ${roomId} does not exist`);
    this.#scope(tenant, `the tenant of room ${roomId}`);
    return tenant;
  }

  /** The room record, read once for the check and the answer. */
  async readRoom(roomId: string): Promise<Room> {
    this.entry.roomId = roomId;
    const room = await this.#access.readRoom(roomId);
    if (!room) throw new NotFoundError(`room ${roomId} does not exist`);
    this.#scope(room.tenant, `the tenant of room ${roomId}`);
    return room;
  }

  /** The tenant a new room goes to: the one named (the caller's), else the caller's default. */
  tenantForCreate(requested: string): string {
    if (requested === "") {
      const tenant = this.caller.defaultTenant();
      if (tenant === undefined) {
        throw new InvalidArgumentError("tenant", "name the room's tenant: this caller acts for more than one");
      }
      this.entry.tenant = tenant;
      return tenant;
    }
    validateTenant(requested);
    this.#scope(requested, `tenant ${requested}`);
    return requested;
  }

  /** Checks the caller acts for `tenant` (PERMISSION_DENIED naming `what` otherwise); the audit entry names it. */
  tenant(tenant: string, what: string): void {
    this.#scope(tenant, `the tenant of ${what}`);
  }

  /** The tenant filter of a listing: the one named (the caller's), else all the caller's. */
  listFilter(requested: string): (tenant: string) => boolean {
    if (requested !== "") {
      validateTenant(requested);
      this.#scope(requested, `tenant ${requested}`);
      return (tenant) => tenant === requested;
    }
    return (tenant) => this.caller.servesTenant(tenant);
  }

  #scope(tenant: string, what: string): void {
    this.entry.tenant = tenant;
    if (!this.caller.servesTenant(tenant)) {
      throw new PermissionDeniedError(`${this.caller.identity} does not act for ${what}`);
    }
  }
}

/**
 * Refused reads and comments audited per second at most, per gateway: a flood of unauthenticated calls must not
 * become a flood of replicated writes. Changes, refused or not, are always audited.
 */
const refusedReadsAuditedPerSecond = 20;

export class Access {
  readonly #deps: AccessDeps;
  readonly #tenants = new Map<string, string>();
  readonly #seconds: Histogram | undefined;
  readonly #refusalsNotAudited: Counter | undefined;
  readonly #refusalRecords = new TokenBucket(refusedReadsAuditedPerSecond, refusedReadsAuditedPerSecond);

  constructor(deps: AccessDeps) {
    this.#deps = deps;
    this.#seconds = deps.registry
      ? new Histogram({
          name: "livehost_gateway_admission_seconds",
          help: "Time to authenticate a call and find its caller's role in the policy, by result.",
          labelNames: ["result"],
          buckets: latencyBuckets,
          registers: [deps.registry],
        })
      : undefined;
    this.#refusalsNotAudited = deps.registry
      ? new Counter({
          name: "livehost_audit_refusals_not_recorded_total",
          help: "Refused reads and comments beyond what the gateway audits per second (a flood), by action.",
          labelNames: ["action"],
          registers: [deps.registry],
        })
      : undefined;
  }

  /**
   * Admits the call, runs `work`, and audits the outcome (changes always, reads when refused). Errors of `work`
   * reach the caller as they are.
   */
  async run<T>(
    action: Action,
    request: object,
    call: { metadata: Metadata; getAuthContext(): PeerAuth | null },
    work: (admitted: Admitted) => Promise<T>,
  ): Promise<T> {
    const entry: AuditEntry = {
      identity: "",
      authenticatedBy: "",
      role: "",
      tenant: "",
      roomId: "roomId" in request && typeof request.roomId === "string" ? request.roomId : "",
      action,
      result: "ok",
      message: "",
      requestId: "requestId" in request && typeof request.requestId === "string" ? request.requestId : "",
    };
    const started = performance.now();
    let admitted = false;
    try {
      const identity = await this.#deps.authenticator.authenticate(call.metadata, call.getAuthContext());
      Object.assign(entry, { identity: identity.subject, authenticatedBy: identity.by });
      const caller = this.#deps.policy().callerOf(identity.subject);
      if (!caller) throw new PermissionDeniedError(`${identity.subject} is not a caller the gateway's policy knows`);
      entry.role = caller.role;
      if (!caller.may(action)) throw new PermissionDeniedError(`role ${caller.role} may not call ${action}`);
      trace.getActiveSpan()?.setAttributes({ "enduser.id": identity.subject, "enduser.role": caller.role });
      admitted = true;
      this.#seconds?.observe({ result: "ok" }, (performance.now() - started) / 1_000);
      const result = await work(new Admitted(this, caller, entry));
      if (changes.has(action)) await this.#deps.audit.write(entry);
      return result;
    } catch (err) {
      entry.result = err instanceof LivehostError ? err.code : "internal";
      entry.message = err instanceof LivehostError ? err.message.slice(0, 300) : "internal error";
      const refused = entry.result === "unauthenticated" || entry.result === "permission_denied";
      if (!admitted) this.#seconds?.observe({ result: entry.result }, (performance.now() - started) / 1_000);
      if (changes.has(action)) await this.#deps.audit.write(entry);
      else if (refused && this.#refusalRecords.take()) await this.#deps.audit.write(entry);
      else if (refused) this.#refusalsNotAudited?.inc({ action });
      throw err;
    }
  }

  /** The tenant's tier in the policy now ("" when the policy does not name the tenant: the rooms' default). */
  tierOf(tenant: string): string {
    return this.#deps.policy().tenants.get(tenant)?.tier ?? "";
  }

  /** A room's tenant; undefined when the room does not exist. */
  async tenantOf(roomId: string): Promise<string | undefined> {
    return this.#tenants.get(roomId) ?? (await this.readRoom(roomId))?.tenant;
  }

  async readRoom(roomId: string): Promise<Room | undefined> {
    const room = await this.#deps.directory.get(roomId);
    if (room) this.#remember(roomId, room.tenant);
    return room;
  }

  #remember(roomId: string, tenant: string): void {
    if (this.#tenants.size >= rememberedRooms) this.#tenants.delete(this.#tenants.keys().next().value!);
    this.#tenants.set(roomId, tenant);
  }
}
