// The TTS worker against its budgets: first-chunk latency over gRPC (embedded voice, one stream), real-time
// factor, how many concurrent streams one synthesis thread keeps ahead of real time, and the cost of gRPC over
// the same synthesis in-process, measured side by side.
import { spawn } from "node:child_process";
import { once } from "node:events";
import { createInterface } from "node:readline";
import { mkdtemp, rm } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { credentials, type ClientReadableStream } from "@grpc/grpc-js";
import { SpeechServiceClient, SynthesizeRequest, type SynthesizeResponse } from "../proto/index.js";
import { createRegistry } from "../observability/index.js";
import { connectNats, mediaChannelOptions } from "../transport/index.js";
import { startNatsServer } from "../testing/index.js";
import {
  EspeakEngine,
  PiperVoice,
  embeddedVoices,
  startSpeechWorker,
  synthesizeEmbedded,
  writeSyntheticPiperVoice,
} from "../gpu-workers/internal.js";
import { piperBatching } from "./piper-batching.js";
import { round, summarize } from "./stats.js";
import type { BenchContext } from "./main.js";

const sentences = {
  en: "Here's the deal: the gooseneck kettle is $49.99 today, down from $69.99, and it holds 1.7 L. Grab the $5 coupon before it's gone!",
  zh: "宝子们看过来，这款保温杯只要¥79，原价129元，500ml的容量，保温12小时，库存不多了！",
};

export async function run({ log, quick }: BenchContext): Promise<Record<string, unknown>> {
  const requests = quick ? 40 : 200;
  await using nats = await startNatsServer({ jetstream: false });
  const nc = await connectNats({ servers: nats.url, name: "bench" });
  const models = await mkdtemp(join(tmpdir(), "livehost-bench-models-"));
  await writeSyntheticPiperVoice(models);
  const speech = await startSpeechWorker({
    nats: nc,
    registry: createRegistry(),
    maxStreams: 1024,
    modelDir: models,
    executionProvider: "cpu",
  });
  // As a room dials a TTS worker: with the media channel options (a large HTTP/2 window).
  const client = new SpeechServiceClient(speech.worker.address, credentials.createInsecure(), mediaChannelOptions);
  const engine = await EspeakEngine.start();
  const voices = {
    en: embeddedVoices.find((v) => v.id === "en-male-bright")!,
    zh: embeddedVoices.find((v) => v.id === "zh-female-warm")!,
  };

  try {
    const rounds = 10;
    log(
      `first chunk and gRPC overhead, embedded voice: ${requests} requests in ${rounds} rounds, a client in its own ` +
        "process alternating with the same syntheses in-process",
    );
    const embedded = await overhead(
      speech.worker.address,
      (["en", "zh"] as const).map((lang) => ({
        voiceId: voices[lang].id,
        text: sentences[lang],
        local: () => synthesizeEmbedded(engine, voices[lang], sentences[lang], { speed: 1, sampleRate: 22_050 }),
      })),
      requests,
      rounds,
    );
    log(`gRPC overhead, Piper path: ${Math.floor(requests / 2)} requests in ${rounds} rounds`);
    const piperLocal = await PiperVoice.load(join(models, "en_US-livehost_synthetic-x_low.onnx"), engine, ["cpu"]);
    const piper = await overhead(
      speech.worker.address,
      [
        {
          voiceId: "en-piper-synthetic",
          text: sentences.en,
          local: () => piperLocal.synthesize(sentences.en, { speed: 1, sampleRate: 22_050 }),
        },
      ],
      Math.floor(requests / 2),
      rounds,
    );
    const firstChunkMs = embedded.first;

    log("real-time factor: a long text in-process");
    const longText = Array.from({ length: quick ? 5 : 20 }, () => sentences.en).join(" ");
    const rtfStart = performance.now();
    let audioMs = 0;
    for await (const chunk of synthesizeEmbedded(engine, voices.en, longText, { speed: 1, sampleRate: 22_050 })) {
      audioMs += chunk.durationMs;
    }
    const rtf = (performance.now() - rtfStart) / audioMs;

    log("concurrent streams kept ahead of real time (one synthesis thread)");
    let realtimeStreams = 0;
    for (let streams = 8; streams <= (quick ? 64 : 512); streams *= 2) {
      const text = Array.from({ length: 3 }, () => sentences.en).join(" ");
      const started = performance.now();
      const audio = await Promise.all(
        Array.from({ length: streams }, async () => {
          let ms = 0;
          await drain(
            client.synthesize(SynthesizeRequest.fromPartial({ text, voiceId: voices.en.id })),
            undefined,
            (chunk) => (ms += chunk.durationMs),
          );
          return ms;
        }),
      );
      const wall = performance.now() - started;
      const ahead = audio.every((ms) => ms >= wall);
      log(
        `  ${streams} streams: ${Math.round(wall)} ms wall for ${Math.round(audio[0]!)} ms of audio each: ${ahead ? "real time" : "behind"}`,
      );
      if (!ahead) break;
      realtimeStreams = streams;
    }

    log(
      `Piper path (the project's synthetic Piper-format voice, onnxruntime CPU): ${Math.floor(requests / 4)} requests`,
    );
    const piperFirst: number[] = [];
    let piperAudioMs = 0;
    const piperStarted = performance.now();
    for (let i = 0; i < Math.floor(requests / 4); i++) {
      const started = performance.now();
      await drain(
        client.synthesize(SynthesizeRequest.fromPartial({ text: sentences.en, voiceId: "en-piper-synthetic" })),
        () => piperFirst.push(performance.now() - started),
        (chunk) => (piperAudioMs += chunk.durationMs),
      );
    }
    const piperRtf = (performance.now() - piperStarted) / piperAudioMs;

    log("Piper batching (CPU): 8 concurrent streams of 4 sentences, up to 8 sentences a run against one, 3 rounds");
    const batching = await piperBatching(
      join(models, "en_US-livehost_synthetic-x_low.onnx"),
      engine,
      ["cpu"],
      `${sentences.en} ${sentences.en}`,
    );

    const first = summarize(firstChunkMs);
    const ratios = { embedded: overheadFigures(embedded), piper: overheadFigures(piper) };
    return {
      first_chunk_ms_p50: first.p50,
      first_chunk_ms_p95: first.p95,
      rtf: round(rtf, 4),
      streams_realtime_per_core: realtimeStreams,
      streams_realtime_note:
        "lower bound: the largest power of two tried that stayed ahead of real time; one espeak-ng thread",
      grpc_overhead_ratio: Math.max(ratios.embedded.ratio, ratios.piper.ratio),
      grpc_overhead_note:
        "the larger of the two voice families: in each of 10 alternating rounds, the median Synthesize call from a " +
        "warmed-up client in its own process ÷ the median of the same syntheses in-process; the median of those " +
        "round ratios. ms figures are per call over all rounds",
      grpc_overhead: ratios,
      voice: "embedded espeak-ng (en-male-bright, zh-female-warm), 22050 Hz",
      piper_first_chunk_ms_p50: summarize(piperFirst).p50,
      piper_first_chunk_ms_p95: summarize(piperFirst).p95,
      piper_rtf_over_grpc: round(piperRtf, 4),
      piper_batching: batching,
      piper_note:
        "synthetic-weight Piper-format voice: measures the Piper path (phonemizer, onnxruntime, chunking, timings), not a trained VITS network",
      detail: { first_chunk_ms: first },
    };
  } finally {
    client.close();
    await engine.close();
    await speech.close(1_000);
    await nc.close();
    await rm(models, { recursive: true, force: true });
  }
}

