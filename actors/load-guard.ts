// Whether this host should take more actors. A host whose event loop lags (its timers fire late: lease renewals,
// heartbeats and the rooms' frame clocks are at risk) sheds load before it stalls: it says so in its heartbeat, and
// placement and failover go to hosts that do not shed while any is left (to the least loaded otherwise). A host that
// took every orphan of a dead peer while already busy would stall past its own lease and silence every room it had;
// refusing the extra work keeps its rooms on air and lets the others carry the failover.
//
// Hysteresis keeps a host from flapping: it sheds after `windowsOver` windows in a row with the loop's p99 delay above
// the limit, and takes work again after `windowsUnder` windows in a row below half of it.
import { monitorEventLoopDelay } from "node:perf_hooks";

export interface LoadGuardOptions {
  /** The event loop's p99 delay over a window above which the host sheds, in ms. Default 500. */
  maxLoopDelayMs?: number;
  /** Length of a window. Default 1000 ms. */
  windowMs?: number;
  /** Windows in a row over the limit before shedding. Default 2. */
  windowsOver?: number;
  /** Windows in a row under half the limit before taking work again. Default 5. */
  windowsUnder?: number;
  /** The loop delay p99 of the window just ended, in ms; default the process's own (tests pass theirs). */
  sample?: () => number;
  /** Told when the host starts shedding (with why) or stops (undefined). */
  onChange?: (reason: string | undefined) => void;
  /** Told each window's p99 loop delay, in ms. */
  onWindow?: (delayMs: number) => void;
}

export class LoadGuard {
  readonly #options: Required<Omit<LoadGuardOptions, "sample" | "onChange" | "onWindow">> & LoadGuardOptions;
  readonly #sample: () => number;
  readonly #stop: () => void;
  #timer: NodeJS.Timeout | undefined;
  #over = 0;
  #under = 0;
  #reason: string | undefined;
  /** The last window's p99 loop delay, in ms. */
  lastDelayMs = 0;

  constructor(options: LoadGuardOptions = {}) {
    this.#options = { maxLoopDelayMs: 500, windowMs: 1_000, windowsOver: 2, windowsUnder: 5, ...options };
    if (options.sample) {
      this.#sample = options.sample;
      this.#stop = () => undefined;
    } else {
      const histogram = monitorEventLoopDelay({ resolution: 20 });
      histogram.enable();
      this.#sample = () => {
        const p99 = histogram.count > 0 ? histogram.percentile(99) / 1e6 : 0;
        histogram.reset();
        return p99;
      };
      this.#stop = () => histogram.disable();
    }
  }

  /** Starts judging a window every windowMs. */
  start(): void {
    this.#timer ??= setInterval(() => this.tick(), this.#options.windowMs);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#stop();
  }

  /** Why the host sheds load now, or undefined when it takes work. */
  get reason(): string | undefined {
    return this.#reason;
  }

  /** Judges the window just ended (called every windowMs; tests call it directly). */
  tick(): void {
    const { maxLoopDelayMs, windowsOver, windowsUnder } = this.#options;
    const delay = this.#sample();
    this.lastDelayMs = delay;
    this.#options.onWindow?.(delay);
    this.#over = delay > maxLoopDelayMs ? this.#over + 1 : 0;
    this.#under = delay < maxLoopDelayMs / 2 ? this.#under + 1 : 0;
    if (this.#reason === undefined && this.#over >= windowsOver) {
      this.#reason = `event loop p99 delay ${Math.round(delay)} ms, over ${maxLoopDelayMs} ms`;
      this.#options.onChange?.(this.#reason);
    } else if (this.#reason !== undefined && this.#under >= windowsUnder) {
      this.#reason = undefined;
      this.#options.onChange?.(undefined);
    }
  }
}
