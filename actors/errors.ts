// Errors of the actor runtime. An ask's error travels back to the asker as its code (and comes back as that code's
// class, see ActorClient.ask); lease loss is how a fenced (stale) owner learns it must stop.
import {
  AbortedError,
  DeadlineExceededError,
  InvalidArgumentError,
  ResourceExhaustedError,
  UnavailableError,
} from "../errors/index.js";

/** This host no longer owns the actor: another host took its lease or wrote its state (fencing). */
export class LeaseLostError extends AbortedError {
  override name = "LeaseLostError";
  override readonly retryable: boolean = true;
}

/** The activation ended (idle, drain, lease lost): the reason its handlers' signal aborts with. */
export class ActivationEndedError extends AbortedError {
  override name = "ActivationEndedError";
}

/** More asks are waiting for the actor than it queues (maxQueuedAsks); the asker may try again shortly. */
export class ActorBusyError extends ResourceExhaustedError {
  override name = "ActorBusyError";

  constructor(options?: ErrorOptions) {
    super("actor has too many asks waiting", options);
  }
}

/** The actor is between hosts (its activation is ending or its lease was lost); ActorClient.ask retries this one. */
export class ActorMovingError extends UnavailableError {
  override name = "ActorMovingError";

  constructor(options?: ErrorOptions) {
    super("actor is moving; retry", options);
  }
}

/** An ask got no answer within its timeout, activation included. */
export class AskTimeoutError extends DeadlineExceededError {
  override name = "AskTimeoutError";

  constructor(type: string, id: string, options?: ErrorOptions) {
    super(`ask ${type}/${id} timed out`, options);
  }
}

/** A message for a mailbox channel the actor type does not have. */
export class UnknownChannelError extends InvalidArgumentError {
  override name = "UnknownChannelError";
  readonly channel: string;

  constructor(type: string, channel: string, options?: ErrorOptions) {
    super("channel", `"${channel}" is not a mailbox channel of ${type}`, options);
    this.channel = channel;
  }
}
