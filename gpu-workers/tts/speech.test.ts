import { describe, expect, it } from "vitest";
import { credentials, status as GrpcStatus, type ClientReadableStream, type ServiceError } from "@grpc/grpc-js";
import {
  ListVoicesRequest,
  SpeechServiceClient,
  SynthesizeRequest,
  type SynthesizeResponse,
} from "../../proto/index.js";
import { createRegistry } from "../../observability/index.js";
import { callUnary, connectNats } from "../../transport/index.js";
import { eventually, recordAnnouncements, startNatsServer } from "../../testing/index.js";
import { WorkerState } from "../../proto/index.js";
import { startSpeechWorker } from "../internal.js";

async function speechStack(maxStreams = 8, capacityWindowMs?: number) {
  const nats = await startNatsServer({ jetstream: false });
  const nc = await connectNats({ servers: nats.url, name: "test" });
  const announcements = await recordAnnouncements(nc, "tts");
  const registry = createRegistry();
  const speech = await startSpeechWorker({ nats: nc, registry, maxStreams, capacityWindowMs });
  const client = new SpeechServiceClient(speech.worker.address, credentials.createInsecure());
  return {
    speech,
    client,
    registry,
    announcements,
    synthesize: (request: Partial<SynthesizeRequest>) =>
      collect(client.synthesize(SynthesizeRequest.fromPartial(request))),
    async [Symbol.asyncDispose]() {
      client.close();
      await speech.close(1_000);
      await nc.close();
      await nats.stop();
    },
  };
}

function collect(call: ClientReadableStream<SynthesizeResponse>): Promise<SynthesizeResponse[]> {
  return new Promise((resolve, reject) => {
    const chunks: SynthesizeResponse[] = [];
    call.on("data", (chunk: SynthesizeResponse) => chunks.push(chunk));
    call.on("end", () => resolve(chunks));
    call.on("error", reject);
  });
}

const samplesOf = (chunks: SynthesizeResponse[]) => {
  const pcm = Buffer.concat(chunks.map((c) => c.pcm));
  return new Int16Array(pcm.buffer, pcm.byteOffset, pcm.length / 2);
};
const rms = (samples: Int16Array) =>
  Math.sqrt(samples.reduce((sum, x) => sum + x * x, 0) / Math.max(1, samples.length));
const durationMs = (chunks: SynthesizeResponse[]) =>
  (samplesOf(chunks).length / chunks[0]!.format!.sampleRateHz) * 1000;

