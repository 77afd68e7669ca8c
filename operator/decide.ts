// The operator's decisions, as pure functions of what it observes (no I/O, no clock): streams needed per pool (the
// workers' streams, rooms on air and scheduled, LiveEvents), replicas per pool (headroom, cooldown, never below min,
// never removing a busy worker), GPU nodes per offering lane (ready nodes kept, new ones cheapest-first within quota
// and preference, spot where allowed) and the health of each lane (a lane that fails to deliver backs off and its
// demand moves on). The controller (through plan.ts), its tests and the autoscale benchmark all run this code: a pool
// is sized by planPool() and nothing else.
import type { CapacityType, LiveEventSpec, WorkerKindName, WorkerPoolSpec } from "./resources.js";
import { tierReserve, type Tier } from "../trust/index.js";

/** A scheduled peak, compiled: times in ms since the epoch. */
export interface ScheduledPeak {
  startMs: number;
  rampMs: number;
  endMs: number;
  expectedRooms: number;
  streamsPerRoom: Record<WorkerKindName, number>;
  /** Capacity for the peak is requested this much earlier than node boot alone requires. */
  warmupMs: number;
  /** How far the real peak may be from expectedRooms, as a fraction (0.3 = 30 %). */
  uncertainty: number;
}

export function compilePeak(spec: LiveEventSpec): ScheduledPeak {
  const startMs = Date.parse(spec.start);
  return {
    startMs,
    rampMs: spec.rampSeconds * 1000,
    endMs: startMs + spec.durationSeconds * 1000,
    expectedRooms: spec.expectedRooms,
    streamsPerRoom: spec.streamsPerRoom,
    warmupMs: spec.warmupSeconds * 1000,
    uncertainty: (spec.forecastErrorPercent ?? 0) / 100,
  };
}

/** Rooms a peak expects at time t: a linear ramp from start, then flat until the end. */
export function scheduledRooms(peak: ScheduledPeak, t: number): number {
  if (t < peak.startMs || t >= peak.endMs) return 0;
  if (peak.rampMs === 0 || t >= peak.startMs + peak.rampMs) return peak.expectedRooms;
  return Math.ceil((peak.expectedRooms * (t - peak.startMs)) / peak.rampMs);
}

/** Share of a peak's ramp after which the rooms on air tell how the peak is turning out. */
const rampEvidence = 0.3;

/** What a ramp's measured rise is trusted to within: the peak it points to is taken this much higher. */
const rampRiseMargin = 0.1;

/**
 * True while a rise may be this peak's own ramp: from a warm-up before its start (it may come that early) to its ramp's
 * end a warm-up after its start (or that late), and the trend window after that.
 */
function mayBeRamping(peak: ScheduledPeak, now: number): boolean {
  return now >= peak.startMs - peak.warmupMs && now < peak.startMs + peak.warmupMs + peak.rampMs + trendWindowMs;
}

/**
 * The factor a peak's expected rooms are taken at now. Ahead of the event and early in its ramp, the upper end of
 * its forecast error (1 + uncertainty). Once the rooms rise as a ramp does (`rise`, rooms per ms, over the last 90 s),
 * the rise times the scheduled ramp's length tells the peak's size whenever the ramp started: the upper end goes down
 * to that (with a 10 % margin), never below the expected rooms on the rise alone. Once 30 % of the ramp has passed,
 * rooms above what the forecast expected by now raise it to their ratio (at most the upper end): more capacity is
 * always safe. Rooms below it lower it below 1 only once the scheduled ramp is over and the rooms have stopped rising,
 * at least half of the expected rooms came, and they are more than 10 % short: a peak that starts a few minutes late
 * looks smaller while it ramps, and one that has not come at all says nothing about its size. Rooms at the expected
 * peak where the schedule cannot tell yet, or far above what it expects by now, are a peak that came early: once they
 * stop rising they are its size (arrivedSize); while they rise (an early ramp, a flash crowd) the upper end stays. Past
 * the window in which the peak may still be starting, rooms that fall below 90 % of it are the peak leaving (`falling`):
 * it is taken at what is left, not at the upper end a peak that never came keeps.
 */
export function peakFactor(
  peak: ScheduledPeak,
  roomsOnAir: number,
  now: number,
  rise = 0,
  rising = rise > 0,
  falling = false,
): number {
  const high = 1 + peak.uncertainty;
  const low = Math.max(1 - peak.uncertainty, 0.5);
  // A ramp's rise, measured: rooms per ms over the ramp's length is the rooms it brings. A rise too small for the
  // forecast's lower end is not the ramp (noise, or rooms of their own): it says nothing.
  const pointsTo = peak.rampMs > 0 && mayBeRamping(peak, now) ? (rise * peak.rampMs) / peak.expectedRooms : 0;
  const fromRise = pointsTo >= low - 0.1 ? Math.min(high, Math.max(low, pointsTo + rampRiseMargin)) : undefined;
  if (now >= peak.endMs) return high;
  const come = arrivedSize(peak, roomsOnAir, now, rising);
  const early = come === undefined ? high : Math.min(high, come);
  if (now < peak.startMs + peak.rampMs * rampEvidence) return fromRise ?? early;
  const expectedNow = scheduledRooms(peak, now);
  if (expectedNow <= 0) return fromRise ?? early;
  const ratio = roomsOnAir / expectedNow;
  if (ratio >= 1) return ratio > high + 0.05 ? early : Math.min(high, Math.max(1, ratio, fromRise ?? 1));
  const settled = now >= peak.startMs + peak.rampMs && !rising;
  if (!settled) return fromRise ?? high;
  if (ratio >= 0.9) return 1;
  if (falling && !mayBeRamping(peak, now)) return ratio;
  return ratio < low - 0.05 ? high : Math.max(low, ratio);
}

