// The capacity a worker measures: at start, then under load, within its cap.
import { describe, expect, it } from "vitest";
import { StreamCapacity, measureCost } from "./capacity.js";

describe("StreamCapacity", () => {
  it("announces what 0.8 of a core buys at the measured cost, within the cap and never below one", () => {
    const capacity = new StreamCapacity({ cap: 16, cpuSeconds: () => 0 });
    expect(capacity.streams).toBe(16); // nothing measured yet: the cap
    capacity.measured(0.1, "start"); // 0.1 CPU s per stream-second: 8 streams
    expect([capacity.streams, capacity.source]).toEqual([8, "start"]);
    capacity.measured(0.01, "start");
    expect(capacity.streams).toBe(16); // 80 would fit; the cap holds
    capacity.measured(3, "start");
    expect(capacity.streams).toBe(1); // slower than real time: still one stream, which reports itself behind
    capacity.measured(Number.NaN, "start");
    capacity.measured(0, "start");
    expect(capacity.costPerStreamSecond).toBe(3); // nonsense is ignored
  });

  it("goes on measuring under load: CPU per second of stream served, half-weighted against the last figure", () => {
    let cpu = 100;
    const capacity = new StreamCapacity({ cap: 64, cpuSeconds: () => cpu });
    capacity.measured(0.02, "start"); // 40 streams
    // A window of 10 streams for 10 s that used 4 CPU seconds: 0.04 per stream-second.
    for (let i = 0; i < 10; i++) capacity.served(10);
    cpu += 4;
    capacity.endWindow();
    expect(capacity.costPerStreamSecond).toBeCloseTo(0.03);
    expect([capacity.streams, capacity.source]).toEqual([26, "load"]);
    // A window with too little served says nothing.
    capacity.served(2);
    cpu += 5;
    capacity.endWindow();
    expect(capacity.costPerStreamSecond).toBeCloseTo(0.03);
  });

  it("measures the CPU time of a run per second of stream", async () => {
    const cost = await measureCost(1, async () => {
      const until = performance.now() + 50;
      while (performance.now() < until); // 50 ms of CPU for "one second of stream"
      await Promise.resolve();
    });
    expect(cost).toBeGreaterThan(0.02);
    expect(cost).toBeLessThan(0.5);
  });
});
