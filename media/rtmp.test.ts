import { execFile } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createRegistry } from "../observability/index.js";
import { RoomMediaGraph, probeMedia, type MediaEvent } from "./internal.js";
import { NginxRtmp } from "./testing/nginx-rtmp.js";
import { hls, landscape, outputConfig, playlistSegments, rtmp } from "./testing/output.js";

const run = promisify(execFile);
const avatarDir = new URL("../models/avatars/default", import.meta.url).pathname;
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "livehost-media-rtmp-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Waits until `check` holds, polling; fails after `ms`. */
async function until(check: () => boolean | Promise<boolean>, ms = 15_000) {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await sleep(50);
  }
}

describe("RTMP push", () => {
  it("pushes to a real nginx-rtmp ingest, resumes after the ingest restarts, while HLS goes on", async () => {
    await using ingest = await NginxRtmp.start();
    const registry = createRegistry();
    const events: MediaEvent[] = [];
    await using graph = new RoomMediaGraph({
      roomId: "r-rtmp",
      output: outputConfig(landscape, [hls(1), rtmp(ingest.url)]),
      avatarDir,
      outputDir: dir,
      registry,
      x264Preset: "ultrafast",
      streamKey: (secret) => (secret === "room-key" ? "stream-1" : ""),
      onEvent: (event) => events.push(event),
    });
    await graph.start();
    const recorded = async (run: number) => (await ingest.recordings()).some((f) => f.includes(`run-${run}/`));
    await until(() => recorded(1));
    await sleep(1500);
    await ingest.restart(300);
    await until(() => events.some((e) => e.type === "rtmp" && e.state === "reconnecting"));
    await until(() => recorded(2));
    await sleep(2000);
    await graph.stop();

    const files = await ingest.recordings();
    for (const file of files) {
      const probe = await probeMedia(file);
      expect(probe.video).toMatchObject({ codec: "h264", width: 640, height: 360 });
      expect(probe.audio).toMatchObject({ codec: "aac" });
    }
    const afterRestart = await probeMedia(files.find((f) => f.includes("run-2/"))!);
    expect(afterRestart.durationSeconds).toBeGreaterThan(1);
    const reconnects = await registry.getSingleMetric("livehost_media_rtmp_reconnects_total")!.get();
    expect(reconnects.values[0]!.value).toBeGreaterThanOrEqual(1);
    // HLS never stopped: no rebuild, and its segments cover the whole run.
    expect(graph.status().rebuilds).toBe(0);
    const segments = await playlistSegments(join(dir, "hls", "index.m3u8"));
    const hlsSeconds = segments.reduce((sum, s) => sum + s.seconds, 0);
    expect(hlsSeconds).toBeGreaterThan(graph.status().streamSeconds - 2);
  });

  it("keeps pushing across RTMP's 24-bit timestamp wrap (4 h 39 min into a stream)", async () => {
    await using ingest = await NginxRtmp.start();
    const registry = createRegistry();
    const events: MediaEvent[] = [];
    const wrapMs = 2 ** 24; // RTMP's timestamp field; beyond it the extended timestamp carries the time
    await using graph = new RoomMediaGraph({
      roomId: "r-rtmp-wrap",
      output: outputConfig(landscape, [rtmp(ingest.url)]),
      avatarDir,
      outputDir: dir,
      registry,
      x264Preset: "ultrafast",
      streamKey: () => "wrap",
      rtmpTimestampOffsetMs: wrapMs - 4_000,
      onEvent: (event) => events.push(event),
    });
    await graph.start();
    await until(async () => (await ingest.recordings()).length > 0);
    await until(() => graph.status().streamSeconds > 9);
    // A player of the ingest, while the push is past the wrap: it gets packets stamped beyond 2^24 ms.
    const { stdout } = await run("ffprobe", [
      ...["-v", "error", "-select_streams", "a", "-read_intervals", "%+1", "-show_entries", "packet=pts_time"],
      ...["-of", "csv=p=0", `${ingest.url}/wrap`],
    ]);
    await graph.stop();
    const played = stdout.split("\n").filter(Boolean).map(Number);
    expect(played.length).toBeGreaterThan(10);
    expect(Math.min(...played) * 1000).toBeGreaterThan(wrapMs);
    // The push never dropped: one connection, and the recording holds the whole stream without a gap.
    expect(events.filter((e) => e.type === "rtmp" && e.state === "reconnecting")).toEqual([]);
    const [recorded] = await ingest.recordings();
    const { stdout: packets } = await run("ffprobe", [
      ...["-v", "error", "-select_streams", "a", "-show_entries", "packet=pts_time", "-of", "csv=p=0", recorded!],
    ]);
    const times = packets
      .split("\n")
      .filter((line) => /^\d/.test(line))
      .map((line) => Number(line.split(",")[0]));
    expect(times.length).toBeGreaterThan(100);
    const gaps = times.slice(1).map((t, i) => t - times[i]!);
    expect(times.at(-1)! - times[0]!).toBeGreaterThan(8);
    expect(Math.max(...gaps)).toBeLessThan(0.1);
    expect(Math.min(...gaps)).toBeGreaterThanOrEqual(0);
  });

  it("refuses an invalid RTMP URL when the room is configured", () => {
    expect(
      () =>
        new RoomMediaGraph({
          roomId: "r-bad-url",
          output: outputConfig(landscape, [rtmp("http://cdn.example.com/live")]),
          avatarDir,
          outputDir: dir,
          registry: createRegistry(),
          streamKey: () => "k",
        }),
    ).toThrow(/output\.outputs\[0\]\.rtmp\.url: must be rtmp:\/\/ or rtmps:\/\//);
  });
});