/** Share of a peak's expected rooms on air, no longer rising, that tells the peak has come. */
const arrivedShare = 0.9;

/**
 * The size of a peak that came early: inside its window (from a warm-up before its start), rooms on air at 90 % of its
 * expected rooms or more that have stopped rising are the peak, and their ratio to the expected rooms (at least 1) is
 * its size. Used where the schedule cannot tell (before 30 % of its ramp) or expects far fewer rooms by now: the upper
 * end is a hedge for a peak still to come, and a peak that came early, flat at its expected size, kept it until the
 * schedule caught up (`early` in the festival simulation: 312 GPUs more from 20:01 to 20:08 for a peak that was there).
 * Not where the rooms are within the band of what the schedule expects by now: a big peak on time that pauses in its
 * ramp looks the same there. Undefined while the rooms rise or are short of that share, or before the window.
 */
function arrivedSize(peak: ScheduledPeak, roomsOnAir: number, now: number, rising: boolean): number | undefined {
  if (rising || now < peak.startMs - peak.warmupMs) return undefined;
  const ratio = roomsOnAir / peak.expectedRooms;
  return ratio >= arrivedShare ? Math.max(1, ratio) : undefined;
}

/**
 * True while a peak's own ramp may be the reason the load rises: its ramp as scheduled, or one that starts up to a
 * warm-up early or late, and the trend window after it.
 */
export const inScheduledRamp = (peaks: readonly ScheduledPeak[], now: number) =>
  peaks.some((p) => mayBeRamping(p, now));

/**
 * Streams a pool must be able to serve from now until a node requested now is Ready: the larger of the streams in
 * use and the most any scheduled peak expects over [now, now + boot time + the peak's warm-up], each peak taken at
 * its factor (peakFactor). The margin above the expected rooms (the upper end of the forecast error) is asked for a
 * lead time ahead of when it would be needed, not a warm-up earlier: the warm-up is for a peak that comes early, and
 * an early peak does not come bigger too.
 */
export function streamsNeeded(
  kind: WorkerKindName,
  liveStreams: number,
  peaks: readonly ScheduledPeak[],
  now: number,
  bootMs: number,
  /** The steady rise of the streams in use (streams per ms, risePerMs), 0 when they are not rising steadily. */
  rise = 0,
  /** The streams in use are rising at all (a ramp still under way is not over). */
  rising = rise > 0,
  /** The streams in use are falling (fallingNow): rooms leaving. */
  falling = false,
): number {
  let needed = liveStreams;
  for (const peak of peaks) {
    const perRoom = peak.streamsPerRoom[kind];
    if (perRoom === 0) continue;
    const factor = peakFactor(peak, liveStreams / perRoom, now, rise / perRoom, rising, falling);
    const most = (horizon: number, f: number) => {
      // The expected rooms are piecewise linear: their maximum over the window is at an end or a corner.
      const probes = [now, horizon, peak.startMs + peak.rampMs, peak.endMs - 1].filter((t) => t >= now && t <= horizon);
      for (const t of probes) needed = Math.max(needed, Math.ceil(scheduledRooms(peak, t) * f) * perRoom);
    };
    most(now + bootMs + peak.warmupMs, Math.min(1, factor));
    most(now + bootMs, factor);
  }
  return needed;
}

/** Streams in use as the loop saw them at one pass. */
export interface Observation {
  at: number;
  streams: number;
}

/**
 * How far back the trend looks, how much of a rise counts as one (per minute, as a share of the streams), and how far
 * ahead a rise is carried at most (a crowd builds for minutes, not for a whole node lead time).
 */
const trendWindowMs = 120_000;
const trendMinRisePerMinute = 0.01;
const trendHorizonMs = 300_000;

/**
 * Streams expected once a node asked for now is serving, from the trend of the last two minutes: a rise steeper than
 * 1 % a minute in each of the last two 45-second spans, or a surge (3 % a minute in each of the last two 15-second
 * spans), is carried forward over the lead time, five minutes at most (a flash crowd no forecast saw is met while it
 * builds, not a lead time after). A step (rooms started at once, then flat) is not a trend; a flat or falling load
 * gives the streams in use.
 */
export function trendStreams(observed: readonly Observation[], liveStreams: number, now: number, leadMs: number) {
  const slope = Math.max(risePerMs(observed, liveStreams, now), surgePerMs(observed, liveStreams, now));
  return slope === 0 ? liveStreams : Math.ceil(liveStreams + slope * Math.min(leadMs, trendHorizonMs));
}

/**
 * The rise of the last two 45-second spans (streams per ms), or 0 when the load is not rising by a trend's measure.
 * `steady`: the pace of a ramp, measured: both spans at the same pace (within a quarter) give the slower; a rise that
 * is speeding up (just begun) is not measured yet (0); one that is slowing down while it still rises is a ramp ending,
 * and the first span's pace, before it bent, is the ramp's (the slower span would point to a smaller peak than the
 * one that came, and no measure at all to the forecast's upper end for the minute the ramp takes to end).
 */
export function risePerMs(observed: readonly Observation[], liveStreams: number, now: number, steady = false): number {
  const rates = spanRates(observed, liveStreams, now, 45_000, trendWindowMs);
  if (!rates) return 0;
  const { first, second } = rates;
  const slope = Math.min(first, second);
  if (slope * 60_000 <= trendMinRisePerMinute * Math.max(1, liveStreams)) return 0;
  if (!steady || Math.abs(first - second) <= 0.25 * Math.max(first, second)) return slope;
  return second < first ? first : 0;
}

/**
 * True when the streams fell by more than a trend's measure (1 % a minute) in each of the last two 45-second spans:
 * rooms leaving, not the noise of rooms that come and go.
 */
