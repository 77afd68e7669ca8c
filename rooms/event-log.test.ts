import { describe, expect, it } from "vitest";
import { jetstreamManager } from "@nats-io/jetstream";
import { createLogger, createRegistry } from "../observability/internal.js";
import { CueFired_Kind, RoomEvent, RoomState, UtteranceSource, subjects } from "../proto/index.js";
import { connectNats } from "../transport/index.js";
import { startNatsServer } from "../testing/index.js";
import { ensureRoomEventsStream, RoomEventLog } from "./event-log.js";
import { roomMetrics } from "./metrics.js";

const stateChanged = (reason: string): RoomEvent["event"] => ({
  $case: "stateChanged",
  value: { from: RoomState.ROOM_STATE_LIVE, to: RoomState.ROOM_STATE_LIVE, reason, message: "" },
});

const utterance = (utteranceId: string, source: UtteranceSource): RoomEvent["event"] => ({
  $case: "utteranceStarted",
  value: {
    utteranceId,
    source,
    text: utteranceId,
    words: [],
    streamTimeMs: 0,
    commentId: "",
    outputUnixMs: 0,
    show: undefined,
  },
});

/** Every event stored for the room, in stream order. */
async function stored(nc: Awaited<ReturnType<typeof connectNats>>, roomId: string): Promise<RoomEvent[]> {
  const jsm = await jetstreamManager(nc);
  const info = await jsm.streams.info(subjects.roomEventsStream);
  const events: RoomEvent[] = [];
  for (let seq = info.state.first_seq; seq <= info.state.last_seq; seq++) {
    const message = await jsm.streams.getMessage(subjects.roomEventsStream, { seq }).catch(() => null);
    if (message?.subject === subjects.roomEventLog(roomId)) events.push(RoomEvent.decode(message.data));
  }
  return events;
}

/** A nats-server with the events stream, the options a room's log needs, and the room's live events as they come. */
async function logStack(roomId: string, reserve?: number) {
  const server = await startNatsServer();
  const nc = await connectNats({ servers: server.url, name: "test" });
  const jsm = await jetstreamManager(nc);
  await ensureRoomEventsStream(jsm);
  const registry = createRegistry();
  const live: RoomEvent[] = [];
  nc.subscribe(subjects.roomEvents(roomId), { callback: (_err, msg) => void live.push(RoomEvent.decode(msg.data)) });
  const options = {
    roomId,
    floor: 0,
    reserve,
    log: createLogger({ level: "silent" }),
    metrics: roomMetrics(registry),
    owns: () => true,
  };
  return {
    nc,
    jsm,
    registry,
    live,
    options,
    async [Symbol.asyncDispose]() {
      await nc.close();
      await server.stop();
    },
  };
}

