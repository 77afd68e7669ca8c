import { describe, expect, it } from "vitest";
import { credentials, status as GrpcStatus, type ClientDuplexStream, type ServiceError } from "@grpc/grpc-js";
import {
  AudioEncoding,
  HealthCheckResponse_ServingStatus as Serving,
  HealthClient,
  LipSyncServiceClient,
  WorkerState,
  animateAudio,
  animateClear,
  animateFlush,
  animateOpen,
  type AnimateOpen,
  type AnimateRequest,
  type AnimateResponse,
} from "../../proto/internal.js";
import { createRegistry } from "../../observability/index.js";
import { bidiCall, callUnary, connectNats, mediaChannelOptions } from "../../transport/index.js";
import { eventually, startNatsServer, startTestGrpcServer, startTestLipSyncWorker } from "../../testing/index.js";
import { EspeakEngine, StreamSlots, embeddedVoices, startLipSyncWorker, synthesizeToPcm } from "../internal.js";
import { lipSyncService, type AvatarMouth } from "./lipsync-service.js";
import { Viseme, type VisemeId } from "./visemes.js";
import { loadAvatarPack } from "../../avatars/index.js";
import { writeDefaultAvatarPack } from "./default-avatar.js";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

const open = (overrides: Partial<AnimateOpen> = {}) => {
  const request = animateOpen({ sampleRateHz: 22050, roomId: "r1" });
  if (request.message?.$case === "open") Object.assign(request.message.value, overrides);
  return request;
};
const audio = (pcm: Int16Array, utteranceId = "u1") => animateAudio(pcm, utteranceId);
const flush = (utteranceId = "u1") => animateFlush(utteranceId);
const clear = animateClear;

async function speech(text: string, voiceId = "en-male-bright"): Promise<Int16Array> {
  await using engine = await EspeakEngine.start();
  const voice = embeddedVoices.find((v) => v.id === voiceId)!;
  return (await synthesizeToPcm(engine, voice, text, { speed: 1, sampleRate: 22050 })).pcm;
}

const lipsyncStack = (maxStreams = 4, capacityWindowMs?: number) =>
  startTestLipSyncWorker({ maxStreams, capacityWindowMs });

/** Collects responses until `until` says so, or the stream ends or fails. */
function collect(call: ClientDuplexStream<AnimateRequest, AnimateResponse>, until: (r: AnimateResponse[]) => boolean) {
  return new Promise<AnimateResponse[]>((resolve, reject) => {
    const responses: AnimateResponse[] = [];
    call.on("data", (r: AnimateResponse) => {
      responses.push(r);
      if (until(responses)) resolve(responses);
    });
    call.on("end", () => resolve(responses));
    call.on("error", reject);
  });
}