export function fallingNow(observed: readonly Observation[], liveStreams: number, now: number): boolean {
  const rates = spanRates(observed, liveStreams, now, 45_000, trendWindowMs);
  if (!rates) return false;
  return Math.max(rates.first, rates.second) * 60_000 < -trendMinRisePerMinute * Math.max(1, liveStreams);
}

/**
 * The rise (streams per ms) over each of the two spans of `span` ms that end now, from the last observations at or
 * before their starts; undefined without two such observations, the older at most `maxAgeMs` old.
 */
function spanRates(observed: readonly Observation[], liveStreams: number, now: number, span: number, maxAgeMs: number) {
  const at = (t: number) => {
    let found: Observation | undefined;
    for (const o of observed) if (o.at <= t && (!found || o.at > found.at)) found = o;
    return found;
  };
  const then = at(now - 2 * span);
  const mid = at(now - span);
  if (!then || !mid || then.at < now - maxAgeMs || mid.at <= then.at) return undefined;
  return {
    first: (mid.streams - then.streams) / (mid.at - then.at),
    second: (liveStreams - mid.streams) / Math.max(1, now - mid.at),
  };
}

/**
 * A rise this steep (per minute, as a share of the streams) in each of the last two 15-second spans is a surge: rooms
 * that come and go on their own move the count by well under 1 % a minute.
 */
const surgeMinRisePerMinute = 0.03;

/**
 * The rise of the last 30 seconds (streams per ms) when it is a surge, at least 3 % a minute in each of its two
 * 15-second halves, else 0: a crowd no forecast saw is met from its first half minute, not after two 45-second
 * spans. A step (rooms started at once) rises in one half only and is not a surge.
 */
export function surgePerMs(observed: readonly Observation[], liveStreams: number, now: number): number {
  const rates = spanRates(observed, liveStreams, now, 15_000, 45_000);
  if (!rates) return 0;
  const slope = Math.min(rates.first, rates.second);
  return slope * 60_000 < surgeMinRisePerMinute * Math.max(1, liveStreams) ? 0 : slope;
}

/**
 * A rise this steep (per minute, as a share of the streams) in the last 15-second span alone is a jump: twice a
 * surge's pace, far past what rooms that come and go on their own do in 15 seconds.
 */
const jumpMinRisePerMinute = 0.06;

/**
 * The rise of the last 15-second span (streams per ms) when it is a jump, at least 6 % a minute, else 0. It may be a
 * surge's first span or a step (rooms started at once): planPool asks for it carried forward as a surge's would be
 * for this pass only, and does not hold it for the cooldown, so a surge is asked for one pass (15 s) sooner and a step
 * costs what its asks cost until the next pass lets them go (nodes still booting, not Ready ones).
 */
export function jumpPerMs(observed: readonly Observation[], liveStreams: number, now: number): number {
  const rates = spanRates(observed, liveStreams, now, 15_000, 45_000);
  if (!rates) return 0;
  return rates.second * 60_000 < jumpMinRisePerMinute * Math.max(1, liveStreams) ? 0 : rates.second;
}

/** A room with a schedule that is not on air yet: it will need workers from startMs (ms since the epoch). */
export interface ScheduledRoom {
  startMs: number;
  /** When it ends by itself; Infinity when it runs until stopped. */
  endMs: number;
  /** Its tenant's tier; none: it competes for workers without leaving a share (as gold). */
  tier?: Tier;
}

/** The room directory as the operator last saw it. */
export interface RoomsSeen {
  /** Rooms WARMING, LIVE or PAUSED now. */
  onAir: number;
  /** Of those, the silver and bronze ones (the rest are gold or were told no tier). */
  onAirByTier?: { silver: number; bronze: number };
  scheduled: readonly ScheduledRoom[];
}

/** Every room on air speaks through one TTS stream and one lip-sync stream. */
export const streamsPerRoom: Record<WorkerKindName, number> = { tts: 1, lipsync: 1 };

/**
 * Rooms that need workers by the end of [now, now + leadMs]: those on air now, plus those scheduled to start by
 * then and not already past their end. Rooms on air are assumed to stay on air over the window (they may be stopped
 * early; the scale-down cooldown covers the other way).
 */
export function roomsNeeded(rooms: RoomsSeen, now: number, leadMs: number): number {
  const horizon = now + leadMs;
  const silver = rooms.onAirByTier?.silver ?? 0;
  const bronze = rooms.onAirByTier?.bronze ?? 0;
  const count = { gold: rooms.onAir - silver - bronze, silver, bronze };
  for (const room of rooms.scheduled) {
    if (room.startMs <= horizon && room.endMs > now) count[room.tier ?? "gold"]++;
  }
  return roomsServingEveryTier(count);
}

/**
 * The rooms' worth of streams a pool needs so that every room is served while each lower tier still leaves its share
 * of the pool to the tiers above (tierReserve, as rooms pick workers): silver rooms are served while the pool is at
 * most 90 % busy, bronze ones while at most 70 %. With only gold (or untiered) rooms it is their count.
 */
export function roomsServingEveryTier(count: Record<Tier, number>): number {
  const { gold, silver, bronze } = count;
  let needed = gold;
  if (silver > 0) needed = Math.max(needed, (gold + silver) / (1 - tierReserve.silver));
  if (bronze > 0) needed = Math.max(needed, (gold + silver + bronze) / (1 - tierReserve.bronze));
  return needed;
}

/** Replicas that serve `streams` with the pool's headroom, within [min, max]. */
export function replicasFor(spec: WorkerPoolSpec, streams: number): number {
  const withHeadroom = Math.ceil((streams * (100 + spec.headroomPercent)) / 100);
  const replicas = Math.ceil(withHeadroom / spec.streamsPerReplica);
  return Math.min(spec.maxReplicas, Math.max(spec.minReplicas, replicas));
}

