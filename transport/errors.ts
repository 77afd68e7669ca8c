// Typed errors shared by every role, and their one mapping to gRPC status codes (the edge).
import { status as GrpcStatus, Metadata, type ServiceError, type StatusObject } from "@grpc/grpc-js";

export type ErrorCode =
  | "invalid_argument"
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

export interface LivehostErrorOptions extends ErrorOptions {
  retryable?: boolean;
  roomId?: string;
}

/** Base of every error livehost raises on purpose. `code` and `retryable` are for machines, `message` for people. */
export class LivehostError extends Error {
  override name = "LivehostError";
  readonly code: ErrorCode;
  readonly retryable: boolean;
  readonly roomId: string | undefined;

  constructor(code: ErrorCode, message: string, options: LivehostErrorOptions = {}) {
    super(message, options);
    this.code = code;
    this.retryable = options.retryable ?? (code === "unavailable" || code === "resource_exhausted");
    this.roomId = options.roomId;
  }
}

/** Bad input; `field` is the request field path, e.g. "comment.text". */
export class InvalidArgumentError extends LivehostError {
  override name = "InvalidArgumentError";
  readonly field: string;

  constructor(field: string, message: string, options: LivehostErrorOptions = {}) {
    super("invalid_argument", `${field}: ${message}`, { ...options, retryable: false });
    this.field = field;
  }
}

export class NotFoundError extends LivehostError {
  override name = "NotFoundError";
  constructor(message: string, options: LivehostErrorOptions = {}) {
    super("not_found", message, { ...options, retryable: false });
  }
}

/** The server is at capacity (e.g. a worker's stream cap); another server may take the request now. */
export class ResourceExhaustedError extends LivehostError {
  override name = "ResourceExhaustedError";
  constructor(message: string, options: LivehostErrorOptions = {}) {
    super("resource_exhausted", message, { ...options, retryable: true });
  }
}

export class UnavailableError extends LivehostError {
  override name = "UnavailableError";
  constructor(message: string, options: LivehostErrorOptions = {}) {
    super("unavailable", message, { ...options, retryable: true });
  }
}

export class UnimplementedError extends LivehostError {
  override name = "UnimplementedError";
  constructor(message: string) {
    super("unimplemented", message, { retryable: false });
  }
}

const toGrpc: Record<ErrorCode, GrpcStatus> = {
  invalid_argument: GrpcStatus.INVALID_ARGUMENT,
  not_found: GrpcStatus.NOT_FOUND,
  already_exists: GrpcStatus.ALREADY_EXISTS,
  failed_precondition: GrpcStatus.FAILED_PRECONDITION,
  aborted: GrpcStatus.ABORTED,
  resource_exhausted: GrpcStatus.RESOURCE_EXHAUSTED,
  unavailable: GrpcStatus.UNAVAILABLE,
  deadline_exceeded: GrpcStatus.DEADLINE_EXCEEDED,
  cancelled: GrpcStatus.CANCELLED,
  unimplemented: GrpcStatus.UNIMPLEMENTED,
  internal: GrpcStatus.INTERNAL,
};

const fromGrpc = new Map<GrpcStatus, ErrorCode>(
  Object.entries(toGrpc).map(([code, status]) => [status, code as ErrorCode]),
);

/**
 * The gRPC status a handler's error becomes. Our own errors keep their code and message (and the field, in the
 * `livehost-field` trailer); anything unexpected becomes INTERNAL without leaking its message.
 */
export function toStatus(err: unknown): Partial<StatusObject> {
  if (err instanceof LivehostError) {
    const metadata = new Metadata();
    if (err instanceof InvalidArgumentError) metadata.set("livehost-field", err.field);
    return { code: toGrpc[err.code], details: err.message, metadata };
  }
  return { code: GrpcStatus.INTERNAL, details: "internal error" };
}

/** The typed error a failed client call becomes, so callers decide on `retryable` rather than on numbers. */
export function fromServiceError(err: ServiceError): LivehostError {
  const code = fromGrpc.get(err.code) ?? (err.code === GrpcStatus.UNKNOWN ? "internal" : "unavailable");
  const field = err.metadata?.get("livehost-field")[0];
  if (code === "invalid_argument" && typeof field === "string") {
    const prefix = `${field}: `;
    const message = err.details.startsWith(prefix) ? err.details.slice(prefix.length) : err.details;
    return new InvalidArgumentError(field, message, { cause: err });
  }
  return new LivehostError(code, err.details || err.message, { cause: err });
}
