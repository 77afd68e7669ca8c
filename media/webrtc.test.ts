// WebRTC viewers of a room's graph (WHEP's media side): a real Chromium negotiates with the graph's webrtcbin and
// decodes its H.264 and Opus; bad offers and a full room are refused with what is wrong; viewers that come and go
// (closed, or gone without a word) leave nothing behind in the pipeline.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createRegistry } from "../observability/index.js";
import { RoomMediaGraph, webrtcAvailable, webrtcElementNames } from "./internal.js";
import { eventually } from "../testing/index.js";
import { hls, landscape, outputConfig } from "./testing/output.js";
import { connectViewer, launchTestChromium } from "./testing/webrtc-browser.js";

const avatarDir = new URL("../models/avatars/default", import.meta.url).pathname;
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "livehost-webrtc-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function liveGraph(roomId: string, maxViewers = 50) {
  const registry = createRegistry();
  const graph = new RoomMediaGraph({
    roomId,
    output: outputConfig(landscape, [hls(1)]),
    avatarDir,
    outputDir: join(dir, roomId),
    registry,
    x264Preset: "ultrafast",
    webrtc: { maxViewers },
  });
  await graph.start();
  return Object.assign(graph, { registry });
}

describe.runIf(webrtcAvailable())("WebRTC viewers of a room's graph", () => {
  it("Chromium receives the room's H.264 video and Opus audio, decoded, and the viewer's bin leaves when it closes", async () => {
    await using graph = await liveGraph("w-play");
    const before = webrtcElementNames(graph);
    await using browser = await launchTestChromium();
    const page = await browser.newPage();
    let sessionId = "";
    const viewer = await connectViewer(page, async (offer) => {
      const opened = await graph.openViewer(offer);
      sessionId = opened.sessionId;
      return opened.answer;
    });
    const got = await eventually(
      async () => {
        const now = await viewer.received();
        expect(now.connectionState).toBe("connected");
        expect(now.framesDecoded).toBeGreaterThan(10);
        expect(now.audioSamples).toBeGreaterThan(48_000);
        return now;
      },
      { timeoutMs: 30_000, intervalMs: 250 },
    );
    expect(got).toMatchObject({ videoTracks: 1, audioTracks: 1 });
    expect(graph.webrtcViewers).toBe(1);
    expect(webrtcElementNames(graph).filter((n) => n.startsWith("whep_"))).toHaveLength(1);

    expect(await graph.closeViewer(sessionId)).toBe(true);
    expect(graph.webrtcViewers).toBe(0);
    // What stays is the Opus encode the first viewer added (and keeps for the next).
    const after = webrtcElementNames(graph).filter((n) => !before.includes(n));
    expect(after.filter((n) => n.startsWith("whep_"))).toEqual([]);
    expect(await graph.closeViewer(sessionId)).toBe(false);
  }, 60_000);
});