export interface Recommendation {
  at: number;
  replicas: number;
}

/**
 * Scale-down stabilization (as the HorizontalPodAutoscaler does it): the pool follows a rise at once, and a fall only
 * to the highest recommendation of the last cooldown window, so a dip does not remove capacity needed a minute later.
 */
export function stabilize(history: readonly Recommendation[], now: number, cooldownMs: number, next: number): number {
  let replicas = next;
  for (const r of history) if (r.at > now - cooldownMs) replicas = Math.max(replicas, r.replicas);
  return replicas;
}

/** A worker replica as the operator sees it: its pod and the streams it carries (from its announcements). */
export interface WorkerReplica {
  pod: string;
  activeStreams: number;
  /** Serving (announced READY); a pod still starting carries no stream. */
  ready: boolean;
}

export interface ReplicaPlan {
  replicas: number;
  /** Pods to remove first (ordered): idle ones, those not yet serving before those serving. */
  removeFirst: string[];
  /** Pods kept because they carry streams although the target is lower. */
  heldBusy: number;
}

/**
 * Replicas to set from the current ones and the target: up at once; down only by as many idle replicas as there are,
 * never removing one that carries a stream (those drain when their rooms end and go in a later pass).
 */
export function planReplicas(current: number, target: number, workers: readonly WorkerReplica[]): ReplicaPlan {
  if (target >= current) return { replicas: target, removeFirst: [], heldBusy: 0 };
  const idle = workers
    .filter((w) => w.activeStreams === 0)
    .sort((a, b) => Number(a.ready) - Number(b.ready) || a.pod.localeCompare(b.pod));
  // Pods beyond the current replicas are being removed by the ReplicaSet already (the idle ones, marked first):
  // they must not be counted again, or a second pass would remove a busy one.
  const going = Math.max(0, workers.length - current);
  const idleLeft = Math.max(0, idle.length - going);
  // Pods the operator has not heard from yet (starting) are idle too: the ReplicaSet removes those first.
  const silent = Math.max(0, current - workers.length);
  const removable = Math.min(current - target, idleLeft + silent);
  return {
    replicas: current - removable,
    removeFirst: idle.slice(0, Math.min(idle.length, going + Math.max(0, removable - silent))).map((w) => w.pod),
    heldBusy: current - target - removable,
  };
}

/** Desired replicas for one pool, with the reasons a person reading the status needs. */
export interface PoolDecision {
  /** The recommendations to pass as the next pass's `history`: this one added, those past the cooldown dropped. */
  history: Recommendation[];
  streamsNeeded: number;
  /** Streams the room directory's rooms need (on air and starting within the look-ahead); 0 without a directory. */
  roomStreams: number;
  recommended: number;
  target: number;
  plan: ReplicaPlan;
  reason: "ScaledUp" | "ScaledDown" | "Steady" | "HeldForCooldown" | "HeldForActiveStreams";
}

export interface PoolInput {
  spec: WorkerPoolSpec;
  currentReplicas: number;
  liveStreams: number;
  workers: readonly WorkerReplica[];
  peaks: readonly ScheduledPeak[];
  /**
   * How long a node asked for now takes to serve: the longest expected node boot among the offerings of the pool's GPU
   * type, or the lead time measured from the pool's own nodes and pods (boot, image pull, model load) where longer.
   */
  bootMs: number;
  /** Rooms from the room directory, when it is reachable: they need streams from now until bootMs + roomWarmupMs. */
  rooms?: RoomsSeen;
  /** How long before a scheduled room starts its capacity must be up, on top of node boot (default 0). */
  roomWarmupMs?: number;
  history: readonly Recommendation[];
  /** The streams in use at earlier passes (the returned `observed`), for the trend; none: no trend is followed. */
  observed?: readonly Observation[];
  now: number;
}

/** Desired replicas for one pool, with the reasons a person reading the status needs. */
export interface PoolDecision {
  /** The recommendations to pass as the next pass's `history`: this one added, those past the cooldown dropped. */
  history: Recommendation[];
  /** The streams seen, to pass as the next pass's `observed`. */
  observed: Observation[];
  streamsNeeded: number;
  /** Streams the room directory's rooms need (on air and starting within the look-ahead); 0 without a directory. */
  roomStreams: number;
  /**
   * Streams the trend of the last two minutes (or a jump in the last 15 s, jumpPerMs) expects by the time new capacity
   * serves (the streams in use if flat).
   */
  trendStreams: number;
  recommended: number;
  /**
   * Replicas for what the pool carries now and by the trend, with headroom (not what only a forecast asks for, nor the
   * pool's minimum): needed at once.
   */
  urgentReplicas: number;
  target: number;
  plan: ReplicaPlan;
  reason: "ScaledUp" | "ScaledDown" | "Steady" | "HeldForCooldown" | "HeldForActiveStreams";
}

/**
 * How long after a scheduled peak's end, and with what cooldown, a pool follows its rooms down. The same cooldown holds
 * while the streams fall steadily (fallingNow: more than 1 % a minute in each of the last two 45-second spans): rooms
 * leaving, not a dip. A flash crowd that leaves was held five minutes at its size, then followed down.
 */
const afterPeakMs = 3_600_000;
const afterPeakCooldownMs = 60_000;

/** Recommendations remembered per pool at most (the cooldown window bounds them first at any sane pass rate). */
const maxHistory = 1000;

/**
 * Sizes one pool for this pass; pass the returned `history` and `observed` to the next pass's input.
 *
 * What the pool carries (streams in use, rooms on air and starting soon, the trend) is held for the scale-down
 * cooldown, so a dip does not remove capacity needed a minute later. What only a forecast asks for (a LiveEvent's peak
 * ahead) is not: when the rooms show the peak smaller than the forecast's upper end, that capacity goes at once.
 */
