import { describe, expect, it } from "vitest";
import { AbortedError, InvalidArgumentError, errorFromCode } from "../errors/index.js";
import {
  ActivationEndedError,
  ActorBusyError,
  ActorMovingError,
  AskTimeoutError,
  LeaseLostError,
  UnknownChannelError,
} from "./errors.js";

describe("actor errors", () => {
  it("decide retryable by type, even where it differs from their kind", () => {
    expect(new ActorBusyError()).toMatchObject({ code: "resource_exhausted", retryable: true });
    expect(new ActorMovingError()).toMatchObject({ code: "unavailable", retryable: true });
    expect(new AskTimeoutError("room", "r1")).toMatchObject({
      code: "deadline_exceeded",
      retryable: false,
      message: "ask room/r1 timed out",
    });
    // Both aborted; a lost lease means the actor moves, so asking again finds its new owner.
    expect(new LeaseLostError("lease taken")).toBeInstanceOf(AbortedError);
    expect(new LeaseLostError("lease taken").retryable).toBe(true);
    expect(new ActivationEndedError("activation ended: idle").retryable).toBe(false);
  });

  it("keep their cause and the field a caller needs", () => {
    const cause = new Error("nats timeout");
    expect(new AskTimeoutError("room", "r1", { cause }).cause).toBe(cause);
    const channel = new UnknownChannelError("room", "gifts");
    expect(channel).toBeInstanceOf(InvalidArgumentError);
    expect(channel).toMatchObject({ field: "channel", channel: "gifts" });
    // Across an ask, only the code and message travel: the asker gets the kind back, field included.
    expect(errorFromCode(channel.code, channel.message)).toMatchObject({ field: "channel", message: channel.message });
  });
});
