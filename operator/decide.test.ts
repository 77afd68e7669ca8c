import { describe, expect, it } from "vitest";
import {
  compilePeak,
  gpuDemand,
  healthyLane,
  judgeLane,
  laneKey,
  pickNodesToRemove,
  fallingNow,
  placeNodes,
  planJobWorkers,
  planPool,
  planReplicas,
  replicasFor,
  risePerMs,
  roomsNeeded,
  peakFactor,
  stabilize,
  streamsNeeded,
  trendStreams,
  surgePerMs,
  urgentShortfall,
  ceilingMemoryMs,
  interruptionBurst,
  noticesQuietMs,
  type JobWorkerInput,
  type Lane,
  type PoolInput,
} from "./decide.js";
import type { WorkerPoolSpec } from "./resources.js";

const pool: WorkerPoolSpec = {
  kind: "tts",
  image: "livehost:1",
  gpu: { type: "L4", count: 1 },
  streamsPerReplica: 10,
  minReplicas: 2,
  maxReplicas: 50,
  headroomPercent: 20,
  slo: { ttsFirstChunkMs: 100, lipsyncFpsHeadroomPercent: 20 },
  scaleDownCooldownSeconds: 300,
  spot: { allowed: true, maxFraction: 0.5 },
};

const minute = 60_000;
const t0 = Date.parse("2026-11-11T19:00:00Z");

const lane = (over: Partial<Lane> & Pick<Lane, "offering" | "capacityType">): Lane => ({
  gpuType: "L4",
  gpusPerNode: 4,
  pricePerHour: 4,
  preference: 0,
  maxNodes: 100,
  available: true,
  readyNodes: 0,
  desiredNodes: 0,
  busyNodes: 0,
  ...over,
});

describe("replicas per pool", () => {
  it("serves the streams with headroom, within min and max", () => {
    expect(replicasFor(pool, 100)).toBe(12);
    expect(replicasFor(pool, 0)).toBe(2);
    expect(replicasFor(pool, 10_000)).toBe(50);
  });

  it("is ready for a scheduled peak one boot time (plus warm-up) before it", () => {
    const peak = compilePeak({
      start: "2026-11-11T20:00:00Z",
      expectedRooms: 5000,
      rampSeconds: 600,
      durationSeconds: 3 * 3600,
      streamsPerRoom: { tts: 1, lipsync: 2 },
      warmupSeconds: 300,
      forecastErrorPercent: 0,
    });
    const boot = 8 * minute;
    // 19:40: the window (boot + warm-up = 13 min) does not reach 20:00 yet.
    expect(streamsNeeded("tts", 150, [peak], t0 + 40 * minute, boot)).toBe(150);
    // 19:50: the window reaches 20:03, 30 % into the ramp.
    expect(streamsNeeded("tts", 150, [peak], t0 + 50 * minute, boot)).toBe(1500);
    // 19:58: the window covers the end of the ramp, and lip-sync needs two streams per room.
    expect(streamsNeeded("lipsync", 150, [peak], t0 + 58 * minute, boot)).toBe(10_000);
    // After the event, live streams alone.
    expect(streamsNeeded("tts", 150, [peak], t0 + 5 * 60 * minute, boot)).toBe(150);
  });

  it("follows a rise at once and a fall only after the cooldown window", () => {
    const history = [
      { at: t0, replicas: 30 },
      { at: t0 + minute, replicas: 12 },
    ];
    expect(stabilize(history, t0 + 2 * minute, 5 * minute, 10)).toBe(30);
    expect(stabilize(history, t0 + 5 * minute, 5 * minute, 10)).toBe(12);
    expect(stabilize(history, t0 + 6 * minute, 5 * minute, 10)).toBe(10);
    expect(stabilize(history, t0 + 2 * minute, 5 * minute, 40)).toBe(40);
  });

  it("never removes a worker that carries a stream", () => {
    const workers = [
      { pod: "w-a", activeStreams: 3, ready: true },
      { pod: "w-b", activeStreams: 0, ready: true },
      { pod: "w-c", activeStreams: 1, ready: true },
      { pod: "w-d", activeStreams: 0, ready: false },
    ];
    expect(planReplicas(4, 1, workers)).toEqual({ replicas: 2, removeFirst: ["w-d", "w-b"], heldBusy: 1 });
    expect(planReplicas(4, 6, workers)).toEqual({ replicas: 6, removeFirst: [], heldBusy: 0 });
  });

  it("does not count an idle pod twice while the ReplicaSet is still removing it", () => {
    const workers = [
      { pod: "w-a", activeStreams: 2, ready: true },
      { pod: "w-b", activeStreams: 1, ready: true },
      { pod: "w-c", activeStreams: 0, ready: true },
    ];
    expect(planReplicas(3, 1, workers)).toEqual({ replicas: 2, removeFirst: ["w-c"], heldBusy: 1 });
    // Next pass: replicas already 2, w-c not gone yet. Nothing more may go.
    expect(planReplicas(2, 1, workers)).toEqual({ replicas: 2, removeFirst: ["w-c"], heldBusy: 1 });
  });

  it("counts pods that have not announced yet as idle", () => {
    expect(planReplicas(5, 2, [{ pod: "w-a", activeStreams: 2, ready: true }])).toEqual({
      replicas: 2,
      removeFirst: [],
      heldBusy: 0,
    });
  });

  it("explains its decision", () => {
    const input: PoolInput = {
      spec: pool,
      currentReplicas: 12,
      liveStreams: 50,
      workers: [],
      peaks: [],
      bootMs: 5 * minute,
      history: [{ at: t0 - minute, replicas: 12 }],
      now: t0,
    };
    expect(planPool(input)).toMatchObject({ recommended: 6, target: 12, reason: "HeldForCooldown" });
    expect(planPool({ ...input, history: [] })).toMatchObject({ target: 6, reason: "ScaledDown" });
    expect(planPool({ ...input, liveStreams: 200 })).toMatchObject({ target: 24, reason: "ScaledUp" });
  });

  it("hands back the cooldown window's recommendations for the next pass", () => {
    const input: PoolInput = {
      spec: pool,
      currentReplicas: 12,
      liveStreams: 50,
      workers: [],
      peaks: [],
      bootMs: 5 * minute,
      history: [
        { at: t0 - 6 * minute, replicas: 30 },
        { at: t0 - minute, replicas: 12 },
      ],
      now: t0,
    };
    const first = planPool(input);
    // The one older than the 5-minute cooldown is dropped; this pass's recommendation is added.
    expect(first.history).toEqual([
      { at: t0 - minute, replicas: 12 },
      { at: t0, replicas: 6 },
    ]);
    const later = planPool({ ...input, history: first.history, now: t0 + 5 * minute });
    expect(later).toMatchObject({ target: 6, reason: "ScaledDown" });
    // Five minutes on, this pass's recommendation is all the window holds.
    expect(later.history).toEqual([{ at: t0 + 5 * minute, replicas: 6 }]);
  });
});

