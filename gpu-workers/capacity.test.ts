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

  it("counts a costlier kind of stream by its weight, and says how many of those it sustains", () => {
    let cpu = 0;
    const capacity = new StreamCapacity({ cap: 64, cpuSeconds: () => cpu });
    expect(capacity.streamsAt(4)).toBeUndefined(); // nothing measured yet
    capacity.measured(0.02, "start"); // 40 viseme streams
    expect(capacity.streamsAt(4)).toBe(10); // a stream costing 4 of them: 10
    // Under load, 5 neural streams (weight 4) for 10 s use 4 CPU seconds: 0.02 per viseme-stream second, as measured.
    for (let i = 0; i < 5; i++) capacity.served(10, 4);
    cpu += 4;
    capacity.endWindow();
    expect(capacity.costPerStreamSecond).toBeCloseTo(0.02);
    // Then they turn out dearer (8 CPU seconds for the same): fewer of each are announced.
    for (let i = 0; i < 5; i++) capacity.served(10, 4);
    cpu += 8;
    capacity.endWindow();
    expect(capacity.costPerStreamSecond).toBeCloseTo(0.03);
    expect([capacity.streams, capacity.streamsAt(4)]).toEqual([26, 6]);
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
