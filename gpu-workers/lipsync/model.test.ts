import { describe, expect, it } from "vitest";
import { readFile } from "node:fs/promises";
import * as ort from "onnxruntime-node";
import { EspeakEngine } from "../internal.js";
import { heldOutUtterances } from "./corpus.js";
import { buildExamples, contextAfter, contextBefore, featureRate, featureSize, melBands } from "./dataset.js";
import { LogMel, withContext } from "./features.js";
import { Viseme } from "./visemes.js";

// The committed model (made by `livehost models train-lipsync`, see train.ts) and its I/O contract.
const modelUrl = new URL("./model/viseme-mlp.onnx", import.meta.url);

async function session() {
  return ort.InferenceSession.create(await readFile(modelUrl));
}

async function predict(s: ort.InferenceSession, inputs: Float32Array[]): Promise<number[]> {
  const features = new Float32Array(inputs.length * featureSize);
  inputs.forEach((x, i) => features.set(x, i * featureSize));
  const out = await s.run({ features: new ort.Tensor("float32", features, [inputs.length, featureSize]) });
  return Array.from(out.viseme!.data as BigInt64Array, Number);
}

describe("the lip-sync model", () => {
  it("follows the I/O contract: features [N, 360] in, viseme probabilities [N, 10] and classes [N] out", async () => {
    const s = await session();
    expect(s.inputNames).toEqual(["features"]);
    expect(s.outputNames).toEqual(["viseme_probs", "viseme"]);
    const out = await s.run({
      features: new ort.Tensor("float32", new Float32Array(3 * featureSize), [3, featureSize]),
    });
    expect(out.viseme_probs!.dims).toEqual([3, 10]);
    const probs = out.viseme_probs!.data as Float32Array;
    expect(probs.slice(0, 10).reduce((a, b) => a + b, 0)).toBeCloseTo(1, 4);
  });

  it("gives the rest pose for silence", async () => {
    const s = await session();
    const mel = new LogMel({ sampleRate: featureRate, bands: melBands });
    const frames = mel.compute(new Int16Array(featureRate));
    const predictions = await predict(
      s,
      frames.map((_, i) => withContext(frames, i, contextBefore, contextAfter)),
    );
    expect(predictions.filter((v) => v === Viseme.rest).length / predictions.length).toBeGreaterThan(0.95);
  });

  it("reads mouth shapes from held-out speech in both languages far better than chance", async () => {
    const s = await session();
    await using engine = await EspeakEngine.start();
    for (const lang of ["en", "zh"]) {
      const examples = await buildExamples(
        engine,
        heldOutUtterances.filter((u) => u.voiceId.startsWith(lang)).slice(0, 2),
      );
      const predictions = await predict(
        s,
        examples.map((e) => e.x),
      );
      const accuracy = predictions.filter((p, i) => p === examples[i]!.y).length / examples.length;
      // The trained model scores ~0.8-0.9 here; trivial predictors ~0.3 (gpu-workers/lipsync/model/evaluation.json).
      expect(accuracy).toBeGreaterThan(0.6);
    }
  });
});
