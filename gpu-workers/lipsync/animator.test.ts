import { describe, expect, it } from "vitest";
import { readFile } from "node:fs/promises";
import * as ort from "onnxruntime-node";
import { EspeakEngine, embeddedVoices, synthesizeToPcm } from "../internal.js";
import { MouthAnimator, onnxClassifier, type MouthFrame } from "./animator.js";
import { Viseme } from "./visemes.js";

const model = () =>
  readFile(new URL("./model/viseme-mlp.onnx", import.meta.url)).then((bytes) => ort.InferenceSession.create(bytes));

async function speech(text: string, voiceId = "en-male-bright"): Promise<Int16Array> {
  await using engine = await EspeakEngine.start();
  const voice = embeddedVoices.find((v) => v.id === voiceId)!;
  return (await synthesizeToPcm(engine, voice, text, { speed: 1, sampleRate: 22050 })).pcm;
}

/** Feeds audio in 100 ms chunks, as a room streams TTS output. */
async function animate(animator: MouthAnimator, pcm: Int16Array, rate = 22050): Promise<MouthFrame[]> {
  const frames: MouthFrame[] = [];
  const step = rate / 10;
  for (let i = 0; i < pcm.length; i += step) frames.push(...(await animator.push(pcm.subarray(i, i + step))));
  return frames;
}

describe("mouth animation on the audio clock", () => {
  it("sends one frame per frame interval over a long utterance, in order, without drift", async () => {
    const classify = onnxClassifier(await model(), ort.Tensor);
    const pcm = await speech(
      "Here's the deal: the gooseneck kettle is $49.99 today. It keeps water warm for an hour, and ships in two days. Grab the coupon now!",
      "en-male-bright",
    );
    const animator = new MouthAnimator({ fps: 25, inputRate: 22050, classify });
    const frames = [...(await animate(animator, pcm)), ...(await animator.flush())];
    const durationS = pcm.length / 22050;
    expect(durationS).toBeGreaterThan(6);
    expect(Math.abs(frames.length - durationS * 25)).toBeLessThanOrEqual(1);
    expect(frames.map((f) => f.index)).toEqual(frames.map((_, i) => i));
    expect(frames.every((f) => f.ptsMs === f.index * 40)).toBe(true);
    // The mouth moves with speech: open while talking, closed in the silence at the end.
    const talking = frames.slice(5, frames.length - 10);
    expect(new Set(talking.map((f) => f.viseme)).size).toBeGreaterThanOrEqual(5);
  });

  it("rests in silence and opens with speech", async () => {
    const classify = onnxClassifier(await model(), ort.Tensor);
    const animator = new MouthAnimator({ fps: 25, inputRate: 16000, classify });
    const silent = [...(await animate(animator, new Int16Array(16000), 16000)), ...(await animator.flush())];
    expect(silent).toHaveLength(25);
    expect(silent.every((f) => f.viseme === Viseme.rest)).toBe(true);

    const pcm = await speech("宝子们，这款保温杯只要七十九元！", "zh-female-warm");
    const spoken = [...(await animate(animator, pcm)), ...(await animator.flush())];
    const meanOpen = (frames: MouthFrame[]) => frames.reduce((s, f) => s + f.mouth.open, 0) / frames.length;
    expect(meanOpen(spoken)).toBeGreaterThan(meanOpen(silent) + 0.1);
    // The stream clock carried on from the first utterance.
    expect(spoken[0]!.index).toBe(25);
  });

  it("returns to rest within one frame on clear, and keeps the clock", async () => {
    const classify = onnxClassifier(await model(), ort.Tensor);
    const animator = new MouthAnimator({ fps: 30, inputRate: 22050, classify });
    const pcm = await speech("Quick heads-up, only forty five left in stock.", "en-female-clear");
    const before = await animate(animator, pcm.subarray(0, 22050));
    const cleared = animator.clear();
    expect(cleared.viseme).toBe(Viseme.rest);
    expect(cleared.mouth.open).toBeLessThan(0.1);
    expect(cleared.index).toBe(before.length);
    const after = [...(await animate(animator, pcm.subarray(0, 11025))), ...(await animator.flush())];
    expect(after[0]!.index).toBe(cleared.index + 1);
  });
});