describe("rooms from the room directory", () => {
  const boot = 5 * minute;
  const warmup = 5 * minute;
  const input: PoolInput = {
    spec: { ...pool, minReplicas: 1, headroomPercent: 0 },
    currentReplicas: 1,
    liveStreams: 0,
    workers: [],
    peaks: [],
    bootMs: boot,
    roomWarmupMs: warmup,
    history: [],
    now: t0,
  };
  const scheduledAt = (offsetMs: number, endMs = Number.POSITIVE_INFINITY) => ({ startMs: t0 + offsetMs, endMs });

  it("counts rooms on air and rooms that start within boot time plus warm-up", () => {
    const rooms = {
      onAir: 30,
      scheduled: [scheduledAt(9 * minute), scheduledAt(10 * minute), scheduledAt(11 * minute), scheduledAt(-minute)],
    };
    // Window 10 min: the rooms at +9 and +10 min count, and the overdue one; the one at +11 min does not yet.
    expect(roomsNeeded(rooms, t0, boot + warmup)).toBe(33);
    expect(roomsNeeded(rooms, t0 + minute, boot + warmup)).toBe(34);
  });

  it("sizes for every tier with the share each lower tier leaves to the ones above, as rooms pick workers", () => {
    // 70 gold rooms alone: 70. With 20 silver: silver is served while the pool is at most 90 % busy, 90 / 0.9.
    expect(roomsNeeded({ onAir: 70, scheduled: [] }, t0, boot)).toBe(70);
    expect(roomsNeeded({ onAir: 90, onAirByTier: { silver: 20, bronze: 0 }, scheduled: [] }, t0, boot)).toBeCloseTo(
      100,
    );
    // And 21 bronze (one of them starting soon): bronze is served while at most 70 % busy, 112 / 0.7.
    const rooms = {
      onAir: 110,
      onAirByTier: { silver: 20, bronze: 20 },
      scheduled: [
        { ...scheduledAt(minute), tier: "bronze" as const },
        { ...scheduledAt(minute), tier: "gold" as const },
      ],
    };
    expect(roomsNeeded(rooms, t0, boot + warmup)).toBeCloseTo(160);
  });

  it("does not count a scheduled room whose end has passed", () => {
    expect(roomsNeeded({ onAir: 0, scheduled: [scheduledAt(-2 * minute, t0 - minute)] }, t0, boot)).toBe(0);
  });

  it("raises a pool for a room scheduled ten minutes ahead, before it starts", () => {
    const rooms = { onAir: 0, scheduled: Array.from({ length: 40 }, () => scheduledAt(10 * minute)) };
    // 20:00 less 11 min: not in the window yet.
    expect(planPool({ ...input, now: t0 - minute, rooms })).toMatchObject({ roomStreams: 0, target: 1 });
    expect(planPool({ ...input, rooms })).toMatchObject({ roomStreams: 40, target: 4, reason: "ScaledUp" });
  });

  it("takes the larger of the workers' streams and the rooms' needs, never their sum", () => {
    // 25 rooms on air whose 25 streams the workers report: 25, not 50.
    const onAir = { ...input, liveStreams: 25, rooms: { onAir: 25, scheduled: [] } };
    expect(planPool(onAir)).toMatchObject({ streamsNeeded: 25, target: 3 });
    // Rooms still warming (no stream yet) count; streams of rooms the directory has not seen count too.
    expect(planPool({ ...onAir, liveStreams: 5 })).toMatchObject({ streamsNeeded: 25 });
    expect(planPool({ ...onAir, liveStreams: 45 })).toMatchObject({ streamsNeeded: 45 });
  });

  it("falls back to the workers' load without a room directory", () => {
    expect(planPool({ ...input, liveStreams: 12 })).toMatchObject({ streamsNeeded: 12, roomStreams: 0 });
  });

  it("takes the larger of the rooms and a LiveEvent that expects them", () => {
    const peak = compilePeak({
      start: new Date(t0 + 5 * minute).toISOString(),
      expectedRooms: 100,
      rampSeconds: 0,
      durationSeconds: 3600,
      streamsPerRoom: { tts: 1, lipsync: 1 },
      warmupSeconds: 300,
      forecastErrorPercent: 0,
    });
    const rooms = { onAir: 0, scheduled: Array.from({ length: 80 }, () => scheduledAt(5 * minute)) };
    expect(planPool({ ...input, rooms, peaks: [peak] })).toMatchObject({ streamsNeeded: 100, roomStreams: 80 });
  });
});

