// Putting a comment in its room's durable mailbox. A message id on every publish makes retries safe (JetStream
// drops duplicates within the window); the room actor is activated for it wherever it lands. The inbox is bounded
// (stream ROOM_INBOX: max bytes, max age, max message size, discard new, see actors/stores.ts): when it is full the
// new comment is refused, counted and the publisher told, and nothing accepted before is dropped to make room.
import { JetStreamApiError, jetstream } from "@nats-io/jetstream";
import { headers, type NatsConnection } from "@nats-io/transport-node";
import { Counter, injectNatsHeaders, type Registry } from "../observability/index.js";
import { Comment, subjects } from "../proto/index.js";
import { InvalidArgumentError, ResourceExhaustedError, UnavailableError } from "../errors/index.js";

export interface EnqueueOptions {
  signal?: AbortSignal;
  /** Where refusals are counted (livehost_inbox_refused_total); the publishing process's registry. */
  registry?: Registry;
  /** Prefix of the field a refusal names, as the caller's request spells the comment: "comment." in PostComment. */
  fieldPrefix?: string;
}

/** Why a comment was not stored: the inbox at its cap, the comment over its message size, or no disk left. */
type RefusalReason = "full" | "too_large" | "no_storage";

const counters = new WeakMap<Registry, Counter<"reason">>();

/**
 * livehost_inbox_refused_total on `registry`, made once per registry, every reason at 0 from the start: an alert on
 * its rate sees the series before the first refusal.
 */
export function refusedCounter(registry: Registry): Counter<"reason"> {
  let counter = counters.get(registry);
  if (!counter) {
    counter = new Counter({
      name: "livehost_inbox_refused_total",
      help: "Comments the rooms' inbox refused, by reason: full (at its max bytes), too_large, no_storage.",
      labelNames: ["reason"],
      registers: [registry],
    });
    for (const reason of ["full", "too_large", "no_storage"] satisfies RefusalReason[]) counter.inc({ reason }, 0);
    counters.set(registry, counter);
  }
  return counter;
}

/** Queues a comment for its room. Resolves once JetStream has stored it; `duplicate` when it was already queued. */
export async function enqueueComment(
  nats: NatsConnection,
  comment: Comment,
  options: EnqueueOptions = {},
): Promise<{ duplicate: boolean; sequence: number }> {
  options.signal?.throwIfAborted();
  // The counter is on the publisher's /metrics from its first comment on, at 0 until a refusal (alerts use it).
  const refused = options.registry && refusedCounter(options.registry);
  const data = Comment.encode(comment).finish();
  try {
    const ack = await jetstream(nats).publish(subjects.roomComments(comment.roomId), data, {
      // The room's own id space: the same comment id in two rooms (two tenants) is two comments, never a duplicate.
      msgID: `${comment.roomId}:${comment.commentId}`,
      headers: injectNatsHeaders(headers()),
    });
    return { duplicate: ack.duplicate, sequence: ack.seq };
  } catch (err) {
    const refusal = refusalOf(err, comment, data.length, options.fieldPrefix ?? "");
    if (refusal) {
      refused?.inc({ reason: refusal.reason });
      throw refusal.error;
    }
    // No stream yet (no room host has started) or JetStream is electing a leader: the caller may retry.
    throw new UnavailableError("the rooms' inbox is not available; retry", { cause: err });
  }
}

/** The refusal a publish error is, when JetStream (or the connection) would not store the comment. */
function refusalOf(
  err: unknown,
  comment: Comment,
  size: number,
  fieldPrefix: string,
): { reason: RefusalReason; error: Error } | undefined {
  const message = err instanceof Error ? err.message : "";
  const tooLarge =
    (err instanceof JetStreamApiError && /message size exceeds maximum/i.test(message)) || /max_payload/i.test(message);
  if (tooLarge) {
    const [field, bytes] = largestField(comment);
    return {
      reason: "too_large",
      error: new InvalidArgumentError(
        `${fieldPrefix}${field}`,
        `is ${bytes} bytes, which makes the comment (${size} bytes encoded) larger than the rooms' inbox takes in ` +
          "one message",
        { cause: err },
      ),
    };
  }
  if (!(err instanceof JetStreamApiError)) return undefined;
  // Stream limits with discard new: "maximum bytes exceeded", "maximum messages exceeded" (or per subject).
  if (/maximum (bytes|messages)/i.test(message)) {
    return {
      reason: "full",
      error: new ResourceExhaustedError(
        `the rooms' inbox is full (${message}): comment ${comment.commentId} was not queued, and every comment ` +
          "queued before is kept for its room; retry once the rooms have caught up",
        { cause: err },
      ),
    };
  }
  if (/insufficient (storage )?resources/i.test(message)) {
    return {
      reason: "no_storage",
      error: new ResourceExhaustedError(
        `the rooms' inbox has no storage left on its servers (${message}): comment ${comment.commentId} was not ` +
          "queued; retry later",
        { cause: err },
      ),
    };
  }
  return undefined;
}

/** The comment's largest field (its proto name) and its size in bytes: what to name when the comment is too big. */
function largestField(comment: Comment): [string, number] {
  const fields: [string, string][] = [
    ["comment_id", comment.commentId],
    ["room_id", comment.roomId],
    ["viewer_id", comment.viewerId],
    ["viewer_name", comment.viewerName],
    ["text", comment.text],
    ["source", comment.source],
  ];
  const sized = fields.map(([name, value]): [string, number] => [name, Buffer.byteLength(value)]);
  return sized.reduce((largest, field) => (field[1] > largest[1] ? field : largest));
}
