// When a host sheds load for its event loop's lag: after two windows over the limit, back after five under half of
// it, never flapping on a single slow window.
import { describe, expect, it } from "vitest";
import { LoadGuard } from "./internal.js";

function guardOver(delays: number[]) {
  const changes: (string | undefined)[] = [];
  const samples = [...delays];
  const guard = new LoadGuard({
    maxLoopDelayMs: 500,
    sample: () => samples.shift() ?? 0,
    onChange: (r) => changes.push(r),
  });
  return { guard, changes, tick: (n = 1) => Array.from({ length: n }, () => guard.tick()) };
}

describe("the host's load guard", () => {
  it("sheds after two windows in a row over the limit, saying how late the loop is", () => {
    const { guard, changes, tick } = guardOver([900, 100, 800, 700]);
    tick(2);
    expect(guard.reason).toBeUndefined();
    tick(2);
    expect(guard.reason).toBe("event loop p99 delay 700 ms, over 500 ms");
    expect(changes).toEqual([guard.reason]);
  });

  it("takes work again after five windows in a row under half the limit, not before", () => {
    const { guard, changes, tick } = guardOver([800, 800, 100, 100, 300, 100, 100, 100, 100, 100]);
    tick(2);
    expect(guard.reason).toBeDefined();
    // A window at 300 ms (under the limit, not under half) starts the count again.
    tick(7);
    expect(guard.reason).toBeDefined();
    tick(1);
    expect(guard.reason).toBeUndefined();
    expect(changes).toHaveLength(2);
    expect(changes[1]).toBeUndefined();
  });

  it("reads the process's own event loop when no sample is given", async () => {
    const guard = new LoadGuard({ maxLoopDelayMs: 100, windowsOver: 1 });
    await new Promise((resolve) => setTimeout(resolve, 50));
    const until = performance.now() + 300;
    while (performance.now() < until) {
      // the loop is held: its timers fire late
    }
    await new Promise((resolve) => setTimeout(resolve, 30));
    guard.tick();
    guard.stop();
    expect(guard.lastDelayMs).toBeGreaterThan(100);
    expect(guard.reason).toMatch(/event loop p99 delay \d+ ms, over 100 ms/);
  });
});
