// Capacity measured, not assumed: how many real-time streams this worker sustains on the hardware it runs on. At
// start the worker times its own path on a synthetic stream (model and rendering included, on its execution
// provider); under load it keeps measuring what its streams really cost (the process's CPU time per second of stream
// it served, over 10-second windows). The streams it announces, and the cap its slots enforce, are what a budget of
// 0.8 of a core buys at that cost, never more than the configured cap (LIVEHOST_MAX_STREAMS) and never below one.
// Rooms and the operator read the announced figure.

export type CapacitySource = "start" | "load";

export interface StreamCapacityOptions {
  /** The configured cap: the most streams whatever the measurement says. */
  cap: number;
  /** CPU seconds per second this worker may spend on its streams (default 0.8 of one core). */
  budget?: number;
  /** Seconds of served stream a window needs before it counts (default 5). */
  minStreamSeconds?: number;
  /** CPU seconds the process has used so far (default process.cpuUsage()). */
  cpuSeconds?: () => number;
}

export class StreamCapacity {
  readonly cap: number;
  readonly #budget: number;
  readonly #minStreamSeconds: number;
  readonly #cpuSeconds: () => number;
  #cost: number | undefined;
  #streams: number;
  #source: CapacitySource = "start";
  #windowCpu: number;
  #windowStream = 0;

  constructor(options: StreamCapacityOptions) {
    this.cap = options.cap;
    this.#budget = options.budget ?? 0.8;
    this.#minStreamSeconds = options.minStreamSeconds ?? 5;
    this.#cpuSeconds =
      options.cpuSeconds ??
      (() => {
        const { user, system } = process.cpuUsage();
        return (user + system) / 1e6;
      });
    this.#streams = options.cap;
    this.#windowCpu = this.#cpuSeconds();
  }

  /** The streams this worker sustains now. */
  get streams(): number {
    return this.#streams;
  }

  /** CPU seconds per second of one stream, as last measured; undefined before any measurement. */
  get costPerStreamSecond(): number | undefined {
    return this.#cost;
  }

  get source(): CapacitySource {
    return this.#source;
  }

  /** A measurement: `costPerStreamSecond` CPU seconds for each second of one stream. */
  measured(costPerStreamSecond: number, source: CapacitySource): void {
    if (!(costPerStreamSecond > 0) || !Number.isFinite(costPerStreamSecond)) return;
    // Under load, half the weight to the new window: one noisy window moves the figure, it does not swing it.
    this.#cost =
      source === "load" && this.#cost !== undefined ? (this.#cost + costPerStreamSecond) / 2 : costPerStreamSecond;
    this.#source = source;
    this.#streams = Math.max(1, Math.min(this.cap, Math.floor(this.#budget / this.#cost)));
  }

  /**
   * A stream served `seconds` of its media (audio turned into frames, speech synthesized). `weight`: what one such
   * second costs against the streams this capacity counts (a costlier kind of stream, such as a lip-sync stream drawn
   * by a talking-face generator, counts for that many), so a window's cost stays per counted stream whatever the mix.
   */
  served(seconds: number, weight = 1): void {
    this.#windowStream += seconds * weight;
  }

  /** The streams of `weight` (see served) this worker sustains now, within the cap; undefined before a measurement. */
  streamsAt(weight: number): number | undefined {
    if (this.#cost === undefined) return undefined;
    return Math.max(0, Math.min(this.cap, Math.floor(this.#budget / (this.#cost * weight))));
  }

  /** Ends a window: with enough served in it, its CPU per stream-second becomes a measurement. */
  endWindow(): void {
    const cpu = this.#cpuSeconds();
    if (this.#windowStream >= this.#minStreamSeconds) {
      this.measured((cpu - this.#windowCpu) / this.#windowStream, "load");
    }
    this.#windowCpu = cpu;
    this.#windowStream = 0;
  }
}

/**
 * CPU seconds per second of stream for `run`, which serves `streamSeconds` of one synthetic stream: the process's
 * CPU time across it (the model's threads included).
 */
export async function measureCost(streamSeconds: number, run: () => Promise<void>): Promise<number> {
  return measureCostOf(async () => {
    await run();
    return streamSeconds;
  });
}

/** The same, for a run that says how many seconds of stream it served (speech: known once synthesized). */
export async function measureCostOf(run: () => Promise<number>): Promise<number> {
  const before = process.cpuUsage();
  const streamSeconds = await run();
  const { user, system } = process.cpuUsage(before);
  return (user + system) / 1e6 / streamSeconds;
}
