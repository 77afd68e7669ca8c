// The neural talking-face path end to end: a user-style wav2lip export (made here, random weights) given to the
// worker with --model, streams opened with RENDERER_NEURAL over gRPC.
import { describe, expect, it } from "vitest";
import { credentials, status as GrpcStatus, type ServiceError } from "@grpc/grpc-js";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as ort from "onnxruntime-node";
import {
  LipSyncServiceClient,
  Renderer,
  WorkerState,
  animateAudio,
  animateOpen,
  type AnimateRequest,
  type AnimationFrame,
} from "../../proto/internal.js";
import { createRegistry } from "../../observability/index.js";
import { connectNats, mediaChannelOptions } from "../../transport/index.js";
import {
  animateUtterance,
  eventually,
  recordAnnouncements,
  startNatsServer,
  startTestGrpcServer,
  startTestLipSyncWorker,
  voicedTone,
} from "../../testing/index.js";
import { StreamSlots, startLipSyncWorker } from "../internal.js";
import { defaultFaceBox, writeDefaultAvatarPack } from "./default-avatar.js";
import { lipSyncService, type AvatarMouth } from "./lipsync-service.js";
import { talkingFaceContract } from "./talking-face.js";
import { generatorGraph } from "./wav2lip-graph.js";

const rate = 16_000;

const voiced = (seconds: number, pitch: number, syllables: number) => voicedTone(seconds, pitch, syllables, rate);

const open = (renderer: Renderer, avatarId = "default"): AnimateRequest => {
  const request = animateOpen({ sampleRateHz: rate, avatarId, roomId: "r1" });
  if (request.message?.$case === "open") request.message.value.renderer = renderer;
  return request;
};

/** One utterance through a stream, in 100 ms chunks: its frames, once "flushed" has come. */
const animate = (client: LipSyncServiceClient, pcm: Int16Array, renderer = Renderer.RENDERER_NEURAL) =>
  animateUtterance(client, pcm, { rate, renderer });

function refusal(client: LipSyncServiceClient, request: AnimateRequest): Promise<ServiceError> {
  return new Promise((resolve, reject) => {
    const call = client.animate();
    call.on("data", () => reject(new Error("a refused stream answered")));
    call.on("error", resolve);
    call.write(request);
  });
}

async function generatorFile(dir: string, options: Parameters<typeof generatorGraph>[0]): Promise<string> {
  const path = join(dir, "wav2lip.onnx");
  await writeFile(path, generatorGraph(options).bytes);
  return path;
}

async function neuralWorker(maxStreams = 8, capacityWindowMs?: number, avatarsDir?: string) {
  const dir = await mkdtemp(join(tmpdir(), "livehost-wav2lip-"));
  const stack = await startTestLipSyncWorker({
    maxStreams,
    capacityWindowMs,
    avatarsDir,
    modelPath: await generatorFile(dir, { size: "small" }),
  });
  const dispose = stack[Symbol.asyncDispose].bind(stack);
  return Object.assign(stack, {
    async [Symbol.asyncDispose]() {
      await dispose();
      await rm(dir, { recursive: true, force: true });
    },
  });
}

const maxDifference = (a: Uint8Array, b: Uint8Array) => {
  let max = a.length === b.length ? 0 : 255;
  for (let i = 0; i < Math.min(a.length, b.length); i++) max = Math.max(max, Math.abs(a[i]! - b[i]!));
  return max;
};

