// The generator throughput that `bench cuda` reports for a GPU, run here on the CPU with the small wav2lip-shaped
// graph: one line per batch size, frames counted in whole batches, no device memory without nvidia-smi's GPU.
import { describe, expect, it } from "vitest";
import { generatorGraph } from "../gpu-workers/internal.js";
import { generatorOnDevice } from "./generator-device.js";

describe("generator throughput on an execution provider", () => {
  it("times the generator one frame at a time and batched, and says how many 25 fps streams that keeps", async () => {
    const runs = await generatorOnDevice(generatorGraph({ size: "small" }).bytes, ["cpu"], {
      batches: [1, 8],
      seconds: 0.3,
    });
    expect(runs.map((r) => r.batch)).toEqual([1, 8]);
    for (const run of runs) {
      expect(run.frames_per_s).toBeGreaterThan(0);
      expect(run.streams_25fps).toBeCloseTo(run.frames_per_s / 25, 0);
    }
  });
});
