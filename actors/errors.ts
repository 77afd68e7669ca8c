// Errors of the actor runtime. Handler errors travel back to an asker with their code; lease loss is how a
// fenced (stale) owner learns it must stop.
import { LivehostError, type LivehostErrorOptions } from "../transport/index.js";

/** This host no longer owns the actor: another host took its lease or wrote its state (fencing). */
export class LeaseLostError extends LivehostError {
  override name = "LeaseLostError";
  constructor(message: string, options: LivehostErrorOptions = {}) {
    super("aborted", message, { ...options, retryable: true });
  }
}

/** An ask's handler failed; `code` is the handler's own when it threw a LivehostError. */
export class ActorHandlerError extends LivehostError {
  override name = "ActorHandlerError";
}
