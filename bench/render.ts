// The neural talking-face path against issue 20's budgets, on this machine's CPUs: streams per core at 25 fps and
// the chunk-to-frames time under load, the speedup of batching 8 concurrent streams over running them one at a time
// (same model, same run), frames delivered to the wrong stream, and memory over 1,000 stream opens and closes over
// gRPC. Two generators: the project's own, trained (gpu-workers/lipsync/model/talking-face.onnx, real weights; its
// held-out quality is measured here too, in onnxruntime, on lines the embedded voices speak now), and a graph of
// wav2lip's generator's size (~36M parameters) with random weights, for throughput only: it draws nothing meaningful.
import { readFile } from "node:fs/promises";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { credentials } from "@grpc/grpc-js";
import * as ort from "onnxruntime-node";
import {
  LipSyncServiceClient,
  Renderer,
  animateAudio,
  animateFlush,
  animateOpen,
  type AnimateResponse,
} from "../proto/index.js";
import { createRegistry } from "../observability/index.js";
import { connectNats, mediaChannelOptions } from "../transport/index.js";
import { startNatsServer, voicedTone } from "../testing/index.js";
import { repoPath } from "../avatars/index.js";
import {
  EspeakEngine,
  NeuralAnimator,
  batchedGenerator,
  evaluateOnHeldOut,
  projectGeneratorPath,
  defaultFaceBox,
  drawDefaultHost,
  faceInput,
  facePatch,
  generatorGraph,
  startLipSyncWorker,
  talkingFaceContract,
  type MouthPatch,
} from "../gpu-workers/internal.js";
import { measurePrerender } from "./prerender.js";
import { summarize } from "./stats.js";
import type { BenchContext } from "./main.js";

const rate = 16_000;
const fps = 25;
const streams = 8;

const voiced = (seconds: number, pitch: number, syllables: number) => voicedTone(seconds, pitch, syllables, rate);

const voices = (seconds: number) => Array.from({ length: streams }, (_, i) => voiced(seconds, 110 + 30 * i, 3 + i));

/** One stream's utterance through the path a worker's stream takes (mel, shared generator, patch), in 100 ms chunks. */
async function stream(
  render: (mels: Float32Array[]) => Promise<MouthPatch[]>,
  pcm: Int16Array,
  chunkMs: number[],
  /** Real time: chunk k is pushed no earlier than k × 100 ms after the start, as a room streams speech. */
  paced = false,
): Promise<MouthPatch[]> {
  const box = defaultFaceBox(720, 1280);
  const animator = new NeuralAnimator({
    fps,
    inputRate: rate,
    render,
    rest: () => ({ width: box.width, height: box.height, data: new Uint8Array(box.width * box.height * 4) }),
  });
  const patches: MouthPatch[] = [];
  const begun = performance.now();
  for (let at = 0; at < pcm.length; at += rate / 10) {
    const due = begun + (at / rate) * 1000 - performance.now();
    if (paced && due > 0) await new Promise((resolve) => setTimeout(resolve, due));
    const started = performance.now();
    const frames = await animator.push(pcm.subarray(at, at + rate / 10));
    if (frames.length > 0) chunkMs.push(performance.now() - started);
    patches.push(...frames.map((f) => f.patch));
  }
  const started = performance.now();
  const last = await animator.flush();
  if (last.length > 0) chunkMs.push(performance.now() - started);
  patches.push(...last.map((f) => f.patch));
  return patches;
}

function differs(a: MouthPatch, b: MouthPatch): boolean {
  if (a.data.length !== b.data.length) return true;
  // One value rounded differently in a batch is not another stream's face.
  for (let i = 0; i < a.data.length; i++) if (Math.abs(a.data[i]! - b.data[i]!) > 1) return true;
  return false;
}