describe("node placement", () => {
  it("sums GPUs per type, with the spot share of pools that allow spot", () => {
    const lipsync = {
      ...pool,
      kind: "lipsync" as const,
      gpu: { type: "L4", count: 2 },
      spot: { allowed: false, maxFraction: 0.5 },
    };
    expect(
      gpuDemand([
        { spec: pool, replicas: 10 },
        { spec: lipsync, replicas: 3 },
      ]),
    ).toEqual([{ gpuType: "L4", gpus: 16, spotGpus: 5 }]);
  });

  it("fills the cheapest lanes first, spot up to its share, within preference and quota", () => {
    const lanes = [
      lane({ offering: "a", capacityType: "onDemand", pricePerHour: 4, maxNodes: 3 }),
      lane({ offering: "a", capacityType: "spot", pricePerHour: 1.6, maxNodes: 3 }),
      lane({ offering: "b", capacityType: "onDemand", pricePerHour: 4.6 }),
      lane({ offering: "c", capacityType: "onDemand", pricePerHour: 2, preference: 1 }),
    ];
    const placed = placeNodes([{ gpuType: "L4", gpus: 40, spotGpus: 8 }], lanes);
    expect(Object.fromEntries(placed)).toEqual({ "a/spot": 2, "a/onDemand": 1, "b/onDemand": 7, "c/onDemand": 0 });
  });

  it("moves the pending demand of an unavailable lane to the next one, keeping its Ready nodes", () => {
    const lanes = [
      lane({ offering: "a", capacityType: "onDemand", readyNodes: 2, desiredNodes: 6, available: false }),
      lane({ offering: "b", capacityType: "onDemand", pricePerHour: 5 }),
    ];
    expect(Object.fromEntries(placeNodes([{ gpuType: "L4", gpus: 24, spotGpus: 0 }], lanes))).toEqual({
      "a/onDemand": 2,
      "b/onDemand": 4,
    });
  });

  it("keeps Ready nodes rather than swapping them for cheaper ones, and lets the dearest go first", () => {
    const lanes = [
      lane({ offering: "a", capacityType: "onDemand", pricePerHour: 3 }),
      lane({ offering: "b", capacityType: "onDemand", pricePerHour: 5, readyNodes: 4, desiredNodes: 4 }),
      lane({ offering: "c", capacityType: "onDemand", pricePerHour: 6, readyNodes: 4, desiredNodes: 4 }),
    ];
    expect(Object.fromEntries(placeNodes([{ gpuType: "L4", gpus: 20, spotGpus: 0 }], lanes))).toEqual({
      "a/onDemand": 0,
      "b/onDemand": 4,
      "c/onDemand": 1,
    });
  });

  it("probes a lane back from a failure with one node, the rest going elsewhere", () => {
    const lanes = [
      lane({ offering: "a", capacityType: "onDemand", pricePerHour: 3, newNodeLimit: 1 }),
      lane({ offering: "b", capacityType: "onDemand", pricePerHour: 5 }),
    ];
    expect(Object.fromEntries(placeNodes([{ gpuType: "L4", gpus: 16, spotGpus: 0 }], lanes))).toEqual({
      "a/onDemand": 1,
      "b/onDemand": 3,
    });
  });

  it("keeps what a lane that ran out has launched, and moves only its asks beyond that on", () => {
    // 10 nodes asked for in a, 4 Ready and 3 more launched (booting) when its cloud ran out of capacity.
    const lanes = [
      lane({
        offering: "a",
        capacityType: "onDemand",
        pricePerHour: 3,
        available: false,
        readyNodes: 4,
        desiredNodes: 10,
        launchedNodes: 7,
      }),
      lane({ offering: "b", capacityType: "onDemand", pricePerHour: 5 }),
    ];
    expect(Object.fromEntries(placeNodes([{ gpuType: "L4", gpus: 40, spotGpus: 0 }], lanes))).toEqual({
      "a/onDemand": 7,
      "b/onDemand": 3,
    });
    // Where the group does not say what was launched, only the Ready nodes stay.
    const unknown = lanes.map((l) => ({ ...l, launchedNodes: undefined }));
    expect(placeNodes([{ gpuType: "L4", gpus: 40, spotGpus: 0 }], unknown).get("a/onDemand")).toBe(4);
  });

  it("asks for a shortfall needed now twice over, and for the demand alone once Ready nodes cover it", () => {
    // 40 GPUs needed at once (streams in use), 32 Ready: 8 short, asked for twice (16 more than the Ready 32).
    const lanes = [
      lane({ offering: "a", capacityType: "onDemand", pricePerHour: 4, readyNodes: 8, desiredNodes: 8 }),
      lane({ offering: "b", capacityType: "onDemand", pricePerHour: 5 }),
    ];
    const demand = { gpuType: "L4", gpus: 40, spotGpus: 0, urgentGpus: 40 };
    expect(urgentShortfall(demand, lanes)).toBe(8);
    expect(Object.fromEntries(placeNodes([demand], lanes))).toEqual({ "a/onDemand": 12, "b/onDemand": 0 });
    // The first half came up: Ready covers it, so the nodes still booting go.
    const covered = [
      lane({ offering: "a", capacityType: "onDemand", pricePerHour: 4, readyNodes: 8, desiredNodes: 8 }),
      lane({ offering: "b", capacityType: "onDemand", pricePerHour: 5, readyNodes: 2, desiredNodes: 4 }),
    ];
    expect(urgentShortfall(demand, covered)).toBe(0);
    expect(Object.fromEntries(placeNodes([demand], covered))).toEqual({ "a/onDemand": 8, "b/onDemand": 2 });
    // What only a forecast asks for (no GPUs needed at once) is asked for once.
    expect(Object.fromEntries(placeNodes([{ ...demand, urgentGpus: 0 }], lanes))).toEqual({
      "a/onDemand": 10,
      "b/onDemand": 0,
    });
    // A draining lane's Ready nodes serve now: they cover it (their replacements are asked for once, elsewhere).
    const draining = [lane({ offering: "a", capacityType: "spot", readyNodes: 10, desiredNodes: 10, draining: true })];
    expect(urgentShortfall(demand, draining)).toBe(0);
  });

  it("asks for a surge's shortfall, 30 % or more of the GPUs needed at once, three times over", () => {
    // 40 GPUs needed at once, 8 Ready: 32 short (80 %), asked for three times (96 more than the Ready 8).
    const surge = [
      lane({ offering: "a", capacityType: "onDemand", pricePerHour: 4, readyNodes: 2, desiredNodes: 2 }),
      lane({ offering: "b", capacityType: "onDemand", pricePerHour: 5 }),
    ];
    const demand = { gpuType: "L4", gpus: 40, spotGpus: 0, urgentGpus: 40 };
    expect(Object.fromEntries(placeNodes([demand], surge))).toEqual({ "a/onDemand": 26, "b/onDemand": 0 });
    // A third of it came up: 8 short (20 %), twice over again, and the nodes still booting past that go.
    const caughtUp = [
      lane({ offering: "a", capacityType: "onDemand", pricePerHour: 4, readyNodes: 8, desiredNodes: 26 }),
      lane({ offering: "b", capacityType: "onDemand", pricePerHour: 5 }),
    ];
    expect(Object.fromEntries(placeNodes([demand], caughtUp))).toEqual({ "a/onDemand": 12, "b/onDemand": 0 });
  });

  it("counts as needed at once what a pool carries, not its minimum or a forecast", () => {
    const decision = planPool({
      spec: { ...pool, minReplicas: 4 },
      currentReplicas: 4,
      liveStreams: 0,
      workers: [],
      peaks: [nightPeak(0)],
      bootMs: 10 * minute,
      history: [],
      now: Date.parse("2026-11-11T19:55:00Z"),
    });
    expect(decision.plan.replicas).toBeGreaterThan(4);
    expect(decision.urgentReplicas).toBe(0);
    const busy = { spec: pool, currentReplicas: 2, workers: [], peaks: [], bootMs: 5 * minute, history: [], now: t0 };
    expect(planPool({ ...busy, liveStreams: 25 }).urgentReplicas).toBe(3); // 25 streams + 20 % headroom, 10 each
    expect(gpuDemand([{ spec: pool, replicas: 10, urgentReplicas: 3 }])).toEqual([
      { gpuType: "L4", gpus: 10, spotGpus: 5, urgentGpus: 3 },
    ]);
  });

  it("never goes below the nodes that carry streams", () => {
    const lanes = [lane({ offering: "a", capacityType: "spot", readyNodes: 5, desiredNodes: 5, busyNodes: 3 })];
    expect(placeNodes([{ gpuType: "L4", gpus: 0, spotGpus: 0 }], lanes).get(laneKey(lanes[0]!))).toBe(3);
  });

  it("picks idle nodes to remove, those not Ready first", () => {
    const nodes = [
      { name: "n1", ready: true, busy: true },
      { name: "n2", ready: true, busy: false },
      { name: "n3", ready: false, busy: false },
    ];
    expect(pickNodesToRemove(nodes, 5)).toEqual(["n3", "n2"]);
  });
});

