// Where the runtime keeps its facts, all in JetStream: actor leases, actor state and reminders (KV buckets), every
// type's mailbox stream and the dead-letter stream. Created idempotently by every host at start.
import {
  DiscardPolicy,
  jetstreamManager,
  RetentionPolicy,
  StorageType,
  type JetStreamManager,
} from "@nats-io/jetstream";
import { Kvm, type KV } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import type { AnyActorType } from "./types.js";

export interface StoreSettings {
  /** Replicas of every bucket and stream: 1 on a single server, 3 in production. Default 1. */
  replicas?: number;
  /** How long JetStream remembers message ids of tells. Default 2 min. */
  duplicateWindowMs?: number;
  /**
   * Mailbox messages older than this are dropped, handled or not: the last resort for actors that never come back
   * (a live room handles its mailbox within seconds). Default 24 h.
   */
  mailboxMaxAgeMs?: number;
  /**
   * Bytes a type's mailboxes may hold in all (each replica stores them all), and so at most one message per KiB.
   * When full, new tells are refused (discard new): the publisher learns it, and nothing already stored is dropped
   * to make room. Default 1 GiB.
   */
  mailboxMaxBytes?: number;
  /** The largest message a mailbox takes; larger tells are refused. Default 256 KiB. */
  mailboxMaxMessageBytes?: number;
}

export interface Stores {
  jsm: JetStreamManager;
  /** One key per live host, renewed by it (see host-lease.ts). */
  hostLeases: KV;
  /** Which host owns each active actor: written on activation, takeover and release only. */
  leases: KV;
  state: KV;
  reminders: KV;
}

export const deadLetterStream = "DEAD_LETTERS";
export const deadLetterSubject = (type: string, id: string) => `deadletter.${type}.${id}`;

const nanos = (ms: number) => ms * 1_000_000;

/**
 * The mailbox subjects of a type: `<prefix>.<id>.<channel>`. Nothing else may be published under `<prefix>.*.*`
 * (one consumer filter per actor, `<prefix>.<id>.*`, must cover all its channels on nats-server 2.9).
 */
export function mailboxSubjects(type: AnyActorType): string[] {
  return [`${type.subjectPrefix}.*.*`];
}

export async function openStores(nats: NatsConnection, settings: StoreSettings = {}): Promise<Stores> {
  const replicas = settings.replicas ?? 1;
  const jsm = await whileJetStreamStarts(() => jetstreamManager(nats));
  const kvm = new Kvm(nats);
  const bucket = (name: string, description: string) =>
    whileJetStreamStarts(() => kvm.create(name, { history: 1, replicas, storage: StorageType.File, description }));
  const hostLeases = await bucket("livehost_host_leases", "one lease per live actor host, renewed by it");
  const leases = await bucket("livehost_leases", "which host owns each active actor");
  const state = await bucket(
    "livehost_actor_state",
    "each actor's persisted state, written conditionally by its owner",
  );
  const reminders = await bucket("livehost_reminders", "persisted reminders, fired by any host");
  await ensureStream(jsm, {
    name: deadLetterStream,
    subjects: ["deadletter.>"],
    retention: RetentionPolicy.Limits,
    storage: StorageType.File,
    num_replicas: replicas,
    max_age: nanos(30 * 24 * 3600_000),
  });
  return { jsm, hostLeases, leases, state, reminders };
}

/**
 * Creates or updates a type's mailbox stream, bounded by size and age (StoreSettings): when it is full, new tells
 * are refused and nothing stored is dropped.
 */
