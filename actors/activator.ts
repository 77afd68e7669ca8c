// The activator: any message stored in an inactive actor's mailbox activates it, whoever published it.
//
// Each host reads the headers of every message of a type's mailbox stream from a consumer of its own: one replica in
// memory, no acknowledgements. At a festival's rate nearly every message is for an actor already active somewhere,
// and a shared replicated consumer made each of them a replicated delivery and a replicated acknowledgement (a Raft
// round between the servers per comment) only to learn that. Now a message costs each host one headers-only delivery
// and a look at its lease mirror. For an inactive actor the host the placement prefers places it at once; the others
// look again a moment later and place it only if it is still inactive (that host may be dead). A placement that
// fails is retried from memory until the actor is active; a host that dies meanwhile leaves the message to the
// others, which saw it too.
//
// The consumer holds no fact of its own: the host remembers the stream sequence it last saw, and a consumer lost
// with its server (the host's check, as for mailboxes) or deleted is made again from there under the next
// generation's name (nats-server 2.9 keeps a lost one-replica consumer's name bound to its dead server).
import { setTimeout as delay } from "node:timers/promises";
import { AckPolicy, DeliverPolicy, type ConsumerMessages, type JsMsg } from "@nats-io/jetstream";
import type { Logger } from "../observability/index.js";
import type { ActorMetrics } from "./metrics.js";
import { isNotFound, whileJetStreamStarts, type Stores } from "./stores.js";
import { actorIdPattern, type AnyActorType } from "./types.js";

const nanos = (ms: number) => ms * 1_000_000;
/** How long a host the placement does not prefer waits before it places an inactive actor itself. */
const secondLookMs = 1_500;
/** A consumer nobody pulls from for this long is deleted by the servers (a lost generation, a dead host's). */
const inactiveMs = 5 * 60_000;

export interface ActivatorDeps {
  stores: Stores;
  type: AnyActorType;
  hostId: string;
  metrics: ActorMetrics;
  log: Logger;
  /** Whether the actor has no live activation anywhere (as this host's lease mirror says). */
  inactive(id: string): boolean;
  /** Whether the placement prefers this host for the actor: it acts at once, the others a moment later. */
  preferred(id: string): boolean;
  /** Places the actor (here or on another host); rejects when it could not. */
  place(id: string): Promise<void>;
  /**
   * Whether no other host is alive: then this one reads the whole mailbox stream (what was published while no host
   * ran), not only what comes after its start (which the other hosts saw).
   */
  alone(): boolean;
}

export class Activator {
  readonly #deps: ActivatorDeps;
  readonly #abort = new AbortController();
  /** Actors this host is placing now: more messages for them wait on the same placement. */
  readonly #placing = new Set<string>();
  #generation = 0;
  /** Stream sequence of the last message seen: a consumer made again starts after it. */
  #lastSeq = 0;
  #messages: ConsumerMessages | undefined;
  #server: string | undefined;
  #recreating = false;

  constructor(deps: ActivatorDeps) {
    this.#deps = deps;
  }

  get type(): AnyActorType {
    return this.#deps.type;
  }

  get #name(): string {
    const host = this.#deps.hostId.replace(/[^A-Za-z0-9_-]/g, "_");
    return `livehost_activator_${host}${this.#generation > 0 ? `_${this.#generation}` : ""}`;
  }

  async start(): Promise<void> {
    const { stores, type } = this.#deps;
    // The shared replicated consumer of earlier versions: nobody pulls from it any more.
    await stores.jsm.consumers.delete(type.stream, "livehost_activator").catch(() => undefined);
    await whileJetStreamStarts(async () => {
      const { first_seq: first, last_seq: last } = (await stores.jsm.streams.info(type.stream)).state;
      this.#lastSeq = this.#deps.alone() ? Math.max(0, first - 1) : last;
      await this.#add();
    });
    await this.#consume();
  }

