// One activation of one actor on this host: it holds the actor's lease (naming this host, whose own lease keeps it
// valid: see host-lease.ts), loads and fences its state, consumes its durable mailbox and its asks, and runs one
// message at a time in arrival order. Every state write is conditional on the revision this activation last wrote,
// so once another host has taken over, nothing this one does sticks.
import { AckPolicy, DeliverPolicy, type ConsumerMessages, type JsMsg } from "@nats-io/jetstream";
import { headers as natsHeaders, type Msg, type NatsConnection, type Subscription } from "@nats-io/transport-node";
import { SpanKind, SpanStatusCode, context, trace } from "@opentelemetry/api";
import { extractNatsContext, tracer, type Logger } from "../observability/index.js";
import { LivehostError, MalformedMessageError } from "../errors/index.js";
import {
  ActivationEndedError,
  ActorBusyError,
  ActorMovingError,
  LeaseLostError,
  UnknownChannelError,
} from "./errors.js";
import type { ActorMetrics } from "./metrics.js";
import { deadLetterSubject, isNotFound, type Stores } from "./stores.js";
import { stateUnchanged, type ActorContext, type ActorMessage, type AnyActorType } from "./types.js";
import type { ReminderBook } from "./reminders.js";

export type DeactivationReason = "idle" | "drain" | "lease_lost" | "stopped";

export interface ActivationDeps {
  type: AnyActorType;
  id: string;
  hostId: string;
  nats: NatsConnection;
  stores: Stores;
  metrics: ActorMetrics;
  reminders: ReminderBook;
  logger: Logger;
  /** The host's lease: held while this host may act for its actors. */
  hostLease: { holds(): boolean; waitHeld(timeoutMs: number): Promise<boolean> };
  leaseTtlMs: number;
  /** How often handled messages are purged from the mailbox. */
  purgeEveryMs: number;
  /** Asks waiting beyond this are refused at once (RESOURCE_EXHAUSTED) instead of queueing without bound. */
  maxQueuedAsks: number;
  onEnded: (activation: Activation, reason: DeactivationReason) => void;
}

/** What is persisted per actor in the state bucket. */
interface StateDocument {
  /** Activation counter: the fencing token. */
  epoch: number;
  hostId: string;
  /** Stream sequence of the last durable message whose effects are in `state`: the mailbox cursor. */
  lastSeq: number;
  /** A keep-alive actor (a live room) stays so when it moves to another host. */
  keepAlive?: boolean;
  state: unknown;
}

type Work =
  | { kind: "js"; msg: JsMsg; done: () => void }
  | { kind: "ask"; msg: Msg }
  | { kind: "timer"; name: string; payload: unknown };

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const nanos = (ms: number) => ms * 1_000_000;
const isWrongLastSequence = (err: unknown) => err instanceof Error && /wrong last sequence/i.test(err.message);

/**
 * How long JetStream waits for a delivered mailbox message to be acknowledged before it delivers it again. Short, so
 * that a message lost in flight (its server died between delivering and our receiving it) comes again within
 * seconds, not half a minute of a deaf actor; a message being handled, or queued behind others, is kept ours with
 * progress acknowledgements (`keepWorking`).
 */
export const mailboxAckWaitMs = 5_000;

/** Tells JetStream every ackWait/2 that `msg` is still being worked on; call the returned function once it is settled. */
export function keepWorking(msg: JsMsg, ackWaitMs = mailboxAckWaitMs): () => void {
  const timer = setInterval(() => msg.working(), ackWaitMs / 2);
  return () => clearInterval(timer);
}

export const actorKey = (type: string, id: string) => `${type}.${id}`;
export const askSubject = (type: AnyActorType, id: string) => `livehost.ask.${type.name}.${id}`;
/**
 * One consumer per activation (epoch): a paused previous owner that wakes up keeps pulling from *its* consumer,
 * which no longer exists, rather than taking (and holding) messages from the new owner's. A consumer lost with its
 * NATS server is made again under the next generation's name: nats-server 2.9 keeps a lost one-replica consumer
 * assigned to its dead server, and a request to make one of the same name waits for that server.
 */
