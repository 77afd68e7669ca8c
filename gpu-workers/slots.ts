// The per-worker stream cap: a stream beyond it is refused at once (RESOURCE_EXHAUSTED) so the room tries another
// worker instead of queueing behind this one.
import { ResourceExhaustedError } from "../errors/index.js";

export class StreamSlots {
  #max: number;
  #active = 0;
  #idle: (() => void)[] = [];
  readonly #onChange: () => void;
  readonly #onReject: () => void;

  /** onChange runs after every acquire and release (metrics, announcements); onReject on every refusal. */
  constructor(max: number, hooks: { onChange?: () => void; onReject?: () => void } = {}) {
    if (!Number.isInteger(max) || max < 1) throw new RangeError(`max streams must be a positive integer, got ${max}`);
    this.#max = max;
    this.#onChange = hooks.onChange ?? (() => undefined);
    this.#onReject = hooks.onReject ?? (() => undefined);
  }

  get active(): number {
    return this.#active;
  }

  /** Streams accepted at once. */
  get max(): number {
    return this.#max;
  }

  /** A new cap (the worker's measured capacity): streams beyond it already running keep running. */
  setMax(max: number): void {
    if (!Number.isInteger(max) || max < 1) throw new RangeError(`max streams must be a positive integer, got ${max}`);
    this.#max = max;
  }

  /** Takes a slot or throws ResourceExhaustedError. Release exactly once (the returned function is idempotent). */
  acquire(): () => void {
    if (this.#active >= this.#max) {
      this.#onReject();
      throw new ResourceExhaustedError(`worker is at its stream cap (${this.#max}); try another worker`);
    }
    this.#active++;
    this.#onChange();
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#active--;
      this.#onChange();
      if (this.#active === 0) for (const resolve of this.#idle.splice(0)) resolve();
    };
  }

  /** Resolves when no stream is active (for draining on shutdown), or when the signal aborts. */
  idle(signal?: AbortSignal): Promise<void> {
    if (this.#active === 0 || signal?.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      this.#idle.push(resolve);
      signal?.addEventListener("abort", () => resolve(), { once: true });
    });
  }
}