describe("lane health", () => {
  const seen = (desiredNodes: number, readyNodes: number, capacityError?: string) => ({
    desiredNodes,
    readyNodes,
    capacityError,
  });

  it("marks a lane unavailable when nodes are not Ready in time, then backs off longer each time", () => {
    let v = judgeLane(healthyLane(), seen(4, 1), t0, 10 * minute);
    expect(v).toMatchObject({ available: true, failedNow: false });
    v = judgeLane(v.health, seen(4, 1), t0 + 10 * minute, 10 * minute);
    expect(v).toMatchObject({ available: false, failedNow: true, health: { failures: 1 } });
    expect(v.health.message).toBe("3 node(s) not Ready after 600s");
    expect(v.health.unavailableUntil).toBe(t0 + 12 * minute);
    expect(judgeLane(v.health, seen(1, 1), t0 + 11 * minute, 10 * minute).available).toBe(false);
    // Back after its backoff, asked only for what it has: available, the failure remembered.
    const back = judgeLane(v.health, seen(1, 1), t0 + 12 * minute, 10 * minute);
    expect(back).toMatchObject({ available: true, newNodeLimit: 1, health: { failures: 1 } });
    const again = judgeLane(back.health, seen(3, 1, "InsufficientInstanceCapacity"), t0 + 13 * minute, 10 * minute);
    expect(again.health).toMatchObject({ failures: 2, unavailableUntil: t0 + 17 * minute });
    expect(again.health.message).toBe("InsufficientInstanceCapacity");
  });

  it("remembers what a lane held when its cloud ran out, and probes past it one node at a time", () => {
    // Asked for 9 with 6 Ready: the cloud is out. 6 is its ceiling.
    const out = judgeLane(healthyLane(), seen(9, 6, "InsufficientInstanceCapacity"), t0, 10 * minute);
    expect(out.health.ceiling).toEqual({ nodes: 6, at: t0 });
    // Back after the backoff and recovered (delivered its probe): up to the ceiling and one past it, not a flood.
    const recovered = judgeLane(
      { ...out.health, unavailableUntil: 0, failures: 0 },
      seen(4, 4),
      t0 + 5 * minute,
      10 * minute,
    );
    expect(recovered).toMatchObject({ available: true, newNodeLimit: 3 });
    expect(judgeLane(recovered.health, seen(7, 6), t0 + 6 * minute, 10 * minute).newNodeLimit).toBe(0);
    // The probe past it came: the ceiling rises with it.
    const higher = judgeLane(recovered.health, seen(7, 7), t0 + 9 * minute, 10 * minute);
    expect(higher.health.ceiling).toEqual({ nodes: 7, at: t0 });
    expect(higher.newNodeLimit).toBe(1);
    // Hours later the cloud may have GPUs again: the ceiling is forgotten.
    const later = judgeLane(higher.health, seen(7, 7), t0 + ceilingMemoryMs, 10 * minute);
    expect(later.health.ceiling).toBeUndefined();
    expect(later.newNodeLimit).toBeUndefined();
  });

  it("does not time out a lane that delivers all through a long ramp, but does one that delivers a trickle", () => {
    // Asked for 4 more every 4 minutes for 20 minutes; each batch is Ready 4 minutes after it was asked for.
    let health = healthyLane();
    for (let m = 0; m <= 20; m += 4) {
      const v = judgeLane(health, seen(4 + m, m), t0 + m * minute, 10 * minute);
      expect(v).toMatchObject({ available: true, failedNow: false });
      health = v.health;
    }
    // Asked for 20 at once, one Ready every 4 minutes: the 20 asked for are not Ready 10 minutes later.
    let trickle = judgeLane(healthyLane(), seen(20, 0), t0, 10 * minute);
    trickle = judgeLane(trickle.health, seen(20, 1), t0 + 4 * minute, 10 * minute);
    trickle = judgeLane(trickle.health, seen(20, 2), t0 + 8 * minute, 10 * minute);
    expect(judgeLane(trickle.health, seen(20, 3), t0 + 12 * minute, 10 * minute)).toMatchObject({
      available: false,
      failedNow: true,
    });
  });

  it("forgets failures once the lane delivers what it was asked for", () => {
    const waiting = { ...healthyLane(), failures: 3, waitingSince: t0 };
    expect(judgeLane(waiting, seen(4, 4), t0 + minute, 10 * minute)).toMatchObject({
      health: { failures: 0 },
      newNodeLimit: undefined,
    });
  });
});

/** A festival night's LiveEvent: 5,000 rooms from 20:00 for three hours, a 10-minute ramp and warm-up. */
const nightPeak = (forecastErrorPercent: number) =>
  compilePeak({
    start: "2026-11-11T20:00:00Z",
    expectedRooms: 5000,
    rampSeconds: 600,
    durationSeconds: 3 * 3600,
    streamsPerRoom: { tts: 1, lipsync: 1 },
    warmupSeconds: 600,
    forecastErrorPercent,
  });

