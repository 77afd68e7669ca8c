// One class per kind of failure (one per ErrorCode). Named failures extend the kind they are; `errorFromCode` turns a
// code that crossed a wire (gRPC status, an actor's reply headers) back into its class.
import { LivehostError, type ErrorCode } from "./livehost-error.js";

/** Bad input. `field` is the request field path (e.g. "comment.text", "--nats-url"); "" means the whole request. */
export class InvalidArgumentError extends LivehostError {
  override name = "InvalidArgumentError";
  readonly code = "invalid_argument";
  readonly field: string;

  constructor(field: string, message: string, options?: ErrorOptions) {
    super(field === "" ? message : `${field}: ${message}`, options);
    this.field = field;
  }
}

/** The caller is not known: no credential, or one that does not verify (expired, wrong audience, unknown signer). */
export class UnauthenticatedError extends LivehostError {
  override name = "UnauthenticatedError";
  readonly code = "unauthenticated";
}

/** The caller is known but may not do this (another tenant's room, or an action its role does not allow). */
export class PermissionDeniedError extends LivehostError {
  override name = "PermissionDeniedError";
  readonly code = "permission_denied";
}

export class NotFoundError extends LivehostError {
  override name = "NotFoundError";
  readonly code = "not_found";
}

export class AlreadyExistsError extends LivehostError {
  override name = "AlreadyExistsError";
  readonly code = "already_exists";
}

/** The request is fine but the thing it acts on is not in a state that allows it. */
export class FailedPreconditionError extends LivehostError {
  override name = "FailedPreconditionError";
  readonly code = "failed_precondition";
}

/** Lost a race (a conditional write, a stale revision): read again, then decide. */
export class AbortedError extends LivehostError {
  override name = "AbortedError";
  readonly code = "aborted";
}

/** The server is at capacity (a queue or a stream cap); another server, or this one shortly, may take it. */
export class ResourceExhaustedError extends LivehostError {
  override name = "ResourceExhaustedError";
  readonly code = "resource_exhausted";
  override readonly retryable: boolean = true;
}

/** Cannot serve now (not ready, moving, a dependency down); the same request may work when sent again. */
export class UnavailableError extends LivehostError {
  override name = "UnavailableError";
  readonly code = "unavailable";
  override readonly retryable: boolean = true;
}

export class DeadlineExceededError extends LivehostError {
  override name = "DeadlineExceededError";
  readonly code = "deadline_exceeded";
}

/** The caller gave up (an AbortSignal, a cancelled call); `cause` is the signal's reason when there is one. */
export class CancelledError extends LivehostError {
  override name = "CancelledError";
  readonly code = "cancelled";
}

export class UnimplementedError extends LivehostError {
  override name = "UnimplementedError";
  readonly code = "unimplemented";
}

/** A bug or a broken contract on our side; the message is logged, not shown to callers across a network edge. */
export class InternalError extends LivehostError {
  override name = "InternalError";
  readonly code = "internal";
}

type Kind = new (message: string, options?: ErrorOptions) => LivehostError;

const kinds: Record<Exclude<ErrorCode, "invalid_argument">, Kind> = {
  unauthenticated: UnauthenticatedError,
  permission_denied: PermissionDeniedError,
  not_found: NotFoundError,
  already_exists: AlreadyExistsError,
  failed_precondition: FailedPreconditionError,
  aborted: AbortedError,
  resource_exhausted: ResourceExhaustedError,
  unavailable: UnavailableError,
  deadline_exceeded: DeadlineExceededError,
  cancelled: CancelledError,
  unimplemented: UnimplementedError,
  internal: InternalError,
};

export function isErrorCode(code: string): code is ErrorCode {
  return code === "invalid_argument" || Object.hasOwn(kinds, code);
}

/**
 * The class of `code` for an error that crossed a wire; an unknown code is internal. An invalid_argument's field is
 * `options.field` when the wire carried it, else read back from the "field: " prefix InvalidArgumentError writes.
 */
export function errorFromCode(
  code: string,
  message: string,
  options: ErrorOptions & { field?: string } = {},
): LivehostError {
  const { field, ...errorOptions } = options;
  if (code === "invalid_argument") {
    const name = field ?? /^([\w.[\]]+): /.exec(message)?.[1] ?? "";
    const prefix = `${name}: `;
    const reason = name !== "" && message.startsWith(prefix) ? message.slice(prefix.length) : message;
    return new InvalidArgumentError(name, reason, errorOptions);
  }
  const kind = isErrorCode(code) ? kinds[code as keyof typeof kinds] : InternalError;
  return new kind(message, errorOptions);
}
