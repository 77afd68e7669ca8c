// A room's spec chooses how its avatar is animated: AVATAR_RENDERER_NEURAL reaches lip-sync workers that load a
// talking-face generator (a user-style wav2lip export, made here with random weights), and without one the room still
// speaks with a moving mouth, on the viseme path, counted. Real NATS, workers, rooms and media graph.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generatorGraph } from "../gpu-workers/internal.js";
import type { Registry } from "../observability/index.js";
import { AvatarRenderer, UtteranceSource } from "../proto/index.js";
import { eventually, startTestRoomStack, type TestRoomStack } from "../testing/index.js";

/** A metric's value summed over its series, as the registry's text exposition has it. */
async function total(owner: { registry: Registry }, name: string): Promise<number> {
  const text = await owner.registry.metrics();
  return text
    .split("\n")
    .filter((line) => line.startsWith(name))
    .reduce((sum, line) => sum + Number(line.split(" ").at(-1)), 0);
}

const neuralSpec = (stack: TestRoomStack) => {
  const spec = stack.liveSpec({ voice: { voiceId: "zh-female-warm", speed: 2 } });
  spec.avatar = { avatarId: "default", renderer: AvatarRenderer.AVATAR_RENDERER_NEURAL };
  return spec;
};

const showSaid = (stack: TestRoomStack, roomId: string) =>
  stack.utterances(roomId).filter((u) => u.source === UtteranceSource.UTTERANCE_SOURCE_SHOW).length;

describe("a room's avatar renderer", () => {
  let dir: string;
  let model: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "livehost-renderer-"));
    model = join(dir, "wav2lip-like.onnx");
    await writeFile(model, generatorGraph({ size: "small" }).bytes);
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it("draws the face with the talking-face generator of a worker that loads one", async () => {
    await using stack = await startTestRoomStack({ live: true, lipsyncModel: model });
    await stack.create("neural", neuralSpec(stack));
    await stack.start("neural");
    await eventually(() => expect(showSaid(stack, "neural")).toBeGreaterThanOrEqual(2), { timeoutMs: 60_000 });
    const worker = stack.lipsyncWorkers[0]!;
    expect(await total(worker, "livehost_lipsync_neural_batch_frames_count")).toBeGreaterThan(0);
    expect(await total(stack.hosts[0]!, "livehost_room_lipsync_fallbacks_total")).toBe(0);
  });

  it("speaks on the viseme path, counted, where no worker has a generator", async () => {
    await using stack = await startTestRoomStack({ live: true });
    await stack.create("no-generator", neuralSpec(stack));
    await stack.start("no-generator");
    await eventually(() => expect(showSaid(stack, "no-generator")).toBeGreaterThanOrEqual(2), { timeoutMs: 60_000 });
    expect(await total(stack.hosts[0]!, "livehost_room_lipsync_fallbacks_total")).toBeGreaterThanOrEqual(1);
    expect(await total(stack.lipsyncWorkers[0]!, "livehost_lipsync_frames_total")).toBeGreaterThan(0);
  });
});
