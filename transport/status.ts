// The one mapping between livehost's typed errors (errors/) and gRPC status codes, used at the edge: by servers to
// answer, by clients to turn a failed call back into the named class.
import { status as GrpcStatus, Metadata, type ServiceError, type StatusObject } from "@grpc/grpc-js";
import { InvalidArgumentError, LivehostError, errorFromCode, type ErrorCode } from "../errors/index.js";

const toGrpc: Record<ErrorCode, GrpcStatus> = {
  invalid_argument: GrpcStatus.INVALID_ARGUMENT,
  unauthenticated: GrpcStatus.UNAUTHENTICATED,
  permission_denied: GrpcStatus.PERMISSION_DENIED,
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

/** The trailer that carries an InvalidArgumentError's field, so the client gets the field back without parsing. */
const fieldTrailer = "livehost-field";

/**
 * The gRPC status a handler's error becomes. Our own errors keep their code and message (and the field, in the
 * `livehost-field` trailer); anything unexpected, and our own internal errors (a bug or an engine's failure, whose
 * message is for our logs), becomes INTERNAL without leaking its message.
 */
export function toStatus(err: unknown): Partial<StatusObject> {
  if (err instanceof LivehostError && err.code !== "internal") {
    const metadata = new Metadata();
    if (err instanceof InvalidArgumentError && err.field !== "") metadata.set(fieldTrailer, err.field);
    return { code: toGrpc[err.code], details: err.message, metadata };
  }
  return { code: GrpcStatus.INTERNAL, details: "internal error" };
}

/**
 * The named class a failed client call becomes (UNAVAILABLE → UnavailableError, INVALID_ARGUMENT → InvalidArgumentError
 * with its field), so callers decide on `instanceof` and `retryable` rather than on numbers. A status we never send
 * (UNKNOWN aside, which is a handler's crash) reads as unavailable: something between us answered.
 */
export function fromServiceError(err: ServiceError): LivehostError {
  const code = fromGrpc.get(err.code) ?? (err.code === GrpcStatus.UNKNOWN ? "internal" : "unavailable");
  const field = err.metadata?.get(fieldTrailer)[0];
  return errorFromCode(code, err.details || err.message, {
    cause: err,
    field: typeof field === "string" ? field : "",
  });
}
