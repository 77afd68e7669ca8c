// A festival night in simulated time, through the operator's real decision code: rooms go from 200 to 5,000 at 20:00
// over 10 minutes (a LiveEvent announces it), GPU nodes are Ready 2-8 minutes after they are asked for, the cheapest
// cloud runs out of L4 nodes, and spot nodes are reclaimed (a steady trickle and a wave at 21:30). Three policies:
//   reactive  the same decisions on current load only (what HPA + Cluster Autoscaler/Karpenter do);
//   operator  the same decisions with the LiveEvent's peak ahead of time;
//   optimum   offline: exactly the GPUs each minute needs, no headroom, each node paid from its boot, knowing which
//             cloud has capacity (a lower bound nobody can reach).
// Each reports unserved room-minutes, GPU-hours and cost; cost_ratio_vs_optimum is operator / optimum. The night is
// seeded (LIVEHOST_AUTOSCALE_SEED, default 20261111): every run of one seed gives the same figures.
import {
  compilePeak,
  gpuDemand,
  healthyLane,
  judgeLane,
  laneKey,
  placeNodes,
  planPool,
  type Lane,
  type LaneHealth,
  type Recommendation,
  type ScheduledPeak,
  type WorkerPoolSpec,
} from "../operator/internal.js";
import { seededRandom } from "../onnx/index.js";
import type { BenchContext } from "./main.js";

const minute = 60_000;
const tickMs = 15_000;
const nightStart = Date.parse("2026-11-11T18:00:00Z");
/** The policies start half an hour early, so the night begins with the evening's capacity in place. */
const warmStart = nightStart - 30 * minute;
const eventStart = Date.parse("2026-11-11T20:00:00Z");
const eventEnd = Date.parse("2026-11-11T23:00:00Z");
const nightEnd = Date.parse("2026-11-12T00:00:00Z");

/** Rooms live at t: 200 all night, 5,000 from 20:00 (10-minute ramp) to 23:00 (15-minute wind-down), +-2 % noise. */
function roomsAt(t: number, noise: number): number {
  let rooms = 200;
  if (t >= eventStart && t < eventEnd) rooms = 200 + Math.min(1, (t - eventStart) / (10 * minute)) * 4800;
  else if (t >= eventEnd) rooms = 200 + Math.max(0, 1 - (t - eventEnd) / (15 * minute)) * 4800;
  return Math.round(rooms * (1 + noise));
}

/** Rooms at every tick from warmStart, the same for every policy. */
function roomsTimeline(seed: number): Map<number, number> {
  const noiseRand = seededRandom(seed ^ 0x5eed);
  const timeline = new Map<number, number>();
  let noise = 0;
  for (let t = warmStart; t < nightEnd; t += tickMs) {
    noise = Math.max(-0.02, Math.min(0.02, noise + (noiseRand() - 0.5) * 0.004));
    timeline.set(t, roomsAt(t, noise));
  }
  return timeline;
}

const basePool = {
  image: "livehost:festival",
  minReplicas: 2,
  maxReplicas: 2000,
  headroomPercent: 10,
  slo: { ttsFirstChunkMs: 100, lipsyncFpsHeadroomPercent: 20 },
  scaleDownCooldownSeconds: 300,
  spot: { allowed: true, maxFraction: 0.3 },
};
const pools: WorkerPoolSpec[] = [
  { ...basePool, kind: "tts", gpu: { type: "L4", count: 1 }, streamsPerReplica: 16 },
  { ...basePool, kind: "lipsync", gpu: { type: "L4", count: 1 }, streamsPerReplica: 8 },
];

interface Offering {
  name: string;
  preference: number;
  maxNodes: number;
  onDemand: number;
  spot?: number;
  /** Nodes the cloud can actually deliver tonight (both capacity types); requests beyond fail. */
  physicalNodes: number;
}

// Four L4 GPUs per node. "a" is the cheapest and runs out of L4 after 60 nodes.
const offerings: Offering[] = [
  { name: "a", preference: 0, maxNodes: 400, onDemand: 4.0, spot: 1.7, physicalNodes: 60 },
  { name: "b", preference: 0, maxNodes: 400, onDemand: 4.6, spot: 2.1, physicalNodes: 1000 },
  { name: "c", preference: 1, maxNodes: 300, onDemand: 5.2, physicalNodes: 1000 },
];
const gpusPerNode = 4;
const expectedBootMs = 8 * minute;
const provisionTimeoutMs = 12 * minute;

const lanesOf = (o: Offering) => [
  { offering: o.name, capacityType: "onDemand" as const, price: o.onDemand },
  ...(o.spot === undefined ? [] : [{ offering: o.name, capacityType: "spot" as const, price: o.spot }]),
];
const allLanes = offerings.flatMap(lanesOf);

