import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { jetstreamManager } from "@nats-io/jetstream";
import { Comment, subjects, type RoomServiceClient } from "../proto/index.js";
import { startTracing, type Tracing } from "../observability/internal.js";
import { InvalidArgumentError } from "../errors/index.js";
import { callUnary } from "../transport/index.js";
import { eventually, sampleRoomSpec, startTestRoomStack } from "../testing/index.js";

// Spans are real (not exported) so trace context is carried into the inbox.
let tracing: Tracing;
beforeAll(async () => {
  tracing = await startTracing({ serviceName: "test" });
});
afterAll(() => tracing.shutdown());

/** A room host and a gateway in front of it. */
const stack = () => startTestRoomStack({ gateway: true });

async function createRoom(client: RoomServiceClient, roomId: string) {
  return callUnary(client.createRoom.bind(client), {
    requestId: `create-${roomId}`,
    roomId,
    spec: sampleRoomSpec(),
    tenant: "",
  });
}

const comment = (overrides: Partial<Comment> = {}) =>
  Comment.fromPartial({ commentId: "c-1", viewerId: "u101", text: "这个保温杯多少钱？", ...overrides });

describe("gateway RoomService.PostComment", () => {
  it("queues a comment durably in the room's inbox, once per comment id", async () => {
    await using s = await stack();
    await createRoom(s.client, "room-1");
    const post = (c: Comment) => callUnary(s.client.postComment.bind(s.client), { roomId: "room-1", comment: c });

    expect(await post(comment())).toEqual({ commentId: "c-1", queued: true });
    // A retry with the same id (the ingest did not see our answer) is dropped, not queued twice.
    expect(await post(comment())).toEqual({ commentId: "c-1", queued: false });
    expect(await post(comment({ commentId: "c-2", text: "杯子有什么颜色" }))).toEqual({
      commentId: "c-2",
      queued: true,
    });

    const jsm = await jetstreamManager(s.nc);
    const stored = (await jsm.streams.getMessage(subjects.roomInboxStream, { seq: 1 }))!;
    expect(stored.subject).toBe("rooms.room-1.comments");
    expect(stored.header.get("traceparent")).toMatch(/^00-/);
    const decoded = Comment.decode(stored.data);
    expect(decoded).toMatchObject({
      commentId: "c-1",
      roomId: "room-1",
      text: "这个保温杯多少钱？",
      source: "gateway",
    });
    expect((await jsm.streams.info(subjects.roomInboxStream)).state.messages).toBe(2);

    // The room actor wakes up for them and handles each once: not on air yet, it tells each so (not_live).
    await eventually(async () =>
      expect((await callUnary(s.client.getRoom.bind(s.client), { roomId: "room-1" })).status).toMatchObject({
        commentsReceived: 2,
        commentsRejected: 2,
      }),
    );
  });

  it.each([
    ["an empty comment", comment({ text: "" }), "comment.text"],
    ["a blank comment", comment({ text: "   " }), "comment.text"],
    ["a comment over 200 characters", comment({ text: "哈".repeat(201) }), "comment.text"],
    ["control characters", comment({ text: "hi\u0007there" }), "comment.text"],
    ["invalid UTF-8", comment({ text: "bad \uFFFD bytes" }), "comment.text"],
    ["a missing comment id", comment({ commentId: "" }), "comment.comment_id"],
    ["another room's comment", comment({ roomId: "room-2" }), "comment.room_id"],
  ])("rejects %s with INVALID_ARGUMENT naming the field, queueing nothing", async (_name, bad, field) => {
    await using s = await stack();
    const error = await callUnary(s.client.postComment.bind(s.client), { roomId: "room-1", comment: bad }).catch(
      (err: unknown) => err,
    );
    expect(error).toBeInstanceOf(InvalidArgumentError);
    expect((error as InvalidArgumentError).field).toBe(field);
    const jsm = await jetstreamManager(s.nc);
    expect((await jsm.streams.info(subjects.roomInboxStream)).state.messages).toBe(0);
  });

  it("rejects a room id that cannot be a subject token", async () => {
    await using s = await stack();
    const error = await callUnary(s.client.postComment.bind(s.client), { roomId: "Room.*", comment: comment() }).catch(
      (err: unknown) => err,
    );
    expect(error).toMatchObject({ field: "room_id" });
  });

  it("answers NOT_FOUND for a comment to a room that does not exist", async () => {
    await using s = await stack();
    await expect(
      callUnary(s.client.postComment.bind(s.client), { roomId: "nobody", comment: comment() }),
    ).rejects.toMatchObject({ code: "not_found" });
  });
});
