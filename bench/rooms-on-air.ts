// Rooms on air for a benchmark: everything real and on loopback (nats-server, a room host with its media graphs in
// this process, a TTS worker and a lip-sync worker here or in processes of their own), the sample zh catalog and
// persona, the default avatar at the size asked. Shared by the room and latency benchmarks; a trial runs while the rooms are on air, then all stops.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadCatalogFile, loadPersonasFile, pickPersona, sampleFiles } from "../brain/index.js";
import { startLipSyncWorker, startSpeechWorker, writeDefaultAvatarPack } from "../gpu-workers/index.js";
import type { X264Preset } from "../media/index.js";
import { createRegistry, type Registry } from "../observability/index.js";
import { RoomSpec, type Output } from "../proto/index.js";
import { RoomClient, startRoomHost, type AnswerStages, type LiveRoomDeps } from "../rooms/internal.js";
import { connectNats, type NatsConnection } from "../transport/index.js";
import { startNatsServer } from "../testing/index.js";
import { startStack } from "../cli/internal.js";

export interface Size {
  width: number;
  height: number;
  preset: X264Preset;
}

export interface Heard {
  stages: AnswerStages;
  /** performance.now() when the answer's first sample went into the stream. */
  at: number;
}

export interface OnAir {
  nc: NatsConnection;
  ids: string[];
  registry: Registry;
  /** Answers whose first sample went into the stream, by comment id. */
  heard: Map<string, Heard>;
  /** When each utterance's first frame came out of its room's encoder (Unix ms), by utterance id. */
  encoded: Map<string, number>;
  /** Where the rooms write their output: <mediaDir>/<roomId>/hls. */
  mediaDir: string;
}

export interface OnAirOptions {
  /** The rooms' outputs (room id → outputs); default HLS with 2 s segments. */
  outputs?: (roomId: string) => Output[];
  streamKeys?: LiveRoomDeps["streamKeys"];
  /** The TTS and lip-sync workers in processes of their own (default: in this one). */
  workerProcesses?: boolean;
}

/** A stack with `rooms` rooms on air; the caller runs its trial, then everything stops. */
export async function onAir<T>(
  rooms: number,
  size: Size,
  trial: (ctx: OnAir) => Promise<T>,
  options: OnAirOptions = {},
): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), "livehost-bench-room-"));
  const avatarsDir = join(dir, "avatars");
  const mediaDir = join(dir, "media");
  await writeDefaultAvatarPack(join(avatarsDir, "default"), { width: size.width, height: size.height });
  const nats = await startNatsServer();
  const nc = await connectNats({ servers: nats.url, name: "bench" });
  const registry = createRegistry();
  const heard = new Map<string, Heard>();
  const encoded = new Map<string, number>();
  // The worker pools: in this process, or each in its own, as `livehost up` and a cluster run them.
  const workers = options.workerProcesses
    ? await startStack({ natsUrl: nats.url, roles: ["tts-worker", "lipsync-worker"], avatarsDir })
    : await inProcessWorkers(nc, avatarsDir);
  const host = await startRoomHost({
    nats: nc,
    registry,
    live: {
      avatarsDir,
      mediaDir,
      x264Preset: size.preset,
      onAnswerHeard: (commentId, stages) => heard.set(commentId, { stages, at: performance.now() }),
      onUtteranceEncoded: (utteranceId, at) => encoded.set(utteranceId, at),
      ...(options.streamKeys ? { streamKeys: options.streamKeys } : {}),
    },
  });
  try {
    // Workers are known to the room host from their first announcements.
    await new Promise((resolve) => setTimeout(resolve, 500));
    const client = new RoomClient(nc);
    const ids = Array.from({ length: rooms }, (_, i) => `bench-${i}`);
    for (const id of ids) {
      const spec = await benchSpec(size, options.outputs?.(id));
      await client.request(id, { $case: "create", value: { requestId: id, roomId: id, spec, tenant: "" } });
      await client.request(id, { $case: "start", value: { roomId: id, requestId: "" } }, { timeoutMs: 30_000 });
    }
    return await trial({ nc, ids, registry, heard, encoded, mediaDir });
  } finally {
    await host.close();
    await workers.stop();
    await nc.close();
    await nats.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

async function inProcessWorkers(nc: NatsConnection, avatarsDir: string): Promise<{ stop(): Promise<void> }> {
  const tts = await startSpeechWorker({ nats: nc, registry: createRegistry(), maxStreams: 64 });
  const lipsync = await startLipSyncWorker({
    nats: nc,
    registry: createRegistry(),
    avatarsDir,
    executionProvider: "cpu",
    maxStreams: 64,
  });
  return {
    stop: async () => {
      await lipsync.close(1_000);
      await tts.close(1_000);
    },
  };
}

async function benchSpec(size: Size, outputs?: Output[]): Promise<RoomSpec> {
  const catalog = await loadCatalogFile(sampleFiles.catalogZh);
  return RoomSpec.fromPartial({
    displayName: "bench",
    catalog,
    persona: pickPersona(await loadPersonasFile(sampleFiles.personas), catalog),
    voice: { voiceId: "zh-female-warm" },
    avatar: { avatarId: "default" },
    output: {
      video: { widthPx: size.width, heightPx: size.height, fps: 25, bitrateKbps: 1500 },
      audioBitrateKbps: 96,
      outputs: outputs ?? [{ kind: { $case: "hls", value: { segmentDurationS: 2, playlistLength: 6 } } }],
    },
  });
}
