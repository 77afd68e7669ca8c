// Who may do what: the policy binds each caller's identity to tenants (merchants) and one role, and each role to the
// RoomService actions it may take. It is a YAML document (the chart's `auth.policy` values, mounted from a
// ConfigMap), checked as a whole when read: a bad document names the line's field and is never half-applied.
//
//   tenants:                          # every tenant a binding may name, with its tier and quotas
//     acme:
//       tier: gold                    # who gets worker capacity first when it is short: gold, silver, bronze
//       quotas: { liveRooms: 50, commentsPerSecond: 200, sayPerMinute: 30, jobsUnderWay: 5 }   # each optional
//   callers:
//     - identity: system:serviceaccount:shop:acme-backoffice     # a token's subject, exactly
//       tenants: [acme]
//       role: merchant
//     - identity: sre@example.com
//       tenants: ["*"]
//       role: admin
//       defaultTenant: acme        # where its creates go when they name no tenant (else: its only tenant)
//     - identity: spiffe://cluster.local/ns/ingest/sa/*          # a certificate's URI SAN; a final * is a prefix
//       tenants: ["*"]                                           # every tenant
//       role: ingest
import { parse } from "yaml";
import { InvalidArgumentError } from "../errors/index.js";

export const roles = ["merchant", "ingest", "console", "observer", "admin"] as const;
export type Role = (typeof roles)[number];

export const actions = [
  "CreateRoom",
  "GetRoom",
  "ListRooms",
  "UpdateRoom",
  "StartRoom",
  "StopRoom",
  "PostComment",
  "Say",
  "Interrupt",
  "WatchRoom",
  "SubmitJob",
  "GetJob",
  "ListJobs",
  "WatchJob",
  "CancelJob",
  "OverrideQuality",
  "GetScript",
  "UpdateScript",
  "RegisterFace",
  "ListFaces",
  "DeleteFace",
] as const;
export type Action = (typeof actions)[number];

/**
 * What each role may do, in its tenants. A merchant's back office runs its own rooms; the danmaku ingest only posts
 * comments (and reads a room to route them); an operator console watches, speaks and stops rooms it does not
 * configure; an observer (a dashboard, `helm test`) only reads; an admin (SRE) does everything, and alone may
 * speak a line the guard refuses (SayRequest.override_guard). Onboarding: a merchant launches its own rooms and keeps
 * its FaceID library; a console and an observer follow jobs and read scripts.
 */
const allowed: Record<Role, ReadonlySet<Action>> = {
  merchant: new Set(actions),
  ingest: new Set(["PostComment", "GetRoom"]),
  console: new Set([
    ...["GetRoom", "ListRooms", "WatchRoom", "StartRoom", "StopRoom", "Say", "Interrupt"],
    ...["GetJob", "ListJobs", "WatchJob", "GetScript"],
  ] as Action[]),
  observer: new Set(["GetRoom", "ListRooms", "WatchRoom", "GetJob", "ListJobs", "WatchJob", "GetScript"]),
  admin: new Set(actions),
};

export const tiers = ["gold", "silver", "bronze"] as const;
export type Tier = (typeof tiers)[number];

/**
 * The share of a worker pool's streams each tier leaves free for the tiers above it: when capacity is short, a bronze
 * room waits (idle video) while 30 % of the streams stay for silver and gold, a silver room while 10 % stay for gold.
 * Rooms pick workers by it; the operator sizes pools so that every tier is served with these shares kept.
 */
export const tierReserve: Record<Tier, number> = { gold: 0, silver: 0.1, bronze: 0.3 };

export function isTier(value: unknown): value is Tier {
  return tiers.includes(value as Tier);
}

/** What one tenant may use; an absent limit is unlimited. */
export interface Quotas {
  /** Rooms on air (warming, live or paused) at once. */
  liveRooms?: number;
  /** Comments posted through the gateways per second, all its rooms together. */
  commentsPerSecond?: number;
  /** Say calls per minute, all its rooms together. */
  sayPerMinute?: number;
  /** Onboarding jobs submitted and not yet ended, at once (SubmitJob is refused beyond, before any upload). */
  jobsUnderWay?: number;
}

