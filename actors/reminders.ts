// Persisted reminders: "wake this actor at 20:00" survives the actor being inactive and its host dying. They live
// in a KV bucket; every host watches it, and the host rendezvous hashing prefers for the actor fires each one into
// the actor's durable mailbox (message id = reminder and due time, so a double fire is stored once).
import type { KV } from "@nats-io/kv";
import type { JetStreamClient } from "@nats-io/jetstream";
import type { Logger } from "../observability/index.js";
import { InvalidArgumentError } from "../errors/index.js";
import type { Membership } from "./membership.js";
import { mirrorBucket } from "./stores.js";
import type { AnyActorType } from "./types.js";

export interface Reminder {
  type: string;
  id: string;
  name: string;
  /** Unix ms. */
  dueAt: number;
  /** Fires again every periodMs after dueAt; once when absent. */
  periodMs?: number;
  payload?: unknown;
}

const encoder = new TextEncoder();
const reminderNamePattern = /^[A-Za-z0-9_-]{1,64}$/;
const reminderKey = (type: string, id: string, name: string) => `${type}.${id}.${name}`;

/** Writing and removing reminders (what an actor's context calls). */
export class ReminderBook {
  readonly #bucket: KV;

  constructor(bucket: KV) {
    this.#bucket = bucket;
  }

  async set(reminder: Reminder): Promise<void> {
    if (!reminderNamePattern.test(reminder.name)) {
      throw new InvalidArgumentError("reminder.name", "must be 1 to 64 characters of A-Z, a-z, 0-9, '_', '-'");
    }
    if (!Number.isFinite(reminder.dueAt)) throw new InvalidArgumentError("reminder.dueAt", "must be a valid time");
    if (reminder.periodMs !== undefined && !(reminder.periodMs >= 1_000)) {
      throw new InvalidArgumentError("reminder.periodMs", "must be at least 1000 ms");
    }
    await this.#bucket.put(
      reminderKey(reminder.type, reminder.id, reminder.name),
      encoder.encode(JSON.stringify(reminder)),
    );
  }

  async clear(type: string, id: string, name: string): Promise<void> {
    await this.#bucket.delete(reminderKey(type, id, name));
  }
}

/** Fires due reminders this host is responsible for. */
export class ReminderScheduler {
  readonly #bucket: KV;
  readonly #js: JetStreamClient;
  readonly #membership: Membership;
  readonly #types: Map<string, AnyActorType>;
  readonly #log: Logger;
  readonly #entries = new Map<string, { reminder: Reminder; revision: number }>();
  readonly #firing = new Set<string>();
  #watch: { stop(): void } | undefined;
  #timer: NodeJS.Timeout | undefined;

  constructor(bucket: KV, js: JetStreamClient, membership: Membership, types: Map<string, AnyActorType>, log: Logger) {
    this.#bucket = bucket;
    this.#js = js;
    this.#membership = membership;
    this.#types = types;
    this.#log = log;
  }

  async start(tickMs = 200): Promise<void> {
    this.#watch = await mirrorBucket<Reminder>(this.#bucket, {
      onPut: (key, reminder, revision) => this.#entries.set(key, { reminder, revision }),
      onDelete: (key) => this.#entries.delete(key),
      onMalformed: (key, err) => this.#log.warn({ err, key }, "malformed reminder ignored"),
    });
    this.#timer = setInterval(() => this.#tick(), tickMs);
  }

  #tick(): void {
    const now = Date.now();
    for (const [key, { reminder, revision }] of this.#entries) {
      if (reminder.dueAt > now || this.#firing.has(key)) continue;
      if (this.#membership.preferredFor(`${reminder.type}.${reminder.id}`) !== this.#membership.hostId) continue;
      this.#firing.add(key);
      void this.#fire(key, reminder, revision).finally(() => this.#firing.delete(key));
    }
  }

  async #fire(key: string, reminder: Reminder, revision: number): Promise<void> {
    const type = this.#types.get(reminder.type);
    if (!type) return; // a type this host does not run; a host that does will fire it
    try {
      const body = { name: reminder.name, payload: reminder.payload, dueAt: reminder.dueAt };
      await this.#js.publish(`${type.subjectPrefix}.${reminder.id}.reminders`, encoder.encode(JSON.stringify(body)), {
        msgID: `rem:${key}:${reminder.dueAt}`,
      });
      if (reminder.periodMs) {
        let dueAt = reminder.dueAt;
        while (dueAt <= Date.now()) dueAt += reminder.periodMs;
        await this.#bucket.update(key, encoder.encode(JSON.stringify({ ...reminder, dueAt })), revision);
      } else {
        await this.#bucket.delete(key, { previousSeq: revision });
      }
    } catch (err) {
      // Another host fired or changed it (conditional write lost), or NATS is failing over: the next tick sees.
      this.#log.debug({ err, key }, "reminder not fired this time");
    }
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#watch?.stop();
  }
}
