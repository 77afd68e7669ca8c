// Which room hosts are alive and how loaded they are. Each host puts a heartbeat in the hosts bucket; every host
// watches the bucket and judges liveness by when it last *saw* a heartbeat (its own monotonic clock), so clock skew
// between machines does not matter. Placement and failover decisions are made on this view; their correctness
// comes from compare-and-set writes on leases, never from this view being fresh.
import { createHash } from "node:crypto";
import type { KV } from "@nats-io/kv";
import type { Logger } from "../observability/index.js";

export interface HostInfo {
  hostId: string;
  /** Active actors on the host. */
  actors: number;
  /** Actors the host is willing to run; placement compares actors / capacity. */
  capacity: number;
  /** A draining host takes no new activations. */
  draining: boolean;
  startedAt: string;
}

export interface MembershipSettings {
  heartbeatMs: number;
  /** A host not heard from for this long is dead. */
  hostTimeoutMs: number;
  logger: Logger;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export class Membership {
  readonly #bucket: KV;
  readonly #self: () => HostInfo;
  readonly #settings: MembershipSettings;
  readonly #seen = new Map<string, { info: HostInfo; seenAt: number }>();
  #timer: NodeJS.Timeout | undefined;
  #watch: { stop(): void } | undefined;
  #closed = false;

  constructor(bucket: KV, self: () => HostInfo, settings: MembershipSettings) {
    this.#bucket = bucket;
    this.#self = self;
    this.#settings = settings;
  }

  get hostId(): string {
    return this.#self().hostId;
  }

  async start(): Promise<void> {
    await this.heartbeat();
    const watch = await this.#bucket.watch();
    this.#watch = watch;
    void (async () => {
      for await (const entry of watch) {
        if (entry.operation === "PUT") {
          try {
            const info = JSON.parse(decoder.decode(entry.value)) as HostInfo;
            this.#seen.set(entry.key, { info, seenAt: performance.now() });
          } catch (err) {
            this.#settings.logger.warn({ err, key: entry.key }, "malformed host heartbeat ignored");
          }
        } else {
          this.#seen.delete(entry.key);
        }
      }
    })();
    this.#timer = setInterval(() => void this.heartbeat(), this.#settings.heartbeatMs);
  }

  async heartbeat(): Promise<void> {
    if (this.#closed) return;
    const info = this.#self();
    try {
      await this.#bucket.put(info.hostId, encoder.encode(JSON.stringify(info)));
    } catch (err) {
      // NATS may be electing a leader; the next beat retries. Others may call us dead meanwhile: fencing covers it.
      this.#settings.logger.warn({ err }, "host heartbeat failed");
    }
  }

  isLive(hostId: string): boolean {
    if (hostId === this.hostId) return !this.#closed;
    const seen = this.#seen.get(hostId);
    return seen !== undefined && performance.now() - seen.seenAt < this.#settings.hostTimeoutMs;
  }

  /** Live hosts as last heard, this one included. */
  live(): HostInfo[] {
    const hosts = [...this.#seen.values()].filter((h) => this.isLive(h.info.hostId)).map((h) => h.info);
    if (!hosts.some((h) => h.hostId === this.hostId)) hosts.push(this.#self());
    return hosts;
  }

  /**
   * A lightly loaded host for a new activation: the less loaded of two random live, non-draining hosts ("power of
   * two choices"), so a burst of activations placed on a stale view still spreads out.
   */
  pickForPlacement(exclude: ReadonlySet<string> = new Set()): string | undefined {
    const candidates = this.live().filter((h) => !h.draining && !exclude.has(h.hostId));
    if (candidates.length === 0) return undefined;
    const load = (h: HostInfo) => h.actors / Math.max(1, h.capacity);
    const a = candidates[Math.floor(Math.random() * candidates.length)]!;
    const b = candidates[Math.floor(Math.random() * candidates.length)]!;
    return (load(a) <= load(b) ? a : b).hostId;
  }

  /** The live host that should take over `key` (rendezvous hashing): every host computes the same answer. */
  preferredFor(key: string): string | undefined {
    let best: string | undefined;
    let bestScore = -1;
    for (const host of this.live()) {
      if (host.draining) continue;
      const score = createHash("sha1").update(`${key}|${host.hostId}`).digest().readUInt32BE(0);
      if (score > bestScore) {
        best = host.hostId;
        bestScore = score;
      }
    }
    return best;
  }

  /** Stops heartbeats and removes this host's entry, so others stop placing work here at once. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#timer);
    this.#watch?.stop();
    await this.#bucket.delete(this.hostId).catch(() => undefined);
  }
}