export interface TenantSettings {
  tier: Tier;
  quotas: Quotas;
}

const quotaNames = ["liveRooms", "commentsPerSecond", "sayPerMinute", "jobsUnderWay"] as const;

const tenantPattern = /^[a-z0-9][a-z0-9-]{0,62}$/;

/** A tenant id as rooms and policies carry it: usable in NATS subjects, like a room id. */
export function validateTenant(tenant: string, field = "tenant"): void {
  if (!tenantPattern.test(tenant)) {
    throw new InvalidArgumentError(field, `"${tenant.slice(0, 80)}" is not [a-z0-9][a-z0-9-]{0,62}`);
  }
}

/** A known caller: its identity, its role and the tenants it acts for. */
export class Caller {
  readonly identity: string;
  readonly role: Role;
  /** Every tenant ("*" in the policy), or these. */
  readonly tenants: ReadonlySet<string> | "all";
  readonly #defaultTenant: string | undefined;

  constructor(identity: string, role: Role, tenants: ReadonlySet<string> | "all", defaultTenant?: string) {
    this.identity = identity;
    this.role = role;
    this.tenants = tenants;
    this.#defaultTenant = defaultTenant;
  }

  may(action: Action): boolean {
    return allowed[this.role].has(action);
  }

  servesTenant(tenant: string): boolean {
    return this.tenants === "all" || this.tenants.has(tenant);
  }

  /** The tenant a create goes to when the request names none: the binding's default, else the caller's only one. */
  defaultTenant(): string | undefined {
    if (this.#defaultTenant !== undefined) return this.#defaultTenant;
    if (this.tenants === "all" || this.tenants.size !== 1) return undefined;
    return [...this.tenants][0];
  }
}

interface Binding {
  identity: string;
  prefix: boolean;
  role: Role;
  tenants: ReadonlySet<string> | "all";
  defaultTenant?: string;
}

export class Policy {
  readonly tenants: ReadonlyMap<string, TenantSettings>;
  readonly #bindings: Binding[];

  private constructor(tenants: Map<string, TenantSettings>, bindings: Binding[]) {
    this.tenants = tenants;
    this.#bindings = bindings;
  }

  /**
   * The policy of local mode: the development identity is an admin of every tenant, and its rooms go to tenant
   * "local" unless it names another; nobody else is known.
   */
  static development(identity: string): Policy {
    return new Policy(new Map(), [{ identity, prefix: false, role: "admin", tenants: "all", defaultTenant: "local" }]);
  }