export function planPool(input: PoolInput): PoolDecision {
  const { spec, currentReplicas, now } = input;
  // Streams that workers carry belong to rooms on air: the larger of the two counts them once.
  const roomStreams = input.rooms
    ? roomsNeeded(input.rooms, now, input.bootMs + (input.roomWarmupMs ?? 0)) * streamsPerRoom[spec.kind]
    : 0;
  const observed = input.observed
    ? [...input.observed, { at: now, streams: input.liveStreams }].filter((o) => o.at > now - trendWindowMs)
    : [];
  // A rise a scheduled peak's ramp explains is the forecast's to meet; the trend is for rises nobody announced.
  const trend =
    input.observed && !inScheduledRamp(input.peaks, now)
      ? trendStreams(observed, input.liveStreams, now, input.bootMs)
      : input.liveStreams;
  // A jump in the last span alone (jumpPerMs), where no trend is seen yet, is asked for carried forward this pass but
  // not held: the next pass tells a surge (a trend then, held) from a step (flat then, its asks let go).
  const jump =
    input.observed && !inScheduledRamp(input.peaks, now) && trend === input.liveStreams
      ? Math.ceil(
          input.liveStreams + jumpPerMs(observed, input.liveStreams, now) * Math.min(input.bootMs, trendHorizonMs),
        )
      : input.liveStreams;
  const held = Math.max(roomStreams, trend);
  const carried = Math.max(held, jump);
  // The forecast reads a peak's size from a rise only once it is steady; any rise keeps a ramp from counting as over.
  const rise = input.observed ? risePerMs(observed, input.liveStreams, now, true) : 0;
  const rising = input.observed !== undefined && risePerMs(observed, input.liveStreams, now) > 0;
  const falling = input.observed !== undefined && fallingNow(observed, input.liveStreams, now);
  const forecast = streamsNeeded(spec.kind, input.liveStreams, input.peaks, now, input.bootMs, rise, rising, falling);
  const needed = Math.max(carried, forecast);
  const recommendedCarried = replicasFor(spec, carried);
  const recommended = replicasFor(spec, needed);
  // After a scheduled peak's end its rooms leave for good: the pool follows them down within a minute.
  const afterPeak = input.peaks.some((p) => now >= p.endMs && now < p.endMs + afterPeakMs);
  // So do rooms leaving at a steady pace (falling), whatever brought them: a crowd no forecast saw leaves the same way.
  const cooldownMs = Math.min(
    spec.scaleDownCooldownSeconds * 1000,
    afterPeak || falling ? afterPeakCooldownMs : Infinity,
  );
  const target = Math.max(recommended, stabilize(input.history, now, cooldownMs, recommendedCarried));
  const plan = planReplicas(currentReplicas, target, input.workers);
  const reason =
    plan.replicas > currentReplicas
      ? "ScaledUp"
      : plan.replicas < currentReplicas
        ? "ScaledDown"
        : plan.heldBusy > 0
          ? "HeldForActiveStreams"
          : target > recommended
            ? "HeldForCooldown"
            : "Steady";
  const history = [...input.history, { at: now, replicas: replicasFor(spec, held) }]
    .filter((r) => r.at > now - cooldownMs)
    .slice(-maxHistory);
  return {
    streamsNeeded: needed,
    roomStreams,
    trendStreams: Math.max(trend, jump),
    recommended,
    urgentReplicas: replicasFor({ ...spec, minReplicas: 0 }, carried),
    target,
    plan,
    reason,
    history,
    observed,
  };
}

/** One capacity type of one offering: where GPU nodes come from. */
export interface Lane {
  offering: string;
  capacityType: CapacityType;
  gpuType: string;
  gpusPerNode: number;
  pricePerHour: number;
  preference: number;
  /** The offering's quota, shared by its on-demand and spot lanes. */
  maxNodes: number;
  available: boolean;
  readyNodes: number;
  /** Nodes asked for now (Ready or on their way). */
  desiredNodes: number;
  /**
   * Of those, the ones the cloud has accepted (Ready, or launched and still booting: a NodeClaim Launched, a Machine
   * provisioned). A lane that runs out keeps them: only its asks beyond them move on. Undefined: only Ready ones count.
   */
  launchedNodes?: number;
  /** Nodes carrying an active stream: never removed. */
  busyNodes: number;
  /** New nodes it may be asked for now; a lane back from a failure is probed with one before it gets more. */
  newNodeLimit?: number;
  /**
   * Its nodes are about to be taken back (spot interruption notices in a burst): they keep serving while still
   * needed, but count for nothing, so their replacements are asked for elsewhere now.
   */
  draining?: boolean;
}

export const laneKey = (lane: Pick<Lane, "offering" | "capacityType">) => `${lane.offering}/${lane.capacityType}`;

export interface GpuDemand {
  gpuType: string;
  gpus: number;
  /** How many of those GPUs may be spot (pools that allow it, up to their maxFraction). */
  spotGpus: number;
  /**
   * Of those GPUs, the ones needed at once: the streams in use and the trend's, not a forecast's (undefined: none
   * are told apart). While fewer are Ready, the shortfall is asked for twice over (urgentOverAsk).
   */
  urgentGpus?: number;
}

/**
 * How many extra GPUs a shortfall of GPUs needed at once is asked for, as a share of it. Nodes take 3 to 11 minutes
 * from ask to serving, one differently from the next: asked for twice over, the shortfall is met by the first half to
 * come up (about the median lead instead of the slowest), and those still booting then are let go (placeNodes asks
 * only for the demand again), paid for the minutes they booted. In the festival simulation it takes a flash crowd's
 * unserved room-minutes down by 7 % and costs no more over the night (operator/README.md, "The benchmark").
 */
export const urgentOverAsk = 1;