export const consumerName = (type: string, id: string, epoch: number, generation = 0) =>
  `${type}_${id}_${epoch}${generation > 0 ? `_${generation}` : ""}`;

/** A consumer nobody pulls from for this long is deleted by the servers (one left behind by a lost generation). */
const consumerInactiveMs = 5 * 60_000;

export class Activation {
  readonly key: string;
  readonly epoch: number;
  readonly #deps: ActivationDeps;
  readonly #log: Logger;
  readonly #abort = new AbortController();
  readonly #queue: Work[] = [];
  readonly #timers = new Map<string, NodeJS.Timeout>();
  #wake: (() => void) | undefined;
  #state: unknown;
  #lastSeq: number;
  #persisted: string;
  #stateRevision: number;
  readonly #leaseRevision: number;
  #lastActivity = performance.now();
  #keepAlive = false;
  #ended = false;
  #messages: ConsumerMessages | undefined;
  /** Generation of this activation's mailbox consumer: one more each time it is made again after a loss. */
  #generation = 0;
  #recreating = false;
  /** The NATS server that holds it (none on a single server, where a restart loses it: it is then not found). */
  #consumerServer: string | undefined;
  #askSub: Subscription | undefined;
  #idleTimer: NodeJS.Timeout | undefined;
  #purgeTimer: NodeJS.Timeout | undefined;
  /** Handled messages up to #purgedTo are gone from the mailbox; those up to #purgeNext go at the next purge. */
  #purgedTo = 0;
  #purgeNext = 0;
  /** The cursor as last written with the state: only messages up to it may leave the mailbox. */
  #persistedSeq = 0;
  #loop: Promise<void> = Promise.resolve();

  private constructor(deps: ActivationDeps, lease: number, doc: StateDocument, stateRevision: number) {
    this.#deps = deps;
    this.key = actorKey(deps.type.name, deps.id);
    this.epoch = doc.epoch;
    this.#log = deps.logger.child({ actor: this.key, epoch: doc.epoch });
    this.#leaseRevision = lease;
    this.#state = doc.state;
    this.#lastSeq = doc.lastSeq;
    this.#persisted = JSON.stringify(doc);
    this.#stateRevision = stateRevision;
    this.#keepAlive = doc.keepAlive ?? false;
  }

  get keepAlive(): boolean {
    return this.#keepAlive;
  }

  get ended(): boolean {
    return this.#ended;
  }

  /**
   * Takes the lease (create-if-absent, or compare-and-set from `takeoverRevision` when taking over from a dead
   * owner), bumps the state's epoch with a conditional write (fencing out any previous owner), then starts
   * consuming the mailbox from the state's cursor. Throws if another host got the lease first.
   */
  static async start(deps: ActivationDeps, takeoverRevision?: number): Promise<Activation> {
    const key = actorKey(deps.type.name, deps.id);
    const leaseValue = encoder.encode(JSON.stringify({ hostId: deps.hostId }));
    const lease =
      takeoverRevision === undefined
        ? await deps.stores.leases.create(key, leaseValue)
        : await deps.stores.leases.update(key, leaseValue, takeoverRevision);
    let activation: Activation | undefined;
    try {
      const { doc, revision } = await fenceState(deps, key);
      activation = new Activation(deps, lease, doc, revision);
      await activation.#begin();
      return activation;
    } catch (err) {
      // What the start did so far ends with it: a handler's onActivate may have put things in motion that listen to
      // the activation's signal (a room on air), and they must not outlive an activation that never was.
      if (activation) await activation.#abandon();
      await deps.stores.leases.delete(key, { previousSeq: lease }).catch(() => undefined);
      throw err;
    }
  }