describe("forecasts that are wrong", () => {
  const peak = nightPeak(30);
  const eight = Date.parse("2026-11-11T20:00:00Z");

  it("holds the upper end of the forecast error until the ramp shows how the peak turns out", () => {
    expect(peakFactor(peak, 200, eight - 30 * minute)).toBeCloseTo(1.3);
    expect(peakFactor(peak, 900, eight + 2 * minute)).toBeCloseTo(1.3); // 20 % into the ramp: too early to say
    // 40 % into the ramp (2,000 expected by now): more rooms than expected raise it at once, at most to the upper end.
    expect(peakFactor(peak, 2200, eight + 4 * minute)).toBeCloseTo(1.1);
    expect(peakFactor(peak, 2600, eight + 4 * minute)).toBeCloseTo(1.3);
    // Fewer rooms while the ramp runs may be a late start: the upper end stays.
    expect(peakFactor(peak, 1400, eight + 4 * minute)).toBeCloseTo(1.3);
    // The ramp is over and the rooms have stopped rising: 3,500 of 5,000 is a peak 30 % smaller; 4,700 is as forecast.
    expect(peakFactor(peak, 3500, eight + 12 * minute)).toBeCloseTo(0.7);
    // Still rising as fast as a 6,500-room peak ramps: a late start, maybe of the upper end.
    expect(peakFactor(peak, 3500, eight + 12 * minute, 650 / minute)).toBeCloseTo(1.3);
    expect(peakFactor(peak, 4700, eight + 12 * minute)).toBe(1);
    // Far below the band (rooms that have not come) says nothing about its size.
    expect(peakFactor(peak, 200, eight + 12 * minute)).toBeCloseTo(1.3);
    // Whatever the error band, a peak is never taken below half of its forecast.
    const vague = { ...peak, uncertainty: 1 };
    expect(peakFactor(vague, 0, eight + 12 * minute)).toBe(2);
    expect(peakFactor(vague, 1000, eight + 12 * minute)).toBe(2);
    expect(peakFactor(vague, 2400, eight + 12 * minute)).toBeCloseTo(0.5);
  });

  it("takes a peak that came early at the size its rooms show once they stop rising", () => {
    // Ten minutes early: its 5,000 rooms are on air at 20:01, where the schedule expects 500, and no longer rise.
    expect(peakFactor(peak, 5000, eight + minute)).toBe(1);
    expect(peakFactor(peak, 4800, eight + 4 * minute)).toBe(1); // far above the 2,000 expected by now
    expect(peakFactor(peak, 6000, eight - 2 * minute)).toBeCloseTo(1.2);
    // So the upper end is let go: 5,000 streams where it asked for 6,500.
    expect(streamsNeeded("tts", 5000, [peak], eight + minute, 10 * minute)).toBe(5000);
    // Still rising (an early ramp under way, a flash crowd): the upper end stays.
    expect(peakFactor(peak, 5000, eight + minute, 0, true)).toBeCloseTo(1.3);
    // Short of 90 % of the expected rooms, or before the peak may come at all: they tell nothing.
    expect(peakFactor(peak, 4000, eight + minute)).toBeCloseTo(1.3);
    expect(peakFactor(peak, 5000, eight - 11 * minute)).toBeCloseTo(1.3);
    // Within the band of what the schedule expects by now (3,750 at 20:07:30), a big peak on time pausing in its
    // ramp looks the same: the rooms' ratio to the schedule stands.
    expect(peakFactor(peak, 5000, eight + 7.5 * minute)).toBeCloseTo(1.3);
  });

  it("reads a ramp that slows down as it ends at its pace before it bent", () => {
    const at = (m: number, streams: number) => ({ at: eight + m * minute, streams });
    // 480 rooms a minute (the 5,000-room peak's ramp) until the last 45 s, which brought 200 as the ramp ended.
    const ending = [at(9, 4320), at(9.75, 4680)];
    const now = eight + 10.5 * minute;
    expect(risePerMs(ending, 4880, now, true) * minute).toBeCloseTo(480);
    const input: PoolInput = {
      spec: { ...pool, streamsPerReplica: 100, headroomPercent: 0, maxReplicas: 200 },
      currentReplicas: 50,
      liveStreams: 4880,
      workers: [],
      peaks: [peak],
      bootMs: 10 * minute,
      history: [],
      observed: ending,
      now,
    };
    // The rise points to the expected peak (plus the 10 % margin), not to the upper end for the minute it bends.
    expect(planPool(input).streamsNeeded).toBe(5300);
    // A rise speeding up (just begun) is not measured yet; a steady one is its pace.
    expect(risePerMs([at(9, 200), at(9.75, 260)], 560, now, true)).toBe(0);
    expect(risePerMs([at(9, 200), at(9.75, 560)], 920, now, true) * minute).toBeCloseTo(480);
  });

  it("follows a peak's rooms down when they leave before its end, once it can no longer be starting", () => {
    // 22:52, the rooms leaving eight minutes before the LiveEvent's end: 3,000 of 5,000, falling.
    expect(peakFactor(peak, 3000, eight + 172 * minute, 0, false, true)).toBeCloseTo(0.6);
    // Not falling, rooms far below the band still tell nothing (a peak that never came keeps its upper end)...
    expect(peakFactor(peak, 3000, eight + 172 * minute)).toBeCloseTo(1.3);
    // ...and while the peak may still be starting (20:15: a late ramp), rooms on air that fall are not it leaving.
    expect(peakFactor(peak, 150, eight + 15 * minute, 0, false, true)).toBeCloseTo(1.3);
    const at = (m: number, streams: number) => ({ at: eight + m * minute, streams });
    const leaving = [at(170.5, 3640), at(171.25, 3320)];
    const decision = planPool({
      spec: { ...pool, streamsPerReplica: 100, headroomPercent: 0, maxReplicas: 200 },
      currentReplicas: 50,
      liveStreams: 3000,
      workers: [],
      peaks: [peak],
      bootMs: 10 * minute,
      history: [],
      observed: leaving,
      now: eight + 172 * minute,
    });
    expect(decision.streamsNeeded).toBe(3000);
  });

  it("reads the peak's size from its ramp's rise, whenever the ramp starts, never lower than its rise shows", () => {
    // Rooms a minute, over the last 90 s, times the 10-minute ramp: the rooms the ramp brings, plus 10 %.
    expect(peakFactor(peak, 1100, eight + 2 * minute, 480 / minute)).toBeCloseTo(1.06);
    // The same ramp started 8 minutes late, and one started 8 minutes early: the rise says the same.
    expect(peakFactor(peak, 1100, eight + 10 * minute, 480 / minute)).toBeCloseTo(1.06);
    expect(peakFactor(peak, 1100, eight - 6 * minute, 480 / minute)).toBeCloseTo(1.06);
    // A peak 30 % smaller, or larger, than the forecast shows as much in its rise (the band bounds it).
    expect(peakFactor(peak, 900, eight + 2 * minute, 330 / minute)).toBeCloseTo(0.76);
    expect(peakFactor(peak, 1400, eight + 2 * minute, 630 / minute)).toBeCloseTo(1.3);
    // A 3,500-room peak on top of the 200 rooms on air before it rises by 3,300, a little under the lower end's
    // 3,500: still read as the ramp, every pass, not only when the noise makes it look a little steeper.
    expect(peakFactor(peak, 900, eight + 2 * minute, 320 / minute)).toBeCloseTo(0.74);
    expect(peakFactor(peak, 900, eight + 2 * minute, 290 / minute)).toBeCloseTo(1.3);
    // A rise too small to be the ramp (noise before the event, rooms of their own) says nothing: the upper end stays.
    expect(peakFactor(peak, 200, eight - 20 * minute, 0)).toBeCloseTo(1.3);
    expect(peakFactor(peak, 210, eight - 5 * minute, 5 / minute)).toBeCloseTo(1.3);
    // Long after the ramp could have started, a rise is not the ramp: it is for the trend to follow.
    expect(peakFactor(peak, 5000, eight + 60 * minute, 480 / minute)).toBe(1);
  });

  it("asks for the expected rooms a warm-up early and the margin one lead time early", () => {
    const lead = 10 * minute;
    // 19:45: the warm-up window reaches 20:05 (half the ramp), the lead window 19:55 (nothing yet).
    expect(streamsNeeded("tts", 200, [peak], eight - 15 * minute, lead)).toBe(2500);
    // 19:55: the lead window reaches 20:05: the margin is asked for too.
    expect(streamsNeeded("tts", 200, [peak], eight - 5 * minute, lead)).toBe(Math.max(5000, Math.ceil(2500 * 1.3)));
    // 20:12 with 3,500 rooms on air, no longer rising: a 3,500-room peak, and the margin is let go at once.
    expect(streamsNeeded("tts", 3500, [peak], eight + 12 * minute, lead)).toBe(3500);
  });

  it("lets forecast capacity go without the cooldown, but holds what the rooms carry", () => {
    const input: PoolInput = {
      spec: { ...pool, streamsPerReplica: 100, headroomPercent: 0 },
      currentReplicas: 65,
      liveStreams: 3500,
      workers: [],
      peaks: [peak],
      bootMs: 10 * minute,
      history: [{ at: eight + 11 * minute, replicas: 35 }],
      now: eight + 12 * minute,
    };
    expect(planPool(input).target).toBe(35);
    // The same fall in what the rooms carry is held for the cooldown.
    expect(planPool({ ...input, peaks: [], history: [{ at: eight + 11 * minute, replicas: 50 }] }).target).toBe(50);
  });
});

