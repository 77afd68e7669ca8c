// An actor host: runs activations of the actor types it is given, places new activations on lightly loaded hosts,
// takes over the actors of hosts that die, fires reminders, and hands its actors over when it drains (SIGTERM).
import { hostname } from "node:os";
import { randomUUID } from "node:crypto";
import type { NatsConnection, Subscription } from "@nats-io/transport-node";
import { rootLogger, type Logger, type Registry } from "../observability/index.js";
import { AbortedError, InvalidArgumentError, LivehostError, UnavailableError } from "../errors/index.js";
import { Activation, actorKey, type DeactivationReason } from "./activation.js";
import { Activator } from "./activator.js";
import { HostLease, HostLeaseView } from "./host-lease.js";
import { LoadGuard, type LoadGuardOptions } from "./load-guard.js";
import { Membership } from "./membership.js";
import { ActorMetrics } from "./metrics.js";
import { ReminderBook, ReminderScheduler } from "./reminders.js";
import { ensureMailboxStream, mirrorBucket, openStores, type StoreSettings, type Stores } from "./stores.js";
import { actorIdPattern, actorNamePattern, type AnyActorType } from "./types.js";

export interface ActorHostOptions {
  nats: NatsConnection;
  registry: Registry;
  types: AnyActorType[];
  /** Default "<hostname>-<random>". Must be unique among live hosts. */
  hostId?: string;
  /**
   * Actors this host is willing to run; placement prefers hosts with the lowest actors / capacity, and a host at its
   * capacity takes no more while another host does. Default 1000.
   */
  capacity?: number;
  /**
   * When this host sheds load for its event loop's lag (see load-guard.ts): by default above 500 ms p99 over two
   * seconds in a row, back under 250 ms for five. `{ maxLoopDelayMs: 0 }`: never for lag.
   */
  loadGuard?: LoadGuardOptions;
  stores?: StoreSettings;
  /** Handled messages are purged from the mailboxes this often (each stays readable for one or two periods). Default 60 s. */
  mailboxPurgeMs?: number;
  /** Heartbeat period. Default 500 ms. */
  heartbeatMs?: number;
  /** A host unheard of for this long is dead and its actors are taken over. Default 2 s. */
  hostTimeoutMs?: number;
  /** Renewal period of the host's one lease (an actor's lease is not renewed). Default 500 ms. */
  leaseRenewMs?: number;
  /**
   * A host that heartbeats but has not renewed its lease for twice this long may be taken over: it is cut off from
   * JetStream. Default 5 s. (A host that neither heartbeats nor renews is taken over after hostTimeoutMs.)
   */
  leaseTtlMs?: number;
  logger?: Logger;
}

interface LeaseView {
  hostId: string;
  revision: number;
}

/** Subjects every host serves for placement. */
export const placementSubject = "livehost.actors.activate";
export const hostActivateSubject = (hostId: string) => `livehost.hosts.${hostId}.activate`;

