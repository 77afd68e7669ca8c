import { describe, expect, it } from "vitest";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { credentials } from "@grpc/grpc-js";
import {
  HealthCheckResponse_ServingStatus as Serving,
  HealthClient,
  ListVoicesRequest,
  SpeechServiceClient,
  SynthesizeRequest,
  WorkerState,
  type SynthesizeResponse,
} from "../../proto/index.js";
import { createRegistry } from "../../observability/index.js";
import { callUnary, connectNats } from "../../transport/index.js";
import { eventually, recordAnnouncements, startNatsServer } from "../../testing/index.js";
import {
  EspeakEngine,
  PiperVoice,
  executionProviders,
  startSpeechWorker,
  writeSyntheticPiperVoice,
} from "../internal.js";

async function tempDir() {
  const dir = await mkdtemp(join(tmpdir(), "livehost-models-"));
  return { dir, [Symbol.asyncDispose]: () => rm(dir, { recursive: true, force: true }) };
}

describe("Piper voices (the project's synthetic Piper-format model)", () => {
  it("maps phonemes to ids the Piper way: start, each phoneme then a pad, end", async () => {
    await using models = await tempDir();
    const path = await writeSyntheticPiperVoice(models.dir);
    await using engine = await EspeakEngine.start();
    const voice = await PiperVoice.load(path, engine, ["cpu"]);
    const ids = voice.phonemeIds("hə");
    // "^"=1, "_"=0, "$"=2 in Piper's layout.
    expect(ids[0]).toBe(1);
    expect(ids.at(-1)).toBe(2);
    expect(ids).toHaveLength(1 + 2 * 2 + 1);
    expect(ids[2]).toBe(0);
    expect(voice.phonemeIds("h\u{1F600}")).toHaveLength(1 + 2 + 1);
  });

  it("runs the sentences of concurrent streams as one batch, each with the audio it gets alone", async () => {
    await using models = await tempDir();
    const path = await writeSyntheticPiperVoice(models.dir);
    await using engine = await EspeakEngine.start();
    const batches: number[] = [];
    const voice = await PiperVoice.load(path, engine, ["cpu"], { maxBatch: 8, onBatch: (n) => batches.push(n) });
    expect(voice.batchable).toBe(true);
    const speak = async (text: string) => {
      const parts: Int16Array[] = [];
      for await (const chunk of voice.synthesize(text, { speed: 1, sampleRate: 22050 })) parts.push(chunk.pcm);
      return Buffer.concat(parts.map((p) => Buffer.from(p.buffer, p.byteOffset, p.byteLength)));
    };
    const texts = ["Hello there.", "The kettle is on sale.", "Grab the coupon now!", "Sizes from small to double X L."];
    const alone = await speak(texts[0]!);
    // Sentences share a run only when they wait for the model at the same time, which a loaded machine can keep
    // from happening in one round: a few rounds, each checked, until one has batched.
    for (let round = 0; round < 5 && Math.max(0, ...batches) < 2; round++) {
      batches.length = 0;
      const together = await Promise.all(texts.map((t) => speak(t)));
      expect(together[0]!.equals(alone)).toBe(true);
      expect(new Set(together.map((pcm) => pcm.length)).size).toBe(4);
    }
    expect(Math.max(...batches)).toBeGreaterThan(1);
  });

  it("synthesizes through onnxruntime over gRPC: audio that grows with the text, with timings", async () => {
    await using models = await tempDir();
    await writeSyntheticPiperVoice(models.dir);
    await using nats = await startNatsServer({ jetstream: false });
    const nc = await connectNats({ servers: nats.url, name: "test" });
    const speech = await startSpeechWorker({
      nats: nc,
      registry: createRegistry(),
      modelDir: models.dir,
      executionProvider: "cpu",
    });
    const client = new SpeechServiceClient(speech.worker.address, credentials.createInsecure());
    try {
      const voices = await callUnary(client.listVoices.bind(client), ListVoicesRequest.fromPartial({ language: "en" }));
      expect(voices.voices.find((v) => v.id === "en-piper-synthetic")).toMatchObject({
        family: "piper",
        nativeSampleRateHz: 22050,
      });

      const speak = (text: string) =>
        new Promise<SynthesizeResponse[]>((resolve, reject) => {
          const chunks: SynthesizeResponse[] = [];
          const call = client.synthesize(SynthesizeRequest.fromPartial({ text, voiceId: "en-piper-synthetic" }));
          call.on("data", (c: SynthesizeResponse) => chunks.push(c));
          call.on("end", () => resolve(chunks));
          call.on("error", reject);
        });
      const short = await speak("Hello.");
      const long = await speak("The kettle is $49.99 today. It keeps water warm for an hour!");
      const bytes = (chunks: SynthesizeResponse[]) => chunks.reduce((n, c) => n + c.pcm.length, 0);
      expect(bytes(long)).toBeGreaterThan(4 * bytes(short));
      const pcm = Buffer.concat(long.map((c) => c.pcm));
      const samples = new Int16Array(pcm.buffer, pcm.byteOffset, pcm.length / 2);
      expect(samples.some((x) => Math.abs(x) > 3000)).toBe(true);
      expect(long.at(-1)!.final).toBe(true);
      expect(new Set(long.map((c) => c.sentenceIndex))).toEqual(new Set([0, 1]));
      const words = long.flatMap((c) => c.words);
      expect(words.map((w) => w.text)).toContain("kettle");
      expect(words.every((w, i) => i === 0 || w.startMs >= words[i - 1]!.startMs)).toBe(true);
      const total = (bytes(long) / 2 / 22050) * 1000;
      expect(words.at(-1)!.endMs).toBeLessThanOrEqual(total + 5);
    } finally {
      client.close();
      await speech.close(1_000);
      await nc.close();
    }
  });

  it("reports a corrupt model: the worker is not ready and says which file and why", async () => {
    await using models = await tempDir();
    await writeFile(join(models.dir, "broken.onnx"), "not a model");
    await writeFile(join(models.dir, "broken.onnx.json"), "{}");
    await using nats = await startNatsServer({ jetstream: false });
    const nc = await connectNats({ servers: nats.url, name: "test" });
    const announcements = await recordAnnouncements(nc, "tts");
    const speech = await startSpeechWorker({ nats: nc, registry: createRegistry(), modelDir: models.dir });
    const health = new HealthClient(speech.worker.address, credentials.createInsecure());
    try {
      const status = await callUnary(health.check.bind(health), { service: "" });
      expect(status.status).toBe(Serving.NOT_SERVING);
      await eventually(() => expect(announcements.at(-1)?.state).toBe(WorkerState.WORKER_STATE_NOT_READY));
      expect(announcements.at(-1)!.message).toMatch(/broken\.onnx\.json: audio\.sample_rate is missing or invalid/);
    } finally {
      health.close();
      await speech.close(1_000);
      await nc.close();
    }
  });

  it("runs on CPU when asked, on CUDA only where its provider loads, and refuses CUDA it cannot load", async () => {
    expect(await executionProviders("cpu")).toEqual({ providers: ["cpu"], reported: "cpu" });
    const auto = await executionProviders("auto");
    const cuda = await executionProviders("cuda").then(
      (eps) => eps.reported,
      (err: Error) => err.message,
    );
    // Either CUDA works (a GPU node with onnxruntime's CUDA libraries) or it is refused with the reason.
    const cudaWorks = auto.reported === "cuda";
    expect(cuda).toMatch(cudaWorks ? /^cuda$/ : /CUDA execution provider unavailable/);
  });
});
