// Errors of the operator: what the Kubernetes API answered, the one that stops actuation when leadership is lost,
// and the room directory's watch ending under the demand source.
import { FailedPreconditionError, UnavailableError } from "../errors/index.js";

/** Thrown before a write when this process no longer holds the leader Lease: nothing is written. */
export class NotLeaderError extends FailedPreconditionError {
  override name = "NotLeaderError";
  override readonly retryable: boolean = true;

  constructor() {
    super("not the leader: actuation stopped");
  }
}

/** The room directory's KV watch ended or its bucket could not be read; demand falls back until it is back. */
export class RoomWatchEndedError extends UnavailableError {
  override name = "RoomWatchEndedError";
}

/** The HTTP status of a failed client-node call (ApiException.code), or undefined for a network error. */
export function statusOf(err: unknown): number | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === "number" ? code : undefined;
}

export const isNotFound = (err: unknown) => statusOf(err) === 404;
export const isConflict = (err: unknown) => statusOf(err) === 409;