export async function ensureMailboxStream(
  jsm: JetStreamManager,
  type: AnyActorType,
  settings: StoreSettings = {},
): Promise<void> {
  const maxBytes = settings.mailboxMaxBytes ?? 1024 ** 3;
  // Under discard new, nats-server before 2.10.5 checks the byte limit without each message's own overhead
  // (nats-server#4771): a message that just fits is stored, and the oldest one is then deleted to get back under
  // the limit. Its message count limit is exact, so the stream also holds at most one message per KiB of its byte
  // cap, a count it reaches first while messages average under 1 KiB (a stored comment is about 0.3 KiB).
  const maxMessages = Math.max(1, Math.floor(maxBytes / 1024));
  // JetStream also deletes the oldest messages at once when a stream's limits are lowered below what it holds. A
  // host started with a smaller cap than the backlog sets it a little above the backlog instead (new tells are
  // refused until the backlog is handled); a later start lowers it to the setting.
  const held = await whileJetStreamStarts(() => jsm.streams.info(type.stream)).then(
    (info) => info.state,
    (err: unknown) => {
      if (isNotFound(err)) return { bytes: 0, messages: 0 };
      throw err;
    },
  );
  await ensureStream(jsm, {
    name: type.stream,
    subjects: mailboxSubjects(type),
    retention: RetentionPolicy.Limits,
    storage: StorageType.File,
    num_replicas: settings.replicas ?? 1,
    duplicate_window: nanos(settings.duplicateWindowMs ?? 120_000),
    max_age: nanos(settings.mailboxMaxAgeMs ?? 24 * 3600_000),
    max_bytes: Math.max(maxBytes, Math.ceil(held.bytes * 1.1)),
    max_msgs: Math.max(maxMessages, Math.ceil(held.messages * 1.1)),
    max_msg_size: settings.mailboxMaxMessageBytes ?? 256 * 1024,
    discard: DiscardPolicy.New,
  });
}

type StreamConfig = Parameters<JetStreamManager["streams"]["add"]>[0] & { name: string };

/**
 * Retries an administrative JetStream call while the cluster is still electing leaders or busy creating other
 * replicated assets (timeouts, no responders), for up to a minute. Other errors are real and thrown at once.
 */
export async function whileJetStreamStarts<T>(call: () => Promise<T>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (let attempt = 1; ; attempt++) {
    try {
      return await call();
    } catch (err) {
      const transient = err instanceof Error && /timeout|no responders|503|leader/i.test(`${err.name} ${err.message}`);
      if (!transient || Date.now() > deadline) throw err;
      await new Promise((resolve) => setTimeout(resolve, Math.min(2_000, 100 * attempt)));
    }
  }
}

/** Creates the stream, or brings an existing one to this configuration (retention, limits), while JetStream starts. */
export function ensureStream(jsm: JetStreamManager, config: StreamConfig): Promise<void> {
  return whileJetStreamStarts(() => ensureStreamOnce(jsm, config));
}

async function ensureStreamOnce(jsm: JetStreamManager, config: StreamConfig): Promise<void> {
  try {
    await jsm.streams.info(config.name);
  } catch (err) {
    if (!isNotFound(err)) throw err;
    try {
      await jsm.streams.add(config);
      return;
    } catch (addErr) {
      // Another host created it between our info and add (nats-server may then say its subjects overlap with
      // the stream just made; if they overlap with another stream, the update below says it is not found).
      if (!/already in use|exists|subjects overlap/i.test(String((addErr as Error).message))) throw addErr;
    }
  }
  await jsm.streams.update(config.name, config);
}

export function isNotFound(err: unknown): boolean {
  return err instanceof Error && /not found/i.test(err.message);
}

/**
 * Mirrors a KV bucket of JSON values into memory: `onPut` for every value (with its revision), `onDelete` for
 * deleted or purged keys. A value that is not JSON is reported through `onMalformed` and skipped.
 */
export async function mirrorBucket<T>(
  bucket: KV,
  handlers: {
    onPut: (key: string, value: T, revision: number) => void;
    onDelete: (key: string) => void;
    onMalformed: (key: string, err: unknown) => void;
  },
): Promise<{ stop(): void }> {
  const watch = await bucket.watch();
  void (async () => {
    for await (const entry of watch) {
      if (entry.operation !== "PUT") {
        handlers.onDelete(entry.key);
        continue;
      }
      try {
        handlers.onPut(entry.key, JSON.parse(new TextDecoder().decode(entry.value)) as T, entry.revision);
      } catch (err) {
        handlers.onMalformed(entry.key, err);
      }
    }
  })();
  return watch;
}