interface SimNode {
  lane: string;
  offering: string;
  spot: boolean;
  readyAt: number;
  /** Set when the cloud cannot deliver it: it fails then, with a capacity error, and is never billed. */
  failsAt: number | undefined;
}

export interface PolicyFigures {
  unserved_room_minutes: number;
  gpu_hours: number;
  cost: number;
  failovers: number;
  peak_nodes: number;
  spot_reclaims: number;
}

/** Runs the operator's decision loop (every 15 s) over the night; `peaks` empty makes it purely reactive. */
function simulate(peaks: readonly ScheduledPeak[], timeline: Map<number, number>, seed: number): PolicyFigures {
  const rand = seededRandom(seed);
  const nodes: SimNode[] = [];
  const health = new Map<string, LaneHealth>(allLanes.map((l) => [`${l.offering}/${l.capacityType}`, healthyLane()]));
  const history = new Map<string, Recommendation[]>(pools.map((p) => [p.kind, []]));
  const replicas = new Map<string, number>(pools.map((p) => [p.kind, p.minReplicas]));
  const figures = emptyFigures();
  let waveDone = false;
  for (let now = warmStart; now < nightEnd; now += tickMs) {
    const rooms = timeline.get(now)!;
    const counted = now >= nightStart;

    // The clouds: failed requests disappear with an error; spot nodes are reclaimed (0.15/h each, a 25 % wave at
    // 21:30 in cloud b).
    const errors = new Set<string>();
    for (let i = nodes.length - 1; i >= 0; i--) {
      const node = nodes[i]!;
      const wave = !waveDone && now >= Date.parse("2026-11-11T21:30:00Z") && node.offering === "b" && rand() < 0.25;
      const trickle = rand() < (0.15 * tickMs) / (60 * minute);
      if (node.failsAt !== undefined && now >= node.failsAt) {
        errors.add(node.lane);
        nodes.splice(i, 1);
      } else if (node.spot && now >= node.readyAt && (wave || trickle)) {
        if (counted) figures.spot_reclaims++;
        nodes.splice(i, 1);
      }
    }
    if (now >= Date.parse("2026-11-11T21:30:00Z")) waveDone = true;

    // What the operator observes, and its decisions.
    const bootMs = expectedBootMs;
    const decisions = pools.map((spec) => {
      const streams = rooms; // one stream per room on each kind
      const decision = planPool({
        spec,
        currentReplicas: replicas.get(spec.kind)!,
        liveStreams: streams,
        workers: [],
        peaks,
        bootMs,
        history: history.get(spec.kind)!,
        now,
      });
      history.set(spec.kind, decision.history);
      replicas.set(spec.kind, decision.plan.replicas);
      return { spec, replicas: decision.plan.replicas };
    });
    const lanes: Lane[] = offerings.flatMap((o) =>
      lanesOf(o).map((l) => {
        const key = `${l.offering}/${l.capacityType}`;
        const mine = nodes.filter((n) => n.lane === key);
        const ready = mine.filter((n) => n.readyAt <= now && n.failsAt === undefined).length;
        const verdict = judgeLane(
          health.get(key)!,
          { desiredNodes: mine.length, readyNodes: ready, capacityError: errors.has(key) ? "capacity" : undefined },
          now,
          provisionTimeoutMs,
        );
        health.set(key, verdict.health);
        if (verdict.failedNow && counted) figures.failovers++;
        return {
          offering: o.name,
          capacityType: l.capacityType,
          gpuType: "L4",
          gpusPerNode,
          pricePerHour: l.price,
          preference: o.preference,
          maxNodes: o.maxNodes,
          available: verdict.available,
          readyNodes: ready,
          desiredNodes: mine.length,
          busyNodes: 0,
          newNodeLimit: verdict.newNodeLimit,
        };
      }),
    );
    const placed = placeNodes(gpuDemand(decisions), lanes);

    // Actuation: new requests boot in 2-8 min (or fail in 1-2 min where the cloud is out); removals take nodes
    // still booting first.
    for (const lane of lanes) {
      const key = laneKey(lane);
      const mine = nodes.filter((n) => n.lane === key);
      const want = placed.get(key) ?? 0;
      const offering = offerings.find((o) => o.name === lane.offering)!;
      for (let k = mine.length; k < want; k++) {
        const held = nodes.filter((n) => n.offering === offering.name && n.failsAt === undefined).length;
        nodes.push({
          lane: key,
          offering: offering.name,
          spot: lane.capacityType === "spot",
          readyAt: now + (2 + 6 * rand()) * minute,
          failsAt: held >= offering.physicalNodes ? now + (1 + rand()) * minute : undefined,
        });
      }
      const surplus = mine.length - want;
      if (surplus > 0) {
        const victims = mine.sort((x, y) => y.readyAt - x.readyAt).slice(0, surplus);
        for (const v of victims) nodes.splice(nodes.indexOf(v), 1);
      }
    }

    // Service and bills over this tick.
    const billed = nodes.filter((n) => n.failsAt === undefined);
    const readyGpus = billed.filter((n) => n.readyAt <= now).length * gpusPerNode;
    if (!counted) continue;
    figures.peak_nodes = Math.max(figures.peak_nodes, billed.length);
    const wanted = decisions.map((d) => d.replicas);
    const share = Math.min(1, readyGpus / wanted.reduce((a, b) => a + b, 0));
    const servable = Math.min(...decisions.map((d) => Math.floor(d.replicas * share) * d.spec.streamsPerReplica));
    const hours = tickMs / (60 * minute);
    figures.unserved_room_minutes += (Math.max(0, rooms - servable) * tickMs) / minute;
    figures.gpu_hours += billed.length * gpusPerNode * hours;
    for (const n of billed)
      figures.cost += allLanes.find((l) => `${l.offering}/${l.capacityType}` === n.lane)!.price * hours;
  }
  return round(figures);
}

