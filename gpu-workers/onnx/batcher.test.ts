// Continuous batching of one loaded model across streams: who runs together, who gets what back, and failures.
import { getEventListeners } from "node:events";
import { readFile } from "node:fs/promises";
import * as ort from "onnxruntime-node";
import { describe, expect, it } from "vitest";
import { repoPath } from "../../avatars/index.js";
import { featureSize } from "../lipsync/dataset.js";
import { visemeCount } from "../lipsync/visemes.js";
import { onnxClassifier } from "../lipsync/animator.js";
import { Batcher } from "./batcher.js";
import { createSession } from "./runtime.js";

/** A model that answers each row with [sum of the row, rows in its batch], after 10 ms. */
function fakeModel() {
  const batches: number[] = [];
  const run = async (input: Float32Array, rows: number) => {
    batches.push(rows);
    await new Promise<void>((resolve) => setTimeout(resolve, 10));
    const out = new Float32Array(rows * 2);
    for (let r = 0; r < rows; r++) {
      let sum = 0;
      for (let c = 0; c < 3; c++) sum += input[r * 3 + c]!;
      out[r * 2] = sum;
      out[r * 2 + 1] = rows;
    }
    return out;
  };
  return { run, batches };
}

const rowsOf = (value: number, rows: number) => new Float32Array(rows * 3).fill(value);

describe("Batcher", () => {
  it("runs a request alone when the model is idle, and those that arrive meanwhile as one batch", async () => {
    const model = fakeModel();
    const batcher = new Batcher({ rowSize: 3, outSize: 2, maxRows: 100, run: model.run });
    const first = batcher.run(rowsOf(1, 2), 2);
    const rest = Array.from({ length: 7 }, (_, i) => batcher.run(rowsOf(i + 2, 3), 3));
    expect(batcher.waiting).toBe(7);
    const [one, ...others] = await Promise.all([first, ...rest]);
    expect(model.batches).toEqual([2, 21]);
    expect([...one]).toEqual([3, 2, 3, 2]);
    // Each gets exactly its own rows, whatever ran beside it.
    others.forEach((out, i) => expect([...out]).toEqual([3, 3, 3].flatMap(() => [3 * (i + 2), 21])));
  });

  it("caps a batch at maxRows, oldest requests first; a larger request runs alone", async () => {
    const model = fakeModel();
    const batcher = new Batcher({ rowSize: 3, outSize: 2, maxRows: 6, run: model.run });
    await Promise.all([
      batcher.run(rowsOf(1, 1), 1),
      batcher.run(rowsOf(1, 4), 4),
      batcher.run(rowsOf(1, 2), 2),
      batcher.run(rowsOf(1, 1), 1),
      batcher.run(rowsOf(1, 9), 9),
    ]);
    expect(model.batches).toEqual([1, 6, 1, 9]);
  });

  it("fails every request of a batch the model fails, and goes on with the next", async () => {
    let calls = 0;
    const batcher = new Batcher({
      rowSize: 3,
      outSize: 2,
      maxRows: 100,
      run: async (_input, rows) => {
        calls++;
        await new Promise((resolve) => setTimeout(resolve, 5));
        if (calls === 2) throw new Error("the model failed");
        return new Float32Array(rows * 2);
      },
    });
    const first = batcher.run(rowsOf(1, 1), 1);
    const failing = [batcher.run(rowsOf(1, 1), 1), batcher.run(rowsOf(1, 1), 1)];
    await first;
    await Promise.all(failing.map((p) => expect(p).rejects.toThrow("the model failed")));
    await expect(batcher.run(rowsOf(1, 1), 1)).resolves.toHaveLength(2);
  });

  it("refuses rows of the wrong size, naming both, and lets an aborted request leave the queue", async () => {
    const model = fakeModel();
    const batcher = new Batcher({ rowSize: 3, outSize: 2, maxRows: 100, run: model.run });
    await expect(batcher.run(new Float32Array(5), 2)).rejects.toThrow("expected 2 rows of 3 values, got 5 values");
    const busy = batcher.run(rowsOf(1, 1), 1);
    const controller = new AbortController();
    const leaving = batcher.run(rowsOf(1, 4), 4, controller.signal);
    controller.abort(new Error("stream closed"));
    await expect(leaving).rejects.toThrow("stream closed");
    await busy;
    expect(model.batches).toEqual([1]);
  });

  it("holds nothing of a settled request on the stream's signal, however many requests the stream makes", async () => {
    const model = fakeModel();
    const batcher = new Batcher({ rowSize: 3, outSize: 2, maxRows: 100, run: model.run });
    const stream = new AbortController();
    for (let i = 0; i < 20; i++) await batcher.run(rowsOf(i, 1), 1, stream.signal);
    const failing = new Batcher({ rowSize: 3, outSize: 2, maxRows: 100, run: () => Promise.reject(new Error("x")) });
    await expect(failing.run(rowsOf(1, 1), 1, stream.signal)).rejects.toThrow("x");
    expect(getEventListeners(stream.signal, "abort")).toHaveLength(0);
  });

  it("gives every stream of the real lip-sync model exactly what it gets alone (no crosstalk)", async () => {
    const session = await createSession(await readFile(repoPath("gpu-workers/lipsync/model/viseme-mlp.onnx")), ["cpu"]);
    const alone = onnxClassifier(session, ort.Tensor);
    const batcher = new Batcher({ rowSize: featureSize, outSize: visemeCount, maxRows: 512, run: alone });
    // Sixteen streams, each with its own features (a seeded pattern per stream), many chunks each, all at once.
    const streams = Array.from({ length: 16 }, (_, s) =>
      Array.from({ length: 6 }, (_, c) => {
        const frames = 1 + ((s + c) % 5);
        const features = new Float32Array(frames * featureSize);
        for (let i = 0; i < features.length; i++) features[i] = Math.sin(s * 131 + c * 17 + i * 0.01) * 3;
        return { features, frames };
      }),
    );
    const batched = await Promise.all(
      streams.map(async (chunks) => {
        const outs: Float32Array[] = [];
        for (const { features, frames } of chunks) outs.push(await batcher.run(features, frames));
        return outs;
      }),
    );
    let crosstalk = 0;
    for (const [s, chunks] of streams.entries()) {
      for (const [c, { features, frames }] of chunks.entries()) {
        const expected = await alone(features, frames);
        const got = batched[s]![c]!;
        for (let i = 0; i < expected.length; i++) if (Math.abs(expected[i]! - got[i]!) > 1e-5) crosstalk++;
      }
    }
    expect(crosstalk).toBe(0);
  });
});