async function measureModel(log: (m: string) => void, bytes: Uint8Array, seconds: number, paced: boolean) {
  const session = await ort.InferenceSession.create(bytes, {
    executionProviders: ["cpu"],
    extra: { session: { intra_op: { allow_spinning: "0" } } },
  });
  const contract = talkingFaceContract(session);
  const generate = batchedGenerator(session, ort.Tensor, contract, { maxFrames: 16 });
  const box = defaultFaceBox(720, 1280);
  const face = faceInput(drawDefaultHost(720, 1280), 720, box);
  const render = async (mels: Float32Array[]) => (await generate(mels, face)).map((out) => facePatch(out, box));
  const audio = voices(seconds);
  await stream(render, voiced(0.2, 100, 3), []); // warm-up: the first run allocates onnxruntime's buffers

  log(`  ${streams} streams one at a time, ${seconds} s of audio each`);
  let started = performance.now();
  const alone: MouthPatch[][] = [];
  for (const pcm of audio) alone.push(await stream(render, pcm, []));
  const aloneS = (performance.now() - started) / 1000;

  log(`  ${streams} streams at once`);
  const chunkMs: number[] = [];
  const cpu = process.cpuUsage();
  started = performance.now();
  const together = await Promise.all(audio.map((pcm) => stream(render, pcm, chunkMs)));
  const togetherS = (performance.now() - started) / 1000;
  const used = process.cpuUsage(cpu);
  const frames = together.reduce((n, p) => n + p.length, 0);
  // Latency as a room sees it: 8 streams sending speech in real time (only where the model keeps up with 8).
  const pacedMs: number[] = [];
  if (paced) {
    log(`  ${streams} streams at once, audio arriving in real time`);
    await Promise.all(audio.map((pcm) => stream(render, pcm, pacedMs, true)));
  }
  let crosstalk = 0;
  together.forEach((patches, i) => {
    patches.forEach((patch, j) => {
      if (!alone[i]![j] || differs(patch, alone[i]![j])) crosstalk++;
    });
  });
  const framesPerCpuS = frames / ((used.user + used.system) / 1e6);
  return {
    frames_per_stream: together[0]!.length,
    neural_streams_per_core_25fps: Math.round((framesPerCpuS / fps) * 100) / 100,
    frame_ms_p95: paced ? summarize(pacedMs).p95 : null,
    saturated_frame_ms_p95: summarize(chunkMs).p95,
    batch_speedup: Math.round((aloneS / togetherS) * 100) / 100,
    crosstalk_frames: crosstalk,
    frames_per_s_one_at_a_time: Math.round((alone.reduce((n, p) => n + p.length, 0) / aloneS) * 10) / 10,
    frames_per_s_8_at_once: Math.round((frames / togetherS) * 10) / 10,
  };
}

/** A full collection of garbage, when the flag can be set at run time (it is for node's own builds). */
function collectGarbage(): void {
  setFlagsFromString("--expose-gc");
  const gc = runInNewContext("gc") as (() => void) | undefined;
  gc?.();
}

const rssMb = () => Math.round((process.memoryUsage().rss / 2 ** 20) * 10) / 10;

/** `total` RENDERER_NEURAL streams through a worker over gRPC, `streams` at a time: half flushed, half cancelled. */
async function churn(log: (m: string) => void, modelPath: string, total: number) {
  // JetStream on: the worker watches the avatar store, as in production.
  await using nats = await startNatsServer({ jetstream: true });
  const nc = await connectNats({ servers: nats.url, name: "bench" });
  const lipsync = await startLipSyncWorker({
    nats: nc,
    registry: createRegistry(),
    executionProvider: "cpu",
    maxStreams: streams,
    modelPath,
  });
  const client = new LipSyncServiceClient(lipsync.worker.address, credentials.createInsecure(), mediaChannelOptions);
  const pcm = voiced(0.3, 150, 4);
  const one = (cancel: boolean) =>
    new Promise<number>((resolve, reject) => {
      const call = client.animate();
      let frames = 0;
      call.on("data", (r: AnimateResponse) => {
        if (r.message?.$case === "frame") frames++;
        if (cancel && frames === 2) {
          call.cancel();
          resolve(frames);
        }
        if (r.message?.$case === "flushed") {
          call.end();
          resolve(frames);
        }
      });
      call.on("error", (err) => (cancel ? resolve(frames) : reject(err)));
      const open = animateOpen({ sampleRateHz: rate, roomId: "bench" });
      if (open.message?.$case === "open") open.message.value.renderer = Renderer.RENDERER_NEURAL;
      call.write(open);
      for (let at = 0; at < pcm.length; at += rate / 10)
        call.write(animateAudio(pcm.subarray(at, at + rate / 10), "u"));
      call.write(animateFlush("u"));
    });
  try {
    for (let i = 0; i < 2 * streams; i++) await one(i % 2 === 1); // warm-up
    collectGarbage();
    const start = rssMb();
    let opened = 0;
    const runner = async () => {
      while (opened < total) {
        const i = opened++;
        await one(i % 2 === 1);
        if (i % 250 === 0) log(`  churn: ${i} streams`);
      }
    };
    await Promise.all(Array.from({ length: streams }, runner));
    for (let i = 0; i < 50 && lipsync.worker.slots.active > 0; i++) await new Promise((r) => setTimeout(r, 20));
    collectGarbage();
    return { rss_mb_start: start, rss_mb_after_churn: rssMb(), churn_streams: total };
  } finally {
    client.close();
    await lipsync.close(1_000);
    await nc.close();
  }
}

