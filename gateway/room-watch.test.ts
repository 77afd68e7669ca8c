// WatchRoom from the rooms' kept events: a late watcher still sees what just happened, a watcher that lost its stream
// resumes from the last sequence it saw (no gap, no duplicate), a bad message on a room's subjects is skipped, and a
// watcher that cannot keep up is cut off. Against a room host (real rooms), and against a log written by the test.
import { describe, expect, it } from "vitest";
import type { ClientReadableStream, ServiceError } from "@grpc/grpc-js";
import { BinaryWriter } from "@bufbuild/protobuf/wire";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { createLogger, createRegistry } from "../observability/index.js";
import type { RoomServiceClient } from "../proto/index.js";
import { Comment, Room, RoomEvent, RoomState, subjects, type WatchRoomRequest } from "../proto/index.js";
import { RoomDirectory, enqueueComment } from "../rooms/index.js";
import { ensureRoomEventsStream } from "../rooms/internal.js";
import { ResourceExhaustedError, type LivehostError } from "../errors/index.js";
import { callUnary, connectNats, fromServiceError } from "../transport/index.js";
import {
  eventually,
  roomServiceClient,
  sampleRoomSpec,
  startNatsServer,
  startTestRoomStack,
} from "../testing/index.js";
import { startGateway } from "./internal.js";
import { roomWatcher } from "./room-watch.js";

/** A WatchRoom call, recorded: its events as they come, and how it ended (undefined: the room's end, status OK). */
function watch(client: RoomServiceClient, request: Partial<WatchRoomRequest> & { roomId: string }) {
  const stream: ClientReadableStream<RoomEvent> = client.watchRoom({ afterSequence: undefined, ...request });
  const events: RoomEvent[] = [];
  const waiting = new Set<() => void>();
  const wake = () => waiting.forEach((w) => w());
  stream.on("data", (event: RoomEvent) => {
    events.push(event);
    wake();
  });
  const ended = new Promise<LivehostError | undefined>((resolve) => {
    stream.on("end", () => resolve(undefined));
    stream.on("error", (err: ServiceError) => resolve(fromServiceError(err)));
  });
  return {
    events,
    ended,
    sequences: () => events.map((e) => e.sequence),
    /** Resolves with the first event matching, once it has come. */
    until: (match: (event: RoomEvent) => boolean, timeoutMs = 15_000) =>
      new Promise<RoomEvent>((resolve, reject) => {
        const check = () => {
          const found = events.find(match);
          if (!found) return;
          waiting.delete(check);
          clearTimeout(timer);
          resolve(found);
        };
        const timer = setTimeout(() => {
          waiting.delete(check);
          reject(new Error(`no such event in ${timeoutMs} ms among ${events.length}`));
        }, timeoutMs);
        waiting.add(check);
        check();
      }),
    cancel: () => stream.cancel(),
  };
}

/** Resolves once `count` events have come. */
const received = (w: ReturnType<typeof watch>, count: number) =>
  w.until(() => w.events.length >= count).then(() => w.events.slice(0, count));

const states = (events: RoomEvent[]) =>
  events.map((e) => (e.event?.$case === "stateChanged" ? RoomState[e.event.value.to] : e.event?.$case));

/** A comment the room refuses (empty text), published on its NATS inbox as an ingest would: one event, no speech. */
const badComment = (roomId: string, id: string) =>
  Comment.fromPartial({ commentId: id, roomId, viewerId: "v1", text: "", sentTime: new Date() });