  async #add(): Promise<void> {
    const { stores, type } = this.#deps;
    // A name left by an earlier run of a host with this id: its position is not ours.
    await stores.jsm.consumers.delete(type.stream, this.#name).catch((err: unknown) => {
      if (!isNotFound(err)) throw err;
    });
    const info = await stores.jsm.consumers.add(type.stream, {
      durable_name: this.#name,
      ack_policy: AckPolicy.None,
      deliver_policy: DeliverPolicy.StartSequence,
      opt_start_seq: this.#lastSeq + 1,
      headers_only: true,
      num_replicas: 1,
      mem_storage: true,
      inactive_threshold: nanos(inactiveMs),
    });
    this.#server = info.cluster?.leader;
  }

  async #consume(): Promise<void> {
    const { stores, type } = this.#deps;
    const consumer = await stores.jsm.jetstream().consumers.get(type.stream, this.#name);
    const messages = await consumer.consume({ max_messages: 512, expires: 30_000 });
    const previous = this.#messages;
    this.#messages = messages;
    await previous?.close().catch(() => undefined);
    void (async () => {
      for await (const msg of messages) this.#seen(msg);
    })().catch((err: unknown) => this.#deps.log.warn({ err }, "activator stopped"));
    void this.#watch(messages);
  }

  #seen(msg: JsMsg): void {
    this.#lastSeq = Math.max(this.#lastSeq, msg.seq);
    const id = msg.subject.split(".")[1] ?? "";
    if (!actorIdPattern.test(id) || this.#placing.has(id) || !this.#deps.inactive(id)) return;
    this.#placing.add(id);
    void this.#activate(id).finally(() => this.#placing.delete(id));
  }

  /** Places an inactive actor: at once where preferred, else after a second look; retried until it is active. */
  async #activate(id: string): Promise<void> {
    const { signal } = this.#abort;
    if (!this.#deps.preferred(id)) await sleep(secondLookMs, signal);
    for (let attempt = 1; !signal.aborted && this.#deps.inactive(id); attempt++) {
      try {
        await this.#deps.place(id);
        return;
      } catch (err) {
        this.#deps.log.warn({ err, id, attempt }, "activation on message failed; retrying");
        await sleep(Math.min(5_000, 500 * attempt), signal);
      }
    }
  }

  /** A consumer deleted, or not found after its server restarted, is made again from the last message seen. */
  async #watch(messages: ConsumerMessages): Promise<void> {
    for await (const status of messages.status()) {
      if (this.#abort.signal.aborted || this.#messages !== messages) return;
      if (status.type === "consumer_not_found" || status.type === "consumer_deleted") {
        void this.#recreate(status.type);
        return;
      }
    }
  }

  /** NATS servers found lost by the host's check: the consumer on one of them is made again. */
  lostServers(lost: ReadonlySet<string>): void {
    if (this.#server && lost.has(this.#server)) void this.#recreate(`server ${this.#server} lost`);
  }

  async #recreate(why: string): Promise<void> {
    if (this.#recreating) return;
    this.#recreating = true;
    try {
      for (let attempt = 1; !this.#abort.signal.aborted; attempt++) {
        this.#generation++;
        try {
          await this.#add();
          await this.#consume();
          this.#deps.metrics.consumersRecreated.inc({ type: this.#deps.type.name });
          this.#deps.log.warn({ why, generation: this.#generation }, "activator consumer was lost; made again");
          return;
        } catch (err) {
          this.#deps.log.warn({ err, attempt }, "activator consumer could not be made again yet");
          await sleep(Math.min(5_000, 250 * attempt), this.#abort.signal);
        }
      }
    } finally {
      this.#recreating = false;
    }
  }

  /** Stops reading and deletes this host's consumer (the servers would, after a few idle minutes). */
  async close(): Promise<void> {
    this.#abort.abort();
    await this.#messages?.close().catch(() => undefined);
    await this.#deps.stores.jsm.consumers.delete(this.#deps.type.stream, this.#name).catch(() => undefined);
  }
}

const sleep = (ms: number, signal: AbortSignal) => delay(ms, undefined, { signal }).catch(() => undefined);
