// One room host with rooms of several output sizes on air for a minute, their mouth frames coming from a lip-sync
// worker over gRPC (patches decoded from the wire, at any offset in their buffers), and then a fault in one room's
// media: that room is taken off the air with the reason, the host and its other rooms go on.
import { describe, expect, it } from "vitest";
import { setTimeout as sleep } from "node:timers/promises";
import { injectFrameFault } from "../media/internal.js";
import { RoomState, type RoomEvent } from "../proto/index.js";
import { eventually, startTestRoomStack } from "../testing/index.js";
import type { LiveRoom } from "./internal.js";

const sizes = [
  { roomId: "size-360", widthPx: 360, heightPx: 640 },
  { roomId: "size-480", widthPx: 480, heightPx: 854 },
  { roomId: "size-720", widthPx: 720, heightPx: 1280 },
];
const errors = (events: RoomEvent[]) => events.flatMap((e) => (e.event?.$case === "error" ? [e.event.value] : []));

describe("a room host with rooms of every size on air", () => {
  it("keeps them all on air for a minute, and one room's media fault takes only that room off the air", async () => {
    await using stack = await startTestRoomStack({ live: true });
    for (const { roomId, widthPx, heightPx } of sizes) {
      const spec = stack.liveSpec();
      spec.output!.video = { widthPx, heightPx, fps: 15, bitrateKbps: 500 };
      spec.voice!.speed = 2;
      await stack.create(roomId, spec);
      await stack.start(roomId);
    }
    const host = stack.hosts[0]!;
    const lipsync = stack.lipsyncWorkers[0]!;
    const mouthFrames = async () =>
      ((await lipsync.registry.getSingleMetric("livehost_lipsync_frames_total")?.get())?.values ?? []).reduce(
        (sum, v) => sum + v.value,
        0,
      );

    // A minute on air: every room keeps speaking, animated by the worker, without a fault.
    const startedWith = sizes.map(({ roomId }) => stack.utterances(roomId).length);
    const framesAtStart = await mouthFrames();
    await sleep(60_000);
    for (const [i, { roomId }] of sizes.entries()) {
      expect({ roomId, spoken: stack.utterances(roomId).length > startedWith[i]! + 3 }).toEqual({
        roomId,
        spoken: true,
      });
      expect(errors(stack.eventsOf(roomId))).toEqual([]);
      expect((await stack.get(roomId)).status?.state).toBe(RoomState.ROOM_STATE_LIVE);
    }
    expect(await mouthFrames()).toBeGreaterThan(framesAtStart + 100);
    const frameErrors = await host.registry.getSingleMetric("livehost_media_frame_errors_total")!.get();
    expect(frameErrors.values.reduce((sum, v) => sum + v.value, 0)).toBe(0);

    // One room's frames keep failing: it is stopped and paused with the reason; the host and the others go on.
    const faulty = host.host.onAir.get("size-480") as LiveRoom;
    injectFrameFault(faulty.media, 1_000);
    await eventually(
      async () =>
        expect((await stack.get("size-480")).status).toMatchObject({
          state: RoomState.ROOM_STATE_PAUSED,
          reason: "Stalled",
        }),
      { timeoutMs: 20_000 },
    );
    expect(errors(stack.eventsOf("size-480")).map((e) => e.code)).toContain("output_failed");
    const others = sizes.filter(({ roomId }) => roomId !== "size-480");
    const spokenAfterFault = others.map(({ roomId }) => stack.utterances(roomId).length);
    await eventually(
      () =>
        others.forEach(({ roomId }, i) =>
          expect(stack.utterances(roomId).length).toBeGreaterThan(spokenAfterFault[i]! + 1),
        ),
      { timeoutMs: 40_000, intervalMs: 200 },
    );
    for (const { roomId } of others) {
      expect(errors(stack.eventsOf(roomId))).toEqual([]);
      expect((await stack.get(roomId)).status?.state).toBe(RoomState.ROOM_STATE_LIVE);
    }
  }, 240_000);
});
