import { describe, expect, it } from "vitest";
import type { ClientReadableStream } from "@grpc/grpc-js";
import { Comment, RoomState, type RoomEvent } from "../proto/index.js";
import { enqueueComment } from "../rooms/index.js";
import { InvalidArgumentError } from "../errors/index.js";
import { callUnary } from "../transport/index.js";
import { eventually, sampleRoomSpec, startTestRoomStack } from "../testing/index.js";

/** A room host and a gateway, with these RoomService calls (instead of the stack's own, over NATS). */
async function stack() {
  const s = await startTestRoomStack({ gateway: true });
  const { client } = s;
  return {
    ...s,
    create: (requestId: string, roomId = "", spec = sampleRoomSpec()) =>
      callUnary(client.createRoom.bind(client), { requestId, roomId, spec, tenant: "" }),
    get: (roomId: string) => callUnary(client.getRoom.bind(client), { roomId }),
    start: (roomId: string) => callUnary(client.startRoom.bind(client), { roomId, requestId: "" }),
    stop: (roomId: string, reason = "") => callUnary(client.stopRoom.bind(client), { roomId, reason, requestId: "" }),
  };
}

/** Collects a WatchRoom stream's events until it ends. */
function collect(stream: ClientReadableStream<RoomEvent>) {
  const events: RoomEvent[] = [];
  const ended = new Promise<RoomEvent[]>((resolve, reject) => {
    stream.on("data", (e: RoomEvent) => events.push(e));
    stream.on("end", () => resolve(events));
    stream.on("error", reject);
  });
  return { events, ended };
}

const states = (events: RoomEvent[]) =>
  events.flatMap((e) => (e.event?.$case === "stateChanged" ? [[e.event.value.to, e.event.value.reason]] : []));