describe("SpeechService with the embedded voice", () => {
  it("speaks English: audible audio whose length grows with the text, with contiguous chunks", async () => {
    await using s = await speechStack();
    const short = await s.synthesize({ text: "Hello there.", voiceId: "en-male-bright" });
    const long = await s.synthesize({
      text: "The gooseneck kettle is $49.99 today. It keeps water warm for sixty minutes. Grab the five dollar coupon!",
      voiceId: "en-male-bright",
    });
    expect(rms(samplesOf(long))).toBeGreaterThan(500);
    expect(durationMs(long)).toBeGreaterThan(3 * durationMs(short));
    expect(long[0]!.format).toEqual({ sampleRateHz: 22050, channels: 1, encoding: 1 });
    expect(long.filter((c) => c.final)).toEqual([long.at(-1)]);
    expect(new Set(long.map((c) => c.sentenceIndex))).toEqual(new Set([0, 1, 2]));
    // Chunks follow each other on the utterance clock.
    let clock = 0;
    for (const chunk of long) {
      expect(Math.abs(chunk.offsetMs - clock)).toBeLessThanOrEqual(2);
      clock = chunk.offsetMs + chunk.durationMs;
      expect(chunk.pcm.length).toBeLessThanOrEqual(64 * 1024);
    }
    // The first chunk is small (it goes as soon as there is audio); the rest come in groups of up to 1.4 s, so a
    // room gets a few messages per sentence, not one per 60 ms of audio.
    expect(long[0]!.durationMs).toBeLessThan(200);
    expect(long.length).toBeLessThanOrEqual(Math.ceil(durationMs(long) / 1_000) + 3);
  });

  it("gives word and phoneme timings that are in order, cover the audio, and point back at the text", async () => {
    await using s = await speechStack();
    const text = "Only $49.99 for the kettle.";
    const chunks = await s.synthesize({ text, voiceId: "en-female-clear" });
    const words = chunks.flatMap((c) => c.words);
    const phonemes = chunks.flatMap((c) => c.phonemes);
    const total = durationMs(chunks);
    // espeak-ng reports the words it times (an unstressed "the" may merge with a neighbour); a hyphenated number is
    // one word, whole: the price is said, and told, as forty-nine and ninety-nine.
    const spoken = words.map((w) => w.text);
    expect(
      spoken.filter((w) => ["Only", "forty-nine", "dollars", "ninety-nine", "cents", "kettle"].includes(w)),
    ).toEqual(["Only", "forty-nine", "dollars", "ninety-nine", "cents", "kettle"]);
    expect(words.every((w) => w.endMs >= w.startMs)).toBe(true);
    expect(words.every((w, i) => i === 0 || w.startMs >= words[i - 1]!.startMs)).toBe(true);
    expect(words.at(-1)!.endMs).toBeLessThanOrEqual(total + 1);
    expect(words.at(-1)!.endMs).toBeGreaterThan(total * 0.6);
    const price = words.find((w) => w.text === "dollars")!;
    expect(text.slice(price.sourceStart, price.sourceEnd)).toBe("$49.99");
    expect(phonemes.length).toBeGreaterThan(words.length);
    expect(phonemes.every((p, i) => i === 0 || p.startMs >= phonemes[i - 1]!.startMs)).toBe(true);
  });

  it("speaks Mandarin with prices read as a host reads them, each hanzi a timed word", async () => {
    await using s = await speechStack();
    const text = "宝子们，这个保温杯只要¥79！";
    const chunks = await s.synthesize({ text, voiceId: "zh-female-warm" });
    expect(rms(samplesOf(chunks))).toBeGreaterThan(500);
    const words = chunks.flatMap((c) => c.words);
    expect(words.map((w) => w.text).join("")).toBe("宝子们这个保温杯只要七十九元");
    const seven = words.find((w) => w.text === "七")!;
    expect(text.slice(seven.sourceStart, seven.sourceEnd)).toBe("¥79");
  });

  it("resamples to the rate asked for", async () => {
    await using s = await speechStack();
    const native = await s.synthesize({ text: "Sample rates.", voiceId: "en-male-bright" });
    const at16k = await s.synthesize({ text: "Sample rates.", voiceId: "en-male-bright", sampleRateHz: 16000 });
    expect(at16k[0]!.format!.sampleRateHz).toBe(16000);
    expect(Math.abs(durationMs(at16k) - durationMs(native))).toBeLessThan(20);
  });

  it.each([
    ["empty text", { text: "", voiceId: "en-male-bright" }, "text"],
    ["text over 2000 characters", { text: "x".repeat(2001), voiceId: "en-male-bright" }, "text"],
    ["control characters", { text: "bell\u0007", voiceId: "en-male-bright" }, "text"],
    ["an unknown voice", { text: "hello", voiceId: "nobody" }, "voice_id"],
    ["an unsupported sample rate", { text: "hello", voiceId: "en-male-bright", sampleRateHz: 12345 }, "sample_rate_hz"],
    ["a speed out of range", { text: "hello", voiceId: "en-male-bright", speed: 5 }, "speed"],
    ["a priority the contract does not name", { text: "hello", voiceId: "en-male-bright", priority: 7 }, "priority"],
  ])("refuses %s with INVALID_ARGUMENT naming the field", async (_name, request, field) => {
    await using s = await speechStack();
    const error = await s.synthesize(request).catch((err: ServiceError) => err);
    expect((error as ServiceError).code).toBe(GrpcStatus.INVALID_ARGUMENT);
    expect((error as ServiceError).metadata.get("livehost-field")).toEqual([field]);
  });

  it("refuses a stream beyond the cap at once, and frees the slot when a client cancels", async () => {
    await using s = await speechStack(1);
    // A client that does not read holds its stream (and slot) open: the server waits on flow control.
    const held = s.client.synthesize(
      SynthesizeRequest.fromPartial({ text: "A long product show. ".repeat(95), voiceId: "en-male-bright" }),
    );
    held.on("error", () => undefined);
    await new Promise((resolve) => held.once("data", resolve));
    held.pause();
    await eventually(() => expect(s.speech.worker.slots.active).toBe(1));

    const refused = await s.synthesize({ text: "me too", voiceId: "en-male-bright" }).catch((err: ServiceError) => err);
    expect((refused as ServiceError).code).toBe(GrpcStatus.RESOURCE_EXHAUSTED);

    held.cancel();
    await eventually(() => expect(s.speech.worker.slots.active).toBe(0));
    expect(await s.registry.metrics()).toMatch(/livehost_tts_cancelled_total \d*[1-9]/);
    expect(await s.synthesize({ text: "my turn", voiceId: "en-male-bright" })).not.toHaveLength(0);
  });

  it("lists its voices, by language, and announces them on NATS", async () => {
    await using s = await speechStack();
    const zh = await callUnary(s.client.listVoices.bind(s.client), ListVoicesRequest.fromPartial({ language: "zh" }));
    expect(zh.voices.map((v) => v.id).sort()).toEqual(["zh-female-warm", "zh-male-calm"]);
    expect(zh.voices[0]).toMatchObject({ family: "espeak-ng", nativeSampleRateHz: 22050 });
    // By whole subtags, in any case: "zha" (Zhuang) is not "zh", "ZH-cn" is the voices' own tag.
    const list = (language: string) =>
      callUnary(s.client.listVoices.bind(s.client), ListVoicesRequest.fromPartial({ language }));
    expect((await list("zha")).voices).toEqual([]);
    expect((await list("ZH-cn")).voices.map((v) => v.id).sort()).toEqual(["zh-female-warm", "zh-male-calm"]);
    expect((await list("")).voices.length).toBeGreaterThanOrEqual(4);
    for (const bad of ["z", "zh_CN"]) {
      await expect(list(bad)).rejects.toThrow(/^language: must be a BCP 47 language tag/);
    }
    await eventually(() => expect(s.announcements.at(-1)?.capabilities).toContain("en-male-bright"));
    expect(s.announcements.at(-1)).toMatchObject({ grpcAddress: s.speech.worker.address, executionProvider: "cpu" });
  });

  it("announces the streams it measured its voice sustains here, within its cap", async () => {
    await using s = await speechStack(100_000, 60_000);
    await eventually(() => expect(s.announcements.at(-1)?.state).toBe(WorkerState.WORKER_STATE_READY));
    const announced = s.announcements.at(-1)!.maxStreams;
    expect(announced).toBeGreaterThan(1);
    expect(announced).toBeLessThan(100_000);
    expect(s.speech.worker.slots.max).toBe(announced);
    expect(await s.registry.metrics()).toMatch(
      /livehost_worker_stream_cost_seconds\{kind="tts",source="start"\} 0\.\d+/,
    );
  });

  it("records first-chunk latency and real-time factor", async () => {
    await using s = await speechStack();
    await s.synthesize({ text: "Metrics please.", voiceId: "en-male-bright" });
    const text = await s.registry.metrics();
    expect(text).toMatch(/livehost_tts_first_chunk_seconds_count\{family="espeak-ng",priority="normal"\} 1/);
    expect(text).toMatch(/livehost_tts_realtime_factor_count\{family="espeak-ng"\} 1/);
  });
});