describe("LipSyncService.Animate", () => {
  it("answers speech with one rendered frame per 40 ms of audio at 25 fps, then confirms the flush", async () => {
    await using s = await lipsyncStack();
    const pcm = await speech("The gooseneck kettle is forty nine dollars today. Grab the coupon!");
    const call = s.client.animate();
    const done = collect(call, (r) => r.some((m) => m.message?.$case === "flushed"));
    call.write(open());
    for (let i = 0; i < pcm.length; i += 2205) call.write(audio(pcm.subarray(i, i + 2205)));
    call.write(flush());
    const responses = await done;
    call.end();

    const frames = responses.flatMap((r) => (r.message?.$case === "frame" ? [r.message.value] : []));
    const expected = (pcm.length / 22050) * 25;
    expect(Math.abs(frames.length - expected)).toBeLessThanOrEqual(1);
    expect(frames.map((f) => f.frameIndex)).toEqual(frames.map((_, i) => i));
    expect(frames[10]!.ptsMs).toBe(400);
    const frame = frames[10]!;
    expect(frame.utteranceId).toBe("u1");
    // The drawn host's mouth box on a 720x1280 frame (the default avatar pack's).
    expect(frame.patch).toMatchObject({ xPx: 312, yPx: 580, widthPx: 96, heightPx: 64 });
    expect(frame.patch!.data.length).toBe(96 * 64 * 4);
    expect(new Set(frames.map((f) => f.mouth!.viseme)).size).toBeGreaterThan(3);
    const flushed = responses.find((r) => r.message?.$case === "flushed")!;
    expect(flushed.message).toMatchObject({ value: { utteranceId: "u1", frames: frames.length } });
  });

  it("returns to the rest pose within one frame on clear", async () => {
    await using s = await lipsyncStack();
    const pcm = await speech("Quick heads-up, only forty five left in stock.");
    const call = s.client.animate();
    const done = collect(call, (r) => r.some((m) => m.message?.$case === "cleared"));
    call.write(open());
    call.write(audio(pcm.subarray(0, 22050)));
    call.write(clear());
    const responses = await done;
    await eventually(() => expect(responses.filter((r) => r.message?.$case === "frame").length).toBeGreaterThan(0));
    call.end();
    const clearedAt = responses.findIndex((r) => r.message?.$case === "cleared");
    const cleared = responses[clearedAt]!.message!;
    const framesBefore = responses
      .slice(0, clearedAt)
      .flatMap((r) => (r.message?.$case === "frame" ? [r.message.value] : []));
    // The next frame after "cleared" is the rest pose, at the very next frame index.
    const restFrame = await eventually(() => {
      const next = responses.slice(clearedAt + 1).find((r) => r.message?.$case === "frame");
      expect(next).toBeDefined();
      return next!.message!.$case === "frame" ? next!.message!.value : undefined;
    });
    expect(restFrame!.mouth!.viseme).toBe(Viseme.rest);
    expect(cleared.$case === "cleared" ? cleared.value.frameIndex : -1).toBe(restFrame!.frameIndex);
    expect(restFrame!.frameIndex).toBe(framesBefore.length);
  });

  it.each([
    ["audio before open", [audio(new Int16Array(100))], "open"],
    ["an unknown avatar", [open({ avatarId: "nobody" })], "open.avatar_id"],
    ["an unsupported fps", [open({ fps: 27 })], "open.fps"],
    [
      "a sample-rate it cannot take",
      [open({ audioFormat: { sampleRateHz: 12345, channels: 1, encoding: 1 } })],
      "open.audio_format.sample_rate_hz",
    ],
    ["an oversized chunk", [open(), audio(new Int16Array(40_000))], "audio.pcm"],
    [
      "an utterance id too long to echo on every frame",
      [open(), audio(new Int16Array(100), "u".repeat(65))],
      "audio.utterance_id",
    ],
    ["a flush for an id too long", [open(), flush("u".repeat(65))], "flush.utterance_id"],
  ])("refuses %s with INVALID_ARGUMENT naming the field", async (_name, requests, field) => {
    await using s = await lipsyncStack();
    const call = s.client.animate();
    const failed = new Promise<ServiceError>((resolve) => call.on("error", resolve));
    call.on("data", () => undefined);
    for (const request of requests) call.write(request);
    const error = await failed;
    expect(error.code).toBe(GrpcStatus.INVALID_ARGUMENT);
    expect(error.metadata.get("livehost-field")).toEqual([field]);
    call.end();
  });

  it("says it is behind real time when its model is too slow, instead of staying silent", async () => {
    // A model that needs 60 ms per call: with 20 ms chunks the stream cannot keep up.
    const slowModel = async (_features: Float32Array, frames: number) => {
      await new Promise((resolve) => setTimeout(resolve, 60));
      return new Float32Array(frames * 10).fill(0.1);
    };
    await using server = await startTestGrpcServer([
      lipSyncService({ classify: slowModel, slots: new StreamSlots(1), registry: createRegistry() }),
    ]);
    const client = new LipSyncServiceClient(server.address, credentials.createInsecure(), mediaChannelOptions);
    const call = client.animate();
    const status = collect(call, (r) => r.some((m) => m.message?.$case === "status"));
    call.write(
      open({ audioFormat: { sampleRateHz: 16000, channels: 1, encoding: AudioEncoding.AUDIO_ENCODING_PCM_S16LE } }),
    );
    for (let i = 0; i < 60; i++) call.write(audio(new Int16Array(320)));
    const responses = await status;
    call.cancel();
    client.close();
    const report = responses.find((r) => r.message?.$case === "status")!.message!;
    expect(report.$case === "status" && report.value.behind).toBe(true);
    expect(report.$case === "status" && report.value.realtimeFactor).toBeGreaterThan(1);
  });

  it("slows a fast sender to its slow model's pace, and answers every frame in order", async () => {
    // A model that needs 10 ms a chunk, and a sender with 50 s of audio ready at once.
    let modelled = 0;
    const slowModel = async (_features: Float32Array, frames: number) => {
      await new Promise((resolve) => setTimeout(resolve, 10));
      modelled++;
      return new Float32Array(frames * 10).fill(0.1);
    };
    const tinyMouth: AvatarMouth = { id: "default", x: 0, y: 0, width: 4, height: 4 };
    await using server = await startTestGrpcServer([
      lipSyncService({
        classify: slowModel,
        slots: new StreamSlots(1),
        registry: createRegistry(),
        avatars: [tinyMouth],
      }),
    ]);
    const client = new LipSyncServiceClient(server.address, credentials.createInsecure(), mediaChannelOptions);
    const chunks = 100;
    let sent = 0;
    let lead = 0;
    function* sender() {
      yield animateOpen({ sampleRateHz: 16_000, roomId: "r1" });
      for (; sent < chunks; sent++) {
        lead = Math.max(lead, sent - modelled);
        yield animateAudio(new Int16Array(8_000), "u1"); // 0.5 s
      }
      yield animateFlush("u1");
    }
    const frames: number[] = [];
    let flushed = -1;
    for await (const { message } of bidiCall(client.animate.bind(client), sender())) {
      if (message?.$case === "frame") frames.push(message.value.frameIndex);
      if (message?.$case === "flushed") flushed = message.value.frames;
    }
    client.close();
    // Nothing dropped: one frame per 40 ms of the 50 s, numbered in order, and the flush counts them all.
    expect(Math.abs(frames.length - 1_250)).toBeLessThanOrEqual(1);
    expect(frames).toEqual(frames.map((_, i) => i));
    expect(flushed).toBe(frames.length);
    // The sender waited for the model: never more chunks ahead of it than the stream holds in flight (about 45: the
    // server reads 16 ahead, its HTTP/2 window and buffer hold 6 of these 16 KB chunks, grpc-js's buffer on a media
    // channel 4, the client's Writable 16), where an unbounded queue would have taken all 100 at once.
    expect(lead).toBeLessThanOrEqual(50);
    expect(sent).toBe(chunks);
  });

  it("draws frames from an avatar pack's mouth atlas, and is not ready with a corrupt pack", async () => {
    const dir = await mkdtemp(join(tmpdir(), "livehost-avatars-"));
    try {
      await writeDefaultAvatarPack(join(dir, "default"), { width: 360, height: 640 });
      const pack = await loadAvatarPack(join(dir, "default"));
      await using nats = await startNatsServer({ jetstream: false });
      const nc = await connectNats({ servers: nats.url, name: "test" });
      const lipsync = await startLipSyncWorker({
        nats: nc,
        registry: createRegistry(),
        avatarsDir: dir,
        executionProvider: "cpu",
      });
      const client = new LipSyncServiceClient(
        lipsync.worker.address,
        credentials.createInsecure(),
        mediaChannelOptions,
      );
      const call = client.animate();
      const done = collect(call, (r) => r.some((m) => m.message?.$case === "flushed"));
      call.write(open());
      call.write(audio(await speech("Hello there, welcome!")));
      call.write(flush());
      const frames = (await done).flatMap((r) => (r.message?.$case === "frame" ? [r.message.value] : []));
      call.end();
      client.close();
      const frame = frames.find((f) => f.mouth!.viseme !== Viseme.rest)!;
      expect(frame.patch).toMatchObject({
        xPx: pack.manifest.mouth.x,
        yPx: pack.manifest.mouth.y,
        widthPx: 48,
        heightPx: 32,
      });
      expect(Buffer.from(frame.patch!.data).equals(Buffer.from(pack.mouthImage(frame.mouth!.viseme as VisemeId)))).toBe(
        true,
      );
      await lipsync.close(1_000);

      await writeFile(join(dir, "default", "atlas.rgba"), new Uint8Array(10));
      const broken = await startLipSyncWorker({
        nats: nc,
        registry: createRegistry(),
        avatarsDir: dir,
        executionProvider: "cpu",
      });
      const health = new HealthClient(broken.worker.address, credentials.createInsecure());
      expect((await callUnary(health.check.bind(health), { service: "" })).status).toBe(Serving.NOT_SERVING);
      health.close();
      await broken.close(1_000);
      await nc.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("announces the default avatar and refuses a stream beyond its cap", async () => {
    await using s = await lipsyncStack(1);
    await eventually(() => expect(s.announcements.at(-1)?.capabilities).toEqual(["default"]));
    expect(s.announcements.at(-1)?.state).toBe(WorkerState.WORKER_STATE_READY);
    const first = s.client.animate();
    first.on("data", () => undefined);
    first.on("error", () => undefined);
    first.write(open());
    await eventually(() => expect(s.lipsync.worker.slots.active).toBe(1));
    const second = s.client.animate();
    const refused = new Promise<ServiceError>((resolve) => second.on("error", resolve));
    second.write(open());
    expect((await refused).code).toBe(GrpcStatus.RESOURCE_EXHAUSTED);
    first.cancel();
    await eventually(() => expect(s.lipsync.worker.slots.active).toBe(0));
  });

  it("announces the streams it measured it sustains here, within its cap, and the cost it measured", async () => {
    await using s = await lipsyncStack(100_000, 60_000);
    await eventually(() => expect(s.announcements.at(-1)?.state).toBe(WorkerState.WORKER_STATE_READY));
    const announced = s.announcements.at(-1)!.maxStreams;
    // A 2-core test machine sustains dozens of viseme streams, not a hundred thousand.
    expect(announced).toBeGreaterThan(1);
    expect(announced).toBeLessThan(100_000);
    expect(s.lipsync.worker.slots.max).toBe(announced);
    expect(await s.registry.metrics()).toMatch(
      /livehost_worker_stream_cost_seconds\{kind="lipsync",source="start"\} 0\.\d+/,
    );
    // Within its cap: a cap of 4 is announced as 4.
    await using capped = await lipsyncStack(4, 60_000);
    await eventually(() => expect(capped.announcements.at(-1)?.maxStreams).toBe(4));
  });
});
