// Putting a comment in its room's durable mailbox. A message id on every publish makes retries safe (JetStream
// drops duplicates within the window); the room actor is activated for it wherever it lands.
import { jetstream } from "@nats-io/jetstream";
import { headers, type NatsConnection } from "@nats-io/transport-node";
import { injectNatsHeaders } from "../observability/index.js";
import { Comment, subjects } from "../proto/index.js";
import { UnavailableError } from "../errors/index.js";

/** Queues a comment for its room. Resolves once JetStream has stored it; `duplicate` when it was already queued. */
export async function enqueueComment(
  nats: NatsConnection,
  comment: Comment,
  signal?: AbortSignal,
): Promise<{ duplicate: boolean; sequence: number }> {
  signal?.throwIfAborted();
  try {
    const ack = await jetstream(nats).publish(subjects.roomComments(comment.roomId), Comment.encode(comment).finish(), {
      msgID: comment.commentId,
      headers: injectNatsHeaders(headers()),
    });
    return { duplicate: ack.duplicate, sequence: ack.seq };
  } catch (err) {
    // No stream yet (no room host has started) or JetStream is electing a leader: the caller may retry.
    throw new UnavailableError("the rooms' inbox is not available; retry", { cause: err });
  }
}