  /** Ends an activation whose start failed: nothing is persisted, its consumer (if made) goes. */
  async #abandon(): Promise<void> {
    this.#ended = true;
    this.#abort.abort(new ActivationEndedError("activation failed to start"));
    clearInterval(this.#idleTimer);
    clearInterval(this.#purgeTimer);
    for (const name of [...this.#timers.keys()]) this.clearTimer(name);
    this.#askSub?.unsubscribe();
    this.#wake?.();
    await this.#messages?.close().catch(() => undefined);
    await this.#deleteConsumer(this.#generation);
  }

  #consumerName(generation = this.#generation): string {
    return consumerName(this.#deps.type.name, this.#deps.id, this.epoch, generation);
  }

  async #deleteConsumer(generation: number): Promise<void> {
    await this.#deps.stores.jsm.consumers
      .delete(this.#deps.type.stream, this.#consumerName(generation))
      .catch(() => undefined);
  }

  async #begin(): Promise<void> {
    const { type, id, nats, stores } = this.#deps;
    const ctx = this.#context();
    if (type.onActivate) {
      await type.onActivate(ctx);
      this.#state = ctx.state;
      await this.#persist(false);
    }
    this.#askSub = nats.subscribe(askSubject(type, id), {
      callback: (_err, msg) => {
        if (this.#queue.filter((w) => w.kind === "ask").length >= this.#deps.maxQueuedAsks) {
          respondError(msg, new ActorBusyError());
          return;
        }
        this.#push({ kind: "ask", msg });
      },
    });
    // Each activation has its own mailbox consumer, positioned just after the state's cursor: a previous owner's
    // unacknowledged message is redelivered at once, and that owner's consumer is deleted (its pulls fail).
    if (this.epoch > 1) {
      await stores.jsm.consumers
        .delete(type.stream, consumerName(type.name, id, this.epoch - 1))
        .catch((err: unknown) => {
          if (!isNotFound(err)) throw err;
        });
    }
    await this.#addConsumer();
    await this.#consume();
    this.#purgedTo = this.#purgeNext = this.#persistedSeq = this.#lastSeq;
    this.#purgeTimer = setInterval(() => void this.#purgeHandled(), this.#deps.purgeEveryMs);
    const idle = type.idleTimeoutMs ?? 300_000;
    if (idle > 0) {
      this.#idleTimer = setInterval(
        () => {
          if (!this.#keepAlive && this.#queue.length === 0 && performance.now() - this.#lastActivity > idle) {
            void this.deactivate("idle");
          }
        },
        Math.min(idle, 5_000),
      );
    }
    this.#loop = this.#run();
  }

  /** Pulls from this activation's mailbox consumer, in place of any earlier pull. */
  async #consume(): Promise<void> {
    const { type, stores } = this.#deps;
    const consumer = await stores.jsm.jetstream().consumers.get(type.stream, this.#consumerName());
    // Idle pulls last 30 s (a heartbeat every 15 s): an idle actor costs the servers a message every 10 s. A lost
    // server is found by the host (lostServers), not by these heartbeats, so they need not be frequent.
    const messages = await consumer.consume({ max_messages: 4, expires: 30_000 });
    const previous = this.#messages;
    this.#messages = messages;
    await previous?.close().catch(() => undefined);
    void (async () => {
      try {
        for await (const msg of messages) this.#push({ kind: "js", msg, done: keepWorking(msg) });
      } catch (err) {
        if (!this.#ended && this.#messages === messages) this.#log.warn({ err }, "mailbox consumer stopped");
      }
    })();
    void this.#watchConsumer(messages);
  }

  /**
   * The mailbox consumer is one replica in memory on one NATS server: an R3 consumer per live actor is a Raft group
   * per room, whose heartbeats alone cost a 3-node cluster about a core at 2,000 rooms, while a one-replica consumer
   * costs nothing idle but its pulls. It holds no fact of its own (the cursor is in the state), so one lost with its
   * server, deleted, or dropped at the server's restart is made again from the cursor under the next generation.
   */
  async #addConsumer(): Promise<void> {
    const { type, id, stores } = this.#deps;
    const info = await stores.jsm.consumers.add(type.stream, {
      durable_name: this.#consumerName(),
      filter_subject: `${type.subjectPrefix}.${id}.*`,
      ack_policy: AckPolicy.Explicit,
      // One message in flight: handling order is arrival order, retries included.
      max_ack_pending: 1,
      ack_wait: nanos(mailboxAckWaitMs),
      inactive_threshold: nanos(consumerInactiveMs),
      num_replicas: 1,
      mem_storage: true,
      ...(this.#lastSeq > 0
        ? { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: this.#lastSeq + 1 }
        : { deliver_policy: DeliverPolicy.All }),
    });
    this.#consumerServer = info.cluster?.leader;
  }

  /**
   * Watches the pulls: when the consumer is gone (deleted, or not found after its server restarted), a new
   * generation is made from the cursor while this activation owns the actor. (One whose server is lost is made again
   * by lostServers(), which the host calls.) A message the lost consumer had delivered comes again from the new one
   * and is skipped as handled (its sequence is at or below the cursor).
   */
  async #watchConsumer(messages: ConsumerMessages): Promise<void> {
    for await (const status of messages.status()) {
      if (this.#ended || this.#messages !== messages) return;
      if (status.type !== "consumer_not_found" && status.type !== "consumer_deleted") continue;
      // A successor deletes its predecessor's consumer: that is not ours to bring back.
      const lease = await this.#deps.stores.leases.get(this.key).catch(() => null);
      const owner =
        lease?.operation === "PUT" ? (JSON.parse(decoder.decode(lease.value)) as { hostId: string }).hostId : "";
      if (owner !== this.#deps.hostId || lease?.revision !== this.#leaseRevision || !this.#deps.hostLease.holds()) {
        continue;
      }
      // The next generation gets a watch of its own.
      void this.#recreate(status.type);
      return;
    }
  }

  /**
   * NATS servers the stream's leader has not heard from for seconds (the host asks once for all its actors): when
   * this activation's consumer is on one of them, it is made again. Missed heartbeats alone would prove nothing: an
   * overloaded host or server misses them too, and making consumers again then would only load the servers more.
   */
  lostServers(lost: ReadonlySet<string>): void {
    const server = this.#consumerServer;
    if (this.#ended || !server || !lost.has(server) || !this.owns() || this.#recreating) return;
    this.#recreating = true;
    void this.#recreate(`server ${server} lost`).finally(() => (this.#recreating = false));
  }

  /** Makes the next generation of the mailbox consumer and pulls from it, retrying while NATS elects leaders. */
  async #recreate(why: string): Promise<void> {
    const lost = this.#generation;
    for (let attempt = 1; !this.#ended && this.owns(); attempt++) {
      this.#generation = lost + attempt;
      try {
        await this.#addConsumer();
        await this.#consume();
        this.#deps.metrics.consumersRecreated.inc({ type: this.#deps.type.name });
        this.#log.warn({ why, generation: this.#generation }, "mailbox consumer was lost; made again from the cursor");
        // Gone with its server: the deletion waits for it, and the servers delete it when idle anyway.
        void this.#deleteConsumer(lost);
        return;
      } catch (err) {
        this.#log.warn({ err, attempt }, "mailbox consumer could not be made again yet");
        void this.#deleteConsumer(this.#generation);
        await new Promise((resolve) => setTimeout(resolve, Math.min(5_000, 250 * attempt)));
      }
    }
  }

  /**
   * Handled messages leave the mailbox: everything up to the cursor is in the state (applied, or waiting there), so
   * the stream keeps only what is not handled yet, and what was handled in the last purge period or two (a message
   * stays readable for a while after it was handled). At most one purge per actor per period, none when idle.
   */
  async #purgeHandled(): Promise<void> {
    const to = this.#purgeNext;
    this.#purgeNext = this.#persistedSeq;
    if (to <= this.#purgedTo || !this.owns()) return;
    const { type, id, stores } = this.#deps;
    try {
      await stores.jsm.streams.purge(type.stream, { filter: `${type.subjectPrefix}.${id}.*`, seq: to + 1 });
      this.#purgedTo = to;
    } catch (err) {
      this.#log.debug({ err }, "purging handled messages failed; next time");
    }
  }

  /**
   * True while this activation certainly owns the actor: check it before anything others see (an event, speech,
   * a frame). False once the activation ended, or while the host cannot be sure of its lease (see host-lease.ts).
   */
  owns(): boolean {
    return !this.#ended && this.#deps.hostLease.holds();
  }

  #push(work: Work): void {
    if (this.#ended) {
      if (work.kind === "ask") respondError(work.msg, new ActorMovingError());
      if (work.kind === "js") work.done();
      return;
    }
    this.#queue.push(work);
    this.#wake?.();
  }

  async #run(): Promise<void> {
    while (!this.#ended) {
      const work = this.#queue.shift();
      if (!work) {
        await new Promise<void>((resolve) => (this.#wake = resolve));
        this.#wake = undefined;
        continue;
      }
      this.#lastActivity = performance.now();
      try {
        await this.#process(work);
      } catch (err) {
        if (err instanceof LeaseLostError) {
          this.#deps.metrics.leaseLost.inc({ type: this.#deps.type.name });
          this.#log.warn({ reason: err.message }, "lease lost: stopping this activation");
          if (work.kind === "ask") respondError(work.msg, new ActorMovingError());
          void this.deactivate("lease_lost");
          return;
        }
        this.#log.error({ err }, "unexpected error in actor loop");
      }
    }
  }

  async #process(work: Work): Promise<void> {
    const { type, metrics } = this.#deps;
    const started = performance.now();
    const parent = work.kind === "timer" ? context.active() : extractNatsContext(work.msg.headers);
    const span = tracer("actors").startSpan(
      `actor ${type.name} ${work.kind === "js" ? "tell" : work.kind}`,
      { kind: SpanKind.CONSUMER, attributes: { "livehost.actor.type": type.name, "livehost.actor.id": this.#deps.id } },
      parent,
    );
    try {
      await context.with(trace.setSpan(parent, span), async () => {
        if (work.kind === "js") await this.#processDurable(work.msg);
        else if (work.kind === "ask") await this.#processAsk(work.msg);
        else await this.#processTimer(work.name, work.payload);
      });
    } catch (err) {
      span.setStatus({ code: SpanStatusCode.ERROR });
      throw err;
    } finally {
      if (work.kind === "js") work.done();
      span.end();
      metrics.handlerSeconds.observe(
        { type: type.name, kind: work.kind === "js" ? "tell" : work.kind },
        (performance.now() - started) / 1_000,
      );
    }
  }

  async #processDurable(msg: JsMsg): Promise<void> {
    const { type, metrics } = this.#deps;
    const sequence = msg.info.streamSequence;
    metrics.mailboxPending.set({ type: type.name }, msg.info.pending);
    metrics.mailboxLagSeconds.observe(
      { type: type.name },
      Math.max(0, Date.now() - msg.info.timestampNanos / 1e6) / 1_000,
    );
    if (sequence <= this.#lastSeq) {
      // Handled before (its effects are in the state) but the ack was lost, or a previous owner died after writing.
      metrics.duplicates.inc({ type: type.name });
      msg.ack();
      return;
    }
    const channel = msg.subject.slice(msg.subject.lastIndexOf(".") + 1);
    let message: ActorMessage<unknown>;
    try {
      message = channel === "reminders" ? decodeReminder(msg.data, sequence) : this.#decodeTell(channel, msg, sequence);
    } catch (err) {
      metrics.rejected.inc({ type: type.name, reason: "malformed" });
      this.#log.warn({ err, subject: msg.subject, sequence }, "malformed message rejected");
      await this.#deadLetter(msg, "malformed", err);
      this.#lastSeq = sequence;
      await this.#persist(true);
      msg.ack();
      return;
    }

    await this.#ensureLease();
    try {
      await this.#handle(message);
    } catch (err) {
      this.#rollback();
      const maxAttempts = type.maxAttempts ?? 5;
      if (msg.info.deliveryCount < maxAttempts) {
        this.#log.warn({ err, sequence, attempt: msg.info.deliveryCount }, "handler failed; will retry");
        msg.nak(Math.min(5_000, 100 * 2 ** msg.info.deliveryCount));
        return;
      }
      this.#log.error({ err, sequence, attempts: msg.info.deliveryCount }, "handler keeps failing; dead-lettered");
      await this.#deadLetter(msg, "handler_failed", err);
    }
    this.#lastSeq = sequence;
    await this.#persist(true);
    msg.ack();
  }

  #decodeTell(channel: string, msg: JsMsg, sequence: number): ActorMessage<unknown> {
    if (!this.#deps.type.channels.includes(channel)) throw new UnknownChannelError(this.#deps.type.name, channel);
    return {
      kind: "tell",
      channel,
      body: this.#deps.type.decode(channel, msg.data),
      messageId: msg.headers?.get("Nats-Msg-Id") ?? String(sequence),
      sequence,
      deliveryCount: msg.info.deliveryCount,
    };
  }

  async #processAsk(msg: Msg): Promise<void> {
    const { type, metrics } = this.#deps;
    let body: unknown;
    try {
      body = type.decode("ask", msg.data);
    } catch (err) {
      metrics.rejected.inc({ type: type.name, reason: "malformed" });
      respondError(msg, new MalformedMessageError(`malformed ask: ${(err as Error).message}`, { cause: err }));
      return;
    }
    await this.#ensureLease();
    let reply: unknown;
    try {
      reply = await this.#handle({ kind: "ask", body, messageId: msg.headers?.get("Livehost-Request-Id") ?? "" });
    } catch (err) {
      this.#rollback();
      respondError(msg, err);
      return;
    }
    await this.#persist(false);
    msg.respond(type.encodeReply ? type.encodeReply(reply) : encoder.encode(JSON.stringify(reply ?? null)));
  }

  async #processTimer(name: string, payload: unknown): Promise<void> {
    await this.#ensureLease();
    let result: unknown;
    try {
      result = await this.#handle({ kind: "timer", name, payload });
    } catch (err) {
      this.#rollback();
      this.#log.warn({ err, timer: name }, "timer handler failed");
      return;
    }
    if (result !== stateUnchanged) await this.#persist(false);
  }

  async #handle(message: ActorMessage<unknown>): Promise<unknown> {
    const ctx = this.#context();
    const reply = await this.#deps.type.handle(ctx, message);
    this.#state = ctx.state;
    return reply;
  }

  /** A handler that threw may have mutated the state half-way: go back to what was last persisted. */
  #rollback(): void {
    this.#state = (JSON.parse(this.#persisted) as StateDocument).state;
  }

  #context(): ActorContext<unknown> {
    const { type, id, hostId, reminders } = this.#deps;
    const ctx: ActorContext<unknown> = {
      type: type.name,
      id,
      hostId,
      epoch: this.epoch,
      state: undefined,
      keepAlive: (on) => {
        this.#keepAlive = on;
      },
      setTimer: (name, delayMs, options = {}) => {
        this.clearTimer(name);
        const fire = () => this.#push({ kind: "timer", name, payload: options.payload });
        const timer = options.repeat ? setInterval(fire, delayMs) : setTimeout(fire, delayMs);
        this.#timers.set(name, timer);
      },
      clearTimer: (name) => this.clearTimer(name),
      setReminder: (name, dueAt, options = {}) =>
        reminders.set({
          type: type.name,
          id,
          name,
          dueAt: dueAt.getTime(),
          periodMs: options.periodMs,
          payload: options.payload,
        }),
      clearReminder: (name) => reminders.clear(type.name, id, name),
      owns: () => this.owns(),
      signal: this.#abort.signal,
      log: this.#log,
    };
    // The handler reads and replaces `ctx.state`; it is this activation's state, not a copy.
    Object.defineProperty(ctx, "state", {
      enumerable: true,
      get: () => this.#state,
      set: (value: unknown) => {
        this.#state = value;
      },
    });
    return ctx;
  }

  clearTimer(name: string): void {
    const timer = this.#timers.get(name);
    if (timer) {
      clearTimeout(timer);
      clearInterval(timer);
      this.#timers.delete(name);
    }
  }

  /**
   * Writes the state if it changed (or always, when the mailbox cursor moved), conditional on the revision this
   * activation last wrote. A conflict means another host has fenced us out.
   */
  async #persist(cursorMoved: boolean): Promise<void> {
    const doc: StateDocument = {
      epoch: this.epoch,
      hostId: this.#deps.hostId,
      lastSeq: this.#lastSeq,
      keepAlive: this.#keepAlive,
      state: this.#state,
    };
    const json = JSON.stringify(doc);
    if (!cursorMoved && json === this.#persisted) return;
    const bytes = encoder.encode(json);
    let attempt = 0;
    for (;;) {
      try {
        this.#stateRevision = await this.#deps.stores.state.update(this.key, bytes, this.#stateRevision);
        this.#persisted = json;
        this.#persistedSeq = doc.lastSeq;
        return;
      } catch (err) {
        if (isWrongLastSequence(err)) {
          // If an earlier attempt timed out but was stored, the bucket holds exactly our bytes: that is success.
          const current = attempt > 0 ? await this.#deps.stores.state.get(this.key).catch(() => null) : null;
          if (current && decoder.decode(current.value) === json) {
            this.#stateRevision = current.revision;
            this.#persisted = json;
            this.#persistedSeq = doc.lastSeq;
            return;
          }
          throw new LeaseLostError(`state of ${this.key} was written by another activation`, { cause: err });
        }
        // NATS is failing over: writes pause until a leader is elected, then resume.
        if (this.#ended || ++attempt > 50) throw err;
        this.#log.warn({ err, attempt }, "state write failed; retrying");
        await new Promise((resolve) => setTimeout(resolve, Math.min(1_000, 50 * attempt)));
      }
    }
  }

  /**
   * Before handling anything, make sure the host still holds its lease. While JetStream elects a leader renewals fail
   * for a few seconds: wait rather than give the actor up, up to 1.5 lease ttls (other hosts take a heartbeating
   * host's actors only after 2 ttls). After a pause (SIGSTOP) the host must renew first, and a fenced host cannot.
   */
  async #ensureLease(): Promise<void> {
    if (this.owns()) return;
    if (this.#ended || !(await this.#deps.hostLease.waitHeld(1.5 * this.#deps.leaseTtlMs)) || this.#ended) {
      throw new LeaseLostError(`lease of ${this.key} could not be renewed in time`);
    }
  }

  async #deadLetter(msg: JsMsg, reason: string, err: unknown): Promise<void> {
    const { type, id, stores, metrics } = this.#deps;
    metrics.deadLetters.inc({ type: type.name, reason });
    const h = natsHeaders();
    h.set("Livehost-Reason", reason);
    h.set("Livehost-Error", err instanceof Error ? err.message.slice(0, 500) : String(err).slice(0, 500));
    h.set("Livehost-Subject", msg.subject);
    h.set("Livehost-Sequence", String(msg.info.streamSequence));
    h.set("Livehost-Attempts", String(msg.info.deliveryCount));
    await stores.jsm.jetstream().publish(deadLetterSubject(type.name, id), msg.data, {
      headers: h,
      msgID: `dl:${type.stream}:${msg.info.streamSequence}`,
    });
  }

  /**
   * Ends the activation. Unless the lease was lost, the state is already persisted (after every message) and the
   * lease is released with a conditional delete, so the next activation can start anywhere at once.
   */
  async deactivate(reason: DeactivationReason): Promise<void> {
    if (this.#ended) return;
    this.#ended = true;
    this.#abort.abort(new ActivationEndedError(`activation ended: ${reason}`));
    clearInterval(this.#idleTimer);
    clearInterval(this.#purgeTimer);
    for (const name of [...this.#timers.keys()]) this.clearTimer(name);
    this.#askSub?.unsubscribe();
    this.#wake?.();
    await this.#loop.catch(() => undefined);
    await this.#messages?.close().catch(() => undefined);
    // A handler may keep facts in memory between writes (a room's show position): what ctx.state holds now is
    // written when the activation is given up on purpose, not when it was lost.
    if (reason !== "lease_lost" && this.#deps.hostLease.holds()) {
      await this.#persist(false).catch((err: unknown) => this.#log.warn({ err }, "last state write failed"));
    }
    for (const work of this.#queue.splice(0)) {
      if (work.kind === "ask") respondError(work.msg, new ActorMovingError());
      if (work.kind === "js") work.done();
    }
    if (reason !== "lease_lost") {
      await this.#deleteConsumer(this.#generation);
      await this.#deps.stores.leases.delete(this.key, { previousSeq: this.#leaseRevision }).catch(() => undefined);
    }
    this.#deps.metrics.deactivations.inc({ type: this.#deps.type.name, reason });
    this.#log.debug({ reason }, "actor deactivated");
    this.#deps.onEnded(this, reason);
  }
}

/** Reads the state and writes it back with epoch + 1, conditional on the revision read; retried on a stale read. */
async function fenceState(deps: ActivationDeps, key: string): Promise<{ doc: StateDocument; revision: number }> {
  for (let attempt = 0; ; attempt++) {
    const entry = await deps.stores.state.get(key);
    const previous =
      entry && entry.operation === "PUT" ? (JSON.parse(decoder.decode(entry.value)) as StateDocument) : undefined;
    const doc: StateDocument = {
      epoch: (previous?.epoch ?? 0) + 1,
      hostId: deps.hostId,
      lastSeq: previous?.lastSeq ?? 0,
      keepAlive: previous?.keepAlive ?? false,
      state: previous ? previous.state : deps.type.initialState(deps.id),
    };
    const bytes = encoder.encode(JSON.stringify(doc));
    try {
      const revision = entry
        ? await deps.stores.state.update(key, bytes, entry.revision)
        : await deps.stores.state.create(key, bytes);
      return { doc, revision };
    } catch (err) {
      // A read served by a lagging replica, or a racing writer: read again. Correctness is in the conditional write.
      if (attempt >= 5 || !(isWrongLastSequence(err) || /exists/i.test((err as Error).message))) throw err;
    }
  }
}

function decodeReminder(data: Uint8Array, sequence: number): ActorMessage<unknown> {
  const fired = JSON.parse(decoder.decode(data)) as { name: string; payload?: unknown; dueAt: number };
  if (typeof fired.name !== "string" || typeof fired.dueAt !== "number")
    throw new MalformedMessageError("not a reminder");
  return { kind: "reminder", name: fired.name, payload: fired.payload, dueAt: new Date(fired.dueAt), sequence };
}

/** Sends an error to an asker as headers the ActorClient turns back into a typed error. */
export function respondError(msg: Msg, err: unknown): void {
  const h = natsHeaders();
  const typed = err instanceof LivehostError ? err : undefined;
  h.set("Livehost-Error-Code", typed?.code ?? "internal");
  h.set("Livehost-Error-Retryable", String(typed?.retryable ?? false));
  const message = typed ? typed.message : "actor handler failed";
  msg.respond(encoder.encode(message), { headers: h });
}
