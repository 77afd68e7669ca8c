// The festival night's lower bound on cost: a linear program over the whole trace, solved exactly with HiGHS. It knows
// every tick's rooms in advance and serves every one of them with no headroom, on the capacity that really exists at
// each tick (each cloud's nodes, spot markets that close to new nodes and take back a share of those they had, at the
// expected pace of the reclaims), with the pools' spot share, and each node
// started paid a lead time (`leadMs`: from its ask to its serving) on top of its service. Node counts may be
// fractional and each replica's GPU share is exact (rooms / streams per replica), both of which only lower the cost.
// With the shortest lead (boot, image pull and model load at their fastest) no policy, online or offline, serves the
// trace for less; with the mean lead, no policy that asks for a node before its lead is drawn does on average (the
// caller's choice, bench/autoscale.ts).
import highsModule from "highs";

// highs is CommonJS whose types say `export default`: at run time the default import is the loader itself.
const highsLoader = highsModule as unknown as typeof highsModule.default;

export interface BoundLane {
  key: string;
  offering: string;
  spot: boolean;
  pricePerHour: number;
  gpusPerNode: number;
}

export interface BoundInput {
  lanes: readonly BoundLane[];
  tickMs: number;
  /** GPUs the rooms need at each tick (fractional). */
  gpus: readonly number[];
  /** Nodes each offering can hold at each tick (its quota and what its cloud can deliver). */
  offeringNodes: (offering: string, tick: number) => number;
  /** A spot lane whose market is closed at this tick: it may keep nodes, never add any. */
  spotClosed: (lane: string, tick: number) => boolean;
  /**
   * A spot lane whose cloud is taking its nodes back at this tick: at most `share` of the nodes it held at tick
   * `since` are left (undefined: no reclaim).
   */
  spotLeft?: (lane: string, tick: number) => { since: number; share: number } | undefined;
  /** Share of the GPUs that may be spot. */
  spotFraction: number;
  /** The time from asking for a node to its serving paid for each node started (the shortest, or the mean). */
  leadMs: number;
}

export interface Bound {
  cost: number;
  method: string;
}

export async function lowerBound(input: BoundInput): Promise<Bound> {
  const highs = await highsLoader();
  const { lanes, gpus, tickMs } = input;
  const hours = tickMs / 3_600_000;
  const leadHours = input.leadMs / 3_600_000;
  const n = (l: number, k: number) => `n${l}_${k}`;
  const s = (l: number, k: number) => `s${l}_${k}`;
  const objective: string[] = [];
  const constraints: string[] = [];
  const bounds: string[] = [];
  const offerings = [...new Set(lanes.map((l) => l.offering))];
  for (let k = 0; k < gpus.length; k++) {
    const cover: string[] = [];
    const spot: string[] = [];
    lanes.forEach((lane, l) => {
      objective.push(`${lane.pricePerHour * hours} ${n(l, k)}`, `${lane.pricePerHour * leadHours} ${s(l, k)}`);
      cover.push(`${lane.gpusPerNode} ${n(l, k)}`);
      if (lane.spot) spot.push(`${lane.gpusPerNode} ${n(l, k)}`);
      // A node started at k is paid its lead time: s >= n(k) - n(k-1); the first tick's nodes are already there.
      if (k > 0) constraints.push(`st${l}_${k}: ${s(l, k)} - ${n(l, k)} + ${n(l, k - 1)} >= 0`);
      bounds.push(`0 <= ${n(l, k)}`);
      if (k > 0 && lane.spot && input.spotClosed(lane.key, k))
        constraints.push(`cl${l}_${k}: ${n(l, k)} - ${n(l, k - 1)} <= 0`);
      const left = lane.spot ? input.spotLeft?.(lane.key, k) : undefined;
      if (left) constraints.push(`rc${l}_${k}: ${n(l, k)} - ${left.share} ${n(l, left.since)} <= 0`);
    });
    constraints.push(`d_${k}: ${cover.join(" + ")} >= ${gpus[k]}`);
    if (spot.length > 0) {
      // spot <= fraction * demand, with demand met exactly at the optimum.
      constraints.push(`sp_${k}: ${spot.join(" + ")} <= ${input.spotFraction * gpus[k]!}`);
    }
    for (const offering of offerings) {
      const mine = lanes.flatMap((lane, l) => (lane.offering === offering ? [n(l, k)] : []));
      constraints.push(
        `q${offerings.indexOf(offering)}_${k}: ${mine.join(" + ")} <= ${input.offeringNodes(offering, k)}`,
      );
    }
  }
  const lp = [
    "Minimize",
    ` obj: ${objective.join(" + ")}`,
    "Subject To",
    ...constraints.map((c) => ` ${c}`),
    "Bounds",
    ...bounds.map((b) => ` ${b}`),
    "End",
  ].join("\n");
  const solution = highs.solve(lp);
  if (solution.Status !== "Optimal") throw new Error(`lower bound: HiGHS ended ${solution.Status}`);
  return { cost: solution.ObjectiveValue, method: "lp_relaxation_highs" };
}
