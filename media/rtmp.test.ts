import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createRegistry } from "../observability/index.js";
import { RoomMediaGraph, probeMedia, type MediaEvent } from "./internal.js";
import { NginxRtmp } from "./testing/nginx-rtmp.js";
import { hls, landscape, outputConfig, playlistSegments, rtmp } from "./testing/output.js";

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
