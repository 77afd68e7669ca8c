import { describe, expect, it } from "vitest";
import { jetstreamManager } from "@nats-io/jetstream";
import { Comment, RoomCommand, RoomState, subjects } from "../proto/index.js";
import { eventually, sampleRoomSpec, startTestRoomStack } from "../testing/index.js";
import { deadLetterStream } from "../actors/internal.js";

/** A room host without workers: rooms keep their record and lifecycle only. */
async function roomStack() {
  const stack = await startTestRoomStack();
  return Object.assign(stack, { status: async (roomId: string) => (await stack.get(roomId)).status! });
}

describe("room actor", () => {
  it("wakes up for a comment from a danmaku ingest and rejects an invalid one with a clear event", async () => {
    await using s = await roomStack();
    await s.create("r1");
    const publish = (comment: Partial<Comment>) =>
      s.js.publish(
        subjects.roomComments("r1"),
        Comment.encode(Comment.fromPartial({ roomId: "r1", ...comment })).finish(),
        {
          msgID: `${comment.roomId}:${comment.commentId}`,
        },
      );
    await publish({ commentId: "ok-1", text: "这个保温杯多少钱？" });
    await publish({ commentId: "bad-1", text: "   " });
    await publish({ commentId: "bad-2", text: "哈".repeat(201) });

    await eventually(() => expect(s.events.filter((e) => e.event?.$case === "commentRejected")).toHaveLength(3));
    const rejected = s.events.flatMap((e) => (e.event?.$case === "commentRejected" ? [e.event.value] : []));
    expect(rejected).toEqual([
      // The room is not on air yet: its comment is told so, not left without an outcome.
      expect.objectContaining({ commentId: "ok-1", reason: "not_live", field: "room_id" }),
      expect.objectContaining({ commentId: "bad-1", field: "text", message: "text: must not be empty or blank" }),
      expect.objectContaining({ commentId: "bad-2", field: "text" }),
    ]);
    expect(await s.status("r1")).toMatchObject({
      commentsReceived: 3,
      commentsRejected: 3,
      state: RoomState.ROOM_STATE_CREATED,
    });
    expect(s.hosts[0]!.host.actors.isActive("room", "r1")).toBe(true);
  });

  it("goes live on a start command, in order events numbered without gaps, and stays active", async () => {
    await using s = await roomStack();
    await s.create("r2");
    const command = (commandId: string, value: RoomCommand["command"]) =>
      s.js.publish(
        subjects.roomCommands("r2"),
        RoomCommand.encode(RoomCommand.fromPartial({ commandId, roomId: "r2", command: value })).finish(),
        { msgID: commandId },
      );
    await command("start-1", { $case: "start", value: {} });
    await command("start-1", { $case: "start", value: {} }); // a retry: dropped by id
    await command("stop-1", { $case: "stop", value: { reason: "show over" } });
    await eventually(() => expect(s.events).toHaveLength(3));
    expect(s.events.map((e) => [e.sequence, e.event?.$case === "stateChanged" ? e.event.value.to : undefined])).toEqual(
      [
        [1, RoomState.ROOM_STATE_WARMING],
        [2, RoomState.ROOM_STATE_LIVE],
        [3, RoomState.ROOM_STATE_ENDED],
      ],
    );
    expect(await s.status("r2")).toMatchObject({ state: RoomState.ROOM_STATE_ENDED, reason: "StopRequested" });
    // An ended room keeps the spec it ended with.
    const revision = (await s.get("r2")).revision;
    const update = s.request("r2", {
      $case: "update",
      value: {
        roomId: "r2",
        spec: sampleRoomSpec({ displayName: "z" }),
        updateMask: ["display_name"],
        expectedRevision: 0,
      },
    });
    await expect(update).rejects.toMatchObject({
      code: "failed_precondition",
      message: expect.stringMatching(/has ended/) as unknown,
    });
    expect((await s.get("r2")).revision).toBe(revision);
  });

  it("applies a command as it applies the same request: a change of spec, and the same refusals", async () => {
    await using s = await roomStack();
    await s.create("r4");
    const command = (commandId: string, value: RoomCommand["command"]) =>
      s.js.publish(
        subjects.roomCommands("r4"),
        RoomCommand.encode(RoomCommand.fromPartial({ commandId, roomId: "r4", command: value })).finish(),
        { msgID: commandId },
      );
    const errors = () => s.events.flatMap((e) => (e.event?.$case === "error" ? [e.event.value] : []));

    // Say to a room that is not on air: the request is refused, the command reported, with the same code.
    const refused = await s
      .request("r4", {
        $case: "say",
        value: { roomId: "r4", text: "大家好", interrupt: false, requestId: "", overrideGuard: false },
      })
      .catch((err: unknown) => err);
    expect(refused).toMatchObject({ code: "failed_precondition" });
    await command("say-1", { $case: "say", value: { text: "大家好", interrupt: false, utteranceId: "" } });
    await eventually(() =>
      expect(errors()).toEqual([
        expect.objectContaining({ code: "failed_precondition", message: (refused as Error).message, retryable: false }),
      ]),
    );

    // A new display name by command, as by UpdateRoom: the record changes, with a new revision.
    const revision = (await s.get("r4")).revision;
    await command("update-1", {
      $case: "updateSpec",
      value: { spec: sampleRoomSpec({ displayName: "新标题" }), updatePaths: ["display_name"] },
    });
    await eventually(async () => expect((await s.get("r4")).spec?.displayName).toBe("新标题"));
    expect((await s.get("r4")).revision).toBeGreaterThan(revision);

    // An empty command names what is wrong.
    await command("empty-1", undefined);
    await eventually(() => expect(errors().at(-1)?.code).toBe("invalid_argument"));
    expect(errors().at(-1)?.message).toMatch(/^command/);
  });

  it("keeps a room's output from being taken away, and refuses to start one that has none, naming the field", async () => {
    await using s = await roomStack();
    await s.create("r-out", sampleRoomSpec({ output: undefined }));
    await expect(s.start("r-out")).rejects.toMatchObject({
      code: "failed_precondition",
      message: expect.stringMatching(/^room r-out cannot go live: its spec\.output: is required/) as unknown,
    });
    expect((await s.status("r-out")).state).toBe(RoomState.ROOM_STATE_CREATED);
    const update = (spec: ReturnType<typeof sampleRoomSpec>) =>
      s.request("r-out", {
        $case: "update",
        value: { roomId: "r-out", spec, updateMask: ["output"], expectedRevision: 0 },
      });
    await update(sampleRoomSpec());
    await expect(update(sampleRoomSpec({ output: undefined }))).rejects.toMatchObject({
      code: "invalid_argument",
      message: expect.stringMatching(/^spec\.output: is required/) as unknown,
    });
    expect((await s.get("r-out")).spec?.output?.video?.widthPx).toBe(360);
    await s.start("r-out");
    expect((await s.status("r-out")).state).toBe(RoomState.ROOM_STATE_LIVE);
  });

  it("gives a comment published again under another message id no second outcome", async () => {
    await using s = await roomStack();
    await s.create("r-dup");
    const publish = (msgID: string) =>
      s.js.publish(
        subjects.roomComments("r-dup"),
        Comment.encode(Comment.fromPartial({ roomId: "r-dup", commentId: "once", text: "多少钱" })).finish(),
        { msgID },
      );
    await publish("r-dup:once");
    await publish("a-retry-past-the-window"); // JetStream stores it again: the room drops it
    await publish("r-dup:other");
    await eventually(async () => expect((await s.status("r-dup")).commentsRejected).toBe(1));
    await eventually(() =>
      expect(
        s.hosts[0]!.registry.getSingleMetric("livehost_room_comment_duplicates_total")?.get(),
      ).resolves.toMatchObject({ values: [{ value: 2 }] }),
    );
    const outcomes = s.events.filter((e) => e.event?.$case === "commentRejected");
    expect(outcomes).toHaveLength(1);
    expect((await s.status("r-dup")).commentsReceived).toBe(1);
  });

  it("rejects a comment for a room that was never created", async () => {
    await using s = await roomStack();
    await s.js.publish(
      subjects.roomComments("ghost"),
      Comment.encode(Comment.fromPartial({ commentId: "c-ghost", roomId: "ghost", text: "hi" })).finish(),
      { msgID: "c-ghost" },
    );
    await eventually(() =>
      expect(s.events.flatMap((e) => (e.event?.$case === "commentRejected" ? [e.event.value] : []))).toEqual([
        expect.objectContaining({ commentId: "c-ghost", reason: "not_found" }),
      ]),
    );
    await expect(s.status("ghost")).rejects.toMatchObject({ code: "not_found" });
    // A subject no room can have: the id itself is what is wrong.
    await s.js.publish(
      subjects.roomComments("Ghost_1"),
      Comment.encode(Comment.fromPartial({ commentId: "c-bad-id", roomId: "Ghost_1", text: "hi" })).finish(),
      { msgID: "c-bad-id" },
    );
    await eventually(() =>
      expect(s.events.flatMap((e) => (e.event?.$case === "commentRejected" ? [e.event.value] : []))).toContainEqual(
        expect.objectContaining({ commentId: "c-bad-id", reason: "invalid", field: "room_id" }),
      ),
    );
  });

  it("dead-letters a payload that is not a comment and keeps serving the room", async () => {
    await using s = await roomStack();
    await s.create("r3");
    await s.js.publish(subjects.roomComments("r3"), new Uint8Array([0xff, 0xff, 0xff]), { msgID: "garbage" });
    await s.js.publish(
      subjects.roomComments("r3"),
      Comment.encode(Comment.fromPartial({ commentId: "fine", roomId: "r3", text: "hi" })).finish(),
      { msgID: "fine" },
    );
    await eventually(async () => expect((await s.status("r3")).commentsReceived).toBe(1));
    const jsm = await jetstreamManager(s.nc);
    expect((await jsm.streams.info(deadLetterStream)).state.messages).toBe(1);
    const rejected = await s.hosts[0]!.host.actors.metrics.rejected.get();
    expect(rejected.values).toEqual([
      expect.objectContaining({ labels: { type: "room", reason: "malformed" }, value: 1 }),
    ]);
  });
});