describe("a room's event log", () => {
  it("numbers events once across activations, and a predecessor that wakes up cannot add one", async () => {
    await using s = await logStack("r1", 8);
    const { nc, jsm, registry, live, options } = s;
    let firstOwns = true;
    const first = new RoomEventLog(nc, jsm, { ...options, owns: () => firstOwns });

    expect(await Promise.all(["a", "b", "c"].map((r) => first.publish(stateChanged(r))))).toEqual([1, 2, 3]);

    // A successor takes the room (its state knew only event 1) and goes on past the numbers the last stored event
    // reserved for live-only events (3 + 8): a gap, never a number used twice.
    const second = new RoomEventLog(nc, jsm, { ...options, floor: 1, owns: () => true });
    expect(await second.publish(stateChanged("HostChanged"))).toBe(12);

    // The predecessor, still believing it holds the room, is refused by the log and stops.
    expect(await first.publish(stateChanged("stale"))).toBe(0);
    expect(first.fenced).toBe(true);
    expect(await first.publish(stateChanged("stale again"))).toBe(0);
    expect(await second.publish(stateChanged("e"))).toBe(13);

    // A log whose host is not sure of its lease sends nothing at all.
    firstOwns = false;
    const third = new RoomEventLog(nc, jsm, { ...options, owns: () => false, waitMs: 200 });
    expect(await third.publish(stateChanged("never"))).toBe(0);

    const kept = await stored(nc, "r1");
    expect(kept.map((e) => e.sequence)).toEqual([1, 2, 3, 12, 13]);
    expect(kept.map((e) => (e.event?.$case === "stateChanged" ? e.event.value.reason : ""))).toEqual([
      "a",
      "b",
      "c",
      "HostChanged",
      "e",
    ]);
    // Live watchers saw exactly what the log kept: the refused events were never sent.
    await nc.flush();
    expect(live.map((e) => e.sequence)).toEqual([1, 2, 3, 12, 13]);
    const fenced = await registry.getSingleMetric("livehost_room_events_fenced_total")!.get();
    expect(fenced.values[0]!.value).toBe(3);
  });

  it("sends speech (show and answers: starts, ends, cues) live only, keeps the rest, and never reuses a number", async () => {
    await using s = await logStack("r3", 4);
    const { nc, jsm, registry, live, options } = s;
    const first = new RoomEventLog(nc, jsm, options);
    await first.publish(stateChanged("live"));
    // Three show sentences (start, subtitle, end: 9 events) and one answer (start, end, outcome).
    for (const id of ["s1", "s2", "s3"]) {
      await first.publish(utterance(id, UtteranceSource.UTTERANCE_SOURCE_SHOW));
      await first.publish({
        $case: "cueFired",
        value: {
          kind: CueFired_Kind.KIND_SUBTITLE,
          utteranceId: id,
          productId: "",
          couponId: "",
          text: id,
          streamTimeMs: 0,
          durationMs: 1,
          outputUnixMs: 0,
        },
      });
      await first.publish({
        $case: "utteranceEnded",
        value: { utteranceId: id, interrupted: false, durationMs: 900, streamTimeMs: 0, outputUnixMs: 0, words: [] },
      });
    }
    await first.publish(utterance("a1", UtteranceSource.UTTERANCE_SOURCE_ANSWER));
    await first.publish({
      $case: "utteranceEnded",
      value: { utteranceId: "a1", interrupted: false, durationMs: 900, streamTimeMs: 0, outputUnixMs: 0, words: [] },
    });
    expect(
      await first.publish({
        $case: "commentAnswered",
        value: { commentId: "c1", utteranceId: "a1", intent: "price", answeredTogether: 1 },
      }),
    ).toBe(13);

    // Watchers saw all 13, in order; the log kept the state change, the comment's outcome, and one speech event in
    // every reserve + 1 (a live-only event past what the last kept one reserved is kept instead).
    await nc.flush();
    expect(live.map((e) => e.sequence)).toEqual(Array.from({ length: 13 }, (_, i) => i + 1));
    const kept = await stored(nc, "r3");
    expect(kept.map((e) => e.sequence)).toEqual([1, 6, 11, 13]);
    expect(kept.map((e) => e.event?.$case)).toEqual([
      "stateChanged",
      "cueFired",
      "utteranceStarted",
      "commentAnswered",
    ]);
    // Each kept event carries the speech events sent live only since the one kept before it: the answer's end too.
    expect(kept.map((e) => e.earlier.map((x) => x.sequence))).toEqual([[], [2, 3, 4, 5], [7, 8, 9, 10], [12]]);
    const sent = await registry.getSingleMetric("livehost_room_events_sent_total")!.get();
    expect(Object.fromEntries(sent.values.map((v) => [v.labels.kept, v.value]))).toEqual({ true: 4, false: 9 });

    // A room that only speaks keeps its show's events now and then (flush): the last one, carrying the others.
    await first.publish(utterance("s4", UtteranceSource.UTTERANCE_SOURCE_SHOW));
    await first.publish(utterance("s5", UtteranceSource.UTTERANCE_SOURCE_SHOW));
    await first.flush();
    const flushed = (await stored(nc, "r3")).at(-1)!;
    expect([flushed.sequence, flushed.earlier.map((e) => e.sequence)]).toEqual([15, [14]]);
    await nc.flush();
    expect(live.map((e) => e.sequence)).toEqual(Array.from({ length: 15 }, (_, i) => i + 1));

    // A successor after a crash skips what the last kept event reserved (15 + 4); after a clean end (the exact
    // last number recorded with the room's state) it goes straight on.
    const crashed = new RoomEventLog(nc, jsm, { ...options, floor: 10 });
    expect(await crashed.publish(stateChanged("HostChanged"))).toBe(20);
    const clean = new RoomEventLog(nc, jsm, { ...options, floor: 20, floorExact: true });
    expect(await clean.publish(stateChanged("HostChanged"))).toBe(21);
  });

  it("tells which comments already have an outcome, from the stored events since a time", async () => {
    await using s = await logStack("r2");
    const { jsm, nc, options } = s;
    const log = new RoomEventLog(nc, jsm, options);
    expect(await log.outcomesSince(Date.now() - 60_000)).toEqual(new Set());
    const before = Date.now();
    await log.publish({
      $case: "commentAnswered",
      value: { commentId: "c1", utteranceId: "u1", intent: "price", answeredTogether: 1 },
    });
    await log.publish(stateChanged("x"));
    await log.publish({
      $case: "commentRejected",
      value: { commentId: "c2", reason: "busy", field: "", message: "more useful questions first" },
    });
    const successor = new RoomEventLog(nc, jsm, options);
    expect(await successor.outcomesSince(before - 1_000)).toEqual(new Set(["c1", "c2"]));
    expect(await successor.outcomesSince(Date.now() + 1_000)).toEqual(new Set());
  });
});
