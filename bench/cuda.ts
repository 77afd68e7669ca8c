// The CUDA execution provider through the worker's own code, for a GPU node: does the runtime really have CUDA
// (the probe the workers use), does a Piper voice on CUDA say the same as on CPU, how long each takes, and does a
// speech worker told to use CUDA announce it and serve the voice over gRPC; and the streams a GPU keeps at 25 fps for a
// talking-face generator of wav2lip's size, batched and not. Without CUDA it says why and stops.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { credentials } from "@grpc/grpc-js";
import { SpeechServiceClient, SynthesizeRequest, type SynthesizeResponse } from "../proto/index.js";
import { createRegistry } from "../observability/index.js";
import { connectNats } from "../transport/index.js";
import { recordAnnouncements, startNatsServer } from "../testing/index.js";
import {
  EspeakEngine,
  PiperVoice,
  executionProviders,
  generatorGraph,
  startSpeechWorker,
  writeSyntheticPiperVoice,
} from "../gpu-workers/internal.js";
import { generatorOnDevice } from "./generator-device.js";
import { piperBatching } from "./piper-batching.js";
import { round, summarize } from "./stats.js";
import type { BenchContext } from "./main.js";

const text =
  "Here's the deal: the gooseneck kettle is $49.99 today, down from $69.99, and it holds 1.7 L. Grab the $5 coupon before it's gone!";

export async function run({ log, quick }: BenchContext): Promise<Record<string, unknown>> {
  const eps = await executionProviders("auto");
  if (eps.reported !== "cuda") {
    log(`no CUDA here: ${eps.reason ?? "not probed"}`);
    return { cuda_available: false, reason: eps.reason };
  }
  const models = await mkdtemp(join(tmpdir(), "livehost-bench-cuda-"));
  const engine = await EspeakEngine.start();
  try {
    const model = await writeSyntheticPiperVoice(models);
    const runs = quick ? 5 : 20;
    log(`Piper voice (the project's synthetic model), ${runs} syntheses on ${eps.providers.join("+")} and on cpu`);
    const cuda = await synthesizeTimed(await PiperVoice.load(model, engine, eps.providers), runs);
    const cpu = await synthesizeTimed(await PiperVoice.load(model, engine, ["cpu"]), runs);

    log("Piper batching on CUDA: 8 concurrent streams of 4 sentences, up to 8 sentences a run against one, 3 rounds");
    const batching = await piperBatching(model, engine, eps.providers, `${text} ${text}`);

    log("a graph of wav2lip's generator's size (random weights): frames one at a time and batched 8, 16 and 32");
    const wav2lipSized = await generatorOnDevice(generatorGraph({ size: "wav2lip" }).bytes, eps.providers, {
      batches: [1, 8, 16, 32],
      seconds: quick ? 3 : 10,
    });
    const one = wav2lipSized[0]!;
    const best = wav2lipSized.reduce((a, b) => (b.streams_25fps > a.streams_25fps ? b : a));
    const memoryPerStream =
      best.device_memory_mib !== null && one.device_memory_mib !== null && best.batch > 1
        ? round((best.device_memory_mib - one.device_memory_mib) / (best.batch - 1))
        : null;

    log("a speech worker started with --execution-provider cuda: its announcement and one Synthesize over gRPC");
    await using nats = await startNatsServer({ jetstream: false });
    const nc = await connectNats({ servers: nats.url, name: "bench-cuda" });
    const announcements = await recordAnnouncements(nc, "tts");
    const speech = await startSpeechWorker({
      nats: nc,
      registry: createRegistry(),
      modelDir: models,
      executionProvider: "cuda",
    });
    const client = new SpeechServiceClient(speech.worker.address, credentials.createInsecure());
    try {
      const chunks = await collect(client, SynthesizeRequest.fromPartial({ text, voiceId: "en-piper-synthetic" }));
      const announced = announcements.at(-1);
      return {
        cuda_available: true,
        providers: eps.providers,
        piper_samples: cuda.pcm.length,
        piper_max_abs_diff_vs_cpu: maxAbsDiff(cuda.pcm, cpu.pcm),
        piper_same_length_as_cpu: cuda.pcm.length === cpu.pcm.length,
        piper_cuda_ms_p50: summarize(cuda.totals).p50,
        piper_cpu_ms_p50: summarize(cpu.totals).p50,
        piper_cuda_first_chunk_ms_p50: summarize(cuda.firsts).p50,
        piper_cpu_first_chunk_ms_p50: summarize(cpu.firsts).p50,
        piper_batching_cuda: batching,
        streams_per_gpu_25fps: best.streams_25fps,
        streams_per_gpu_25fps_unbatched: one.streams_25fps,
        batch_speedup_gpu: round(best.frames_per_s / one.frames_per_s),
        generator_memory_mib_per_stream: memoryPerStream,
        wav2lip_sized_generator: {
          weights: "random (throughput only)",
          runs: wav2lipSized,
          memory_per_stream: "device memory at the best batch less at batch 1, over the extra frames (nvidia-smi)",
        },
        worker_announced_provider: announced?.executionProvider,
        worker_message: announced?.message ?? "",
        worker_grpc_audio_ms: round(chunks.reduce((sum, c) => sum + c.durationMs, 0)),
        note: "synthetic-weight Piper-format voice: the CUDA path (provider, session, chunking), not a trained VITS network's speed",
      };
    } finally {
      client.close();
      await speech.close(1_000);
      await nc.close();
    }
  } finally {
    await engine.close();
    await rm(models, { recursive: true, force: true });
  }
}

/** `runs` timed syntheses of the text after three untimed ones; the PCM of the last. */
async function synthesizeTimed(voice: PiperVoice, runs: number) {
  const totals: number[] = [];
  const firsts: number[] = [];
  let pcm = new Int16Array(0);
  for (let i = 0; i < runs + 3; i++) {
    const started = performance.now();
    let first = 0;
    const parts: Int16Array[] = [];
    for await (const chunk of voice.synthesize(text, { speed: 1, sampleRate: 22_050 })) {
      if (parts.length === 0) first = performance.now() - started;
      parts.push(chunk.pcm);
    }
    if (i >= 3) {
      totals.push(performance.now() - started);
      firsts.push(first);
    }
    pcm = new Int16Array(parts.reduce((n, p) => n + p.length, 0));
    let offset = 0;
    for (const part of parts) {
      pcm.set(part, offset);
      offset += part.length;
    }
  }
  return { totals, firsts, pcm };
}

function maxAbsDiff(a: Int16Array, b: Int16Array): number {
  let max = 0;
  for (let i = 0; i < Math.min(a.length, b.length); i++) max = Math.max(max, Math.abs(a[i]! - b[i]!));
  return max;
}

function collect(client: SpeechServiceClient, request: SynthesizeRequest): Promise<SynthesizeResponse[]> {
  return new Promise((resolve, reject) => {
    const chunks: SynthesizeResponse[] = [];
    const call = client.synthesize(request);
    call.on("data", (chunk: SynthesizeResponse) => chunks.push(chunk));
    call.on("end", () => resolve(chunks));
    call.on("error", reject);
  });
}
