// Live rooms make their frames on compose workers (compose-pool.ts): a main thread kept busy (room actors, gRPC,
// NATS) makes no room miss a frame, and a process's rooms share a pool of threads that goes away with its last room.
// Checked on the output a viewer gets (the HLS stream's frames) and on the graph's frame metrics.
import { execFile } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { promisify } from "node:util";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createRegistry, type Registry } from "../observability/index.js";
import { OutputConfig } from "../proto/index.js";
import {
  RoomMediaGraph,
  composeWorkers,
  configureComposePool,
  killComposeWorkers,
  type MediaEvent,
  type MouthFrameInput,
} from "./internal.js";
import { hls } from "./testing/output.js";

const exec = promisify(execFile);
const avatarDir = new URL("../models/avatars/default", import.meta.url).pathname;
const fps = 25;
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "livehost-media-compose-"));
});
afterEach(() => configureComposePool({}));
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A 360x640@25 room streaming 1 s HLS segments, in real time. */
function liveRoom(name: string, registry: Registry = createRegistry()) {
  return new RoomMediaGraph({
    roomId: `r-${name}`,
    output: OutputConfig.fromPartial({
      video: { widthPx: 360, heightPx: 640, fps, bitrateKbps: 600 },
      audioBitrateKbps: 64,
      outputs: [hls(1)],
    }),
    avatarDir,
    outputDir: join(dir, name),
    registry,
    x264Preset: "ultrafast",
  });
}

/**
 * `seconds` of speech with a mouth frame for every one of its frames, as a room gets them from gRPC: the PCM and
 * each patch are views at odd offsets into one larger buffer (which must not be taken from the caller).
 */
function talking(utteranceId: string, seconds: number) {
  const rate = 24_000;
  const pool = Buffer.alloc(1 + seconds * rate * 2 + 1 + 96 * 64 * 4);
  for (let i = 0; i < pool.length; i++) pool[i] = (i * 7) & 0xff;
  const pcm = pool.subarray(1, 1 + seconds * rate * 2);
  const rgba = pool.subarray(pool.length - 96 * 64 * 4);
  const frames: MouthFrameInput[] = Array.from({ length: seconds * fps }, (_, index) => ({
    utteranceId,
    index,
    patch: { x: 312, y: 580, width: 96, height: 64, rgba },
  }));
  return { pool, speech: { utteranceId, pcm, sampleRateHz: rate, final: true }, frames };
}

async function metricSum(registry: Registry, name: string, labels: Record<string, string> = {}): Promise<number> {
  const metric = await registry.getSingleMetric(name)!.get();
  return metric.values
    .filter((v) => Object.entries(labels).every(([k, l]) => v.labels[k] === l))
    .reduce((sum, v) => sum + v.value, 0);
}

/** Video frames in an HLS stream, decoded. */
async function framesIn(playlist: string): Promise<number> {
  const { stdout } = await exec("ffprobe", [
    ...["-v", "error", "-count_frames", "-select_streams", "v:0"],
    ...["-show_entries", "stream=nb_read_frames", "-of", "csv=p=0", playlist],
  ]);
  // (An HLS input lists its streams under its program too: the same figure twice.)
  return Number(stdout.trim().split("\n")[0]);
}

/** Keeps this thread busy for `ms`, without a pause. */
function spin(ms: number) {
  const until = performance.now() + ms;
  while (performance.now() < until);
}