/**
 * A shortfall of GPUs needed at once this large a share of them (a surge or a jump carried forward: the capacity is far
 * short of what the next minutes need, not a node or two to replace) is asked for three times over instead
 * (surgeOverAsk extra): the first third to come up meets it, nearer the fastest lead. The extra nodes are let go as the
 * Ready ones cover the shortfall, and once it is under this share the ask is twice over again, so the third share is
 * paid for a few minutes at the start of a surge only. In the festival simulation a flash crowd's unserved
 * room-minutes go down by 8 % (4,916 to 4,502 over 32 draws) for 0.012 of the bound, which following a crowd down
 * when it leaves (afterPeakCooldownMs) more than pays for (operator/README.md, "The benchmark").
 */
export const surgeShortfallShare = 0.3;
export const surgeOverAsk = 2;

/**
 * GPUs needed at once (the demand's urgentGpus) that no Ready node gives: what placeNodes asks for twice over while it
 * lasts. A draining lane's Ready nodes count: they serve now (those under notice are not Ready), and their replacements
 * are asked for elsewhere once; a node that gets its notice leaves the Ready count, and its replacement is then asked
 * for twice over (a draining lane's nodes counted as short asked for all its nodes twice at the burst).
 */
export function urgentShortfall(demand: GpuDemand, lanes: readonly Lane[]): number {
  let ready = 0;
  for (const l of lanes) if (l.gpuType === demand.gpuType) ready += l.readyNodes * l.gpusPerNode;
  return Math.max(0, (demand.urgentGpus ?? 0) - ready);
}

/** GPUs per type the pools' replicas need, and how many of them may be on spot. */
export function gpuDemand(
  pools: readonly { spec: WorkerPoolSpec; replicas: number; urgentReplicas?: number }[],
): GpuDemand[] {
  const byType = new Map<string, GpuDemand>();
  for (const { spec, replicas, urgentReplicas } of pools) {
    const demand = byType.get(spec.gpu.type) ?? { gpuType: spec.gpu.type, gpus: 0, spotGpus: 0 };
    const gpus = replicas * spec.gpu.count;
    demand.gpus += gpus;
    if (urgentReplicas !== undefined)
      demand.urgentGpus = (demand.urgentGpus ?? 0) + Math.min(replicas, urgentReplicas) * spec.gpu.count;
    if (spec.spot.allowed) demand.spotGpus += Math.floor(gpus * spec.spot.maxFraction);
    byType.set(spec.gpu.type, demand);
  }
  return [...byType.values()];
}

const cheapestFirst = (a: Lane, b: Lane) =>
  a.preference - b.preference || a.pricePerHour / a.gpusPerNode - b.pricePerHour / b.gpusPerNode;

/**
 * Desired nodes per lane (by laneKey). Three passes over the lanes of each GPU type, cheapest first within a
 * preference: keep Ready nodes that are still needed, then nodes already on their way in lanes still available, then
 * ask for new ones within quota. Spot lanes take at most the demand's spot share. A lane never goes below the nodes
 * carrying streams, and a lane that is unavailable keeps only its Ready nodes, so its pending demand moves on. While
 * GPUs needed at once are short of Ready ones, the shortfall is asked for twice over (urgentOverAsk).
 */
export function placeNodes(demands: readonly GpuDemand[], lanes: readonly Lane[]): Map<string, number> {
  const desired = new Map<string, number>(lanes.map((l) => [laneKey(l), l.draining ? 0 : l.busyNodes]));
  const usedByOffering = new Map<string, number>();
  for (const l of lanes) usedByOffering.set(l.offering, (usedByOffering.get(l.offering) ?? 0) + l.busyNodes);
  for (const demand of demands) {
    const typed = lanes.filter((l) => l.gpuType === demand.gpuType).sort(cheapestFirst);
    const counted = typed.filter((l) => !l.draining);
    // A shortfall of GPUs needed at once is asked for twice over while it lasts (urgentOverAsk), three times over while
    // it is a large share of them (a surge: surgeOverAsk).
    const shortfall = urgentShortfall(demand, typed);
    const overAsk = shortfall >= surgeShortfallShare * demand.urgentGpus! ? surgeOverAsk : urgentOverAsk;
    let remaining = shortfall > 0 ? Math.max(demand.gpus, demand.urgentGpus! + shortfall * overAsk) : demand.gpus;
    let spotLeft = demand.spotGpus;
    for (const l of counted) {
      if (l.busyNodes === 0) continue;
      remaining -= l.busyNodes * l.gpusPerNode;
      if (l.capacityType === "spot") spotLeft -= l.busyNodes * l.gpusPerNode;
    }
    const take = (l: Lane, upTo: number) => {
      if (remaining <= 0) return;
      const key = laneKey(l);
      const have = desired.get(key)!;
      const quotaLeft = l.maxNodes - (usedByOffering.get(l.offering) ?? 0);
      const gpuRoom = l.capacityType === "spot" ? Math.min(remaining, spotLeft) : remaining;
      const nodes = Math.max(0, Math.min(upTo - have, Math.ceil(gpuRoom / l.gpusPerNode), quotaLeft));
      if (nodes === 0 || gpuRoom <= 0) return;
      desired.set(key, have + nodes);
      usedByOffering.set(l.offering, (usedByOffering.get(l.offering) ?? 0) + nodes);
      remaining -= nodes * l.gpusPerNode;
      if (l.capacityType === "spot") spotLeft -= nodes * l.gpusPerNode;
    };
    for (const l of counted) take(l, l.readyNodes);
    // A lane that ran out still delivers what its cloud accepted before: those nodes are minutes closer to serving
    // than any asked for elsewhere now.
    for (const l of counted) take(l, l.available ? l.desiredNodes : Math.max(l.readyNodes, l.launchedNodes ?? 0));
    for (const l of counted) if (l.available) take(l, l.desiredNodes + (l.newNodeLimit ?? Number.MAX_SAFE_INTEGER));
    // Draining lanes keep their Ready nodes (those without a notice): they count for nothing while the lane drains,
    // its demand placed elsewhere, but most of a storm's spot nodes are not taken back, and once the lane is back
    // they are its cheapest capacity again (the dearer replacements then go). Cutting them as soon as the replacements
    // were Ready left rooms unserved while those loaded, and paid on-demand for the rest of the night.
    for (const l of typed) if (l.draining) desired.set(laneKey(l), Math.max(l.busyNodes, l.readyNodes));
  }
  return desired;
}

