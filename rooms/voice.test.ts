import { describe, expect, it } from "vitest";
import { credentials, status, type ServerWritableStream } from "@grpc/grpc-js";
import {
  LipSyncServiceClient,
  LipSyncServiceService,
  SpeechServiceClient,
  SpeechServiceService,
  WorkerAnnouncement,
  WorkerKind,
  WorkerState,
  type AnimateRequest,
  type AnimateResponse,
  type SynthesizeRequest,
  type SynthesizeResponse,
} from "../proto/index.js";
import { rootLogger } from "../observability/index.js";
import type { MouthFrameInput, SpeechChunk } from "../media/index.js";
import { UnavailableError } from "../errors/index.js";
import { bidiCall, bidiStream, mediaChannelOptions } from "../transport/index.js";
import { eventually, startTestGrpcServer, startTestRoomStack } from "../testing/index.js";
import { Voice, type Utterance } from "./voice.js";
import { WorkerDirectory } from "./workers.js";

const utterance: Utterance = {
  utteranceId: "u-1",
  roomId: "r1",
  text: "宝子们看过来，这款保温杯只要¥79，原价129元，500ml的容量，保温12小时，库存不多了！",
  voiceId: "zh-female-warm",
  speed: 0,
  avatarId: "default",
  fps: 25,
};

function recorder() {
  const speech: SpeechChunk[] = [];
  const frames: MouthFrameInput[] = [];
  return {
    speech,
    frames,
    out: { speech: (c: SpeechChunk) => speech.push(c), mouth: (f: MouthFrameInput) => frames.push(f) },
    samples: () => Buffer.concat(speech.map(({ pcm }) => Buffer.from(pcm.buffer, pcm.byteOffset, pcm.byteLength))),
  };
}

/** The worker pools a voice speaks through (a stack with no room host), and the voice on its own directory. */
async function pools(options: { lipsync: boolean }) {
  const stack = await startTestRoomStack({ live: true, roomHosts: 0, lipsyncWorkers: options.lipsync ? 1 : 0 });
  const directory = await WorkerDirectory.start(stack.nc);
  await eventually(() => expect(directory.workers("tts")).toHaveLength(1));
  if (options.lipsync) await eventually(() => expect(directory.workers("lipsync")).toHaveLength(1));
  const voice = new Voice(directory, rootLogger());
  return {
    directory,
    speech: stack.ttsWorkers[0]!,
    lipsync: stack.lipsyncWorkers[0],
    voice,
    async [Symbol.asyncDispose]() {
      voice[Symbol.dispose]();
      await directory[Symbol.asyncDispose]();
      await stack[Symbol.asyncDispose]();
    },
  };
}

