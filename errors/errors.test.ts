import { describe, expect, it } from "vitest";
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
  ProtocolError,
  ResourceExhaustedError,
  UnavailableError,
  UnimplementedError,
  UnauthenticatedError,
  PermissionDeniedError,
  errorFromCode,
  isErrorCode,
  type ErrorCode,
} from "./internal.js";

const kinds: [ErrorCode, new (message: string, options?: ErrorOptions) => LivehostError, boolean][] = [
  ["unauthenticated", UnauthenticatedError, false],
  ["permission_denied", PermissionDeniedError, false],
  ["not_found", NotFoundError, false],
  ["already_exists", AlreadyExistsError, false],
  ["failed_precondition", FailedPreconditionError, false],
  ["aborted", AbortedError, false],
  ["resource_exhausted", ResourceExhaustedError, true],
  ["unavailable", UnavailableError, true],
  ["deadline_exceeded", DeadlineExceededError, false],
  ["cancelled", CancelledError, false],
  ["unimplemented", UnimplementedError, false],
  ["internal", InternalError, false],
];

describe("errors", () => {
  it.each(kinds)("%s: the class decides the code and whether a retry may help", (code, Kind, retryable) => {
    const cause = new Error("underneath");
    const err = new Kind("it failed", { cause });
    expect(err).toBeInstanceOf(LivehostError);
    expect(err).toBeInstanceOf(Error);
    expect(err).toMatchObject({ code, retryable, message: "it failed", name: Kind.name });
    expect(err.cause).toBe(cause);
  });

  it("InvalidArgumentError names the field in its message and keeps it for machines", () => {
    const cause = new SyntaxError("bad JSON");
    const err = new InvalidArgumentError("comment.text", "must not be empty", { cause });
    expect(err).toMatchObject({ code: "invalid_argument", retryable: false, field: "comment.text" });
    expect(err.message).toBe("comment.text: must not be empty");
    expect(err.cause).toBe(cause);
    // "" is the request as a whole: no prefix.
    expect(new MalformedMessageError("malformed ask: x")).toMatchObject({ field: "", message: "malformed ask: x" });
  });

  it("a named failure is its kind: instanceof, code and retryable come from the kind it extends", () => {
    const malformed = new MalformedMessageError("not a reminder");
    expect(malformed).toBeInstanceOf(InvalidArgumentError);
    expect(malformed).toMatchObject({ name: "MalformedMessageError", code: "invalid_argument", retryable: false });
    const broken = new ProtocolError("room reply without a room");
    expect(broken).toBeInstanceOf(InternalError);
    expect(broken).toMatchObject({ name: "ProtocolError", code: "internal", retryable: false });
  });

  it("errorFromCode gives back the class of each code, an unknown code as internal", () => {
    for (const [code, Kind, retryable] of kinds) {
      const cause = new Error("wire");
      const err = errorFromCode(code, "from afar", { cause });
      expect(err).toBeInstanceOf(Kind);
      expect(err).toMatchObject({ code, retryable, message: "from afar" });
      expect(err.cause).toBe(cause);
    }
    expect(errorFromCode("speech_failed", "odd")).toBeInstanceOf(InternalError);
    expect(isErrorCode("unavailable")).toBe(true);
    expect(isErrorCode("speech_failed")).toBe(false);
    expect(isErrorCode("toString")).toBe(false);
  });

  it("errorFromCode reads an invalid argument's field from the wire, or from the message it wrote", () => {
    const given = errorFromCode("invalid_argument", "spec.labels: at most 32 labels", { field: "spec.labels" });
    expect(given).toBeInstanceOf(InvalidArgumentError);
    expect(given).toMatchObject({ field: "spec.labels", message: "spec.labels: at most 32 labels" });

    const parsed = errorFromCode("invalid_argument", "spec.catalog.products[1].id: must be 1 to 64 of [a-z0-9-]");
    expect(parsed).toMatchObject({
      field: "spec.catalog.products[1].id",
      message: "spec.catalog.products[1].id: must be 1 to 64 of [a-z0-9-]",
    });

    const whole = errorFromCode("invalid_argument", "malformed ask: unexpected end");
    expect(whole).toMatchObject({ field: "", message: "malformed ask: unexpected end" });
  });
});