export interface ActivateRequest {
  type: string;
  id: string;
}
export interface ActivateReply {
  owner?: string;
  error?: string;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export class ActorHost implements AsyncDisposable {
  readonly hostId: string;
  readonly metrics: ActorMetrics;
  readonly #nats: NatsConnection;
  readonly #types = new Map<string, AnyActorType>();
  readonly #activations = new Map<string, Activation>();
  readonly #starting = new Map<string, Promise<ActivateReply>>();
  /**
   * Activations that failed half-way here (a JetStream timeout on a loaded host): the start released the actor's
   * lease, so no host would take a live actor up again until a message came. Retried from here, with backoff.
   */
  readonly #retries = new Map<string, { at: number; attempt: number }>();
  readonly #leases = new Map<string, LeaseView>();
  readonly #subs: Subscription[] = [];
  #checkingServers = false;
  #serverCheckTimer: NodeJS.Timeout | undefined;
  readonly #log: Logger;
  readonly #capacity: number;
  readonly #loadGuard: LoadGuard | undefined;
  readonly #leaseRenewMs: number;
  readonly #leaseTtlMs: number;
  readonly #hostTimeoutMs: number;
  readonly #mailboxPurgeMs: number;
  #hostLease!: HostLease;
  #hostLeases!: HostLeaseView;
  readonly #fencing = new Map<string, Promise<boolean>>();
  #stores!: Stores;
  #membership!: Membership;
  #reminders!: ReminderScheduler;
  #book!: ReminderBook;
  #failoverTimer: NodeJS.Timeout | undefined;
  #placementSub: Subscription | undefined;
  readonly #activators: Activator[] = [];
  #leaseWatch: { stop(): void } | undefined;
  #hostLeaseWatch: { stop(): void } | undefined;
  #draining = false;
  #closed: Promise<void> | undefined;

  private constructor(options: ActorHostOptions) {
    this.hostId = options.hostId ?? `${hostname()}-${randomUUID().slice(0, 8)}`;
    if (!/^[A-Za-z0-9_-]{1,64}$/.test(this.hostId))
      throw new InvalidArgumentError("hostId", "must be 1 to 64 of A-Z a-z 0-9 _ -");
    this.#nats = options.nats;
    this.#log = (options.logger ?? rootLogger()).child({ component: "actor-host", hostId: this.hostId });
    this.metrics = new ActorMetrics(options.registry);
    this.#capacity = options.capacity ?? 1_000;
    if (options.loadGuard?.maxLoopDelayMs !== 0) {
      this.#loadGuard = new LoadGuard({
        ...options.loadGuard,
        onChange: (reason) => {
          options.loadGuard?.onChange?.(reason);
          this.#sheddingChanged();
        },
        onWindow: (delayMs) => {
          options.loadGuard?.onWindow?.(delayMs);
          this.metrics.loopDelaySeconds.set(delayMs / 1_000);
        },
      });
    }
    this.#leaseRenewMs = options.leaseRenewMs ?? 500;
    this.#leaseTtlMs = options.leaseTtlMs ?? 5_000;
    this.#hostTimeoutMs = options.hostTimeoutMs ?? 2_000;
    this.#mailboxPurgeMs = options.mailboxPurgeMs ?? 60_000;
    for (const type of options.types) {
      if (!actorNamePattern.test(type.name))
        throw new InvalidArgumentError("type.name", `"${type.name}" is not a valid actor type name`);
      this.#types.set(type.name, type);
    }
  }

  static async start(options: ActorHostOptions): Promise<ActorHost> {
    const host = new ActorHost(options);
    await host.#start(options);
    return host;
  }

  get activeCount(): number {
    return this.#activations.size;
  }

  isActive(type: string, id: string): boolean {
    return this.#activations.has(actorKey(type, id));
  }

  async #start(options: ActorHostOptions): Promise<void> {
    this.#stores = await openStores(this.#nats, options.stores);
    await Promise.all(
      [...this.#types.values()].map((type) => ensureMailboxStream(this.#stores.jsm, type, options.stores)),
    );
    this.#book = new ReminderBook(this.#stores.reminders);
    this.#hostLeases = new HostLeaseView(this.#stores.hostLeases);
    this.#hostLeaseWatch = await mirrorBucket<{ hostId: string }>(this.#stores.hostLeases, {
      onPut: (hostId, _value, revision) => this.#hostLeases.put(hostId, revision),
      onDelete: (hostId) => this.#hostLeases.delete(hostId),
      onMalformed: (key) => this.#log.warn({ key }, "malformed host lease ignored"),
    });
    this.#hostLease = new HostLease(
      this.#stores.hostLeases,
      this.#nats,
      this.hostId,
      { renewMs: this.#leaseRenewMs, hostTimeoutMs: this.#hostTimeoutMs, ttlMs: this.#leaseTtlMs },
      this.#log,
      () => this.#giveUpAll(),
    );
    await this.#hostLease.start();
    this.#membership = new Membership(
      this.#nats,
      () => ({
        hostId: this.hostId,
        actors: this.#activations.size,
        capacity: this.#capacity,
        draining: this.#draining,
        startedAt: new Date().toISOString(),
        shedding: this.#shedding()?.why,
        loopDelayMs: Math.round(this.#loadGuard?.lastDelayMs ?? 0),
      }),
      { heartbeatMs: options.heartbeatMs ?? 500, hostTimeoutMs: this.#hostTimeoutMs, logger: this.#log },
    );
    this.#membership.start();
    this.#loadGuard?.start();

    // Placement requests: to this host by name, or to any host (queue group), which then picks the host.
    this.#subs.push(
      this.#nats.subscribe(hostActivateSubject(this.hostId), {
        callback: (_err, msg) => void this.#answer(msg, (req) => this.activateLocal(req.type, req.id)),
      }),
    );
    this.#placementSub = this.#nats.subscribe(placementSubject, {
      queue: "livehost-placement",
      callback: (_err, msg) => void this.#answer(msg, (req) => this.place(req.type, req.id)),
    });
    this.#leaseWatch = await mirrorBucket<{ hostId: string }>(this.#stores.leases, {
      onPut: (key, { hostId }, revision) => {
        this.#leases.set(key, { hostId, revision });
        // Another host took one of ours over (this host was declared dead a moment ago): stop acting for it.
        const mine = this.#activations.get(key);
        if (mine && hostId !== this.hostId) void mine.deactivate("lease_lost");
      },
      onDelete: (key) => this.#leases.delete(key),
      onMalformed: (key) => this.#log.warn({ key }, "malformed lease ignored"),
    });
    // Judged after the I/O that waited (setImmediate runs after the loop's poll phase): a pass that fires late, after
    // this host's own event loop stood still, must not see others as silent only because their heartbeats and lease
    // renewals are still queued here.
    this.#failoverTimer = setInterval(() => setImmediate(() => this.#takeOverOrphans()), 250);
    this.#serverCheckTimer = setInterval(() => void this.#checkMailboxServers(), 3_000);
    for (const type of this.#types.values()) await this.#startActivator(type);

    this.#reminders = new ReminderScheduler(
      this.#stores.reminders,
      this.#stores.jsm.jetstream(),
      this.#membership,
      this.#types,
      this.#log,
    );
    await this.#reminders.start();
    this.#log.info({ types: [...this.#types.keys()] }, "actor host started");
  }

  /** Any message stored in an inactive actor's mailbox activates it, whoever published it (see activator.ts). */
  async #startActivator(type: AnyActorType): Promise<void> {
    const activator = new Activator({
      stores: this.#stores,
      type,
      hostId: this.hostId,
      metrics: this.metrics,
      log: this.#log,
      inactive: (id) => {
        const key = actorKey(type.name, id);
        const lease = this.#leases.get(key);
        // A lease naming this host is proof of nothing without the activation (the mirror may not have seen a start
        // that failed half-way release it): place the actor, which reads the lease itself.
        const mineButIdle = lease?.hostId === this.hostId && !this.#activations.has(key) && !this.#starting.has(key);
        return !lease || mineButIdle || !this.#ownerAlive(lease.hostId) || this.#membership.isDraining(lease.hostId);
      },
      preferred: (id) => this.#membership.preferredFor(actorKey(type.name, id)) === this.hostId,
      place: async (id) => void (await this.place(type.name, id)),
      alone: () => this.#membership.live().every((h) => h.hostId === this.hostId),
    });
    await activator.start();
    this.#activators.push(activator);
  }

  async #answer(
    msg: { data: Uint8Array; respond(data: Uint8Array): boolean },
    act: (req: ActivateRequest) => Promise<ActivateReply>,
  ) {
    let reply: ActivateReply;
    try {
      const req = JSON.parse(decoder.decode(msg.data)) as ActivateRequest;
      reply = await act(req);
    } catch (err) {
      if (!(err instanceof LivehostError)) this.#log.warn({ err }, "activation request failed");
      reply = { error: err instanceof Error ? err.message : "activation failed" };
    }
    msg.respond(encoder.encode(JSON.stringify(reply)));
  }

  #validate(type: string, id: string): AnyActorType {
    const definition = this.#types.get(type);
    if (!definition) throw new InvalidArgumentError("type", `unknown actor type "${type}"`);
    if (!actorIdPattern.test(id))
      throw new InvalidArgumentError("id", "must be 1 to 128 characters of A-Z a-z 0-9 _ -");
    return definition;
  }

  /** Activates the actor somewhere (a lightly loaded live host); resolves with its owner. */
  async place(type: string, id: string): Promise<ActivateReply> {
    this.#validate(type, id);
    const lease = this.#leases.get(actorKey(type, id));
    const owned = lease !== undefined && this.#ownerAlive(lease.hostId) && !this.#membership.isDraining(lease.hostId);
    if (lease && owned) {
      if (lease.hostId !== this.hostId || this.isActive(type, id)) return { owner: lease.hostId };
    }
    const tried = new Set<string>();
    for (let attempt = 0; attempt < 3; attempt++) {
      const target = this.#membership.pickForPlacement(tried);
      if (!target) break;
      tried.add(target);
      if (target === this.hostId) return this.activateLocal(type, id);
      try {
        const reply = await this.#nats.request(
          hostActivateSubject(target),
          encoder.encode(JSON.stringify({ type, id })),
          {
            timeout: 2_000,
          },
        );
        const answer = JSON.parse(decoder.decode(reply.data)) as ActivateReply;
        if (answer.owner) return answer;
      } catch (err) {
        this.#log.debug({ err, target }, "placement target did not answer; trying another");
      }
    }
    // Nobody else took it (their views of this host may be a heartbeat old): here, even while shedding.
    if (!this.#draining) return this.activateLocal(type, id, undefined, { evenIfShedding: true });
    throw new UnavailableError(`no host could activate ${type}/${id}`);
  }

  /**
   * Activates the actor on this host unless another live host owns it. Concurrent requests for the same actor
   * share one attempt; across hosts, the lease's create-if-absent lets exactly one win.
   */
  activateLocal(
    type: string,
    id: string,
    takeover?: { revision: number },
    options: { evenIfShedding?: boolean } = {},
  ): Promise<ActivateReply> {
    const definition = this.#validate(type, id);
    const key = actorKey(type, id);
    if (this.#activations.has(key)) return Promise.resolve({ owner: this.hostId });
    if (this.#draining) return Promise.reject(new UnavailableError(`host ${this.hostId} is draining`));
    // Shedding load, this host keeps what it runs and takes over what failover gives it, nothing new while others can.
    const shedding = takeover || options.evenIfShedding ? undefined : this.#shedding();
    if (shedding && this.#membership.othersTakeWork()) {
      this.metrics.activationsShed.inc({ type, reason: shedding.reason });
      return Promise.reject(new UnavailableError(`host ${this.hostId} sheds load (${shedding.why}); try another host`));
    }
    if (!this.#hostLease.holds()) {
      return Promise.reject(new UnavailableError(`host ${this.hostId} is not sure of its lease; try another host`));
    }
    const pending = this.#starting.get(key);
    if (pending) return pending;
    const attempt = this.#activate(definition, id, key, takeover)
      .then(
        (reply) => {
          this.#retries.delete(key);
          return reply;
        },
        (err: unknown) => {
          // A start that failed with the cluster (a timeout; the lease not renewed in time while NATS elects
          // leaders) has released the actor's lease: tried again later, since a live actor with no lease and no
          // retry would wait for a message that may never come. A refusal before the start (shedding, a bad
          // request) leaves the lease as it was, and the orphan pass or the caller tries again.
          if (!(err instanceof LivehostError) || err instanceof AbortedError) this.#retryLater(key);
          throw err;
        },
      )
      .finally(() => this.#starting.delete(key));
    this.#starting.set(key, attempt);
    return attempt;
  }

  async #activate(
    type: AnyActorType,
    id: string,
    key: string,
    takeover?: { revision: number },
  ): Promise<ActivateReply> {
    const started = performance.now();
    const start = (revision?: number) =>
      Activation.start(
        {
          type,
          id,
          hostId: this.hostId,
          nats: this.#nats,
          stores: this.#stores,
          metrics: this.metrics,
          reminders: this.#book,
          logger: this.#log,
          hostLease: this.#hostLease,
          leaseTtlMs: this.#leaseTtlMs,
          purgeEveryMs: this.#mailboxPurgeMs,
          maxQueuedAsks: 1_000,
          onEnded: (activation, reason) => this.#ended(activation, reason),
        },
        revision,
      );
    let activation: Activation;
    let reason = takeover ? "takeover" : "placed";
    try {
      activation = await start(takeover?.revision);
    } catch (err) {
      if (takeover || !/wrong last sequence|exists/i.test((err as Error).message)) throw err;
      // The lease exists: owned by a live host (answer with it), or left by a dead one (take it over).
      const entry = await this.#stores.leases.get(key);
      if (!entry || entry.operation !== "PUT") return this.#activate(type, id, key);
      const { hostId } = JSON.parse(decoder.decode(entry.value)) as { hostId: string };
      if (hostId !== this.hostId && this.#ownerAlive(hostId)) return { owner: hostId };
      if (hostId !== this.hostId && !(await this.#fence(hostId))) return { owner: hostId };
      activation = await start(entry.revision);
      reason = "takeover";
    }
    this.#activations.set(key, activation);
    this.metrics.active.set({ type: type.name }, this.#countOf(type.name));
    this.metrics.activations.inc({ type: type.name, reason });
    if (reason === "takeover") this.metrics.failovers.inc({ type: type.name });
    this.metrics.activationSeconds.observe({ type: type.name }, (performance.now() - started) / 1_000);
    this.#log.debug({ actor: key, reason, epoch: activation.epoch }, "actor activated");
    return { owner: this.hostId };
  }

  #countOf(type: string): number {
    let n = 0;
    for (const key of this.#activations.keys()) if (key.startsWith(`${type}.`)) n++;
    return n;
  }

  #ended(activation: Activation, reason: DeactivationReason): void {
    if (this.#activations.get(activation.key) === activation) this.#activations.delete(activation.key);
    const type = activation.key.slice(0, activation.key.indexOf("."));
    this.metrics.active.set({ type }, this.#countOf(type));
    // A live actor that lost its lease is running elsewhere now; one that was drained is re-placed by drain().
    void reason;
  }

  /**
   * Whether an actor lease naming `hostId` is still good. A host is dead once its lease is gone, or when it neither
   * heartbeats nor renews for hostTimeout; a host that heartbeats but cannot renew (cut off JetStream) keeps its
   * actors for 2 lease ttls. This host answers for itself from its own lease.
   */
  #ownerAlive(hostId: string): boolean {
    if (hostId === this.hostId) return this.#hostLease.holds();
    const silence = this.#hostLeases.silenceMs(hostId);
    if (silence === Infinity) return false;
    if (this.#membership.isLive(hostId)) return silence < 2 * this.#leaseTtlMs;
    return silence < this.#hostTimeoutMs;
  }

  /** Deletes a dead host's lease (once per host at a time): it cannot renew, so it gives its actors up if it wakes. */
  #fence(hostId: string): Promise<boolean> {
    let fencing = this.#fencing.get(hostId);
    if (!fencing) {
      fencing = this.#hostLeases.fence(hostId).finally(() => this.#fencing.delete(hostId));
      fencing.then(
        (fenced) => fenced && this.#log.info({ deadHost: hostId }, "host declared dead: its lease is fenced"),
        () => undefined,
      );
      this.#fencing.set(hostId, fencing);
    }
    return fencing.catch(() => false);
  }

  /**
   * Mailbox consumers are one replica in memory: those on a NATS server that is gone are made again. A server is
   * gone when the mailbox stream's leader has not heard from it for 5 s (it hears from its peers many times a second)
   * or no longer lists it. One question per mailbox stream every 3 s for all of this host's actors; nothing when the
   * stream cannot be asked (JetStream electing a leader, or this host overloaded: it asks again next time).
   */
  async #checkMailboxServers(): Promise<void> {
    if (this.#checkingServers || !this.#hostLease.holds()) return;
    this.#checkingServers = true;
    try {
      for (const type of this.#types.values()) {
        const info = await this.#stores.jsm.streams.info(type.stream).catch(() => undefined);
        const lost = new Set(
          (info?.cluster?.replicas ?? []).filter((peer) => peer.offline || peer.active > 5e9).map((peer) => peer.name),
        );
        if (lost.size === 0) continue;
        for (const activation of this.#activations.values()) {
          if (activation.key.startsWith(`${type.name}.`)) activation.lostServers(lost);
        }
        for (const activator of this.#activators) if (activator.type === type) activator.lostServers(lost);
      }
    } finally {
      this.#checkingServers = false;
    }
  }

  /** Why this host takes no new actors now: its event loop lags, or it runs as many as its capacity. */
  #shedding(): { reason: "loop_delay" | "capacity"; why: string } | undefined {
    const lag = this.#loadGuard?.reason;
    if (lag) return { reason: "loop_delay", why: lag };
    const n = this.#activations.size + this.#starting.size;
    if (n >= this.#capacity) return { reason: "capacity", why: `at capacity: ${n} of ${this.#capacity} actors` };
    return undefined;
  }

  /** Others learn at once (not at the next heartbeat) that this host sheds load, or takes work again. */
  #sheddingChanged(): void {
    const shedding = this.#shedding();
    if (shedding)
      this.#log.warn({ why: shedding.why }, "shedding load: no new actors here while other hosts take them");
    else this.#log.info("taking new actors again");
    this.#membership?.heartbeat();
  }

  /**
   * Failover: actors whose host is dead are taken over by the host rendezvous hashing prefers among the living, so
   * a dead host's actors spread over the survivors. The dead host's lease is fenced first.
   */
  #takeOverOrphans(): void {
    const shedding = this.#shedding();
    for (const reason of ["loop_delay", "capacity"] as const) {
      this.metrics.shedding.set({ reason }, shedding?.reason === reason ? 1 : 0);
    }
    if (this.#draining || !this.#hostLease.holds()) return;
    this.#retryFailed();
    for (const [key, lease] of this.#leases) {
      if (this.#activations.has(key) || this.#starting.has(key) || this.#retries.has(key)) continue;
      // Still ours with none running it: given up when this host's lease was lost, and taken by nobody (the others
      // see this host alive again). Nobody else will take it: it starts here again.
      const mine = lease.hostId === this.hostId;
      if (!mine && this.#ownerAlive(lease.hostId)) continue;
      if (!mine && this.#membership.preferredFor(key) !== this.hostId) continue;
      const dot = key.indexOf(".");
      const type = key.slice(0, dot);
      if (!this.#types.has(type)) continue;
      const id = key.slice(dot + 1);
      void (async () => {
        if (lease.hostId !== this.hostId && !(await this.#fence(lease.hostId))) return;
        await this.activateLocal(type, id, { revision: lease.revision });
      })().catch((err: unknown) => {
        this.#log.debug({ err, actor: key }, "takeover lost the race or failed");
      });
    }
  }

  #retryLater(key: string): void {
    const attempt = (this.#retries.get(key)?.attempt ?? 0) + 1;
    const type = key.slice(0, key.indexOf("."));
    if (attempt > 10) {
      this.#retries.delete(key);
      this.metrics.activationRetries.inc({ type, outcome: "given_up" });
      this.#log.warn({ actor: key }, "activation keeps failing; left to the next message");
      return;
    }
    this.metrics.activationRetries.inc({ type, outcome: "scheduled" });
    this.#retries.set(key, { at: performance.now() + Math.min(30_000, 500 * 2 ** attempt), attempt });
  }

  /** Starts again the activations that failed here, once their lease is free (or still ours) and none runs them. */
  #retryFailed(): void {
    const now = performance.now();
    for (const [key, { at }] of this.#retries) {
      if (at > now || this.#activations.has(key) || this.#starting.has(key)) continue;
      const lease = this.#leases.get(key);
      if (lease && lease.hostId !== this.hostId && this.#ownerAlive(lease.hostId)) {
        this.#retries.delete(key);
        continue;
      }
      const dot = key.indexOf(".");
      const type = key.slice(0, dot);
      if (!this.#types.has(type)) {
        this.#retries.delete(key);
        continue;
      }
      this.#retries.set(key, { at: Infinity, attempt: this.#retries.get(key)!.attempt });
      this.activateLocal(type, key.slice(dot + 1)).catch((err: unknown) => {
        this.#log.debug({ err, actor: key }, "activation retry failed");
        if (this.#retries.get(key)?.at === Infinity) this.#retryLater(key);
      });
    }
  }

  /** This host was declared dead while it could not renew (paused, cut off): every actor runs elsewhere now. */
  async #giveUpAll(): Promise<void> {
    this.metrics.hostLeaseLost.inc();
    // The retries stay: they are for actors nobody runs (their starts failed), taken here once the lease is renewed
    // unless another host has one by then.
    await Promise.all([...this.#activations.values()].map((activation) => activation.deactivate("lease_lost")));
  }

  /**
   * Drain (SIGTERM): stop taking activations, hand every actor over — state is already persisted, the lease is
   * released — and have another host activate it at once, then leave the membership.
   */
  async drain(): Promise<void> {
    if (this.#draining) return;
    this.#draining = true;
    this.#membership.heartbeat();
    this.#placementSub?.unsubscribe();
    for (const activator of this.#activators) await activator.close();
    const activations = [...this.#activations.values()];
    this.#log.info({ actors: activations.length }, "draining: handing actors over");
    await Promise.all(
      activations.map(async (activation) => {
        // Every actor is re-placed, not only live ones: an idle one may have messages waiting in its mailbox, and
        // the activator has already acknowledged them to us. An idle one is passivated on its new host later.
        await activation.deactivate("drain");
        const dot = activation.key.indexOf(".");
        const [type, id] = [activation.key.slice(0, dot), activation.key.slice(dot + 1)];
        // Any other host (this one left the placement group above) places it.
        await this.#nats
          .request(placementSubject, encoder.encode(JSON.stringify({ type, id })), { timeout: 5_000 })
          .then(() => this.metrics.activations.inc({ type, reason: "handover" }))
          .catch((err: unknown) => {
            // The last host leaving (a local stack stopping): nobody to hand over to, and nothing is lost — the
            // actor's state and mailbox wait in JetStream for its next activation.
            if (err instanceof Error && /no responders/i.test(err.message)) {
              this.#log.info({ actor: activation.key }, "no other host to hand the actor over to");
            } else {
              this.#log.warn({ err, actor: activation.key }, "handover failed; the next message or failover places it");
            }
          });
      }),
    );
  }

  /** Drains, then stops everything this host runs. */
  close(): Promise<void> {
    this.#closed ??= (async () => {
      await this.drain();
      clearInterval(this.#failoverTimer);
      clearInterval(this.#serverCheckTimer);
      this.#loadGuard?.stop();
      this.#reminders.stop();
      this.#leaseWatch?.stop();
      this.#hostLeaseWatch?.stop();
      await this.#hostLease.close();
      for (const sub of this.#subs) sub.unsubscribe();
      await this.#membership.close();
      this.#log.info("actor host stopped");
    })();
    return this.#closed;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
