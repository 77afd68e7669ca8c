// The real operator sizing a pool on the room directory: Room records written into the livehost_rooms bucket of a
// real nats-server, and the pool's desired replicas following them; the directory unreadable, then back.
import { describe, expect, it } from "vitest";
import { Kvm } from "@nats-io/kv";
import { Room, RoomState, subjects } from "../proto/index.js";
import { createLogger, createRegistry } from "../observability/index.js";
import { RoomDirectory } from "../rooms/index.js";
import { connectNats } from "../transport/index.js";
import {
  capiMachineDeployment,
  eventually,
  startNatsServer,
  startTestOperator,
  testGpuOfferingSpec,
  testWorkerPoolSpec,
} from "../testing/index.js";
import { NatsWorkerDemand, RoomDirectoryDemand, type WorkerPool } from "./internal.js";

const ns = "livehost";
const minute = 60_000;

async function scene(options: { jetstream: boolean }) {
  const s = await startTestOperator({
    jetstream: options.jetstream,
    roomDirectory: true,
    objects: [
      ["machinedeployments", capiMachineDeployment({ name: "md-a", namespace: "capi", replicas: 0 })],
      // Nodes boot in 5 min; with the default 5 min warm-up, rooms count 10 min before they start.
      [
        "gpuofferings",
        {
          metadata: { name: "a-l4", namespace: ns },
          spec: {
            ...testGpuOfferingSpec,
            bootSeconds: 300,
            onDemand: {
              pricePerHour: 4,
              nodeGroup: {
                machineDeployment: { name: "md-a", namespace: "capi" },
                nodeSelector: { offering: "a-l4" },
              },
            },
          },
        },
      ],
      [
        "workerpools",
        {
          metadata: { name: "tts", namespace: ns },
          spec: testWorkerPoolSpec,
        },
      ],
    ],
  });
  let directory: RoomDirectory | undefined;
  let revision = 0;
  /** Writes a room's record as its actor would. */
  const putRoom = async (id: string, state: RoomState, startTime?: Date) => {
    directory ??= await RoomDirectory.open(s.nats);
    const room = Room.create({
      id,
      spec: { displayName: id, labels: {}, schedule: { startTime, endTime: undefined } },
      status: { state },
      revision: ++revision,
    });
    await directory.put(room);
  };
  /** A worker pod of the pool announcing its streams (the operator counts the streams of its own pods). */
  const announce = async (pod: string, activeStreams: number) => {
    s.kube.put("pods", {
      metadata: {
        name: pod,
        namespace: ns,
        labels: { "app.kubernetes.io/managed-by": "livehost-operator", "livehost.io/pool": "tts" },
      },
      spec: { nodeName: "n-1" },
    });
    await s.announce(`${pod}-x`, activeStreams);
  };
  return {
    putRoom,
    announce,
    pool: () => s.kube.get("workerpools", "tts", ns),
    replicas: () => s.kube.get("deployments", "tts-workers", ns)?.spec?.replicas,
    events: () => s.kube.list("events", ns).map((e) => `${String(e.reason)}: ${String(e.message)}`),
    metrics: () => s.metrics(),
    [Symbol.asyncDispose]: () => s[Symbol.asyncDispose](),
  };
}

const roomDirectoryCondition = (pool: Pick<WorkerPool, "status"> | undefined) =>
  pool?.status?.conditions?.find((c) => c.type === "RoomDirectory");

