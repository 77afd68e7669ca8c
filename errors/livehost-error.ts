// The base of every error livehost raises on purpose. Its `code` is the machine-readable kind that each edge maps
// (gRPC status at transport/, HTTP status at the viewer, headers on an actor's reply); the message is for people.

/** The kinds of failure, named after the gRPC codes they become at the edge. */
export type ErrorCode =
  | "invalid_argument"
  | "unauthenticated"
  | "permission_denied"
  | "not_found"
  | "already_exists"
  | "failed_precondition"
  | "aborted"
  | "resource_exhausted"
  | "unavailable"
  | "deadline_exceeded"
  | "cancelled"
  | "unimplemented"
  | "internal";

/**
 * Abstract: raise a named class (errors/ or a module's errors.ts). The class decides `code` and `retryable`, so a
 * caller asks `err.retryable` or `instanceof` rather than comparing strings, and no call site picks either by hand.
 */
export abstract class LivehostError extends Error {
  override name = "LivehostError";
  abstract readonly code: ErrorCode;
  /** Whether the same request may succeed if sent again (to this server later, or to another one now). */
  readonly retryable: boolean = false;
}