export async function run(ctx: BenchContext): Promise<Record<string, unknown>> {
  const { log, quick } = ctx;
  const modelPath = repoPath(projectGeneratorPath);
  const projectBytes = new Uint8Array(await readFile(modelPath));
  log(`the project's generator (${projectGeneratorPath}, trained weights)`);
  const project = await measureModel(log, projectBytes, quick ? 0.8 : 2, true);
  log("  its quality on the held-out lines, spoken now by the embedded voices (onnxruntime)");
  const evaluation = await evaluate(projectBytes);

  log("a graph of wav2lip's generator's size (random weights): building it");
  const big = generatorGraph({ size: "wav2lip" });
  const bigFigures = await measureModel(log, big.bytes, quick ? 0.3 : 0.6, false);

  log(`churn: ${quick ? 100 : 1000} neural streams opened and closed over gRPC (the project's generator)`);
  const memory = await churn(log, modelPath, quick ? 100 : 1000);

  log("the show rendered ahead: a 24/7 room answering 2 questions a minute, rendering ahead and streaming live");
  const prerender = await measurePrerender(ctx);
  return {
    weights:
      "the project's generator: its trained weights; the wav2lip-sized graph: random weights, for throughput only (it draws nothing meaningful)",
    neural_streams_per_core_25fps: project.neural_streams_per_core_25fps,
    neural_streams_per_core_budget: 8,
    frame_ms_p95: project.frame_ms_p95,
    batch_speedup: project.batch_speedup,
    crosstalk_frames: project.crosstalk_frames + bigFigures.crosstalk_frames,
    prerender_worker_seconds_ratio: prerender.prerender_worker_seconds_ratio,
    prerender_worker_seconds_ratio_budget: 0.2,
    ...memory,
    rss_change_pct: Math.round(((memory.rss_mb_after_churn - memory.rss_mb_start) / memory.rss_mb_start) * 1000) / 10,
    project_generator: {
      model: projectGeneratorPath,
      weights: "trained (livehost models train-talking-face)",
      bytes: projectBytes.length,
      ...project,
      held_out_evaluation: evaluation,
    },
    wav2lip_sized_generator: { weights: "random", parameters: big.parameters, ...bigFigures },
    prerender,
    definitions: {
      neural_streams_per_core_25fps:
        "video frames per CPU-second (mel, generator, patch; all threads) with 8 streams at once, / 25; top level: the project's generator",
      frame_ms_p95:
        "a 100 ms audio chunk (or the flush) to its frames ready, 8 streams sending speech in real time; a frame's window needs 200 ms of audio after its start, which comes on top",
      saturated_frame_ms_p95: "the same with the 8 streams pushing as fast as they can (queueing included)",
      batch_speedup: "wall time of 8 streams one after another / 8 streams at once, same model, same run",
      crosstalk_frames: "frames of the 8-at-once run differing (by more than 1 in any byte) from that stream alone",
      rss: "process RSS after a warm-up and after the churn, both after a full GC",
      held_out_evaluation:
        "computed in this run: the written ONNX in onnxruntime on the lip-sync corpus's held-out lines, against the face the viseme path draws (see gpu-workers/lipsync/talking-face-eval.ts)",
    },
  };
}

/** The project's generator on the held-out lines, spoken now by a fresh espeak-ng engine. */
async function evaluate(bytes: Uint8Array) {
  const session = await ort.InferenceSession.create(bytes, { intraOpNumThreads: 1, interOpNumThreads: 1 });
  await using engine = await EspeakEngine.start();
  try {
    return await evaluateOnHeldOut(engine, session, ort.Tensor);
  } finally {
    await session.release();
  }
}
