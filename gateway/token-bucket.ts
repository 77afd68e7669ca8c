// One token bucket, for every rate the gateway keeps: tenants' quotas, the viewer page's comments per client address,
// and the refused calls it audits per second.

/** Holds up to `capacity` tokens, refilled continuously at `perSecond`; starts full. */
export class TokenBucket {
  readonly capacity: number;
  readonly perSecond: number;
  #tokens: number;
  #at = performance.now();

  constructor(capacity: number, perSecond: number) {
    this.capacity = capacity;
    this.perSecond = perSecond;
    this.#tokens = capacity;
  }

  /** Takes one token if there is one. */
  take(): boolean {
    const now = performance.now();
    this.#tokens = Math.min(this.capacity, this.#tokens + ((now - this.#at) / 1_000) * this.perSecond);
    this.#at = now;
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }
}