interface OverheadCall {
  voiceId: string;
  text: string;
  /** The same synthesis, in this process. */
  local: () => AsyncIterable<unknown>;
}

/**
 * The same calls through gRPC (a client in its own process, as a room host is, warmed up first) and in-process,
 * alternating in rounds so that both sides see the same machine load.
 */
async function overhead(
  address: string,
  calls: OverheadCall[],
  count: number,
  rounds: number,
): Promise<{ first: number[]; remote: number[]; local: number[]; ratios: number[] }> {
  const requests = calls.map((call) =>
    JSON.stringify(
      SynthesizeRequest.toJSON(
        SynthesizeRequest.fromPartial({ text: call.text, voiceId: call.voiceId, sampleRateHz: 22_050 }),
      ),
    ),
  );
  await using client = await startClient(address, requests);
  const result = { first: [] as number[], remote: [] as number[], local: [] as number[], ratios: [] as number[] };
  const perRound = Math.max(1, Math.floor(count / rounds));
  for (let i = 0; i < perRound; i++) for await (const chunk of calls[i % calls.length]!.local()) void chunk; // warm-up
  for (let round = 0; round < rounds; round++) {
    const remote = await client.run(perRound);
    result.first.push(...remote.first);
    result.remote.push(...remote.total);
    const local: number[] = [];
    for (let i = 0; i < perRound; i++) {
      const started = performance.now();
      for await (const chunk of calls[i % calls.length]!.local()) void chunk;
      local.push(performance.now() - started);
    }
    result.local.push(...local);
    result.ratios.push(summarize(remote.total).p50 / summarize(local).p50);
  }
  return result;
}

/** The ratio is the median over rounds of each round's own ratio, so a slow spell of the machine counts once. */
function overheadFigures({ remote, local, ratios }: { remote: number[]; local: number[]; ratios: number[] }) {
  return {
    ratio: round(summarize(ratios).p50, 2),
    round_ratios: ratios.map((r) => round(r, 2)),
    grpc_ms_p50: summarize(remote).p50,
    in_process_ms_p50: summarize(local).p50,
  };
}

/** bench/tts-client.js in a child process against `address`, warmed up; `run(n)` times n calls. */
async function startClient(address: string, requests: string[]) {
  const script = fileURLToPath(new URL("./tts-client.js", import.meta.url));
  const child = spawn(process.execPath, [script, address, ...requests], { stdio: ["pipe", "pipe", "inherit"] });
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const exited = once(child, "exit").then(([code]) => {
    throw new Error(`tts client exited with ${String(code)}`);
  });
  exited.catch(() => undefined);
  const next = async () => {
    const line = await Promise.race([lines.next(), exited]);
    if (line.done) throw new Error("tts client closed its output");
    return line.value;
  };
  if ((await next()) !== "ready") throw new Error("tts client did not start");
  return {
    async run(count: number): Promise<{ first: number[]; total: number[] }> {
      child.stdin.write(`${count}\n`);
      return JSON.parse(await next()) as { first: number[]; total: number[] };
    },
    async [Symbol.asyncDispose]() {
      child.stdin.end();
      await once(child, "exit");
    },
  };
}

function drain(
  call: ClientReadableStream<SynthesizeResponse>,
  onFirst?: () => void,
  onChunk?: (chunk: SynthesizeResponse) => void,
): Promise<void> {
  return new Promise((resolve, reject) => {
    let first = true;
    call.on("data", (chunk: SynthesizeResponse) => {
      if (first) onFirst?.();
      first = false;
      onChunk?.(chunk);
    });
    call.on("end", resolve);
    call.on("error", reject);
  });
}
