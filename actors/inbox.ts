// The durable inbox every room reads: one JetStream stream for all rooms' comments and commands. A message id on
// every publish makes retries safe (JetStream drops duplicates within the window).
import { jetstream, jetstreamManager, RetentionPolicy, StorageType, type JetStreamManager } from "@nats-io/jetstream";
import { headers, type NatsConnection } from "@nats-io/transport-node";
import { injectNatsHeaders } from "../observability/index.js";
import { Comment, subjects } from "../proto/index.js";

export interface InboxSettings {
  /** 1 for a single local server; 3 in production so the loss of a NATS server loses nothing. */
  replicas?: number;
  /** How long JetStream remembers message ids for deduplication. Default 2 min. */
  duplicateWindowMs?: number;
  /** Unhandled messages older than this are dropped. Default 7 days. */
  maxAgeMs?: number;
}

const nanos = (ms: number) => ms * 1_000_000;

/** Creates or updates the ROOM_INBOX stream. Safe to call from every process at start-up. */
export async function ensureRoomInbox(jsm: JetStreamManager, settings: InboxSettings = {}): Promise<void> {
  const config = {
    name: subjects.roomInboxStream,
    subjects: subjects.roomInboxSubjects,
    retention: RetentionPolicy.Limits,
    storage: StorageType.File,
    num_replicas: settings.replicas ?? 1,
    duplicate_window: nanos(settings.duplicateWindowMs ?? 120_000),
    max_age: nanos(settings.maxAgeMs ?? 7 * 24 * 3600_000),
  };
  try {
    await jsm.streams.info(config.name);
    await jsm.streams.update(config.name, config);
  } catch (err) {
    if (!(err instanceof Error) || !/not found/i.test(err.message)) throw err;
    await jsm.streams.add(config);
  }
}

/** Queues a comment for its room. Resolves once JetStream has stored it; `duplicate` when it was already queued. */
export async function enqueueComment(
  nats: NatsConnection,
  comment: Comment,
  signal?: AbortSignal,
): Promise<{ duplicate: boolean; sequence: number }> {
  signal?.throwIfAborted();
  const js = jetstream(nats);
  const ack = await js.publish(subjects.roomComments(comment.roomId), Comment.encode(comment).finish(), {
    msgID: comment.commentId,
    headers: injectNatsHeaders(headers()),
  });
  return { duplicate: ack.duplicate, sequence: ack.seq };
}

export { jetstreamManager };
