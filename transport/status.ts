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
 * The same, for a field that is not printable ASCII (a map key the caller chose, e.g. "spec.labels[商户]"): a
 * text trailer cannot carry it, and grpc-js throws on setting one, which would leave the call without an answer.
 */
const binaryFieldTrailer = "livehost-field-bin";
const printableAscii = /^[\x20-\x7e]*$/;
/**
 * The most of a message (or a field) a status carries, in characters. Messages may quote the caller's input; a
 * megabyte of it in a trailer is more than HTTP/2 lets a header block be, and the client's connection fails.
 */
const maxStatusText = 1_000;

const capped = (text: string) => {
  const chars = [...text];
  return chars.length <= maxStatusText ? text : `${chars.slice(0, maxStatusText - 1).join("")}…`;
};

/**
 * The gRPC status a handler's error becomes. Our own errors keep their code and message (and the field, in the
 * `livehost-field` trailer); anything unexpected, and our own internal errors (a bug or an engine's failure, whose
 * message is for our logs), becomes INTERNAL without leaking its message.
 */
export function toStatus(err: unknown): Partial<StatusObject> {
  if (err instanceof LivehostError && err.code !== "internal") {
    const metadata = new Metadata();
    if (err instanceof InvalidArgumentError && err.field !== "") {
      const field = capped(err.field);
      if (printableAscii.test(field)) metadata.set(fieldTrailer, field);
      else metadata.set(binaryFieldTrailer, Buffer.from(field));
    }
    return { code: toGrpc[err.code], details: capped(err.message), metadata };
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
  const field = err.metadata?.get(fieldTrailer)[0] ?? err.metadata?.get(binaryFieldTrailer)[0]?.toString();
  return errorFromCode(code, err.details || err.message, {
    cause: err,
    field: typeof field === "string" ? field : "",
  });
}
