// Which room hosts are alive and how loaded they are. Each host publishes a heartbeat with its load on core NATS
// (not JetStream: a JetStream leader election must not make every host look dead); every host listens and judges
// liveness by when it last *heard* a heartbeat, on its own monotonic clock, so clock skew does not matter. Placement
// and failover decisions are made on this view; their correctness comes from compare-and-set writes on leases.
import { createHash } from "node:crypto";
import type { NatsConnection, Subscription } from "@nats-io/transport-node";
import type { Logger } from "../observability/index.js";

export const heartbeatSubject = "livehost.hosts.heartbeat";

export interface HostInfo {
  hostId: string;
  /** Active actors on the host. */
  actors: number;
  /** Actors the host is willing to run; placement compares actors / capacity. */
  capacity: number;
  /** A draining host takes no new activations. */
  draining: boolean;
  startedAt: string;
  /** Set on the last heartbeat of a host that is leaving. */
  left?: boolean;
  /**
   * Why the host takes no more actors for now (its event loop lags, or it runs as many as its capacity); it keeps
   * those it has. Placement and failover pass it by while another host does not shed.
   */
  shedding?: string;
  /** The host's event loop p99 delay over its last one-second window, in ms (a loaded host hears and speaks late). */
  loopDelayMs?: number;
}

/**
 * A host that says its event loop runs late is given that much longer, twice over, before it counts as silent: its
 * heartbeats leave late and its lease renewals are late with them. Without it, every host of an overloaded machine
 * declares the others dead in turn, and each takeover loads the survivors more (the festival bench at 2,000 rooms on
 * two shared cores saw host leases lost 500 times in five minutes). A dead host is still dead within hostTimeout plus this, 8 s more
 * at most.
 */
const maxLateGraceMs = 8_000;
const lateGraceMs = (info: HostInfo) => Math.min(maxLateGraceMs, 2 * Math.max(0, info.loopDelayMs ?? 0));

export interface MembershipSettings {
  heartbeatMs: number;
  /** A host not heard from for this long is dead (longer for a host that says its event loop runs late). */
  hostTimeoutMs: number;
  logger: Logger;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export class Membership {
  readonly #nats: NatsConnection;
  readonly #self: () => HostInfo;
  readonly #settings: MembershipSettings;
  readonly #seen = new Map<string, { info: HostInfo; seenAt: number }>();
  #timer: NodeJS.Timeout | undefined;
  #sub: Subscription | undefined;
  #closed = false;

  constructor(nats: NatsConnection, self: () => HostInfo, settings: MembershipSettings) {
    this.#nats = nats;
    this.#self = self;
    this.#settings = settings;
  }

  get hostId(): string {
    return this.#self().hostId;
  }

  start(): void {
    this.#sub = this.#nats.subscribe(heartbeatSubject, {
      callback: (_err, msg) => {
        try {
          const info = JSON.parse(decoder.decode(msg.data)) as HostInfo;
          if (info.left) {
            this.#seen.delete(info.hostId);
            return;
          }
          const known = this.#seen.has(info.hostId);
          this.#seen.set(info.hostId, { info, seenAt: performance.now() });
          // A host we did not know: answer at once so it knows us without waiting a heartbeat period.
          if (!known && info.hostId !== this.hostId) this.heartbeat();
        } catch (err) {
          this.#settings.logger.warn({ err }, "malformed host heartbeat ignored");
        }
      },
    });
    this.heartbeat();
    this.#timer = setInterval(() => this.heartbeat(), this.#settings.heartbeatMs);
  }

  heartbeat(extra: Partial<HostInfo> = {}): void {
    if (this.#closed || this.#nats.isClosed()) return;
    try {
      this.#nats.publish(heartbeatSubject, encoder.encode(JSON.stringify({ ...this.#self(), ...extra })));
    } catch (err) {
      this.#settings.logger.warn({ err }, "host heartbeat failed");
    }
  }

  isLive(hostId: string): boolean {
    if (hostId === this.hostId) return !this.#closed;
    const seen = this.#seen.get(hostId);
    return (
      seen !== undefined && performance.now() - seen.seenAt < this.#settings.hostTimeoutMs + lateGraceMs(seen.info)
    );
  }

  /** True when the host said it is draining (it hands its actors over and takes no new ones). */
  isDraining(hostId: string): boolean {
    if (hostId === this.hostId) return this.#self().draining;
    return this.#seen.get(hostId)?.info.draining ?? false;
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
    const candidates = takingWork(this.live().filter((h) => !h.draining && !exclude.has(h.hostId)));
    if (candidates.length === 0) return undefined;
    const load = (h: HostInfo) => h.actors / Math.max(1, h.capacity);
    const a = candidates[Math.floor(Math.random() * candidates.length)]!;
    const b = candidates[Math.floor(Math.random() * candidates.length)]!;
    return (load(a) <= load(b) ? a : b).hostId;
  }

  /** Whether a live host other than this one takes new actors (is neither draining nor shedding load). */
  othersTakeWork(): boolean {
    return this.live().some((h) => h.hostId !== this.hostId && !h.draining && !h.shedding);
  }

  /**
   * The live host that should take over `key` (rendezvous hashing over the hosts taking work, else over all): every
   * host computes the same answer from the same heartbeats.
   */
  preferredFor(key: string): string | undefined {
    let best: string | undefined;
    let bestScore = -1;
    for (const host of takingWork(this.live().filter((h) => !h.draining))) {
      const score = createHash("sha1").update(`${key}|${host.hostId}`).digest().readUInt32BE(0);
      if (score > bestScore) {
        best = host.hostId;
        bestScore = score;
      }
    }
    return best;
  }

  /** Stops heartbeats and says so, so others stop placing work here at once. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.heartbeat({ left: true });
    this.#closed = true;
    clearInterval(this.#timer);
    this.#sub?.unsubscribe();
    await this.#nats.flush().catch(() => undefined);
  }
}

/** The hosts that do not shed load, or all of them when every one does (the work must go somewhere). */
function takingWork(hosts: HostInfo[]): HostInfo[] {
  const taking = hosts.filter((h) => !h.shedding);
  return taking.length > 0 ? taking : hosts;
}