describe("the neural talking-face path", () => {
  it("loads a user's wav2lip-shaped export with --model and answers one face patch per video frame", async () => {
    await using s = await neuralWorker();
    await eventually(() => expect(s.announcements.at(-1)?.state).toBe(WorkerState.WORKER_STATE_READY));
    expect(s.announcements.at(-1)?.labels).toMatchObject({ renderers: "viseme,neural" });
    expect(s.announcements.at(-1)?.labels).not.toHaveProperty("neural_streams");
    const pcm = voiced(1.5, 140, 4);
    const frames = await animate(s.client, pcm);
    const box = defaultFaceBox(720, 1280);
    expect(frames.length).toBe(Math.ceil((pcm.length / rate) * 25));
    expect(frames.map((f) => f.frameIndex)).toEqual(frames.map((_, i) => i));
    for (const frame of frames) {
      expect(frame.patch).toMatchObject({ xPx: box.x, yPx: box.y, widthPx: box.width, heightPx: box.height });
      expect(frame.patch!.data.length).toBe(box.width * box.height * 4);
      // Mouth parameters are not computed on this path: the rest viseme, zeros.
      expect(frame.mouth).toEqual({ viseme: 0, open: 0, width: 0, round: 0 });
    }
    // The generator's picture follows the audio: frames of a syllable and of the pause after it differ.
    expect(maxDifference(frames[3]!.patch!.data, frames[12]!.patch!.data)).toBeGreaterThan(0);
    // The viseme path still serves the same worker's streams.
    const visemeFrames = await animate(s.client, pcm, Renderer.RENDERER_VISEME);
    expect(visemeFrames.length).toBe(frames.length);
    expect(visemeFrames[0]!.patch!.widthPx).toBe(96);
  });

  it("animates a pack's face: its face box, on the first frame of its idle loop", async () => {
    const dir = await mkdtemp(join(tmpdir(), "livehost-avatars-"));
    try {
      await writeDefaultAvatarPack(join(dir, "default"), { width: 360, height: 640 });
      await using s = await neuralWorker(8, undefined, dir);
      const frames = await animate(s.client, voiced(0.4, 160, 4));
      const box = defaultFaceBox(360, 640);
      expect(frames.length).toBe(10);
      expect(frames[0]!.patch).toMatchObject({ xPx: box.x, yPx: box.y, widthPx: box.width, heightPx: box.height });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("announces the neural streams it measured it sustains, when it measures its capacity", async () => {
    await using s = await neuralWorker(8, 60_000);
    await eventually(() => expect(s.announcements.at(-1)?.state).toBe(WorkerState.WORKER_STATE_READY));
    const streams = Number(s.announcements.at(-1)?.labels.neural_streams);
    expect(Number.isInteger(streams)).toBe(true);
    expect(streams).toBeGreaterThanOrEqual(0);
    expect(streams).toBeLessThanOrEqual(8);
  });

  it("refuses a generator of the wrong shape, naming the input", async () => {
    const dir = await mkdtemp(join(tmpdir(), "livehost-wav2lip-"));
    await using nats = await startNatsServer({ jetstream: false });
    const nc = await connectNats({ servers: nats.url, name: "test" });
    const announcements = await recordAnnouncements(nc, "lipsync");
    try {
      const modelPath = await generatorFile(dir, {
        size: "small",
        names: { mel: "mel", face: "face", output: "out" },
        faceShape: [1, 3, 96, 96],
      });
      await using lipsync = await startLipSyncWorker({ nats: nc, registry: createRegistry(), modelPath });
      await eventually(() => expect(announcements.at(-1)?.state).toBe(WorkerState.WORKER_STATE_NOT_READY));
      expect(announcements.at(-1)?.message).toContain(
        'model input "face" is [1,3,96,96]; a wav2lip-shaped generator takes [batch,6,96,96]',
      );
      expect(lipsync.worker.address).toBeTruthy();
    } finally {
      await nc.close();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("refuses RENDERER_NEURAL on a worker without a generator, and for an avatar without a face box", async () => {
    const classify = (_features: Float32Array, frames: number) =>
      Promise.resolve(new Float32Array(frames * 10).fill(0.1));
    await using plain = await startTestGrpcServer([
      lipSyncService({ classify, slots: new StreamSlots(2), registry: createRegistry() }),
    ]);
    const client = new LipSyncServiceClient(plain.address, credentials.createInsecure(), mediaChannelOptions);
    const noGenerator = await refusal(client, open(Renderer.RENDERER_NEURAL));
    client.close();
    expect(noGenerator.code).toBe(GrpcStatus.FAILED_PRECONDITION);
    expect(noGenerator.details).toContain("open.renderer");

    // An avatar from a pack without a face box: the viseme path animates it, the neural path says why not.
    const faceless: AvatarMouth = { id: "old-pack", x: 0, y: 0, width: 8, height: 8 };
    const avatars = new Map([["old-pack", faceless]]);
    const session = await ort.InferenceSession.create(generatorGraph({ size: "small" }).bytes);
    await using server = await startTestGrpcServer([
      lipSyncService({
        classify,
        generator: { session, Tensor: ort.Tensor, contract: talkingFaceContract(session) },
        slots: new StreamSlots(2),
        registry: createRegistry(),
        avatars,
      }),
    ]);
    const c = new LipSyncServiceClient(server.address, credentials.createInsecure(), mediaChannelOptions);
    const noFace = await refusal(c, open(Renderer.RENDERER_NEURAL, "old-pack"));
    c.close();
    expect(noFace.code).toBe(GrpcStatus.FAILED_PRECONDITION);
    expect(noFace.details).toContain('open.renderer: avatar "old-pack" has no face box');
  });

  it("keeps concurrent streams apart: each gets the patches it gets alone, from shared batches", async () => {
    await using s = await neuralWorker();
    const voices = [
      voiced(1.2, 110, 3),
      voiced(1.2, 150, 5),
      voiced(1.2, 190, 4),
      voiced(1.2, 230, 6),
      voiced(1.2, 270, 2),
      voiced(1.2, 310, 7),
    ];
    const alone: AnimationFrame[][] = [];
    for (const pcm of voices) alone.push(await animate(s.client, pcm));
    const together = await Promise.all(voices.map((pcm) => animate(s.client, pcm)));
    let crosstalk = 0;
    let compared = 0;
    for (const [i, frames] of together.entries()) {
      expect(frames.length).toBe(alone[i]!.length);
      for (const [j, frame] of frames.entries()) {
        compared++;
        // Batched and alone may round one value differently; another stream's face would differ by far more.
        if (maxDifference(frame.patch!.data, alone[i]![j]!.patch!.data) > 1) crosstalk++;
      }
    }
    expect(compared).toBe(voices.length * 30);
    expect(crosstalk).toBe(0);
    // The streams' frames did share batches (more than one stream per batch on average).
    const text = await s.registry.metrics();
    const sum = Number(/livehost_lipsync_neural_batch_streams_sum (\S+)/.exec(text)![1]);
    const count = Number(/livehost_lipsync_neural_batch_streams_count (\S+)/.exec(text)![1]);
    expect(sum / count).toBeGreaterThan(1);
    // And the streams really are different: a stream's patches are not another's.
    expect(maxDifference(together[0]![10]!.patch!.data, together[1]![10]!.patch!.data)).toBeGreaterThan(1);
  });

  it("frees what a closed stream held: its slot, and its frames still queued for the generator", async () => {
    await using s = await neuralWorker(1);
    const call = s.client.animate();
    const firstFrame = new Promise<void>((resolve) => call.on("data", () => resolve()));
    call.on("error", () => {});
    call.write(open(Renderer.RENDERER_NEURAL));
    const pcm = voiced(3, 140, 4);
    for (let at = 0; at < pcm.length; at += rate / 10) call.write(animateAudio(pcm.subarray(at, at + rate / 10), "u1"));
    await firstFrame;
    call.cancel();
    await eventually(() => expect(s.lipsync.worker.slots.active).toBe(0));
    // The one slot is free again: a new stream gets all its frames.
    const frames = await animate(s.client, voiced(0.4, 200, 5));
    expect(frames.length).toBe(10);
  });
});
