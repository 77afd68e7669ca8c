import { describe, expect, it } from "vitest";
import { Comment, RoomState } from "../proto/index.js";
import { InvalidArgumentError } from "../errors/index.js";
import { validateComment, validateEnum, validateLength, validateRequestId, validateRoomId } from "./validation.js";

/** The refusal `check` throws, or undefined. */
function refusal(check: () => void): InvalidArgumentError | undefined {
  try {
    check();
    return undefined;
  } catch (err) {
    expect(err).toBeInstanceOf(InvalidArgumentError);
    return err as InvalidArgumentError;
  }
}

const comment = (overrides: Partial<Comment> = {}) =>
  Comment.fromPartial({ commentId: "c-1", roomId: "r1", viewerId: "u101", text: "多少钱？", ...overrides });

describe("enums", () => {
  it("takes the values the enum declares, and refuses others (UNRECOGNIZED too) listing the ones it takes", () => {
    expect(refusal(() => validateEnum(RoomState.ROOM_STATE_LIVE, RoomState, "state"))).toBeUndefined();
    expect(refusal(() => validateEnum(RoomState.ROOM_STATE_UNSPECIFIED, RoomState, "state"))).toBeUndefined();
    expect(refusal(() => validateEnum(99, RoomState, "state"))).toMatchObject({
      field: "state",
      message:
        "state: 99 is not one of ROOM_STATE_UNSPECIFIED (0), ROOM_STATE_CREATED (1), ROOM_STATE_SCHEDULED (2), " +
        "ROOM_STATE_WARMING (3), ROOM_STATE_LIVE (4), ROOM_STATE_PAUSED (5), ROOM_STATE_ENDED (6)",
    });
    expect(refusal(() => validateEnum(RoomState.UNRECOGNIZED, RoomState, "state"))).toMatchObject({ field: "state" });
  });
});

describe("lengths", () => {
  it("count characters (code points), not UTF-16 code units", () => {
    expect(refusal(() => validateLength("😀".repeat(64), "viewer_name", 64))).toBeUndefined();
    expect(refusal(() => validateLength("😀".repeat(65), "viewer_name", 64))).toMatchObject({
      message: "viewer_name: must be at most 64 characters (got 65)",
    });
    expect(refusal(() => validateLength("", "title", 120, 1))).toMatchObject({ message: "title: is required" });
  });
});

describe("ids that become subject tokens or message ids", () => {
  const wildcards = ["a.b", "a*", "a>", "a b", "a\tb", "a\u0000b", "a/b", "房间"];

  it.each(wildcards)("refuses %j as a room id, request id and comment id", (id) => {
    expect(refusal(() => validateRoomId(id))).toMatchObject({ field: "room_id" });
    expect(refusal(() => validateRequestId(id))).toMatchObject({ field: "request_id" });
    expect(refusal(() => validateComment(comment({ commentId: id }), "comment."))).toMatchObject({
      field: "comment.comment_id",
    });
  });

  it("takes the ids callers send (UUIDs, platform ids), an optional request id left empty", () => {
    for (const id of ["c-1", "web-0b6f0c43-8f0e-4c5e-9d8e-2f8c6e1f6a11", "douyin:7301:abc_9"]) {
      expect(refusal(() => validateComment(comment({ commentId: id })))).toBeUndefined();
      expect(refusal(() => validateRequestId(id, { required: true }))).toBeUndefined();
    }
    expect(refusal(() => validateRequestId(""))).toBeUndefined();
    expect(refusal(() => validateRequestId("", { required: true }))).toMatchObject({ field: "request_id" });
  });

  it("refuses a comment id that would stand in for a room's reminder in the inbox (whose ids hold a '.')", () => {
    const reminderId = "rem:room.r1.schedule-start:1767225600000";
    expect(refusal(() => validateComment(comment({ commentId: reminderId })))).toMatchObject({
      field: "comment_id",
    });
  });
});

describe("comments", () => {
  it("refuses a sent time past what a Date holds (it could not be stored)", () => {
    expect(refusal(() => validateComment(comment({ sentTime: new Date(Number.NaN) }), "comment."))).toMatchObject({
      field: "comment.sent_time",
    });
  });

  it("bounds the viewer's id and name in characters", () => {
    expect(refusal(() => validateComment(comment({ viewerName: "小".repeat(65) })))).toMatchObject({
      field: "viewer_name",
    });
    expect(refusal(() => validateComment(comment({ viewerId: "u".repeat(65) })))).toMatchObject({
      field: "viewer_id",
    });
  });
});