/** What the operator remembers about a lane between reconciles (kept in the offering's status). */
export interface LaneHealth {
  failures: number;
  /** ms since the epoch; the lane is skipped before then. */
  unavailableUntil: number;
  /**
   * Since when the lane has been waiting for the nodes asked for by then (waitingFor); undefined when it had enough.
   * Once they are all Ready the clock restarts for those asked since.
   */
  waitingSince: number | undefined;
  /** The nodes asked for at waitingSince: the lane has delivered them when it has this many Ready. */
  waitingFor?: number;
  message: string;
  /** The last failure was a burst of spot interruption notices: the lane's nodes are expected to go (draining). */
  interrupted?: boolean;
  /** When the lane last failed (ms): notices before then were counted in that failure. */
  failedAt?: number;
  /**
   * Nodes the lane held when its cloud last ran out (a capacity error or a provisioning timeout): what it is known to
   * deliver. Past it the lane is asked for one node at a time (a probe) until one comes, for ceilingMemoryMs.
   */
  ceiling?: { nodes: number; at: number };
}

/** How long a lane's known ceiling holds: a cloud's spare GPUs come back over hours, not within a festival evening. */
export const ceilingMemoryMs = 4 * 3_600_000;

export const healthyLane = (): LaneHealth => ({
  failures: 0,
  unavailableUntil: 0,
  waitingSince: undefined,
  message: "",
});

export interface LaneObservation {
  desiredNodes: number;
  readyNodes: number;
  /** A quota or capacity error reported by the node-provisioning engine, if any. */
  capacityError: string | undefined;
  /** Spot interruption notices on the lane's nodes over the last 10 minutes, since its last failure. */
  interruptions?: number;
  /** When the lane's latest interruption notice was first seen (ms), if any. */
  lastNoticeAt?: number;
}

/** Notices within 10 minutes that make a spot lane's market judged failing, its other nodes replaced ahead. */
export const interruptionBurst = 3;

/**
 * How long a lane failed by a burst of notices has had no new one when its nodes left are taken to stay: they count
 * again (it still gets no new node until its backoff ends), and the replacements asked for them elsewhere go. A storm's
 * notices come seconds apart; five minutes without one (two and a half notice periods) is a storm that has passed.
 */
export const noticesQuietMs = 5 * 60_000;

export interface BackoffSettings {
  baseMs: number;
  maxMs: number;
}

export const defaultBackoff: BackoffSettings = { baseMs: 120_000, maxMs: 1_800_000 };

export interface LaneVerdict {
  health: LaneHealth;
  available: boolean;
  /**
   * New nodes to ask of it now: one while it has failures it has not yet recovered from (a probe); up to its known
   * ceiling and one past it when it ran out before (LaneHealth.ceiling); else no limit.
   */
  newNodeLimit: number | undefined;
  /** True when this observation turned the lane unavailable (a failover to count and explain). */
  failedNow: boolean;
  /**
   * Its nodes are expected to be taken back (a burst of notices, the latest less than noticesQuietMs ago): they count
   * for nothing, so their replacements are asked for elsewhere (Lane.draining).
   */
  draining: boolean;
}

/**
 * Updates a lane's health: a capacity error, or nodes asked for and not Ready within the offering's timeout, marks it
 * unavailable for an exponential backoff; a lane that delivers everything it was asked for is healthy again.
 */
