// One lease per host, not one per actor. A host renews a single key in the host-lease bucket; an actor's lease names
// its host and is written only when the actor is activated, taken over or released. An actor is owned while its
// host's lease lives, so the steady cost of an idle actor is nothing, whatever the number of actors.
//
// Taking over a dead host's actors starts by deleting its host lease (conditional on the revision last seen): a host
// that was only paused (SIGSTOP, a long GC) finds its next renewal refused and gives up every actor at once. Until it
// renews, a host knows for itself whether it may still act: `holds()` is false once its last successful renewal is
// older than others wait before taking over, or after its event loop stood still (it cannot know what happened
// meanwhile). Rooms check it before anything a viewer or another service would see: events, speech, frames.
import type { KV } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import type { Logger } from "../observability/index.js";

export interface HostLeaseSettings {
  /** Renewal period. */
  renewMs: number;
  /** Others take over a host that sends no heartbeat and has not renewed for this long (fast path, a dead host). */
  hostTimeoutMs: number;
  /** Others take over a host that heartbeats but has not renewed for twice this long (a host cut off JetStream). */
  ttlMs: number;
}

const tickMs = 200;
const encoder = new TextEncoder();
const isWrongLastSequence = (err: unknown) => err instanceof Error && /wrong last sequence/i.test(err.message);

export class HostLease {
  readonly #bucket: KV;
  readonly #nats: NatsConnection;
  readonly #hostId: string;
  readonly #settings: HostLeaseSettings;
  readonly #log: Logger;
  readonly #onLost: () => Promise<void>;
  #revision = 0;
  /** When the last renewal that succeeded was sent: the store happened after it, so others saw it after it too. */
  #renewedSentAt = -Infinity;
  #lastTick = performance.now();
  /** Set after the event loop stood still; cleared by a renewal sent after the stall. */
  #stalledAt: number | undefined;
  #renewing = false;
  #lost = false;
  #closed = false;
  #renewTimer: NodeJS.Timeout | undefined;
  #tickTimer: NodeJS.Timeout | undefined;
  /**
   * A stall of the event loop longer than this makes the host prove its lease again before it acts: others take a
   * host over only after a host timeout of silence, so a shorter stall (a loaded machine) changes nothing.
   */
  readonly #stallMs: number;

  constructor(
    bucket: KV,
    nats: NatsConnection,
    hostId: string,
    settings: HostLeaseSettings,
    log: Logger,
    onLost: () => Promise<void>,
  ) {
    this.#bucket = bucket;
    this.#nats = nats;
    this.#hostId = hostId;
    this.#settings = settings;
    this.#log = log;
    this.#onLost = onLost;
    this.#stallMs = Math.max(tickMs * 2, settings.hostTimeoutMs - 500);
  }

  /** Takes the host's lease (a host id is unique among live hosts) and keeps renewing it. */
  async start(): Promise<void> {
    await this.#take();
    this.#renewTimer = setInterval(() => void this.renew(), this.#settings.renewMs);
    this.#tickTimer = setInterval(() => this.#tick(), tickMs);
  }

  async #take(): Promise<void> {
    const sentAt = performance.now();
    this.#revision = await this.#bucket.create(this.#hostId, this.#value());
    this.#renewedSentAt = sentAt;
    this.#stalledAt = undefined;
    this.#lost = false;
  }

  #value(): Uint8Array {
    return encoder.encode(JSON.stringify({ hostId: this.#hostId, at: Date.now() }));
  }

  #tick(): void {
    const now = performance.now();
    if (now - this.#lastTick > this.#stallMs) this.#stalledAt = now;
    this.#lastTick = now;
  }

  /**
   * True while this host certainly still owns its actors. Fast path: renewed within hostTimeout minus a margin
   * (others wait a full hostTimeout of silence). Slow path: renewals failing while NATS is connected (JetStream
   * electing a leader) are tolerated up to 1.5 ttl (others wait 2 ttl while the host heartbeats).
   */
  holds(): boolean {
    if (this.#lost || this.#closed) return false;
    const now = performance.now();
    if (now - this.#lastTick > this.#stallMs || this.#stalledAt !== undefined) return false;
    const age = now - this.#renewedSentAt;
    if (age < this.#settings.hostTimeoutMs - 500) return true;
    return age < 1.5 * this.#settings.ttlMs && !this.#nats.isClosed();
  }

  /** Renews now; a refusal means another host fenced this one: every actor is given up. */
  async renew(): Promise<void> {
    if (this.#renewing || this.#closed) return;
    this.#renewing = true;
    const sentAt = performance.now();
    try {
      this.#tick();
      if (this.#lost) {
        await this.#take();
        this.#log.info("host lease taken again; this host starts over without actors");
        return;
      }
      this.#revision = await this.#bucket.update(this.#hostId, this.#value(), this.#revision);
      this.#renewedSentAt = sentAt;
      if (this.#stalledAt !== undefined && sentAt >= this.#stalledAt) this.#stalledAt = undefined;
    } catch (err) {
      if (!isWrongLastSequence(err)) {
        this.#log.warn({ err }, "host lease renewal failed; retrying");
        return;
      }
      this.#lost = true;
      this.#log.warn("host lease lost: another host declared this one dead; giving up every actor");
      await this.#onLost();
    } finally {
      this.#renewing = false;
    }
  }

  /** Waits up to `timeoutMs` for the lease to be held again (after a stall or while JetStream elects a leader). */
  async waitHeld(timeoutMs: number): Promise<boolean> {
    const deadline = performance.now() + timeoutMs;
    while (!this.holds()) {
      if (this.#lost || this.#closed || performance.now() > deadline) return false;
      await this.renew();
      if (this.holds()) return true;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    return true;
  }

  /** Stops renewing and releases the lease (its actors have been handed over). */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#renewTimer);
    clearInterval(this.#tickTimer);
    if (!this.#lost) await this.#bucket.delete(this.#hostId, { previousSeq: this.#revision }).catch(() => undefined);
  }
}

/** Every host's lease as last seen by this host: when it was last renewed, on this host's monotonic clock. */
export class HostLeaseView {
  readonly #seen = new Map<string, { revision: number; seenAt: number }>();
  readonly #bucket: KV;

  constructor(bucket: KV) {
    this.#bucket = bucket;
  }

  put(hostId: string, revision: number): void {
    this.#seen.set(hostId, { revision, seenAt: performance.now() });
  }

  delete(hostId: string): void {
    this.#seen.delete(hostId);
  }

  /** Milliseconds since the host's lease was last renewed; Infinity when it has none. */
  silenceMs(hostId: string): number {
    const seen = this.#seen.get(hostId);
    return seen ? performance.now() - seen.seenAt : Infinity;
  }

  has(hostId: string): boolean {
    return this.#seen.has(hostId);
  }

  /**
   * Deletes a silent host's lease, conditional on the revision last seen: from then on that host cannot renew, and
   * its actors can be taken over. False when the host renewed in the meantime (it is alive after all).
   */
  async fence(hostId: string): Promise<boolean> {
    const seen = this.#seen.get(hostId);
    if (!seen) return true;
    try {
      await this.#bucket.delete(hostId, { previousSeq: seen.revision });
      this.#seen.delete(hostId);
      return true;
    } catch (err) {
      if (isWrongLastSequence(err)) {
        // Renewed since we looked, or deleted by another host already: the watch tells which.
        const entry = await this.#bucket.get(hostId).catch(() => null);
        return !entry || entry.operation !== "PUT";
      }
      throw err;
    }
  }
}