describe("after a scheduled peak", () => {
  it("follows its rooms down within a minute once it has ended, not after the whole cooldown", () => {
    const peak = nightPeak(0);
    const ended = Date.parse("2026-11-11T23:00:00Z");
    const spec = { ...pool, streamsPerReplica: 100, headroomPercent: 0, scaleDownCooldownSeconds: 300 };
    const input: PoolInput = {
      spec,
      currentReplicas: 50,
      liveStreams: 2000,
      workers: [],
      peaks: [peak],
      bootMs: 10 * minute,
      // 2 and 4 minutes ago the rooms needed 50 and 40 replicas.
      history: [
        { at: ended + 1 * minute, replicas: 50 },
        { at: ended + 3 * minute, replicas: 40 },
      ],
      now: ended + 5 * minute,
    };
    // The rooms leave after the end: only the last minute's recommendations hold the pool.
    expect(planPool(input).target).toBe(20);
    expect(planPool({ ...input, history: [{ at: ended + 4.5 * minute, replicas: 30 }] }).target).toBe(30);
    // The same fall during the event is held for the cooldown.
    const during = ended - 60 * minute;
    const history = input.history.map((r) => ({ ...r, at: r.at - 60 * minute }));
    expect(planPool({ ...input, peaks: [], history, now: during + 5 * minute }).target).toBe(50);
  });
});

