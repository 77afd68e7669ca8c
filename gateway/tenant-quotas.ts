// Per-tenant quotas from the policy, enforced where calls come in: rooms on air at once (checked on StartRoom against
// the room directory, which every gateway follows), comments per second and Say calls per minute (token buckets),
// onboarding jobs under way (checked on SubmitJob against the jobs' records).
// Each of `gateways` replicas takes its share of a rate, so the tenant's total holds however calls are spread; the
// on-air count is the directory's, so two starts racing on two gateways may both pass (the quota is exceeded by at
// most the race, never silently: the gauge shows it).
import { Kvm, type KvWatchEntry } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import { setTimeout as sleep } from "node:timers/promises";
import { ResourceExhaustedError } from "../errors/index.js";
import { Counter, Gauge, rootLogger, type Logger, type Registry } from "../observability/index.js";
import { Room, RoomState, subjects } from "../proto/index.js";
import { TokenBucket } from "./token-bucket.js";
import type { Policy } from "../trust/index.js";

/** A tenant over one of its quotas: the caller may retry later (rooms stop, buckets refill). */
export class QuotaExceededError extends ResourceExhaustedError {
  override name = "QuotaExceededError";
}

const onAirStates = new Set([RoomState.ROOM_STATE_WARMING, RoomState.ROOM_STATE_LIVE, RoomState.ROOM_STATE_PAUSED]);

export interface TenantQuotasOptions {
  nats: NatsConnection;
  policy: () => Policy;
  /** Gateway replicas sharing the rates (each allows its share). Default 1. */
  gateways?: number;
  registry?: Registry;
  logger?: Logger;
}

export class TenantQuotas implements AsyncDisposable {
  readonly #options: TenantQuotasOptions;
  readonly #log: Logger;
  /** Rooms on air by id → tenant, from the directory. */
  readonly #onAir = new Map<string, string>();
  readonly #buckets = new Map<string, TokenBucket>();
  readonly #refusals: Counter | undefined;
  readonly #stop = new AbortController();
  #following: Promise<void> | undefined;

  private constructor(options: TenantQuotasOptions) {
    this.#options = options;
    this.#log = (options.logger ?? rootLogger()).child({ component: "tenant-quotas" });
    const registers = options.registry ? [options.registry] : undefined;
    if (registers) {
      this.#refusals = new Counter({
        name: "livehost_tenant_quota_refusals_total",
        help: "Calls refused with RESOURCE_EXHAUSTED because the tenant was over a quota, by tenant and quota.",
        labelNames: ["tenant", "quota"],
        registers,
      });
      const onAir = this.#onAir;
      new Gauge({
        name: "livehost_tenant_rooms_on_air",
        help: "Rooms on air (warming, live, paused) per tenant, as this gateway sees the directory.",
        labelNames: ["tenant"],
        registers,
        collect() {
          this.reset();
          const counts = new Map<string, number>();
          for (const tenant of onAir.values()) counts.set(tenant, (counts.get(tenant) ?? 0) + 1);
          for (const [tenant, n] of counts) this.set({ tenant: tenant || "_" }, n);
        },
      });
    }
  }

  /** Starts following the room directory (in the background; a broken watch is followed again). */
  static start(options: TenantQuotasOptions): TenantQuotas {
    const quotas = new TenantQuotas(options);
    quotas.#following = quotas.#follow();
    return quotas;
  }

  /** Refuses a start that would put the tenant over its rooms on air (a room already on air passes). */
  checkStart(tenant: string, roomId: string): void {
    const limit = this.#options.policy().tenants.get(tenant)?.quotas.liveRooms;
    if (limit === undefined || this.#onAir.has(roomId)) return;
    let count = 0;
    for (const t of this.#onAir.values()) if (t === tenant) count++;
    if (count >= limit) this.#refuse(tenant, "liveRooms", `tenant ${tenant} has ${count} rooms on air, its quota`);
  }

  /** Refuses a new onboarding job when the tenant has `underWay` jobs not yet ended, its quota. */
  checkJobs(tenant: string, underWay: number): void {
    const limit = this.#options.policy().tenants.get(tenant)?.quotas.jobsUnderWay;
    if (limit === undefined || underWay < limit) return;
    this.#refuse(
      tenant,
      "jobsUnderWay",
      `tenant ${tenant} has ${underWay} onboarding jobs under way, its quota; retry once one ends`,
    );
  }

  takeComment(tenant: string): void {
    const limit = this.#options.policy().tenants.get(tenant)?.quotas.commentsPerSecond;
    if (limit === undefined) return;
    const share = limit / (this.#options.gateways ?? 1);
    if (!this.#bucket(`${tenant}/comments`, share, share).take()) {
      this.#refuse(tenant, "commentsPerSecond", `tenant ${tenant} is over its ${limit} comments per second; retry`);
    }
  }

  takeSay(tenant: string): void {
    const limit = this.#options.policy().tenants.get(tenant)?.quotas.sayPerMinute;
    if (limit === undefined) return;
    const share = limit / (this.#options.gateways ?? 1);
    if (!this.#bucket(`${tenant}/say`, share, share / 60).take()) {
      this.#refuse(tenant, "sayPerMinute", `tenant ${tenant} is over its ${limit} Say calls per minute; retry later`);
    }
  }

  /** A bucket holding one second (comments) or one minute (Say) of the share; remade when the quota changes. */
  #bucket(key: string, capacity: number, perSecond: number): TokenBucket {
    let bucket = this.#buckets.get(key);
    if (bucket?.capacity !== Math.max(1, capacity) || bucket.perSecond !== perSecond) {
      bucket = new TokenBucket(Math.max(1, capacity), perSecond);
      this.#buckets.set(key, bucket);
    }
    return bucket;
  }

  #refuse(tenant: string, quota: string, message: string): never {
    this.#refusals?.inc({ tenant, quota });
    throw new QuotaExceededError(message);
  }

  async #follow(): Promise<void> {
    const signal = this.#stop.signal;
    while (!signal.aborted) {
      try {
        const kv = await new Kvm(this.#options.nats).create(subjects.roomDirectoryBucket);
        const watch = await kv.watch();
        const stop = () => watch.stop();
        // Closed while the watch was being made: the listener would never fire.
        if (signal.aborted) stop();
        signal.addEventListener("abort", stop, { once: true });
        try {
          for await (const entry of watch) this.#apply(entry);
        } finally {
          signal.removeEventListener("abort", stop);
        }
      } catch (err) {
        if (!signal.aborted) this.#log.warn({ err }, "room directory watch broke; following it again");
      }
      await sleep(1_000, undefined, { signal }).catch(() => undefined);
    }
  }

  #apply(entry: KvWatchEntry): void {
    if (entry.operation !== "PUT" || entry.value.length === 0) {
      this.#onAir.delete(entry.key);
      return;
    }
    try {
      const room = Room.decode(entry.value);
      if (onAirStates.has(room.status?.state ?? RoomState.ROOM_STATE_UNSPECIFIED))
        this.#onAir.set(room.id, room.tenant);
      else this.#onAir.delete(room.id);
    } catch {
      this.#onAir.delete(entry.key);
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.#stop.abort();
    await this.#following;
  }
}