describe("WatchRoom on a room host", () => {
  it("shows a watcher that comes after StartRoom the room going live, and replays all of a new room from 0", async () => {
    await using s = await startTestRoomStack({ gateway: true });
    const create = { requestId: "late", roomId: "late-room", spec: sampleRoomSpec(), tenant: "" };
    await callUnary(s.client.createRoom.bind(s.client), create);
    await callUnary(s.client.startRoom.bind(s.client), { roomId: "late-room", requestId: "" });

    // Both watches begin after the room went live: nothing was subscribed while it happened.
    const fromNow = watch(s.client, { roomId: "late-room" });
    const all = watch(s.client, { roomId: "late-room", afterSequence: 0 });
    const live = (e: RoomEvent) => states([e])[0] === "ROOM_STATE_LIVE";
    await fromNow.until(live);
    await all.until(live);

    await callUnary(s.client.stopRoom.bind(s.client), { roomId: "late-room", reason: "", requestId: "" });
    expect(await fromNow.ended).toBeUndefined();
    expect(await all.ended).toBeUndefined();
    expect(all.sequences()).toEqual([1, 2, 3]);
    expect(states(all.events)).toEqual(["ROOM_STATE_WARMING", "ROOM_STATE_LIVE", "ROOM_STATE_ENDED"]);
    // From now on starts at the room's last stored event: the change to live (or, were it not stored yet when the
    // watch began, the one before it).
    expect(fromNow.sequences().slice(-2)).toEqual([2, 3]);
    expect(fromNow.sequences()[0]).toBeGreaterThanOrEqual(1);
  });

  it("from now on, on a room speaking its show: its last event, then every one after it, with no gap", async () => {
    await using s = await startTestRoomStack({ gateway: true, live: true });
    await callUnary(s.client.createRoom.bind(s.client), {
      requestId: "show",
      roomId: "show-room",
      spec: s.liveSpec(),
      tenant: "",
    });
    await callUnary(s.client.startRoom.bind(s.client), { roomId: "show-room", requestId: "" });
    // The show's sentences go out live only: several of them since the last event the room stored.
    await eventually(() => expect(s.utterances("show-room").length).toBeGreaterThanOrEqual(2), { timeoutMs: 30_000 });
    const newest = s.eventsOf("show-room").at(-1)!.sequence;
    const fromNow = watch(s.client, { roomId: "show-room" });
    await received(fromNow, 3);
    fromNow.cancel();
    const sequences = fromNow.sequences();
    expect(sequences[0]).toBeGreaterThanOrEqual(newest);
    expect(sequences.slice(1)).toEqual([sequences[0]! + 1, sequences[0]! + 2]);
  });

  it("resumes after a gap with exactly the events missed, then the live ones, and leaves no consumer", async () => {
    await using s = await startTestRoomStack({ gateway: true });
    await callUnary(s.client.createRoom.bind(s.client), {
      requestId: "gap",
      roomId: "gap-room",
      spec: sampleRoomSpec(),
      tenant: "",
    });
    const first = watch(s.client, { roomId: "gap-room", afterSequence: 0 });
    await callUnary(s.client.startRoom.bind(s.client), { roomId: "gap-room", requestId: "" });
    await received(first, 2);
    const lastSeen = first.events.at(-1)!.sequence;
    first.cancel();
    expect((await first.ended)?.code).toBe("cancelled");

    // While nobody watches, the room rejects three comments.
    for (const id of ["c1", "c2", "c3"]) await enqueueComment(s.nc, badComment("gap-room", id));
    await eventually(() => expect(s.eventsOf("gap-room")).toHaveLength(5));

    const resumed = watch(s.client, { roomId: "gap-room", afterSequence: lastSeen });
    await received(resumed, 3);
    await enqueueComment(s.nc, badComment("gap-room", "c4"));
    await received(resumed, 4);
    await callUnary(s.client.stopRoom.bind(s.client), { roomId: "gap-room", reason: "", requestId: "" });
    expect(await resumed.ended).toBeUndefined();

    expect(resumed.sequences()).toEqual([3, 4, 5, 6, 7]);
    expect(
      resumed.events.map((e) => (e.event?.$case === "commentRejected" ? e.event.value.commentId : states([e])[0])),
    ).toEqual(["c1", "c2", "c3", "c4", "ROOM_STATE_ENDED"]);
    // Every watch's consumer went with its call.
    const jsm = await jetstreamManager(s.nc);
    await eventually(async () =>
      expect((await jsm.streams.info(subjects.roomEventsStream)).state.consumer_count).toBe(0),
    );
  });

  it("answers NOT_FOUND for a room that does not exist, and INVALID_ARGUMENT for a bad room id", async () => {
    await using s = await startTestRoomStack({ gateway: true });
    expect(await watch(s.client, { roomId: "no-such-room" }).ended).toMatchObject({ code: "not_found" });
    expect(await watch(s.client, { roomId: "no-such-room", afterSequence: 3 }).ended).toMatchObject({
      code: "not_found",
    });
    expect(await watch(s.client, { roomId: "Bad Id" }).ended).toMatchObject({ code: "invalid_argument" });
  });
});