describe("the trend of a rise nobody announced", () => {
  const seen = (points: [number, number][]) => points.map(([s, streams]) => ({ at: t0 + s * 1000, streams }));

  it("carries a steady rise forward over the lead time, five minutes at most", () => {
    // 100 streams a minute for the last two minutes.
    const rising = seen([
      [0, 1000],
      [15, 1025],
      [30, 1050],
      [45, 1075],
      [60, 1100],
      [75, 1125],
      [90, 1150],
      [105, 1175],
    ]);
    expect(trendStreams(rising, 1200, t0 + 120_000, 3 * minute)).toBe(1500);
    expect(trendStreams(rising, 1200, t0 + 120_000, 20 * minute)).toBe(1700);
  });

  it("does not take a step, a flat load or a fall for a trend", () => {
    const step = seen([
      [0, 0],
      [15, 0],
      [30, 0],
      [45, 0],
      [60, 0],
      [75, 0],
      [90, 40],
      [105, 40],
    ]);
    expect(trendStreams(step, 40, t0 + 120_000, 10 * minute)).toBe(40);
    const flat = seen([
      [0, 1000],
      [45, 1001],
      [90, 1000],
    ]);
    expect(trendStreams(flat, 1002, t0 + 120_000, 10 * minute)).toBe(1002);
    const falling = seen([
      [0, 1000],
      [45, 900],
      [90, 800],
    ]);
    expect(trendStreams(falling, 700, t0 + 120_000, 10 * minute)).toBe(700);
    // A fall in both spans is rooms leaving; a flat load or a step is not.
    expect(fallingNow(falling, 700, t0 + 120_000)).toBe(true);
    expect(fallingNow(flat, 1002, t0 + 120_000)).toBe(false);
    expect(fallingNow(step, 40, t0 + 120_000)).toBe(false);
    // Too little history: nothing to go on.
    expect(trendStreams(seen([[100, 10]]), 50, t0 + 120_000, 10 * minute)).toBe(50);
  });

  it("meets a surge from its first half minute: a steep rise in each of the last two 15-second spans", () => {
    // Flat for a minute and a half, then about 5 % a minute (48 streams) for the last 30 seconds.
    const surge = seen([
      [0, 1000],
      [45, 1000],
      [75, 1000],
      [90, 1000],
      [105, 1012],
    ]);
    expect(surgePerMs(surge, 1024, t0 + 120_000) * minute).toBeCloseTo(48);
    expect(trendStreams(surge, 1024, t0 + 120_000, 10 * minute)).toBe(1264); // five minutes of it at most
    // Noise (under 1 % a minute) and a step (all of it in one span: rooms started at once) are not a surge.
    const noise = seen([
      [90, 1000],
      [105, 1002],
    ]);
    expect(surgePerMs(noise, 1004, t0 + 120_000)).toBe(0);
    const step = seen([
      [90, 1000],
      [105, 1040],
    ]);
    expect(surgePerMs(step, 1040, t0 + 120_000)).toBe(0);
    expect(trendStreams(step, 1040, t0 + 120_000, 10 * minute)).toBe(1040);
  });

  it("asks for a jump in the last 15-second span at once, and holds it only once the next span shows a surge", () => {
    const spec = { ...pool, streamsPerReplica: 100, headroomPercent: 0, maxReplicas: 100 };
    const flat = seen([
      [0, 1000],
      [45, 1000],
      [75, 1000],
      [90, 1000],
    ]);
    const input = { spec, currentReplicas: 10, workers: [], peaks: [], bootMs: 3 * minute, history: [] };
    // 40 streams in the last 15 s (16 % a minute): carried forward over the lead, 480 more, for this pass.
    const jumped = planPool({ ...input, liveStreams: 1040, observed: flat, now: t0 + 105_000 });
    expect(jumped.trendStreams).toBe(1520);
    expect(jumped.urgentReplicas).toBe(16);
    expect(jumped.target).toBe(16);
    // The next pass, 15 s on, with `liveStreams` then.
    const next = (liveStreams: number) =>
      planPool({
        ...input,
        currentReplicas: 16,
        liveStreams,
        history: jumped.history,
        observed: jumped.observed,
        now: t0 + 120_000,
      });
    // Not held: the next span is flat (a step, rooms started at once), and its asks go.
    expect(next(1040).target).toBe(11);
    // Rising again in the next span: a surge, carried forward (and held).
    const surge = next(1080);
    expect(surge.target).toBe(16);
    expect(surge.history.at(-1)!.replicas).toBe(16);
    // Under 6 % a minute in one span (12 streams: 4.8 %) is not a jump.
    expect(planPool({ ...input, liveStreams: 1012, observed: flat, now: t0 + 105_000 }).target).toBe(11);
  });

  it("follows rooms leaving at a steady pace down within a minute, and holds a dip for the cooldown", () => {
    const spec = {
      ...pool,
      streamsPerReplica: 100,
      headroomPercent: 0,
      maxReplicas: 100,
      scaleDownCooldownSeconds: 300,
    };
    const now = t0 + 120_000;
    const input = {
      spec,
      currentReplicas: 30,
      liveStreams: 2000,
      workers: [],
      peaks: [],
      bootMs: 3 * minute,
      history: [{ at: now - 3 * minute, replicas: 30 }],
      now,
    };
    // 500 streams fewer in each of the last two 45-second spans: rooms leaving, followed down.
    const leaving = seen([
      [30, 3000],
      [75, 2500],
    ]);
    expect(planPool({ ...input, observed: leaving }).target).toBe(20);
    // The same 1,000 fewer in the last span alone is a dip: held.
    const dip = seen([
      [30, 3000],
      [75, 3000],
    ]);
    expect(planPool({ ...input, observed: dip }).target).toBe(30);
  });

  it("is what a pool follows between the forecast's ramps", () => {
    const observed = seen([
      [15, 1025],
      [60, 1100],
      [90, 1150],
    ]);
    const decision = planPool({
      spec: { ...pool, streamsPerReplica: 100, headroomPercent: 0, maxReplicas: 100 },
      currentReplicas: 12,
      liveStreams: 1200,
      workers: [],
      peaks: [],
      bootMs: 3 * minute,
      history: [],
      observed,
      now: t0 + 120_000,
    });
    expect(decision.trendStreams).toBe(1500);
    expect(decision.plan.replicas).toBe(15);
    expect(decision.observed.at(-1)).toEqual({ at: t0 + 120_000, streams: 1200 });
  });
});

describe("spot interruptions", () => {
  it("judges a spot lane failing after a burst of notices, and drains it", () => {
    const verdict = judgeLane(
      healthyLane(),
      { desiredNodes: 10, readyNodes: 10, capacityError: undefined, interruptions: interruptionBurst },
      t0,
      600_000,
    );
    expect(verdict).toMatchObject({ available: false, failedNow: true });
    expect(verdict.health).toMatchObject({ interrupted: true, message: "3 spot interruption notices in 10 minutes" });
    const calm = judgeLane(
      healthyLane(),
      { desiredNodes: 10, readyNodes: 10, capacityError: undefined, interruptions: 1 },
      t0,
      600_000,
    );
    expect(calm.available).toBe(true);
  });

  it("counts a failed lane's nodes again once its notices stop, while it still gets no new node", () => {
    const seen = (lastNoticeAt: number) => ({
      desiredNodes: 6,
      readyNodes: 6,
      capacityError: undefined,
      interruptions: interruptionBurst,
      lastNoticeAt,
    });
    const backoff = { baseMs: 8 * minute, maxMs: 30 * minute };
    const burst = judgeLane(healthyLane(), seen(t0), t0, 600_000, backoff);
    expect(burst).toMatchObject({ available: false, draining: true });
    // Notices still coming: the nodes left are expected to go too.
    const storm = judgeLane(burst.health, seen(t0 + 60_000), t0 + 90_000, 600_000, backoff);
    expect(storm).toMatchObject({ available: false, draining: true, newNodeLimit: 0 });
    // No notice for five minutes: the storm has passed; the nodes left count, and the lane still backs off.
    const after = judgeLane(burst.health, seen(t0 + 60_000), t0 + 60_000 + noticesQuietMs, 600_000, backoff);
    expect(after).toMatchObject({ available: false, draining: false, newNodeLimit: 0 });
    const lanes = [
      lane({ offering: "a", capacityType: "spot", pricePerHour: 1, readyNodes: 6, desiredNodes: 6, available: false }),
      lane({ offering: "a", capacityType: "onDemand", pricePerHour: 4, readyNodes: 6, desiredNodes: 6 }),
    ];
    const demand = [{ gpuType: "L4", gpus: 24, spotGpus: 24, urgentGpus: 24 }];
    lanes[0] = { ...lanes[0]!, draining: storm.draining };
    expect(Object.fromEntries(placeNodes(demand, lanes))).toEqual({ "a/spot": 6, "a/onDemand": 6 });
    // Its six nodes serve the demand again: the dearer replacements go.
    lanes[0] = { ...lanes[0], draining: after.draining };
    expect(Object.fromEntries(placeNodes(demand, lanes))).toEqual({ "a/spot": 6, "a/onDemand": 0 });
  });

  it("replaces a draining lane's nodes elsewhere now, keeps the ones with no notice, and counts them once it is back", () => {
    const lanes = [
      lane({
        offering: "a",
        capacityType: "spot",
        pricePerHour: 1,
        readyNodes: 4,
        desiredNodes: 4,
        available: false,
        draining: true,
      }),
      lane({ offering: "a", capacityType: "onDemand", pricePerHour: 4 }),
    ];
    const demand = [{ gpuType: "L4", gpus: 16, spotGpus: 16 }];
    const placed = placeNodes(demand, lanes);
    expect(placed.get("a/onDemand")).toBe(4); // the replacements, asked for at once
    expect(placed.get("a/spot")).toBe(4); // kept, counted for nothing
    lanes[1] = { ...lanes[1]!, readyNodes: 4, desiredNodes: 4 };
    // A node got its notice (no longer Ready for the operator); the other three are kept while the lane drains.
    lanes[0] = { ...lanes[0]!, readyNodes: 3, desiredNodes: 3 };
    expect(Object.fromEntries(placeNodes(demand, lanes))).toEqual({ "a/spot": 3, "a/onDemand": 4 });
    // The storm is over and the lane is back: its nodes are the cheapest again, and the dearer replacements go.
    lanes[0] = { ...lanes[0], available: true, draining: false };
    expect(Object.fromEntries(placeNodes(demand, lanes))).toEqual({ "a/spot": 3, "a/onDemand": 1 });
  });
});

