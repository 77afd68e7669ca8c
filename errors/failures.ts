// Named failures that more than one module raises. A module's own failures live in its errors.ts and extend the
// kinds in kinds.ts the same way.
import { DeadlineExceededError, InternalError, InvalidArgumentError } from "./kinds.js";

/** A message that cannot be decoded as what its channel carries: an actor's ask or mailbox message, an HTTP body. */
export class MalformedMessageError extends InvalidArgumentError {
  override name = "MalformedMessageError";

  constructor(message: string, options?: ErrorOptions) {
    super("", message, options);
  }
}

/** One of our own services answered outside its contract (e.g. a reply without the part it must carry): a bug. */
export class ProtocolError extends InternalError {
  override name = "ProtocolError";
}

/**
 * Calls `call` again when it runs out of time (DeadlineExceededError), up to `attempts` calls in all: for idempotent
 * asks (the same request id) that a busy host may answer late, as a patient caller would. Other errors pass at once.
 */
export async function againOnDeadline<T>(call: () => Promise<T>, attempts: number): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await call();
    } catch (err) {
      if (!(err instanceof DeadlineExceededError) || attempt >= attempts) throw err;
    }
  }
}