describe("a room's voice", () => {
  it("speaks an utterance through a TTS worker and animates it with a lip-sync worker, frame for frame", async () => {
    await using p = await pools({ lipsync: true });
    const r = recorder();
    const spoken = await p.voice.speak(utterance, r.out, new AbortController().signal);
    expect(spoken.durationMs).toBeGreaterThan(4_000);
    expect(r.speech.filter((c) => c.final)).toHaveLength(1);
    expect(r.speech.at(-1)!.final).toBe(true);
    // One mouth frame per 40 ms of audio, numbered from the utterance's first sample, none missing.
    expect(Math.abs(r.frames.length - (spoken.durationMs * 25) / 1000)).toBeLessThanOrEqual(1);
    expect(r.frames.map((f) => f.index)).toEqual(r.frames.map((_, i) => i));
    expect(
      r.frames.every((f) => f.utteranceId === "u-1" && f.patch.rgba.length === f.patch.width * f.patch.height * 4),
    ).toBe(true);
    // Word timings on the utterance clock, in order, "¥79" among them with where it came from in the text.
    const starts = spoken.words.map((w) => w.startMs);
    expect(starts).toEqual([...starts].sort((a, b) => a - b));
    expect(spoken.words.some((w) => utterance.text.slice(w.sourceStart, w.sourceEnd).includes("79"))).toBe(true);
  });

  it("moves to another TTS worker when one fails mid-utterance, without repeating what was heard", async () => {
    await using p = await pools({ lipsync: false });
    // The whole utterance from the healthy worker: what the audience must hear, once.
    const reference = recorder();
    const whole = await p.voice.speak(utterance, reference.out, new AbortController().signal);

    // A worker that speaks two chunks (proxied from the healthy one) and then fails.
    const healthy = new SpeechServiceClient(p.speech.worker.address, credentials.createInsecure(), mediaChannelOptions);
    await using flaky = await startTestGrpcServer([
      {
        name: "livehost.v1.SpeechService",
        definition: SpeechServiceService,
        implementation: {
          synthesize: (call: ServerWritableStream<SynthesizeRequest, SynthesizeResponse>) => {
            let sent = 0;
            const upstream = healthy.synthesize(call.request);
            upstream.on("data", (chunk: SynthesizeResponse) => {
              if (sent++ < 2) call.write(chunk);
              else if (sent === 4) {
                upstream.cancel();
                call.emit("error", { code: status.UNAVAILABLE, details: "GPU fell off the bus" });
              }
            });
            upstream.on("error", () => undefined);
          },
          listVoices: (_call: unknown, callback: (err: null, res: { voices: [] }) => void) =>
            callback(null, { voices: [] }),
        },
      },
    ]);
    // The flaky one announced as idle and the healthy one as busy, so the flaky one is picked first.
    const [real] = p.directory.workers("tts");
    p.directory.learn(
      WorkerAnnouncement.fromPartial({
        workerId: real!.id,
        kind: WorkerKind.WORKER_KIND_TTS,
        grpcAddress: real!.address,
        state: WorkerState.WORKER_STATE_READY,
        maxStreams: 100,
        activeStreams: 90,
        capabilities: real!.capabilities,
        ttlMs: 60_000,
      }),
    );
    p.directory.learn(
      WorkerAnnouncement.fromPartial({
        workerId: "flaky",
        kind: WorkerKind.WORKER_KIND_TTS,
        grpcAddress: flaky.address,
        state: WorkerState.WORKER_STATE_READY,
        maxStreams: 100,
        capabilities: ["zh-female-warm"],
        ttlMs: 60_000,
      }),
    );
    const r = recorder();
    const spoken = await p.voice.speak({ ...utterance, utteranceId: "u-2" }, r.out, new AbortController().signal);
    healthy.close();
    expect(spoken.ttsWorkers).toEqual(["flaky", p.speech.worker.id]);
    // The second worker's rendering takes over where the first stopped: as long as the utterance spoken once
    // (espeak-ng renders the same text a few samples differently from call to call), every word once.
    expect(Math.abs(r.samples().length - reference.samples().length)).toBeLessThan(reference.samples().length / 100);
    expect(spoken.words.map((w) => w.startMs)).toEqual([...new Set(spoken.words.map((w) => w.startMs))]);
    expect(r.speech.filter((c) => c.final)).toHaveLength(1);
    expect(spoken.words.length).toBe(whole.words.length);
    // Without a lip-sync worker the utterance is still spoken; the avatar stays idle.
    expect(r.frames).toEqual([]);
  });

  it("moves to another lip-sync worker when one fails mid-utterance: every frame once, in order", async () => {
    await using p = await pools({ lipsync: true });
    // A worker that passes on the healthy one's first 30 frames, then fails.
    const healthy = new LipSyncServiceClient(
      p.lipsync!.worker.address,
      credentials.createInsecure(),
      mediaChannelOptions,
    );
    await using flaky = await startTestGrpcServer([
      {
        name: "livehost.v1.LipSyncService",
        definition: LipSyncServiceService,
        implementation: {
          animate: bidiStream("Animate", async function* (requests: AsyncIterable<AnimateRequest>, signal) {
            let frames = 0;
            for await (const response of bidiCall<AnimateRequest, AnimateResponse>(
              healthy.animate.bind(healthy),
              requests,
              { signal },
            )) {
              if (response.message?.$case === "frame" && ++frames > 30)
                throw new UnavailableError("GPU fell off the bus");
              yield response;
            }
          }),
        },
      },
    ]);
    // The flaky one announced as idle and the healthy one as busy, so the flaky one is picked first.
    const [real] = p.directory.workers("lipsync");
    for (const [workerId, grpcAddress, activeStreams] of [
      [real!.id, real!.address, 90],
      ["flaky", flaky.address, 0],
    ] as const) {
      p.directory.learn(
        WorkerAnnouncement.fromPartial({
          workerId,
          kind: WorkerKind.WORKER_KIND_LIPSYNC,
          grpcAddress,
          state: WorkerState.WORKER_STATE_READY,
          maxStreams: 100,
          activeStreams,
          capabilities: ["default"],
          ttlMs: 60_000,
        }),
      );
    }
    const r = recorder();
    const spoken = await p.voice.speak({ ...utterance, utteranceId: "u-3" }, r.out, new AbortController().signal);
    healthy.close();
    expect(spoken.lipsyncWorkers).toEqual(["flaky", real!.id]);
    // The second worker heard the utterance from its start; what the first had delivered is not shown twice.
    expect(r.frames.map((f) => f.index)).toEqual(r.frames.map((_, i) => i));
    expect(Math.abs(r.frames.length - (spoken.durationMs * 25) / 1000)).toBeLessThanOrEqual(1);
  });
});
