import { describe, expect, it } from "vitest";
import { Metadata, status as GrpcStatus, type ServiceError, type StatusObject } from "@grpc/grpc-js";
import {
  AbortedError,
  AlreadyExistsError,
  CancelledError,
  DeadlineExceededError,
  FailedPreconditionError,
  InternalError,
  InvalidArgumentError,
  LivehostError,
  MalformedMessageError,
  NotFoundError,
  ResourceExhaustedError,
  UnavailableError,
  PermissionDeniedError,
  UnimplementedError,
} from "../errors/internal.js";
import { fromServiceError, toStatus } from "./internal.js";

/** What a grpc-js client gets for a status a server sent. */
function received(status: Partial<StatusObject>): ServiceError {
  return Object.assign(new Error(`${status.code} ${status.details}`), {
    code: status.code!,
    details: status.details ?? "",
    metadata: status.metadata ?? new Metadata(),
  });
}

const roundTrip = (err: unknown) => fromServiceError(received(toStatus(err)));

describe("gRPC status mapping", () => {
  it.each([
    [new NotFoundError("room r1 does not exist"), GrpcStatus.NOT_FOUND, NotFoundError],
    [new AlreadyExistsError("room r1 already exists"), GrpcStatus.ALREADY_EXISTS, AlreadyExistsError],
    [new FailedPreconditionError("room r1 has ended"), GrpcStatus.FAILED_PRECONDITION, FailedPreconditionError],
    [new AbortedError("read it again"), GrpcStatus.ABORTED, AbortedError],
    [new ResourceExhaustedError("at its stream cap"), GrpcStatus.RESOURCE_EXHAUSTED, ResourceExhaustedError],
    [new UnavailableError("no tts worker"), GrpcStatus.UNAVAILABLE, UnavailableError],
    [new DeadlineExceededError("timed out"), GrpcStatus.DEADLINE_EXCEEDED, DeadlineExceededError],
    [new CancelledError("client cancelled the call"), GrpcStatus.CANCELLED, CancelledError],
    [new UnimplementedError("not here"), GrpcStatus.UNIMPLEMENTED, UnimplementedError],
  ] as const)("%s: → its status → the same class, message and retryable", (err, code, Kind) => {
    expect(toStatus(err)).toMatchObject({ code, details: err.message });
    const back = roundTrip(err);
    expect(back).toBeInstanceOf(Kind);
    expect(back).toMatchObject({ code: err.code, retryable: err.retryable, message: err.message });
    expect(back.cause).toMatchObject({ code });
  });

  it("carries an invalid argument's field in a trailer and gives it back", () => {
    const err = new InvalidArgumentError("spec.catalog.products[1].price.currency", "must be the catalog's currency");
    const status = toStatus(err);
    expect(status.code).toBe(GrpcStatus.INVALID_ARGUMENT);
    expect(status.metadata?.get("livehost-field")).toEqual(["spec.catalog.products[1].price.currency"]);
    const back = roundTrip(err);
    expect(back).toBeInstanceOf(InvalidArgumentError);
    expect(back).toMatchObject({ field: err.field, message: err.message, retryable: false });
  });

  it("an invalid request as a whole has no field trailer and comes back without a field", () => {
    const err = new MalformedMessageError("body must be JSON");
    expect(toStatus(err).metadata?.get("livehost-field")).toEqual([]);
    expect(roundTrip(err)).toMatchObject({ name: "InvalidArgumentError", field: "", message: "body must be JSON" });
  });

  it("hides an unexpected error's message and reads UNKNOWN as internal, other statuses as unavailable", () => {
    expect(toStatus(new Error("database password is hunter2"))).toEqual({
      code: GrpcStatus.INTERNAL,
      details: "internal error",
    });
    expect(toStatus(new InternalError("room reply without a room"))).toEqual({
      code: GrpcStatus.INTERNAL,
      details: "internal error",
    });
    const unknown = fromServiceError(received({ code: GrpcStatus.UNKNOWN, details: "handler threw" }));
    expect(unknown).toBeInstanceOf(InternalError);
    // A status livehost never sends (something between us answered it) reads as unavailable, worth a retry.
    const lost = fromServiceError(received({ code: GrpcStatus.DATA_LOSS, details: "" }));
    expect(lost).toBeInstanceOf(UnavailableError);
    expect(lost).toBeInstanceOf(LivehostError);
    expect(lost.retryable).toBe(true);
    const denied = fromServiceError(received({ code: GrpcStatus.PERMISSION_DENIED, details: "not yours" }));
    expect(denied).toBeInstanceOf(PermissionDeniedError);
    expect(denied.retryable).toBe(false);
  });
});
