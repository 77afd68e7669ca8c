// A lip-sync worker on its own nats-server for the worker's tests: started as `livehost lipsync-worker` starts it
// (announcements recorded), with a gRPC client to it; disposing stops all of it. And speech-like test audio.
import { credentials } from "@grpc/grpc-js";
import { startLipSyncWorker } from "../gpu-workers/index.js";
import { createRegistry } from "../observability/index.js";
import {
  LipSyncServiceClient,
  Renderer,
  animateAudio,
  animateFlush,
  animateOpen,
  type AnimateResponse,
  type AnimationFrame,
} from "../proto/index.js";
import { connectNats, mediaChannelOptions } from "../transport/index.js";
import { recordAnnouncements } from "./announcements.js";
import { startNatsServer } from "./nats.js";

export interface TestLipSyncWorkerOptions {
  maxStreams: number;
  capacityWindowMs?: number;
  /** Its --model (default the project's viseme model). */
  modelPath?: string;
  avatarsDir?: string;
}

export async function startTestLipSyncWorker(options: TestLipSyncWorkerOptions) {
  const nats = await startNatsServer({ jetstream: false });
  const nc = await connectNats({ servers: nats.url, name: "test" });
  const announcements = await recordAnnouncements(nc, "lipsync");
  const registry = createRegistry();
  const lipsync = await startLipSyncWorker({ nats: nc, registry, executionProvider: "cpu", ...options });
  const client = new LipSyncServiceClient(lipsync.worker.address, credentials.createInsecure(), mediaChannelOptions);
  return {
    lipsync,
    client,
    registry,
    announcements,
    async [Symbol.asyncDispose]() {
      client.close();
      await lipsync.close(1_000);
      await nc.close();
      await nats.stop();
    },
  };
}

/** Syllables of a voiced tone at `rate` Hz: `pitch` Hz, `syllables` a second, so streams differ in what they say. */
export function voicedTone(seconds: number, pitch: number, syllables: number, rate = 16_000): Int16Array {
  return Int16Array.from({ length: Math.round(seconds * rate) }, (_, i) => {
    const t = i / rate;
    const envelope = Math.max(0, Math.sin(Math.PI * syllables * t));
    return Math.round(9000 * envelope * (Math.sin(2 * Math.PI * pitch * t) + 0.4 * Math.sin(4 * Math.PI * pitch * t)));
  });
}

/**
 * One utterance through an Animate stream, its audio in 100 ms chunks: its frames, once "flushed" has come. Drawn by
 * the talking-face generator unless another renderer is asked for.
 */
export function animateUtterance(
  client: LipSyncServiceClient,
  pcm: Int16Array,
  options: { rate: number; renderer?: Renderer; avatarId?: string },
): Promise<AnimationFrame[]> {
  const { rate } = options;
  return new Promise<AnimationFrame[]>((resolve, reject) => {
    const call = client.animate();
    const frames: AnimationFrame[] = [];
    call.on("data", (r: AnimateResponse) => {
      if (r.message?.$case === "frame") frames.push(r.message.value);
      if (r.message?.$case === "flushed") {
        call.end();
        resolve(frames);
      }
    });
    call.on("error", reject);
    const open = animateOpen({ sampleRateHz: rate, avatarId: options.avatarId ?? "default", roomId: "r1" });
    if (open.message?.$case === "open") open.message.value.renderer = options.renderer ?? Renderer.RENDERER_NEURAL;
    call.write(open);
    for (let at = 0; at < pcm.length; at += rate / 10) call.write(animateAudio(pcm.subarray(at, at + rate / 10), "u1"));
    call.write(animateFlush("u1"));
  });
}
