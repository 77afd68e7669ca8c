// Errors of the operator: what the Kubernetes API answered, and the one that stops actuation when leadership is lost.
import { LivehostError } from "../transport/index.js";

/** Thrown before a write when this process no longer holds the leader Lease: nothing is written. */
export class NotLeaderError extends LivehostError {
  override name = "NotLeaderError";
  constructor() {
    super("failed_precondition", "not the leader: actuation stopped", { retryable: true });
  }
}

/** The HTTP status of a failed client-node call (ApiException.code), or undefined for a network error. */
export function statusOf(err: unknown): number | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === "number" ? code : undefined;
}

export const isNotFound = (err: unknown) => statusOf(err) === 404;
export const isConflict = (err: unknown) => statusOf(err) === 409;