describe("live rooms compose off the main thread", () => {
  it("keeps 25 fps, every frame on the output, while the main thread is busy 30 ms of every 40 and blocked for 0.5 s", async () => {
    const registry = createRegistry();
    const graph = liveRoom("busy", registry);
    const line = talking("u1", 6);
    graph.pushSpeech(line.speech);
    for (const frame of line.frames) graph.pushMouthFrame(frame);
    expect(line.pool.buffer.byteLength).toBeGreaterThan(0); // still the caller's: copied, not transferred
    await graph.start();
    expect(graph.composedOn).toBe("worker");
    const started = performance.now();
    await sleep(500);

    // 3 s of a busy main thread: 30 ms of work in every 40 ms, then a half-second block with no pause at all.
    const busyUntil = performance.now() + 2_500;
    while (performance.now() < busyUntil) {
      spin(30);
      await sleep(10);
    }
    const before = graph.status().frame;
    const blockedAt = performance.now();
    spin(500);
    const duringBlock = graph.status().frame - before;
    const blockedFor = performance.now() - blockedAt;
    const elapsed = (performance.now() - started) / 1000;
    const made = graph.status().frame;
    await graph.stop();

    // Frames went on while this thread could not run a single callback, at the wall clock's pace.
    expect(duringBlock).toBeGreaterThanOrEqual(Math.floor(((blockedFor / 1000) * fps) / 2));
    expect(made).toBeGreaterThanOrEqual(Math.floor(elapsed * fps) - 3);
    expect(made).toBeLessThanOrEqual(Math.ceil(elapsed * fps) + 3);
    // None dropped, none late, and every frame made is on the output.
    expect({
      dropped: await metricSum(registry, "livehost_media_dropped_frames_total"),
      failed: await metricSum(registry, "livehost_media_frame_errors_total"),
    }).toEqual({ dropped: 0, failed: 0 });
    // Late: handed over after its own frame interval had passed. Frames made on this thread would be late by the
    // dozen after the block alone; an oversubscribed test machine may still hold the worker back now and then.
    const late = await metricSum(registry, "livehost_media_late_frames_total");
    expect(late).toBeLessThan(((blockedFor / 1000) * fps) / 2);
    const pushed = await metricSum(registry, "livehost_media_video_frames_total");
    expect(pushed).toBe(graph.status().frame);
    // Talking all along: each frame showed its mouth frame.
    expect(await metricSum(registry, "livehost_media_video_frames_total", { kind: "speech" })).toBe(pushed);
    expect(await framesIn(graph.hlsPlaylist!)).toBe(pushed);
  });

  it("shares the process's compose workers (and decoded avatar) among its rooms and ends them with the last room", async () => {
    configureComposePool({ threads: 2 });
    const rooms = [liveRoom("share-a"), liveRoom("share-b"), liveRoom("share-c")];
    for (const room of rooms) await room.start();
    expect(rooms.map((room) => room.composedOn)).toEqual(["worker", "worker", "worker"]);
    // At most the pool's size, however many rooms.
    expect(composeWorkers()).toBe(2);
    // And one decoded idle loop for the rooms on the same pack and size (in shared memory, also for the workers).
    const loops = await Promise.all(rooms.map((room) => room.loadAvatar(avatarDir)));
    expect(new Set(loops).size).toBe(1);
    await sleep(1_000);
    expect(rooms.every((room) => room.status().frame >= fps / 2)).toBe(true);
    await rooms[0]!.stop();
    expect(composeWorkers()).toBe(2);
    await Promise.all(rooms.slice(1).map((room) => room.stop()));
    expect(composeWorkers()).toBe(0);

    // 0 threads: the room makes its frames on this thread, as before compose workers.
    configureComposePool({ threads: 0 });
    const inline = liveRoom("inline");
    await inline.start();
    expect(inline.composedOn).toBe("inline");
    expect(composeWorkers()).toBe(0);
    await sleep(300);
    await inline.stop();
    expect(inline.status().frame).toBeGreaterThan(0);
  });

  it("a compose worker that dies takes only its rooms' output down, said as failed frames; the next room gets a new one", async () => {
    const events: MediaEvent[] = [];
    const graph = new RoomMediaGraph({
      roomId: "r-crash",
      output: OutputConfig.fromPartial({
        video: { widthPx: 360, heightPx: 640, fps, bitrateKbps: 600 },
        outputs: [hls(1)],
      }),
      avatarDir,
      outputDir: join(dir, "crash"),
      registry: createRegistry(),
      x264Preset: "ultrafast",
      onEvent: (event) => events.push(event),
    });
    await graph.start();
    await sleep(300);
    await killComposeWorkers();
    await graph.done;
    const failures = events.flatMap((e) => (e.type === "frame_failed" || e.type === "failed" ? [e] : []));
    expect(failures.map((e) => e.type)).toEqual(["frame_failed", "failed"]);
    for (const failure of failures) expect(failure.error).toContain("compose worker");
    expect(composeWorkers()).toBe(0);

    const next = liveRoom("after-crash");
    await next.start();
    expect(next.composedOn).toBe("worker");
    await sleep(300);
    await next.stop();
    expect(next.status().frame).toBeGreaterThan(0);
  });
});
