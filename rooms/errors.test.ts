import { describe, expect, it } from "vitest";
import { AbortedError, AlreadyExistsError, FailedPreconditionError } from "../errors/index.js";
import { RoomEndedError, RoomExistsError, RoomNotLiveError, RoomRevisionError } from "./errors.js";

describe("room errors", () => {
  it("name the room and are the kind a caller handles", () => {
    expect(new RoomEndedError("r1")).toMatchObject({
      roomId: "r1",
      code: "failed_precondition",
      retryable: false,
      message: "room r1 has ended; create a new room to go live again",
    });
    expect(new RoomNotLiveError("r2", "say")).toBeInstanceOf(FailedPreconditionError);
    expect(new RoomNotLiveError("r2", "say")).toMatchObject({
      roomId: "r2",
      message: "room r2 is not on air (say needs a live room)",
    });
    expect(new RoomExistsError("r3")).toBeInstanceOf(AlreadyExistsError);
    expect(new RoomExistsError("r3")).toMatchObject({ roomId: "r3", code: "already_exists" });
    expect(new RoomRevisionError("r4", 7, 5)).toBeInstanceOf(AbortedError);
    expect(new RoomRevisionError("r4", 7, 5)).toMatchObject({
      roomId: "r4",
      message: "room r4 is at revision 7, not 5: read it again",
    });
  });
});