  /** Parses and checks a whole document; errors name the field, e.g. "policy.callers[2].role". */
  static parse(text: string, source = "policy"): Policy {
    let document: unknown;
    try {
      document = parse(text);
    } catch (err) {
      throw new InvalidArgumentError(source, `is not YAML: ${(err as Error).message.split("\n")[0]}`, { cause: err });
    }
    if (!isRecord(document)) throw new InvalidArgumentError(source, "must be a mapping with tenants and callers");
    for (const key of Object.keys(document)) {
      if (key !== "tenants" && key !== "callers") {
        throw new InvalidArgumentError(`${source}.${key}`, "is not a policy field (tenants, callers)");
      }
    }
    const tenants = new Map<string, TenantSettings>();
    const tenantDocs = document.tenants ?? {};
    if (!isRecord(tenantDocs)) throw new InvalidArgumentError(`${source}.tenants`, "must be a mapping of tenant ids");
    for (const [id, value] of Object.entries(tenantDocs)) {
      validateTenant(id, `${source}.tenants`);
      tenants.set(id, parseTenant(value ?? {}, `${source}.tenants.${id}`));
    }
    const callers = document.callers ?? [];
    if (!Array.isArray(callers)) throw new InvalidArgumentError(`${source}.callers`, "must be a list");
    const bindings = callers.map((value: unknown, i) => {
      const at = `${source}.callers[${i}]`;
      if (!isRecord(value)) throw new InvalidArgumentError(at, "must be a mapping with identity, tenants and role");
      for (const key of Object.keys(value)) {
        if (!["identity", "tenants", "role", "defaultTenant"].includes(key)) {
          throw new InvalidArgumentError(
            `${at}.${key}`,
            "is not a caller field (identity, tenants, role, defaultTenant)",
          );
        }
      }
      const { identity, role, tenants: named, defaultTenant } = value;
      if (typeof identity !== "string" || identity === "" || identity.length > 512 || identity === "*") {
        throw new InvalidArgumentError(`${at}.identity`, "must be an identity of 1 to 512 characters (not only *)");
      }
      if (!roles.includes(role as Role)) {
        throw new InvalidArgumentError(`${at}.role`, `must be one of ${roles.join(", ")}`);
      }
      if (!Array.isArray(named) || named.length === 0) {
        throw new InvalidArgumentError(`${at}.tenants`, 'must list tenant ids, or ["*"] for every tenant');
      }
      let scope: Set<string> | "all" = new Set<string>();
      for (const tenant of named) {
        if (tenant === "*") {
          scope = "all";
          continue;
        }
        if (typeof tenant !== "string" || !tenants.has(tenant)) {
          throw new InvalidArgumentError(`${at}.tenants`, `"${String(tenant)}" is not under tenants`);
        }
        if (scope !== "all") scope.add(tenant);
      }
      if (defaultTenant !== undefined) {
        const known =
          typeof defaultTenant === "string" &&
          (scope === "all" ? tenants.has(defaultTenant) : scope.has(defaultTenant));
        if (!known) throw new InvalidArgumentError(`${at}.defaultTenant`, "must be one of the caller's tenants");
      }
      const prefix = identity.endsWith("*");
      return {
        identity: prefix ? identity.slice(0, -1) : identity,
        prefix,
        role: role as Role,
        tenants: scope,
        defaultTenant: defaultTenant,
      };
    });
    return new Policy(tenants, bindings);
  }

  /** The caller this identity is, by the first binding that matches it; undefined when the policy does not know it. */
  callerOf(identity: string): Caller | undefined {
    const binding = this.#bindings.find((b) => (b.prefix ? identity.startsWith(b.identity) : identity === b.identity));
    return binding && new Caller(identity, binding.role, binding.tenants, binding.defaultTenant);
  }
}

function parseTenant(value: unknown, at: string): TenantSettings {
  if (!isRecord(value)) throw new InvalidArgumentError(at, "must be a mapping (tier, quotas)");
  for (const key of Object.keys(value)) {
    if (key !== "tier" && key !== "quotas") throw new InvalidArgumentError(`${at}.${key}`, "is not a tenant field");
  }
  const tier = value.tier ?? "silver";
  if (!isTier(tier)) throw new InvalidArgumentError(`${at}.tier`, `must be one of ${tiers.join(", ")}`);
  const doc = value.quotas ?? {};
  if (!isRecord(doc)) throw new InvalidArgumentError(`${at}.quotas`, `must be a mapping of ${quotaNames.join(", ")}`);
  const quotas: Quotas = {};
  for (const [name, limit] of Object.entries(doc)) {
    if (!quotaNames.includes(name as (typeof quotaNames)[number])) {
      throw new InvalidArgumentError(`${at}.quotas.${name}`, `is not a quota (${quotaNames.join(", ")})`);
    }
    if (typeof limit !== "number" || !Number.isInteger(limit) || limit < 0) {
      throw new InvalidArgumentError(`${at}.quotas.${name}`, "must be a whole number, 0 or more");
    }
    quotas[name as keyof Quotas] = limit;
  }
  return { tier, quotas };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
