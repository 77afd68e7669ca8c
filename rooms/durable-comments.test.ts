// No accepted comment is lost and none is answered twice when the host of a room on air dies: the comments waiting
// in the room are answered by the host that takes it over, in order, once.
import { describe, expect, it } from "vitest";
import { Comment, RoomState, type RoomEvent } from "../proto/index.js";
import { eventually, startTestRoomStack, type TestRoomStack } from "../testing/index.js";
import { enqueueComment } from "./internal.js";

/** Each comment's outcome events (answered or rejected), by comment id. */
function outcomes(events: RoomEvent[]): Map<string, string[]> {
  const byComment = new Map<string, string[]>();
  for (const e of events) {
    if (e.event?.$case !== "commentAnswered" && e.event?.$case !== "commentRejected") continue;
    const what = e.event.$case === "commentAnswered" ? "answered" : `rejected:${e.event.value.reason}`;
    byComment.set(e.event.value.commentId, [...(byComment.get(e.event.value.commentId) ?? []), what]);
  }
  return byComment;
}

/**
 * Five viewers ask questions of different kinds, so none is merged into another (the room answers them one at a
 * time), on the room's NATS inbox; resolves with their comment ids, `<prefix>-0` to `<prefix>-4`.
 */
async function askFive(stack: TestRoomStack, roomId: string, prefix: string): Promise<string[]> {
  const questions = [
    "这个保温杯多少钱？",
    "有什么颜色可以选？",
    "还有货吗？",
    "发什么快递，几天到？",
    "保温效果怎么样？",
  ];
  const ids = questions.map((_, i) => `${prefix}-${i}`);
  for (const [i, text] of questions.entries()) {
    await enqueueComment(
      stack.nc,
      Comment.fromPartial({ commentId: ids[i], roomId, viewerId: `v${i}`, text, source: "test" }),
    );
  }
  return ids;
}

describe("comments waiting in a room whose host dies", () => {
  it("are answered by the host that takes the room over, each once, none lost", async () => {
    await using stack = await startTestRoomStack({ live: true, roomHosts: 2 });
    await stack.create("pending", stack.liveSpec());
    await stack.start("pending");
    await eventually(() => expect(stack.utterances("pending").length).toBeGreaterThan(0), { timeoutMs: 30_000 });
    const owner = await stack.hostOf("pending");
    const other = stack.hosts.find((h) => h !== owner)!;

    const ids = await askFive(stack, "pending", "q");
    // The first answer starts: the others wait in the room (its persisted state) when its host dies.
    await eventually(() => expect(outcomes(stack.eventsOf("pending")).size).toBeGreaterThan(0), {
      timeoutMs: 30_000,
      intervalMs: 50,
    });
    await owner.crash();

    const moved = await eventually(
      () => {
        const index = stack
          .eventsOf("pending")
          .findIndex((e) => e.event?.$case === "stateChanged" && e.event.value.reason === "HostChanged");
        expect(index).toBeGreaterThanOrEqual(0);
        return index;
      },
      { timeoutMs: 30_000, intervalMs: 100 },
    );
    expect((await stack.get("pending")).status).toMatchObject({ hostId: other.id, state: RoomState.ROOM_STATE_LIVE });

    // Every comment gets exactly one outcome; the ones that were waiting are answered after the move.
    await eventually(() => expect([...outcomes(stack.eventsOf("pending")).keys()].sort()).toEqual(ids), {
      timeoutMs: 60_000,
      intervalMs: 200,
    });
    const all = outcomes(stack.eventsOf("pending"));
    for (const id of ids) expect({ id, outcomes: all.get(id) }).toEqual({ id, outcomes: [expect.any(String)] });
    const afterMove = outcomes(stack.eventsOf("pending").slice(moved));
    expect([...afterMove.values()].flat()).toContain("answered");
    // They came back from the room's state (already out of its mailbox), not from a redelivery.
    const recovered = await other.registry.getSingleMetric("livehost_room_comments_recovered_total")!.get();
    const requeued = recovered.values.find((v) => v.labels.outcome === "requeued")?.value ?? 0;
    expect(requeued).toBeGreaterThan(0);
    // Numbered in order across both hosts, never twice (live, an event the dying host had stored but not yet sent
    // live is a gap: WatchRoom replays it from the log).
    const sequences = stack.eventsOf("pending").map((e) => e.sequence);
    expect(sequences.slice(1).filter((s, i) => s <= sequences[i]!)).toEqual([]);
  });
});

describe("comments waiting in a room that ends", () => {
  it("are each told the room ended, before its end, and the sentence playing is told cut", async () => {
    await using stack = await startTestRoomStack({ live: true });
    await stack.create("ending", stack.liveSpec());
    await stack.start("ending");
    await eventually(() => expect(stack.utterances("ending").length).toBeGreaterThan(0), { timeoutMs: 30_000 });
    const ids = await askFive(stack, "ending", "e");
    // All five are in the room (counted) when it is stopped: at most the first is answered by then.
    await eventually(async () => expect((await stack.get("ending")).status?.commentsReceived).toBe(5), {
      timeoutMs: 30_000,
      intervalMs: 50,
    });
    await stack.request("ending", { $case: "stop", value: { roomId: "ending", requestId: "", reason: "show over" } });

    const events = stack.eventsOf("ending");
    const endedAt = events.findIndex(
      (e) => e.event?.$case === "stateChanged" && e.event.value.to === RoomState.ROOM_STATE_ENDED,
    );
    expect(endedAt).toBeGreaterThan(0);
    const before = events.slice(0, endedAt);
    // Every comment has exactly one outcome, all before the end; those not answered were told the room ended.
    const all = outcomes(before);
    expect([...all.keys()].sort()).toEqual(ids);
    for (const id of ids) {
      expect({ id, outcomes: all.get(id) }).toEqual({
        id,
        outcomes: [expect.stringMatching(/^(answered|rejected:(room_ended|interrupted))$/)],
      });
    }
    expect([...all.values()].flat()).toContain("rejected:room_ended");
    expect(outcomes(events.slice(endedAt))).toEqual(new Map());
    // One end for every start, the last one cut.
    const started = before.flatMap((e) => (e.event?.$case === "utteranceStarted" ? [e.event.value.utteranceId] : []));
    const ended = before.flatMap((e) => (e.event?.$case === "utteranceEnded" ? [e.event.value] : []));
    expect(ended.map((e) => e.utteranceId)).toEqual(started);
    expect(ended.at(-1)!.interrupted).toBe(true);
    const status = (await stack.get("ending")).status!;
    expect(status.commentsAnswered + status.commentsRejected).toBe(5);
  });
});