describe("operator demand from the room directory", () => {
  it("raises a pool as rooms go live, and before a room scheduled ten minutes ahead starts", async () => {
    await using s = await scene({ jetstream: true });
    await s.putRoom("not-on-air", RoomState.ROOM_STATE_CREATED);
    await eventually(() => expect(s.replicas()).toBe(1));

    for (const id of ["live-1", "live-2", "live-3", "live-4", "live-5"]) await s.putRoom(id, RoomState.ROOM_STATE_LIVE);
    await s.putRoom("warming-1", RoomState.ROOM_STATE_WARMING);
    await s.putRoom("paused-1", RoomState.ROOM_STATE_PAUSED);
    await s.putRoom("live-6", RoomState.ROOM_STATE_LIVE);
    // 8 rooms on air, 4 streams per replica: 2 replicas.
    await eventually(() => expect(s.replicas()).toBe(2));
    await eventually(() =>
      expect(roomDirectoryCondition(s.pool())).toMatchObject({ status: "True", reason: "Watching" }),
    );

    // Two hours ahead: not yet. Ten minutes ahead: within node boot + warm-up, so up before they start.
    await s.putRoom("later", RoomState.ROOM_STATE_SCHEDULED, new Date(Date.now() + 120 * minute));
    const soon = new Date(Date.now() + 10 * minute);
    for (const id of ["soon-1", "soon-2", "soon-3", "soon-4"])
      await s.putRoom(id, RoomState.ROOM_STATE_SCHEDULED, soon);
    await eventually(() => expect(s.replicas()).toBe(3));
    await eventually(() =>
      expect(s.pool()?.status).toMatchObject({ desiredReplicas: 3, activeStreams: 0, streamsNeeded: 12 }),
    );
    // The scheduled rooms are written one by one: the pass that scaled may have seen 9 to 12 of them.
    await eventually(() =>
      expect(
        s
          .events()
          .some((e) =>
            /^ScaledUp: replicas 2 -> 3: (9|1[0-2]) streams needed \(0 active, (9|1[0-2]) for rooms on air or starting within 600s\) at 4 per replica \+ 0% headroom, lead time 300s$/.test(
              e,
            ),
          ),
      ).toBe(true),
    );
    const metrics = await s.metrics();
    expect(metrics).toContain('livehost_operator_rooms{state="on_air"} 8');
    expect(metrics).toContain('livehost_operator_rooms{state="scheduled"} 5');
    expect(metrics).toContain("livehost_operator_room_directory_up 1");

    // Rooms that end stop counting; the workers' streams are the floor, not added on top of the rooms.
    for (const id of ["soon-1", "soon-2", "soon-3", "soon-4", "live-5", "live-6"]) {
      await s.putRoom(id, RoomState.ROOM_STATE_ENDED);
    }
    await s.announce("tts-workers-0", 4);
    await s.announce("tts-workers-1", 2);
    await eventually(() => expect(s.pool()?.status).toMatchObject({ activeStreams: 6, streamsNeeded: 6 }));
    expect(s.replicas()).toBe(2);
  });

  it("says when the room directory cannot be read, sizes on the workers' load, and picks the rooms up once it can", async () => {
    await using s = await scene({ jetstream: true });
    // No room was ever created: there is no bucket yet.
    await s.announce("tts-workers-0", 6);
    await eventually(() => expect(s.replicas()).toBe(2));
    await eventually(() =>
      expect(roomDirectoryCondition(s.pool())).toMatchObject({ status: "False", reason: "Unreachable" }),
    );
    expect(roomDirectoryCondition(s.pool())?.message).toContain("demand falls back to the workers' load");
    await eventually(() => expect(s.events().some((e) => e.startsWith("RoomDirectoryUnreachable: "))).toBe(true));
    expect(await s.metrics()).toContain("livehost_operator_room_directory_up 0");

    for (const id of ["live-1", "live-2", "live-3", "live-4", "live-5", "live-6", "live-7", "live-8", "live-9"]) {
      await s.putRoom(id, RoomState.ROOM_STATE_LIVE);
    }
    await eventually(() => expect(s.replicas()).toBe(3));
    await eventually(() =>
      expect(roomDirectoryCondition(s.pool())).toMatchObject({ status: "True", reason: "Watching" }),
    );
    await eventually(() => expect(s.events().some((e) => e.startsWith("RoomDirectoryWatching: "))).toBe(true));
  });

  it("falls back to the workers' load on a NATS without JetStream", async () => {
    await using s = await scene({ jetstream: false });
    await s.announce("tts-workers-0", 10);
    await eventually(() => expect(s.replicas()).toBe(3));
    await eventually(() => expect(roomDirectoryCondition(s.pool())?.status).toBe("False"));
  });
});

describe("RoomDirectoryDemand", () => {
  it("remembers at most maxRooms rooms and counts malformed records instead of failing", async () => {
    await using nats = await startNatsServer();
    const nc = await connectNats({ servers: [nats.url], name: "test" });
    const registry = createRegistry();
    const logger = createLogger({ level: "silent" });
    const workers = new NatsWorkerDemand({ nats: nc, logger, registry });
    await using demand = new RoomDirectoryDemand({ nats: nc, workers, logger, registry, maxRooms: 3 });
    const directory = await RoomDirectory.open(nc);
    for (const id of ["a", "b", "c", "d", "e"]) {
      await directory.put(Room.create({ id, status: { state: RoomState.ROOM_STATE_LIVE }, revision: 1 }));
    }
    const kv = await new Kvm(nc).open(subjects.roomDirectoryBucket);
    await kv.put("garbage", new Uint8Array([0xff, 0xff, 0xff]));
    await eventually(async () =>
      expect(await registry.metrics()).toContain('livehost_operator_room_records_rejected_total{reason="malformed"} 1'),
    );
    expect(demand.rooms()).toEqual({
      state: "watching",
      rooms: { onAir: 3, onAirByTier: { silver: 0, bronze: 0 }, scheduled: [] },
    });
    expect(await registry.metrics()).toContain('livehost_operator_room_records_rejected_total{reason="over_cap"} 2');
    await workers.close();
    await nc.close();
  });

  it("counts the rooms on air by their tenant's tier, as the policy says now", async () => {
    await using nats = await startNatsServer();
    const nc = await connectNats({ servers: [nats.url], name: "test" });
    const registry = createRegistry();
    const logger = createLogger({ level: "silent" });
    const workers = new NatsWorkerDemand({ nats: nc, logger, registry });
    const tiers: Record<string, "gold" | "silver" | "bronze"> = { acme: "gold", globex: "bronze" };
    await using demand = new RoomDirectoryDemand({ nats: nc, workers, logger, registry, tierOf: (t) => tiers[t] });
    const directory = await RoomDirectory.open(nc);
    for (const [id, tenant] of [
      ["a", "acme"],
      ["b", "globex"],
      ["c", "globex"],
      ["d", "initech"],
    ]) {
      await directory.put(Room.create({ id, tenant, status: { state: RoomState.ROOM_STATE_LIVE }, revision: 1 }));
    }
    await eventually(() =>
      expect(demand.rooms()).toEqual({
        state: "watching",
        rooms: { onAir: 4, onAirByTier: { silver: 0, bronze: 2 }, scheduled: [] },
      }),
    );
    // globex moves up to silver: the next look sizes for it.
    tiers.globex = "silver";
    expect(demand.rooms()).toMatchObject({ rooms: { onAirByTier: { silver: 2, bronze: 0 } } });
    await workers.close();
    await nc.close();
  });
});
