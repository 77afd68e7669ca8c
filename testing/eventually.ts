// Polling for a condition that becomes true asynchronously (a reconnect, a leader election), with a deadline.
import { setTimeout as sleep } from "node:timers/promises";

/** Calls fn until it resolves without throwing; rethrows its last error after timeoutMs. */
export async function eventually<T>(
  fn: () => Promise<T> | T,
  { timeoutMs = 10_000, intervalMs = 50 } = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await fn();
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await sleep(intervalMs);
    }
  }
}
