import { describe, expect, it } from "vitest";
import { jetstreamManager } from "@nats-io/jetstream";
import { createLogger, createRegistry } from "../observability/internal.js";
import { RoomEvent, RoomState, subjects } from "../proto/index.js";
import { connectNats } from "../transport/index.js";
import { startNatsServer } from "../testing/index.js";
import { ensureRoomEventsStream, RoomEventLog } from "./event-log.js";
import { roomMetrics } from "./metrics.js";

const stateChanged = (reason: string): RoomEvent["event"] => ({
  $case: "stateChanged",
  value: { from: RoomState.ROOM_STATE_LIVE, to: RoomState.ROOM_STATE_LIVE, reason, message: "" },
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

describe("a room's event log", () => {
  it("numbers events once across activations, and a predecessor that wakes up cannot add one", async () => {
    await using server = await startNatsServer();
    const nc = await connectNats({ servers: server.url, name: "test" });
    try {
      const jsm = await jetstreamManager(nc);
      await ensureRoomEventsStream(jsm);
      const registry = createRegistry();
      const options = {
        roomId: "r1",
        floor: 0,
        log: createLogger({ level: "silent" }),
        metrics: roomMetrics(registry),
      };
      let firstOwns = true;
      const first = new RoomEventLog(nc, jsm, { ...options, owns: () => firstOwns });
      const live: RoomEvent[] = [];
      nc.subscribe(subjects.roomEvents("r1"), {
        callback: (_err, msg) => {
          live.push(RoomEvent.decode(msg.data));
        },
      });

      expect(await Promise.all(["a", "b", "c"].map((r) => first.publish(stateChanged(r))))).toEqual([1, 2, 3]);

      // A successor takes the room (its state knew only event 1) and goes on after the last stored event.
      const second = new RoomEventLog(nc, jsm, { ...options, floor: 1, owns: () => true });
      expect(await second.publish(stateChanged("HostChanged"))).toBe(4);

      // The predecessor, still believing it holds the room, is refused by the log and stops.
      expect(await first.publish(stateChanged("stale"))).toBe(0);
      expect(first.fenced).toBe(true);
      expect(await first.publish(stateChanged("stale again"))).toBe(0);
      expect(await second.publish(stateChanged("e"))).toBe(5);

      // A log whose host is not sure of its lease sends nothing at all.
      firstOwns = false;
      const third = new RoomEventLog(nc, jsm, { ...options, owns: () => false, waitMs: 200 });
      expect(await third.publish(stateChanged("never"))).toBe(0);

      const kept = await stored(nc, "r1");
      expect(kept.map((e) => e.sequence)).toEqual([1, 2, 3, 4, 5]);
      expect(kept.map((e) => (e.event?.$case === "stateChanged" ? e.event.value.reason : ""))).toEqual([
        "a",
        "b",
        "c",
        "HostChanged",
        "e",
      ]);
      // Live watchers saw exactly what the log kept: the refused events were never sent.
      await nc.flush();
      expect(live.map((e) => e.sequence)).toEqual([1, 2, 3, 4, 5]);
      const fenced = await registry.getSingleMetric("livehost_room_events_fenced_total")!.get();
      expect(fenced.values[0]!.value).toBe(3);
    } finally {
      await nc.close();
    }
  });

  it("tells which comments already have an outcome, from the stored events since a time", async () => {
    await using server = await startNatsServer();
    const nc = await connectNats({ servers: server.url, name: "test" });
    try {
      const jsm = await jetstreamManager(nc);
      await ensureRoomEventsStream(jsm);
      const options = {
        roomId: "r2",
        floor: 0,
        log: createLogger({ level: "silent" }),
        metrics: roomMetrics(createRegistry()),
        owns: () => true,
      };
      const log = new RoomEventLog(nc, jsm, options);
      expect(await log.outcomesSince(Date.now() - 60_000)).toEqual(new Set());
      const before = Date.now();
      await log.publish({ $case: "commentAnswered", value: { commentId: "c1", utteranceId: "u1", intent: "price" } });
      await log.publish(stateChanged("x"));
      await log.publish({
        $case: "commentRejected",
        value: { commentId: "c2", reason: "busy", field: "", message: "more useful questions first" },
      });
      const successor = new RoomEventLog(nc, jsm, options);
      expect(await successor.outcomesSince(before - 1_000)).toEqual(new Set(["c1", "c2"]));
      expect(await successor.outcomesSince(Date.now() + 1_000)).toEqual(new Set());
    } finally {
      await nc.close();
    }
  });
});