/**
 * The offline optimum: each tick, exactly the replicas the rooms need (no headroom) placed by the same cheapest-first
 * code on the capacity each cloud really has, every new node paid for 5 minutes (the mean boot) before it serves.
 */
function optimum(timeline: Map<number, number>): PolicyFigures {
  const figures = emptyFigures();
  let previous = new Map<string, number>();
  const hours = tickMs / (60 * minute);
  for (let now = nightStart - tickMs; now < nightEnd; now += tickMs) {
    const rooms = timeline.get(now)!;
    const exact = pools.map((spec) => ({ spec, replicas: Math.ceil(rooms / spec.streamsPerReplica) }));
    const lanes: Lane[] = offerings.flatMap((o) =>
      lanesOf(o).map((l) => ({
        offering: o.name,
        capacityType: l.capacityType,
        gpuType: "L4",
        gpusPerNode,
        pricePerHour: l.price,
        preference: 0,
        maxNodes: Math.min(o.maxNodes, o.physicalNodes),
        available: true,
        readyNodes: 0,
        desiredNodes: 0,
        busyNodes: 0,
      })),
    );
    const placed = placeNodes(gpuDemand(exact), lanes);
    if (now < nightStart) {
      previous = placed;
      continue;
    }
    let count = 0;
    for (const lane of lanes) {
      const n = placed.get(laneKey(lane)) ?? 0;
      const started = Math.max(0, n - (previous.get(laneKey(lane)) ?? 0));
      count += n;
      figures.cost += lane.pricePerHour * (n * hours + (started * 5) / 60);
      figures.gpu_hours += gpusPerNode * (n * hours + (started * 5) / 60);
    }
    figures.peak_nodes = Math.max(figures.peak_nodes, count);
    previous = placed;
  }
  return round(figures);
}

function round(f: PolicyFigures): PolicyFigures {
  return {
    ...f,
    unserved_room_minutes: Math.round(f.unserved_room_minutes),
    gpu_hours: Math.round(f.gpu_hours * 10) / 10,
    cost: Math.round(f.cost * 100) / 100,
  };
}

export async function run({ log }: BenchContext): Promise<Record<string, unknown>> {
  const seed = Number(process.env.LIVEHOST_AUTOSCALE_SEED ?? 20261111);
  const peak = compilePeak({
    start: new Date(eventStart).toISOString(),
    expectedRooms: 5000,
    rampSeconds: 600,
    durationSeconds: (eventEnd - eventStart) / 1000,
    streamsPerRoom: { tts: 1, lipsync: 1 },
    warmupSeconds: 180,
  });
  log("18:00-24:00 in 15 s steps: reactive, operator, offline optimum");
  const timeline = roomsTimeline(seed);
  const reactive = simulate([], timeline, seed);
  const operator = simulate([peak], timeline, seed);
  const best = optimum(timeline);
  await Promise.resolve();
  return {
    reactive,
    operator,
    optimum: best,
    cost_ratio_vs_optimum: Math.round((operator.cost / best.cost) * 1000) / 1000,
    reactive_cost_ratio_vs_optimum: Math.round((reactive.cost / best.cost) * 1000) / 1000,
    seed,
  };
}

function emptyFigures(): PolicyFigures {
  return { unserved_room_minutes: 0, gpu_hours: 0, cost: 0, failovers: 0, peak_nodes: 0, spot_reclaims: 0 };
}
