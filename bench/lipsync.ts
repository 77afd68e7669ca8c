// The lip-sync worker against its budgets: frames per CPU second (model + mouth rendering), real-time streams per
// core at 25 fps, latency from an audio chunk to its frame over gRPC with audio arriving in real time, and the
// committed model's held-out accuracy next to a trivial predictor's.
import { readFile } from "node:fs/promises";
import { credentials } from "@grpc/grpc-js";
import * as ort from "onnxruntime-node";
import { AnimateRequest, LipSyncServiceClient, animateOpen, type AnimateResponse } from "../proto/index.js";
import { createRegistry } from "../observability/index.js";
import { connectNats, mediaChannelOptions } from "../transport/index.js";
import { startNatsServer } from "../testing/index.js";
import {
  Batcher,
  EspeakEngine,
  featureSize,
  visemeCount,
  MouthAnimator,
  embeddedVoices,
  onnxClassifier,
  renderMouth,
  startLipSyncWorker,
  synthesizeToPcm,
} from "../gpu-workers/internal.js";
import { summarize } from "./stats.js";
import type { BenchContext } from "./main.js";

const modelUrl = new URL("../../gpu-workers/lipsync/model/viseme-mlp.onnx", import.meta.url);
const evaluationUrl = new URL("../../gpu-workers/lipsync/model/evaluation.json", import.meta.url);

export async function run({ log, quick }: BenchContext): Promise<Record<string, unknown>> {
  const engine = await EspeakEngine.start();
  const voice = embeddedVoices.find((v) => v.id === "en-male-bright")!;
  const text =
    "Here's the deal: the gooseneck kettle is $49.99 today, down from $69.99. It keeps water warm for an hour. ";
  const { pcm } = await synthesizeToPcm(engine, voice, text.repeat(quick ? 2 : 6), { speed: 1, sampleRate: 22050 });
  await engine.close();
  const audioS = pcm.length / 22050;

  log(`frames per CPU second: ${audioS.toFixed(1)} s of speech through the model and the mouth renderer, in-process`);
  const session = await ort.InferenceSession.create(await readFile(modelUrl), {
    executionProviders: ["cpu"],
    intraOpNumThreads: 1,
  });
  const animator = new MouthAnimator({ fps: 25, inputRate: 22050, classify: onnxClassifier(session, ort.Tensor) });
  const cpuBefore = process.cpuUsage();
  let frames = 0;
  for (let i = 0; i < pcm.length; i += 2205) {
    for (const frame of await animator.push(pcm.subarray(i, i + 2205))) {
      renderMouth(frame.mouth);
      frames++;
    }
  }
  for (const frame of await animator.flush()) {
    renderMouth(frame.mouth);
    frames++;
  }
  const cpu = process.cpuUsage(cpuBefore);
  const cpuS = (cpu.user + cpu.system) / 1e6;
  const framesPerCpuS = frames / cpuS;

  log("chunk -> frame over gRPC, audio sent in real time in 20 ms chunks");
  await using nats = await startNatsServer({ jetstream: false });
  const nc = await connectNats({ servers: nats.url, name: "bench" });
  const lipsync = await startLipSyncWorker({ nats: nc, registry: createRegistry(), executionProvider: "cpu" });
  const client = new LipSyncServiceClient(lipsync.worker.address, credentials.createInsecure(), mediaChannelOptions);
  const latencies: number[] = [];
  try {
    const call = client.animate();
    const sentAt: number[] = [];
    const seconds = quick ? 4 : 12;
    const chunkSamples = 441; // 20 ms at 22.05 kHz
    const received = new Promise<void>((resolve, reject) => {
      call.on("data", (r: AnimateResponse) => {
        if (r.message?.$case === "frame") {
          // Frame k's own audio ends at (k + 1) * 40 ms: measure from the chunk that completed it.
          const chunkIndex = Math.ceil(((r.message.value.frameIndex + 1) * 40) / 20) - 1;
          const sent = sentAt[chunkIndex];
          if (sent !== undefined) latencies.push(performance.now() - sent);
        }
        if (r.message?.$case === "flushed") resolve();
      });
      call.on("error", reject);
    });
    call.write(animateOpen({ sampleRateHz: 22050 }));
    const started = performance.now();
    for (let i = 0, n = 0; i + chunkSamples <= Math.min(pcm.length, seconds * 22050); i += chunkSamples, n++) {
      // Real-time pacing: chunk n is sent when its audio would have been played.
      const due = started + n * 20;
      if (due > performance.now()) await new Promise((resolve) => setTimeout(resolve, due - performance.now()));
      sentAt.push(performance.now());
      const chunk = pcm.subarray(i, i + chunkSamples);
      call.write(
        AnimateRequest.fromPartial({
          message: { $case: "audio", value: { pcm: Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength) } },
        }),
      );
    }
    call.write(AnimateRequest.fromPartial({ message: { $case: "flush", value: {} } }));
    await received;
    call.end();
  } finally {
    client.close();
    await lipsync.close(1_000);
    await nc.close();
  }
  const latency = summarize(latencies);
  const batching = await measureBatching(session, quick, log);
  const evaluation = JSON.parse(await readFile(evaluationUrl, "utf8")) as {
    viseme_accuracy: number;
    baseline_accuracy: number;
    baseline: string;
  };
  return {
    frames_per_s_per_core: Math.round(framesPerCpuS),
    realtime_streams_per_core: Math.floor(framesPerCpuS / 25),
    chunk_to_frame_ms_p50: latency.p50,
    chunk_to_frame_ms_p95: latency.p95,
    chunk_to_frame_note:
      "includes the model's look-ahead (3 log-mel frames after the frame, plus the 25 ms window), which arrives in real time here",
    viseme_accuracy: evaluation.viseme_accuracy,
    baseline_accuracy: evaluation.baseline_accuracy,
    baseline: evaluation.baseline,
    model: "gpu-workers/lipsync/model/viseme-mlp.onnx (onnxruntime CPU, one intra-op thread)",
    ...batching,
    detail: {
      frames,
      audio_s: Math.round(audioS * 10) / 10,
      cpu_s: Math.round(cpuS * 100) / 100,
      chunk_to_frame_ms: latency,
    },
  };
}

