import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { describe, expect, it } from "vitest";
import { createRegistry } from "../observability/index.js";
import { RoomMediaGraph } from "./internal.js";
import { hls, outputConfig, portrait } from "./testing/output.js";

const avatarDir = new URL("../models/avatars/default", import.meta.url).pathname;
setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;

async function settledArrayBuffers() {
  for (let i = 0; i < 3; i++) {
    gc();
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return process.memoryUsage().arrayBuffers;
}

describe("room media graph memory", () => {
  it("lets go of a stopped graph: its avatar frames and pipelines do not pile up room after room", async () => {
    const dir = await mkdtemp(join(tmpdir(), "livehost-media-memory-"));
    try {
      const after: number[] = [];
      for (let i = 0; i < 4; i++) {
        const graph = new RoomMediaGraph({
          roomId: `r${i}`,
          output: outputConfig(portrait, [hls(1)]),
          avatarDir,
          outputDir: join(dir, String(i)),
          registry: createRegistry(),
          x264Preset: "ultrafast",
          pace: { renderSeconds: 0.5 },
        });
        await graph.start();
        await graph.done;
        after.push(await settledArrayBuffers());
      }
      // Each graph holds its avatar's loop decoded at 720x1280 (tens of MB). Kept after stop, four rooms would
      // hold three more loops than one room does.
      expect(after[3]! - after[0]!).toBeLessThan(20 * 2 ** 20);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
