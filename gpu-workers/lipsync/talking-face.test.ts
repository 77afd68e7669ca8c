import { describe, expect, it } from "vitest";
import * as ort from "onnxruntime-node";
import { batchedGenerator, faceInput, facePatch, talkingFaceContract } from "./talking-face.js";
import { generatorGraph } from "./wav2lip-graph.js";

const session = (options: Parameters<typeof generatorGraph>[0]) =>
  ort.InferenceSession.create(generatorGraph(options).bytes);

describe("the wav2lip generator contract", () => {
  it("takes a user's export by the shapes of its inputs, whatever they are named", async () => {
    const contract = talkingFaceContract(await session({ size: "small" }));
    expect(contract).toEqual({ mel: "audio_sequences", face: "face_sequences", output: "output", batched: true });
    const renamed = talkingFaceContract(
      await session({ size: "small", names: { mel: "mel", face: "face", output: "pred" }, batch: 1 }),
    );
    expect(renamed).toEqual({ mel: "mel", face: "face", output: "pred", batched: false });
  });

  it("refuses a model of the wrong shape, naming the input and the shape expected and found", async () => {
    const wrong = await session({
      size: "small",
      names: { mel: "mel", face: "face", output: "out" },
      faceShape: [1, 3, 96, 96],
    });
    expect(() => talkingFaceContract(wrong)).toThrow(
      'model input "face" is [1,3,96,96]; a wav2lip-shaped generator takes [batch,6,96,96]',
    );
    const viseme = await ort.InferenceSession.create(new URL("./model/viseme-mlp.onnx", import.meta.url).pathname);
    expect(() => talkingFaceContract(viseme)).toThrow(/has 1 inputs \("features"\)/);
  });

  it("runs the frames of concurrent callers as one batch and gives each exactly its own", async () => {
    const model = await session({ size: "small" });
    const batches: number[] = [];
    const generate = batchedGenerator(model, ort.Tensor, talkingFaceContract(model), {
      onBatch: ({ requests }) => batches.push(requests),
    });
    const face = new Float32Array(6 * 96 * 96).fill(0.5);
    const mels = [0.9, -3, 2].map((v) => [new Float32Array(80 * 16).fill(v), new Float32Array(80 * 16).fill(-v)]);
    const alone = [];
    for (const m of mels) alone.push(await generate(m, face));
    const together = await Promise.all(mels.map((m) => generate(m, face)));
    expect(batches.slice(3)).toEqual([1, 2]);
    for (const [i, frames] of together.entries()) {
      for (const [j, out] of frames.entries()) {
        const want = alone[i]![j]!;
        expect(Math.max(...out.map((v, k) => Math.abs(v - want[k]!)))).toBeLessThan(1e-5);
      }
    }
    // Different audio, different faces: the comparison above would catch rows handed to the wrong caller.
    expect(together[0]![0]![0]).not.toBeCloseTo(together[1]![0]![0]!, 4);
  });
});

describe("wav2lip's face input and output", () => {
  it("crops and resizes the face box to 96x96, BGR 0..1, the target's lower half zeroed", () => {
    // A 200x100 frame: red above y = 50, blue below; the face box is the frame's middle 100x100.
    const frame = new Uint8Array(200 * 100 * 4);
    for (let y = 0; y < 100; y++) {
      for (let x = 0; x < 200; x++) frame.set(y < 50 ? [255, 0, 0, 255] : [0, 0, 255, 255], (y * 200 + x) * 4);
    }
    const input = faceInput(frame, 200, { x: 50, y: 0, width: 100, height: 100 });
    const at = (c: number, y: number, x: number) => input[c * 96 * 96 + y * 96 + x]!;
    expect(input.length).toBe(6 * 96 * 96);
    // Reference (channels 3-5): top red (channel 5 = R), bottom blue (channel 3 = B).
    expect([at(3, 10, 40), at(4, 10, 40), at(5, 10, 40)]).toEqual([0, 0, 1]);
    expect([at(3, 90, 40), at(4, 90, 40), at(5, 90, 40)]).toEqual([1, 0, 0]);
    // Target (channels 0-2): the same top half, the lower half zeroed.
    expect(at(2, 10, 40)).toBe(1);
    expect([at(0, 48, 40), at(0, 90, 40), at(2, 47, 40)]).toEqual([0, 0, 1]);
  });

  it("turns the output into an RGBA patch of the face box's size, showing only the lower face", () => {
    const output = new Float32Array(3 * 96 * 96);
    output.fill(0.2, 0, 96 * 96);
    output.fill(0.4, 96 * 96, 2 * 96 * 96);
    output.fill(0.6, 2 * 96 * 96);
    const patch = facePatch(output, { x: 10, y: 20, width: 150, height: 180 });
    expect([patch.width, patch.height, patch.data.length]).toEqual([150, 180, 150 * 180 * 4]);
    const px = (x: number, y: number) => [...patch.data.subarray((y * 150 + x) * 4, (y * 150 + x) * 4 + 4)];
    // BGR 0.2, 0.4, 0.6 → RGB 153, 102, 51; full alpha in the lower half away from the edges.
    expect(px(75, 135)).toEqual([153, 102, 51, 255]);
    expect(px(75, 90)[3]).toBe(255);
    // The upper face shows the avatar's own; the seam and the edges fade over a few px.
    expect(px(75, 40)[3]).toBe(0);
    expect(px(75, 86)[3]).toBeGreaterThan(0);
    expect(px(75, 86)[3]).toBeLessThan(255);
    expect(px(0, 135)[3]).toBeLessThan(64);
    expect(px(149, 135)[3]).toBeLessThan(64);
    expect(px(75, 179)[3]).toBeLessThan(64);
  });
});
