import { describe, expect, it } from "vitest";
import { RoomState } from "../proto/index.js";
import { RoomClient } from "../rooms/internal.js";
import { connectNats } from "../transport/index.js";
import { eventually } from "./eventually.js";
import { festivalHostStatus, startFestivalHostProcess } from "./festival-host.js";
import { startNatsServer } from "./nats.js";
import { sampleRoomSpec } from "./rooms.js";

// The festival benchmark's room host (bench/festival.ts): a room created through the rooms' actors, as the bench
// creates thousands, goes on air as a dry room. The bench is too long for the suite; this keeps its harness working.
describe("festival host", () => {
  it("puts a room created and started through the room actor on air", async () => {
    await using server = await startNatsServer();
    await using host = await startFestivalHostProcess({ nats: [server.url], id: "fh-test", replicas: 1, capacity: 10 });
    const nc = await connectNats({ servers: server.url, name: "test" });
    try {
      const client = new RoomClient(nc);
      const roomId = "f-00001";
      const create = { requestId: roomId, roomId, spec: sampleRoomSpec(), tenant: "" };
      await client.request(roomId, { $case: "create", value: create }, { timeoutMs: 30_000 });
      const started = await client.request(
        roomId,
        { $case: "start", value: { roomId, requestId: "" } },
        { timeoutMs: 30_000 },
      );
      expect(started.room?.status?.state).toBe(RoomState.ROOM_STATE_LIVE);
      await eventually(async () => {
        const status = await festivalHostStatus(nc, host.id, { rooms: true, timeoutMs: 5_000 });
        expect(status.roomIds).toEqual([roomId]);
      });
      expect(host.problems()).toEqual({});
    } finally {
      await nc.drain();
    }
  }, 60_000);
});