/**
 * One loaded model for many streams: 8 streams' chunks (10 feature frames each, 100 ms of audio) classified through the
 * worker's batcher, all streams at once, against the same chunks one at a time on the same session, in the same run.
 * Also counts frames a stream got that differ from what it gets alone (crosstalk).
 */
async function measureBatching(session: ort.InferenceSession, quick: boolean, log: (m: string) => void) {
  const streams = 8;
  const chunks = quick ? 50 : 400;
  const frames = 10;
  log(`batching: ${streams} streams x ${chunks} chunks of ${frames} frames, batched vs one at a time`);
  const alone = onnxClassifier(session, ort.Tensor);
  const input = Array.from({ length: streams }, (_, s) =>
    Array.from({ length: chunks }, (_, c) => {
      const features = new Float32Array(frames * featureSize);
      for (let i = 0; i < features.length; i++) features[i] = Math.sin(s * 131 + c * 17 + i * 0.01) * 3;
      return features;
    }),
  );
  // One at a time: what a worker without batching does with the same chunks.
  const expected: Float32Array[][] = input.map(() => []);
  let started = performance.now();
  for (let c = 0; c < chunks; c++) {
    for (let s = 0; s < streams; s++) expected[s]!.push(await alone(input[s]![c]!, frames));
  }
  const aloneMs = performance.now() - started;
  let batches = 0;
  const batcher = new Batcher({
    rowSize: featureSize,
    outSize: visemeCount,
    maxRows: 512,
    run: alone,
    onBatch: () => batches++,
  });
  started = performance.now();
  const got = await Promise.all(
    input.map(async (stream) => {
      const outs: Float32Array[] = [];
      for (const features of stream) outs.push(await batcher.run(features, frames));
      return outs;
    }),
  );
  const batchedMs = performance.now() - started;
  let crosstalk = 0;
  for (let s = 0; s < streams; s++) {
    for (let c = 0; c < chunks; c++) {
      const a = expected[s]![c]!;
      const b = got[s]![c]!;
      for (let i = 0; i < a.length; i += visemeCount) {
        if (a.subarray(i, i + visemeCount).some((v, k) => Math.abs(v - b[i + k]!) > 1e-5)) crosstalk++;
      }
    }
  }
  return {
    batch_speedup_8_streams: Math.round((aloneMs / batchedMs) * 100) / 100,
    batch_note: `viseme MLP on onnxruntime CPU (one intra-op thread): ${streams} streams x ${chunks} chunks, ${Math.round(aloneMs)} ms one at a time, ${Math.round(batchedMs)} ms batched in ${batches} batches`,
    crosstalk_frames: crosstalk,
  };
}