/** NATS, the events stream, and a gateway; the test writes the room's record and its event log itself. */
async function logStack(settings: { maxPerRoom?: number } = {}) {
  const server = await startNatsServer();
  const nc = await connectNats({ servers: server.url, name: "test" });
  const jsm = await jetstreamManager(nc);
  await ensureRoomEventsStream(jsm, settings);
  const directory = await RoomDirectory.open(nc);
  const registry = createRegistry();
  const gateway = await startGateway({
    nats: nc,
    registry,
    logger: createLogger({ level: "silent" }),
    auth: { development: true },
  });
  const client = await roomServiceClient(gateway.grpc.address);
  const js = jetstream(nc);
  const positions = new Map<string, number>();
  return {
    nc,
    jsm,
    directory,
    registry,
    gateway,
    client,
    /** A room in the directory, in this state. */
    room: (id: string, state = RoomState.ROOM_STATE_LIVE) =>
      directory.put(Room.fromPartial({ id, revision: 1, status: { state, reason: "Test" } })),
    /** Stores events `from`..`to` of a room as its owner would (any state change; the last may end the room). */
    append: async (roomId: string, from: number, to = from, end = false, earlier: number[] = []) => {
      for (let sequence = from; sequence <= to; sequence++) {
        const state = end && sequence === to ? RoomState.ROOM_STATE_ENDED : RoomState.ROOM_STATE_LIVE;
        const event = RoomEvent.fromPartial({
          roomId,
          sequence,
          time: new Date(),
          earlier: earlier.map((n) => ({
            roomId,
            sequence: n,
            event: { $case: "utteranceStarted", value: { utteranceId: `s${n}`, text: "show" } },
          })),
          event: {
            $case: "stateChanged",
            value: { from: RoomState.ROOM_STATE_LIVE, to: state, reason: `e${sequence}` },
          },
        });
        const ack = await js.publish(subjects.roomEventLog(roomId), RoomEvent.encode(event).finish());
        positions.set(`${roomId}/${sequence}`, ack.seq);
        // Then live, as the room's owner sends a kept event once it is stored (rooms/event-log.ts).
        nc.publish(subjects.roomEvents(roomId), RoomEvent.encode({ ...event, earlier: [] }).finish());
      }
      await nc.flush();
    },
    /** Sends events `from`..`to` of a room live only, as its owner sends the show's sentences. */
    say: async (roomId: string, from: number, to = from) => {
      for (let sequence = from; sequence <= to; sequence++) {
        const event = RoomEvent.fromPartial({
          roomId,
          sequence,
          time: new Date(),
          event: { $case: "utteranceStarted", value: { utteranceId: `s${sequence}`, text: "show" } },
        });
        nc.publish(subjects.roomEvents(roomId), RoomEvent.encode(event).finish());
      }
      await nc.flush();
    },
    /** Where the test stored a room's event in the stream. */
    position: (roomId: string, sequence: number) => positions.get(`${roomId}/${sequence}`) ?? 0,
    garbage: (roomId: string, bytes: Uint8Array = new Uint8Array([0xff, 0xff, 0xff, 0x0f])) =>
      js.publish(subjects.roomEventLog(roomId), bytes),
    /** Publishes bytes on a room's live event subject, as anyone allowed to publish there could. */
    liveGarbage: async (roomId: string, bytes: Uint8Array) => {
      nc.publish(subjects.roomEvents(roomId), bytes);
      await nc.flush();
    },
    async [Symbol.asyncDispose]() {
      client.close();
      await gateway.close(1_000);
      await nc.close();
      await server.stop();
    },
  };
}

/**
 * Bytes that decode as a RoomEvent of `roomId` numbered `sequence` whose time is past what a Date holds: a watcher
 * could not be sent it (encoding it again fails).
 */
function eventPastTime(roomId: string, sequence: number): Uint8Array {
  const writer = new BinaryWriter();
  writer.uint32(10).string(roomId).uint32(16).uint64(sequence);
  writer.uint32(26).fork().uint32(8).int64(1e15).join();
  return writer.finish();
}