export function judgeLane(
  health: LaneHealth,
  seen: LaneObservation,
  now: number,
  provisionTimeoutMs: number,
  backoff: BackoffSettings = defaultBackoff,
): LaneVerdict {
  if (now < health.unavailableUntil) {
    const quiet = seen.lastNoticeAt === undefined || now - seen.lastNoticeAt >= noticesQuietMs;
    return {
      health,
      available: false,
      newNodeLimit: 0,
      failedNow: false,
      draining: health.interrupted === true && !quiet,
    };
  }
  // A ceiling is forgotten ceilingMemoryMs after the lane ran out; one it has grown past is raised to what it holds.
  let ceiling = health.ceiling && now - health.ceiling.at < ceilingMemoryMs ? health.ceiling : undefined;
  if (ceiling && seen.readyNodes > ceiling.nodes) ceiling = { nodes: seen.readyNodes, at: ceiling.at };
  const withCeiling = (h: LaneHealth): LaneHealth => {
    const { ceiling: _, ...rest } = h;
    return ceiling ? { ...rest, ceiling } : rest;
  };
  const limit = (failures: number) => {
    const probing = probe(failures);
    if (probing !== undefined || !ceiling) return probing;
    return Math.max(0, ceiling.nodes + 1 - seen.desiredNodes);
  };
  if ((seen.interruptions ?? 0) >= interruptionBurst) {
    const failures = health.failures + 1;
    return {
      health: withCeiling({
        failures,
        unavailableUntil: now + Math.min(backoff.maxMs, backoff.baseMs * 2 ** (failures - 1)),
        waitingSince: undefined,
        message: `${seen.interruptions} spot interruption notices in 10 minutes`,
        interrupted: true,
        failedAt: now,
      }),
      available: false,
      newNodeLimit: 0,
      failedNow: true,
      draining: true,
    };
  }
  const short = seen.desiredNodes > seen.readyNodes;
  if (!short) {
    // A lane that delivered what it was waiting for has recovered; one that was only asked for its Ready nodes has
    // proved nothing and keeps its failure count, so the next failure backs off longer.
    const failures = health.waitingSince === undefined ? health.failures : 0;
    return {
      health: withCeiling({ ...healthyLane(), failures }),
      available: true,
      newNodeLimit: limit(failures),
      failedNow: false,
      draining: false,
    };
  }
  // A lane asked for more all through a long ramp is short for longer than its timeout while it delivers: it has
  // failed only when the nodes asked for by some moment are not all Ready a timeout later (nodes come in the order
  // they were asked for, one boot time each; a lane that delivers a trickle of what it was asked still fails).
  const delivered = health.waitingSince !== undefined && seen.readyNodes >= (health.waitingFor ?? Infinity);
  const waitingSince = health.waitingSince === undefined || delivered ? now : health.waitingSince;
  const waitingFor = waitingSince === now ? seen.desiredNodes : health.waitingFor;
  const timedOut = now - waitingSince >= provisionTimeoutMs;
  if (seen.capacityError === undefined && !timedOut) {
    return {
      health: withCeiling({ ...health, waitingSince, ...(waitingFor === undefined ? {} : { waitingFor }) }),
      available: true,
      newNodeLimit: limit(health.failures),
      failedNow: false,
      draining: false,
    };
  }
  const failures = health.failures + 1;
  const message =
    seen.capacityError ??
    `${seen.desiredNodes - seen.readyNodes} node(s) not Ready after ${Math.round(provisionTimeoutMs / 1000)}s`;
  const delay = Math.min(backoff.maxMs, backoff.baseMs * 2 ** (failures - 1));
  // What it holds now is what its cloud delivers: asked for more, it ran out.
  ceiling = { nodes: seen.readyNodes, at: now };
  return {
    health: withCeiling({ failures, unavailableUntil: now + delay, waitingSince: undefined, message, failedAt: now }),
    available: false,
    newNodeLimit: 0,
    failedNow: true,
    draining: false,
  };
}

const probe = (failures: number) => (failures > 0 ? 1 : undefined);

/** Idle nodes to let go when a lane shrinks: those not Ready first, never one carrying a stream. */
export function pickNodesToRemove(nodes: readonly { name: string; ready: boolean; busy: boolean }[], count: number) {
  return nodes
    .filter((n) => !n.busy)
    .sort((a, b) => Number(a.ready) - Number(b.ready) || a.name.localeCompare(b.name))
    .slice(0, Math.max(0, count))
    .map((n) => n.name);
}

/** How the onboarding job workers are sized (compiled from `--job-workers-*`). */
export interface JobWorkerBounds {
  minReplicas: number;
  maxReplicas: number;
  /** Jobs one worker runs at once: a job worker runs one. */
  jobsPerWorker: number;
  /** A fall in jobs is followed only to the highest recommendation of this window (jobs come in bursts). */
  scaleDownDelayMs: number;
}

export interface JobWorkerInput extends JobWorkerBounds {
  /** Jobs waiting for a worker (the consumer's num_pending). */
  queued: number;
  /** Jobs handed to a worker and not done (its num_ack_pending). */
  running: number;
  currentReplicas: number;
  /** The recommendations of earlier passes (the previous decision's `history`). */
  history: readonly Recommendation[];
  now: number;
}

export interface JobWorkerDecision {
  replicas: number;
  /** What the jobs alone ask for now: ceil((queued + running) / jobs per worker), within the bounds. */
  recommended: number;
  /** The recommendations to pass as the next pass's `history`. */
  history: Recommendation[];
  reason: "ScaledUp" | "ScaledDown" | "Steady" | "HeldForCooldown" | "HeldForRunningJobs";
}

/**
 * Sizes the job workers on the onboarding queue: every job queued or running wants a worker, within the bounds; a rise
 * is followed at once, a fall after the window. A Deployment's scale-down stops pods the ReplicaSet picks, and it
 * cannot tell which one runs a job: the replicas never go below the jobs running (nor below the replicas there are,
 * where fewer), so that a scale-down takes only as many pods as are idle. An operator that has not sized the workers
 * within the window (it just started, or just took the Lease) counts the replicas it finds as a recommendation of
 * now, so it does not undo a scale-up its predecessor held.
 */
export function planJobWorkers(input: JobWorkerInput): JobWorkerDecision {
  const { now, scaleDownDelayMs, currentReplicas } = input;
  const perWorker = Math.max(1, input.jobsPerWorker);
  const demand = Math.max(0, input.queued) + Math.max(0, input.running);
  const recommended = Math.min(input.maxReplicas, Math.max(input.minReplicas, Math.ceil(demand / perWorker)));
  const recent = input.history.filter((r) => r.at > now - scaleDownDelayMs);
  const window = recent.length > 0 ? recent : [{ at: now, replicas: currentReplicas }];
  const stabilized = stabilize(window, now, scaleDownDelayMs, recommended);
  const floor = Math.min(currentReplicas, Math.ceil(Math.max(0, input.running) / perWorker));
  const replicas = Math.max(stabilized, floor);
  const reason =
    replicas > currentReplicas
      ? "ScaledUp"
      : replicas < currentReplicas
        ? "ScaledDown"
        : floor > stabilized
          ? "HeldForRunningJobs"
          : stabilized > recommended
            ? "HeldForCooldown"
            : "Steady";
  const history = [...window, { at: now, replicas: recommended }]
    .filter((r) => r.at > now - scaleDownDelayMs)
    .slice(-maxHistory);
  return { replicas, recommended, history, reason };
}