describe("spot interruptions, needed at once", () => {
  it("asks for a draining lane's replacements once, and for a node under notice twice over", () => {
    const lanes = [
      lane({ offering: "a", capacityType: "spot", pricePerHour: 1, readyNodes: 4, desiredNodes: 4, available: false }),
      lane({ offering: "a", capacityType: "onDemand", pricePerHour: 4 }),
    ];
    lanes[0] = { ...lanes[0]!, draining: true };
    // 16 GPUs carried now, all on the draining lane's Ready nodes: they serve, and their replacements are asked once.
    const demand = [{ gpuType: "L4", gpus: 16, spotGpus: 0, urgentGpus: 16 }];
    expect(placeNodes(demand, lanes).get("a/onDemand")).toBe(4);
    // A node got its notice (no longer Ready): 4 GPUs short now, asked for twice over.
    lanes[0] = { ...lanes[0], readyNodes: 3, desiredNodes: 3 };
    expect(placeNodes(demand, lanes).get("a/onDemand")).toBe(5);
  });
});

describe("job workers sized on the onboarding queue", () => {
  const bounds = { minReplicas: 1, maxReplicas: 4, jobsPerWorker: 1, scaleDownDelayMs: 5 * minute };
  const input = (over: Partial<JobWorkerInput>): JobWorkerInput => ({
    ...bounds,
    queued: 0,
    running: 0,
    currentReplicas: 1,
    history: [{ at: t0 - minute, replicas: 1 }],
    now: t0,
    ...over,
  });
  /** Passes once a minute from `from` (exclusive) to `to` minutes, each replica count applied; the last decision. */
  const passes = (
    first: ReturnType<typeof planJobWorkers>,
    jobs: { queued: number; running: number },
    from: number,
    to: number,
  ) => {
    let d = first;
    for (let m = from + 1; m <= to; m++) {
      d = planJobWorkers(input({ ...jobs, currentReplicas: d.replicas, history: d.history, now: t0 + m * minute }));
    }
    return d;
  };

  it("gives every job queued or running a worker, within min and max, at once", () => {
    expect(planJobWorkers(input({ queued: 2, running: 1 }))).toMatchObject({ replicas: 3, reason: "ScaledUp" });
    expect(planJobWorkers(input({ queued: 9, running: 1 }))).toMatchObject({ replicas: 4, recommended: 4 });
    expect(planJobWorkers(input({}))).toMatchObject({ replicas: 1, reason: "Steady" });
    expect(planJobWorkers(input({ minReplicas: 0, currentReplicas: 0, history: [] }))).toMatchObject({ replicas: 0 });
    expect(planJobWorkers(input({ queued: 5, jobsPerWorker: 2 }))).toMatchObject({ replicas: 3 });
  });

  it("follows a fall only after the delay, and never below the jobs running", () => {
    const busy = planJobWorkers(input({ queued: 3, running: 1 }));
    expect(busy.replicas).toBe(4);
    // The queue drains at minute 1: two jobs still run. Held at 4 for the delay after the last pass that wanted 4,
    // then down to the two running, not to min.
    const drained = { queued: 0, running: 2 };
    expect(passes(busy, drained, 0, 4)).toMatchObject({ replicas: 4, recommended: 2, reason: "HeldForCooldown" });
    const after = passes(busy, drained, 0, 5);
    expect(after).toMatchObject({ replicas: 2, reason: "ScaledDown" });
    // They end at minute 6: min once the delay has passed again.
    expect(passes(after, { queued: 0, running: 0 }, 5, 9)).toMatchObject({ replicas: 2 });
    expect(passes(after, { queued: 0, running: 0 }, 5, 10)).toMatchObject({ replicas: 1 });
  });

  it("keeps workers beyond max while they run jobs (max lowered, or scaled by hand)", () => {
    const first = planJobWorkers(input({ running: 6, currentReplicas: 6, history: [] }));
    expect(passes(first, { queued: 0, running: 6 }, 0, 10)).toMatchObject({
      replicas: 6,
      recommended: 4,
      reason: "HeldForRunningJobs",
    });
    // ...but never more than there are: running jobs do not raise the replicas past max.
    expect(planJobWorkers(input({ running: 6, currentReplicas: 3 }))).toMatchObject({ replicas: 4 });
  });

  it("counts the replicas it finds as a recommendation of now when it has not sized them lately", () => {
    // A new leader (or a restart) finds 4 workers and an empty queue: it waits the delay before scaling down.
    const first = planJobWorkers(input({ currentReplicas: 4, history: [] }));
    expect(first).toMatchObject({ replicas: 4, reason: "HeldForCooldown" });
    expect(passes(first, { queued: 0, running: 0 }, 0, 4)).toMatchObject({ replicas: 4 });
    expect(passes(first, { queued: 0, running: 0 }, 0, 5)).toMatchObject({ replicas: 1 });
    // Recommendations older than the delay (a leader that was standby for a while) are no recommendation either.
    const stale = [{ at: t0 - 10 * minute, replicas: 1 }];
    expect(planJobWorkers(input({ currentReplicas: 4, history: stale }))).toMatchObject({ replicas: 4 });
  });
});