describe("WatchRoom from a room's event log", () => {
  it("skips an undecodable message, counts and logs it, and goes on to the room's end", async () => {
    await using s = await logStack();
    await s.room("r1");
    await s.append("r1", 1);
    await s.garbage("r1");
    await s.append("r1", 2);
    const w = watch(s.client, { roomId: "r1", afterSequence: 0 });
    await received(w, 2);
    await s.garbage("r1");
    await s.append("r1", 3, 3, true);
    expect(await w.ended).toBeUndefined();
    expect(w.sequences()).toEqual([1, 2, 3]);
    expect(await s.registry.getSingleMetricAsString("livehost_watch_events_skipped_total")).toMatch(
      /livehost_watch_events_skipped_total\{reason="undecodable"\} 2/,
    );
  });

  it("skips what is not the room's event on its live subject or its log, counts it, and goes on", async () => {
    await using s = await logStack();
    await s.room("r1");
    await s.append("r1", 1);
    const w = watch(s.client, { roomId: "r1", afterSequence: 0 });
    await received(w, 1);
    await s.say("r1", 2);
    // Between the live events: bytes that are no message, another room's event, one past what a Date holds.
    await s.liveGarbage("r1", new Uint8Array([0xff, 0xff, 0xff, 0x0f]));
    await s.liveGarbage("r1", RoomEvent.encode(RoomEvent.fromPartial({ roomId: "r2", sequence: 3 })).finish());
    await s.liveGarbage("r1", eventPastTime("r1", 3));
    await s.say("r1", 3);
    await received(w, 3);
    // And on the log (it ended every watch of the room with INTERNAL: the response could not be encoded).
    await s.garbage("r1", eventPastTime("r1", 4));
    await s.append("r1", 4);
    await s.say("r1", 5);
    await s.append("r1", 6, 6, true);
    expect(await w.ended).toBeUndefined();
    expect(w.sequences()).toEqual([1, 2, 3, 4, 5, 6]);
    expect(await s.registry.getSingleMetricAsString("livehost_watch_events_skipped_total")).toMatch(
      /livehost_watch_events_skipped_total\{reason="undecodable"\} 4/,
    );
  });

  it("starts at the first kept event above after_sequence among other rooms' events, or at the oldest kept", async () => {
    await using s = await logStack({ maxPerRoom: 100 });
    await Promise.all(["a", "b", "c"].map((id) => s.room(id)));
    // 300 events of room a, interleaved with the others': a's first 200 are no longer kept.
    for (let seq = 1; seq <= 300; seq++) {
      await s.append("a", seq);
      if (seq % 3 === 0) await s.append("b", seq / 3);
      if (seq % 7 === 0) await s.append("c", seq / 7);
    }
    for (const [after, first] of [
      [0, 201],
      [150, 201],
      [200, 201],
      [201, 202],
      [257, 258],
      [299, 300],
    ] as const) {
      const w = watch(s.client, { roomId: "a", afterSequence: after });
      const [event] = await received(w, 1);
      expect([after, event!.sequence]).toEqual([after, first]);
      // Found without reading the room's events: the consumer starts just after the last event not asked for.
      const [consumer] = await s.jsm.consumers.list(subjects.roomEventsStream).next();
      const start = consumer!.config.opt_start_seq ?? 1;
      // (From the first position when the oldest kept event is already past after_sequence.)
      const [low, high] = first === 201 ? [0, 1] : [s.position("a", after), s.position("a", first)];
      expect(start).toBeGreaterThan(low);
      expect(start).toBeLessThanOrEqual(high);
      w.cancel();
      await w.ended;
      await eventually(async () =>
        expect((await s.jsm.streams.info(subjects.roomEventsStream)).state.consumer_count).toBe(0),
      );
    }
    // At the room's end, or past it: the next events as they come.
    const atEnd = watch(s.client, { roomId: "a", afterSequence: 300 });
    const ahead = watch(s.client, { roomId: "a", afterSequence: 302 });
    await new Promise((resolve) => setTimeout(resolve, 300));
    await s.append("a", 301, 304, true);
    expect(await atEnd.ended).toBeUndefined();
    expect(await ahead.ended).toBeUndefined();
    expect(atEnd.sequences()).toEqual([301, 302, 303, 304]);
    expect(ahead.sequences()).toEqual([303, 304]);
  });

  it("from now on: the room's last event then the new ones, or for a room with no event yet, its first", async () => {
    await using s = await logStack();
    await s.room("quiet");
    const quiet = watch(s.client, { roomId: "quiet" });
    await s.room("busy");
    await s.append("busy", 1, 5);
    const busy = watch(s.client, { roomId: "busy" });
    await received(busy, 1);
    // Both watches have their consumer (the quiet room's placed while it had no event).
    await eventually(async () =>
      expect((await s.jsm.streams.info(subjects.roomEventsStream)).state.consumer_count).toBe(2),
    );
    await s.append("quiet", 1, 2, true);
    await s.append("busy", 6, 7, true);
    expect(await quiet.ended).toBeUndefined();
    expect(await busy.ended).toBeUndefined();
    expect(quiet.sequences()).toEqual([1, 2]);
    expect(busy.sequences()).toEqual([5, 6, 7]);
  });

  it("merges the live-only show into the kept events in order, and a late watcher replays the kept ones", async () => {
    await using s = await logStack();
    await s.room("mixed");
    await s.append("mixed", 1);
    const w = watch(s.client, { roomId: "mixed", afterSequence: 0 });
    await received(w, 1);
    // The show's sentences go out live only; a kept event is stored, then sent live too (a duplicate to skip).
    await s.say("mixed", 2, 3);
    await s.append("mixed", 4);
    await s.say("mixed", 4, 6);
    await received(w, 6);
    // A watcher that comes later gets what was kept after its sequence, then the live events as they come.
    const late = watch(s.client, { roomId: "mixed", afterSequence: 2 });
    await received(late, 1);
    await s.say("mixed", 7);
    // The room keeps its show's events now and then, carried by a kept one (RoomEvent.earlier): replayed too.
    await s.append("mixed", 8, 8, false, [5, 6, 7]);
    const again = watch(s.client, { roomId: "mixed", afterSequence: 3 });
    await received(again, 4);
    await s.append("mixed", 9, 9, true);
    expect(await w.ended).toBeUndefined();
    expect(await late.ended).toBeUndefined();
    expect(await again.ended).toBeUndefined();
    expect(w.sequences()).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(late.sequences()).toEqual([4, 7, 8, 9]);
    expect(again.sequences()).toEqual([4, 5, 6, 7, 8, 9]);
    expect(again.events.every((e) => e.earlier.length === 0)).toBe(true);
  });

  it("for a room that has ended: replays what is asked up to its end, or ends at once from now on", async () => {
    await using s = await logStack();
    await s.room("done", RoomState.ROOM_STATE_ENDED);
    await s.append("done", 1, 4, true);
    const replay = watch(s.client, { roomId: "done", afterSequence: 2 });
    expect(await replay.ended).toBeUndefined();
    expect(replay.sequences()).toEqual([3, 4]);
    const fromNow = watch(s.client, { roomId: "done" });
    expect(await fromNow.ended).toBeUndefined();
    expect(fromNow.events).toEqual([]);
    const pastEnd = watch(s.client, { roomId: "done", afterSequence: 4 });
    expect(await pastEnd.ended).toBeUndefined();
    expect(pastEnd.events).toEqual([]);
  });

  it("ends every watch with UNAVAILABLE when the gateway stops, naming the sequence to resume from", async () => {
    await using s = await logStack();
    await s.room("r1");
    await s.append("r1", 1, 5);
    const w = watch(s.client, { roomId: "r1", afterSequence: 2 });
    await received(w, 3);
    const closed = performance.now();
    await s.gateway.close(5_000);
    const ended = await w.ended;
    expect(ended).toMatchObject({ code: "unavailable", retryable: true });
    expect(ended?.message).toMatch(/resume with after_sequence 5/);
    // At once, not after the grace period.
    expect(performance.now() - closed).toBeLessThan(4_000);
  });

  it("cuts off a watcher that falls too far behind the room, rather than buffering for it", async () => {
    await using s = await logStack();
    await s.room("busy");
    await s.append("busy", 1);
    const controller = new AbortController();
    const watcher = roomWatcher({ nats: s.nc, directory: s.directory, maxLagEvents: 10 });
    const events = watcher({ roomId: "busy", afterSequence: 0 }, controller.signal);
    try {
      // Replaying the kept events is not falling behind.
      expect((await events.next()).value).toMatchObject({ sequence: 1 });
      // It reads one event while the room stores 150: what its pull holds goes through, then it is cut off.
      await s.append("busy", 2, 151);
      let last = 1;
      const cutOff = await (async () => {
        for await (const event of events) last = event.sequence;
      })().catch((err: unknown) => err);
      expect(cutOff).toBeInstanceOf(ResourceExhaustedError);
      expect(last).toBeLessThan(151);
      expect((cutOff as Error).message).toMatch(new RegExp(`resume with after_sequence ${last}$`));
    } finally {
      controller.abort();
      await events.return(undefined);
    }
    await eventually(async () =>
      expect((await s.jsm.streams.info(subjects.roomEventsStream)).state.consumer_count).toBe(0),
    );
  });
});