describe("gateway RoomService: running rooms", () => {
  it("creates a room once per request id, and refuses another request for the same room id", async () => {
    await using s = await stack();
    const first = await s.create("req-1");
    expect(first.id).toMatch(/^r-[0-9a-f]{16}$/);
    expect(first.status).toMatchObject({ state: RoomState.ROOM_STATE_CREATED, reason: "Created" });
    expect(first.spec?.catalog?.products.map((p) => p.id)).toEqual(["p-cup-500", "p-dress-linen"]);
    // A retry (the caller never saw the answer) returns the same room.
    expect((await s.create("req-1")).id).toBe(first.id);
    expect((await s.get(first.id)).revision).toBe(first.revision);
    await expect(s.create("req-2", first.id)).rejects.toMatchObject({ code: "already_exists" });
  });

  it("refuses a bad spec with INVALID_ARGUMENT naming the field, and creates nothing", async () => {
    await using s = await stack();
    const spec = sampleRoomSpec();
    spec.catalog!.products[1]!.price = { currency: "USD", amountMinor: 100 };
    const error = await s.create("req-bad", "bad-room", spec).catch((err: unknown) => err);
    expect(error).toBeInstanceOf(InvalidArgumentError);
    expect((error as InvalidArgumentError).field).toBe("spec.catalog.products[1].price.currency");
    await expect(s.create("", "bad-room")).rejects.toMatchObject({ field: "request_id" });
    await expect(s.get("bad-room")).rejects.toMatchObject({ code: "not_found" });
  });

  it("goes live and ends on request, with each transition and its reason in WatchRoom", async () => {
    await using s = await stack();
    await s.create("req-live", "live-room");
    // From the room's first event: nothing that StartRoom does can come before the watch.
    const watch = collect(s.client.watchRoom({ roomId: "live-room", afterSequence: 0 }));
    const live = await s.start("live-room");
    expect(live.status?.state).toBe(RoomState.ROOM_STATE_LIVE);
    // Starting a live room again changes nothing, so its revision stays: a caller holding it is not refused later.
    expect((await s.start("live-room")).revision).toBe(live.revision);
    await expect(
      callUnary(s.client.say.bind(s.client), {
        roomId: "live-room",
        text: "大家好",
        interrupt: false,
        requestId: "s1",
        overrideGuard: false,
      }),
    ).resolves.toEqual({ utteranceId: "say-s1" });
    expect((await s.stop("live-room", "show over")).status).toMatchObject({
      state: RoomState.ROOM_STATE_ENDED,
      reason: "StopRequested",
      message: "show over",
    });
    // The watch ends with the room.
    expect(states(await watch.ended)).toEqual([
      [RoomState.ROOM_STATE_WARMING, "StartRequested"],
      [RoomState.ROOM_STATE_LIVE, "Ready"],
      [RoomState.ROOM_STATE_ENDED, "StopRequested"],
    ]);
    await expect(s.start("live-room")).rejects.toMatchObject({ code: "failed_precondition" });
    const ended = await s.get("live-room");
    expect((await s.stop("live-room")).revision).toBe(ended.revision);
  });

  it("goes live by itself at its scheduled start", async () => {
    await using s = await stack();
    const startTime = new Date(Date.now() + 1_500);
    const room = await s.create(
      "req-sched",
      "sched-room",
      sampleRoomSpec({ schedule: { startTime, endTime: undefined } }),
    );
    expect(room.status).toMatchObject({ state: RoomState.ROOM_STATE_SCHEDULED, reason: "ScheduleSet" });
    await eventually(async () => expect((await s.get("sched-room")).status?.state).toBe(RoomState.ROOM_STATE_LIVE), {
      timeoutMs: 15_000,
    });
    expect((await s.get("sched-room")).status?.reason).toBe("Ready");

    // A start time that has just passed (a caller's clock a little behind) is no reason to stay off air: it goes
    // live now. A schedule that has already ended is refused, naming it.
    const late = await s.create(
      "req-late",
      "late-room",
      sampleRoomSpec({ schedule: { startTime: new Date(Date.now() - 2_000), endTime: new Date(Date.now() + 60_000) } }),
    );
    expect(late.status?.state).toBe(RoomState.ROOM_STATE_SCHEDULED);
    await eventually(async () => expect((await s.get("late-room")).status?.state).toBe(RoomState.ROOM_STATE_LIVE), {
      timeoutMs: 15_000,
    });
    // A scheduled room moved to an earlier start goes live then.
    const later = { startTime: new Date(Date.now() + 3_600_000), endTime: undefined };
    const moved = await s.create("req-moved", "moved-room", sampleRoomSpec({ schedule: later }));
    expect(moved.status?.state).toBe(RoomState.ROOM_STATE_SCHEDULED);
    await callUnary(s.client.updateRoom.bind(s.client), {
      roomId: "moved-room",
      spec: sampleRoomSpec({ schedule: { startTime: new Date(Date.now() + 500), endTime: undefined } }),
      updateMask: ["schedule"],
      expectedRevision: 0,
    });
    await eventually(async () => expect((await s.get("moved-room")).status?.state).toBe(RoomState.ROOM_STATE_LIVE), {
      timeoutMs: 15_000,
    });
    const over = { startTime: new Date(Date.now() - 60_000), endTime: new Date(Date.now() - 1_000) };
    await expect(s.create("req-over", "over-room", sampleRoomSpec({ schedule: over }))).rejects.toMatchObject({
      code: "invalid_argument",
      field: "spec.schedule.end_time",
    });
    await expect(s.get("over-room")).rejects.toMatchObject({ code: "not_found" });
  });

  it("updates the fields named, refusing a stale revision", async () => {
    await using s = await stack();
    const room = await s.create("req-upd", "upd-room");
    const update = (displayName: string, expectedRevision: number, updateMask = ["display_name"]) =>
      callUnary(s.client.updateRoom.bind(s.client), {
        roomId: "upd-room",
        spec: sampleRoomSpec({ displayName, voice: { voiceId: "en-male-bright", speed: 0 } }),
        updateMask,
        expectedRevision,
      });
    const updated = await update("New title", room.revision);
    expect(updated.spec?.displayName).toBe("New title");
    // Only the named field changed.
    expect(updated.spec?.voice?.voiceId).toBe("zh-female-warm");
    expect(updated.revision).toBeGreaterThan(room.revision);
    await expect(update("Lost update", room.revision)).rejects.toMatchObject({ code: "aborted" });
    await expect(update("x", 0, [])).rejects.toMatchObject({ field: "update_mask" });
    await expect(update("x", 0, ["nope"])).rejects.toMatchObject({ code: "invalid_argument" });
  });

  it("lists rooms by state, a page at a time", async () => {
    await using s = await stack();
    for (const id of ["list-a", "list-b", "list-c"]) await s.create(`req-${id}`, id);
    await s.start("list-b");
    const page = (pageToken: string, state = RoomState.ROOM_STATE_UNSPECIFIED) =>
      callUnary(s.client.listRooms.bind(s.client), { pageSize: 2, pageToken, state, labels: {}, tenant: "" });
    const first = await page("");
    expect(first.rooms.map((r) => r.id)).toEqual(["list-a", "list-b"]);
    const second = await page(first.nextPageToken);
    expect(second).toMatchObject({ rooms: [expect.objectContaining({ id: "list-c" })], nextPageToken: "" });
    expect((await page("", RoomState.ROOM_STATE_LIVE)).rooms.map((r) => r.id)).toEqual(["list-b"]);
  });

  it("refuses a comment to a room that has ended, over gRPC and on the room's NATS inbox, each visibly", async () => {
    await using s = await stack();
    await s.create("req-ended", "ended-room");
    expect((await s.stop("ended-room")).status?.state).toBe(RoomState.ROOM_STATE_ENDED);
    const comment = Comment.fromPartial({ commentId: "c-late", viewerId: "v1", text: "还有货吗？" });
    await expect(
      callUnary(s.client.postComment.bind(s.client), { roomId: "ended-room", comment }),
    ).rejects.toMatchObject({ code: "failed_precondition", retryable: false });
    // The danmaku ingest's path has no caller to answer: the room says so on its events.
    await enqueueComment(s.nc, { ...comment, commentId: "c-ingest", roomId: "ended-room", sentTime: new Date() });
    const rejected = () =>
      s.eventsOf("ended-room").flatMap((e) => (e.event?.$case === "commentRejected" ? [e.event.value] : []));
    await eventually(() =>
      expect(rejected().map((r) => [r.commentId, r.reason, r.field])).toEqual([["c-ingest", "room_ended", "room_id"]]),
    );
  });

  it("refuses Say and Interrupt for a room that is not on air", async () => {
    await using s = await stack();
    await s.create("req-idle", "idle-room");
    await expect(callUnary(s.client.interrupt.bind(s.client), { roomId: "idle-room" })).rejects.toMatchObject({
      code: "failed_precondition",
    });
    await expect(
      callUnary(s.client.say.bind(s.client), {
        roomId: "idle-room",
        text: " ",
        interrupt: false,
        requestId: "",
        overrideGuard: false,
      }),
    ).rejects.toMatchObject({ field: "text" });
  });
});
