// WebRTC viewers of a room's graph (WHEP's media side): a real Chromium negotiates with the graph's webrtcbin and
// decodes its H.264 and Opus; bad offers and a full room are refused with what is wrong; viewers that come and go
// (closed, or gone without a word) leave nothing behind in the pipeline.
import { readdirSync, readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from "vitest";
import { createRegistry } from "../observability/index.js";
import { InvalidArgumentError } from "../errors/index.js";
import {
  RoomMediaGraph,
  ViewersFullError,
  compileWebRtcSettings,
  readViewerOffer,
  webrtcAvailable,
  webrtcElementNames,
  type WebRtcOptions,
} from "./internal.js";

import { eventually } from "../testing/index.js";
import { hls, landscape, outputConfig } from "./testing/output.js";
import { connectViewer, launchTestChromium } from "./testing/webrtc-browser.js";
import { chromiumOffer } from "./testing/whep-offer.js";

const avatarDir = new URL("../models/avatars/default", import.meta.url).pathname;
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "livehost-webrtc-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/**
 * Disposed when the test ends, however it ends: a test that times out never reaches its `await using`, and what it
 * started (a room's pipeline and its viewers' streaming threads, a browser) would run on under the next tests.
 */
function disposedWithTest<T extends AsyncDisposable>(resource: T): T {
  onTestFinished(() => resource[Symbol.asyncDispose]());
  return resource;
}

async function liveGraph(roomId: string, maxViewers = 50, webrtc: WebRtcOptions = {}) {
  const registry = createRegistry();
  const graph = new RoomMediaGraph({
    roomId,
    output: outputConfig(landscape, [hls(1)]),
    avatarDir,
    outputDir: join(dir, roomId),
    registry,
    x264Preset: "ultrafast",
    webrtc: { maxViewers, ...webrtc },
  });
  await graph.start();
  return Object.assign(disposedWithTest(graph), { registry });
}

describe.runIf(webrtcAvailable())("WebRTC viewers of a room's graph", () => {
  it("Chromium receives the room's H.264 video and Opus audio, decoded, and the viewer's bin leaves when it closes", async () => {
    await using graph = await liveGraph("w-play");
    const before = webrtcElementNames(graph);
    await using browser = disposedWithTest(await launchTestChromium());
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
        // All of it in one comparison, so that a failure shows whether packets came at all.
        expect({ ...now, framesDecoded: now.framesDecoded > 10 }).toMatchObject({
          connectionState: "connected",
          framesDecoded: true,
        });
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

describe("WebRTC settings", () => {
  it("takes STUN and TURN servers from the environment, and refuses a malformed one naming it (no credential shown)", () => {
    const env = {
      LIVEHOST_WEBRTC_STUN_SERVER: "stun://stun.example.com:3478",
      LIVEHOST_WEBRTC_TURN_SERVER: "turns://live:s3cret@turn.example.com:5349",
    };
    expect(compileWebRtcSettings({}, env)).toMatchObject({
      stunServer: "stun://stun.example.com:3478",
      turnServer: "turns://live:s3cret@turn.example.com:5349",
    });
    expect(compileWebRtcSettings({}, {})).not.toHaveProperty("stunServer");
    const bad = (() => {
      try {
        compileWebRtcSettings({}, { LIVEHOST_WEBRTC_TURN_SERVER: "turn://live:s3cret@turn.example.com" });
      } catch (err) {
        return err as Error;
      }
    })();
    expect(bad).toBeInstanceOf(InvalidArgumentError);
    expect(bad?.message).toMatch(/LIVEHOST_WEBRTC_TURN_SERVER.*turn:\/\/user:password@host:port/);
    expect(bad?.message).not.toContain("s3cret");
    expect(() => compileWebRtcSettings({ stunServer: "stun.example.com" })).toThrow(/webrtc\.stunServer/);
    expect(() => compileWebRtcSettings({ stunServer: "stun://h:70000" })).toThrow(/port must be 1-65535/);
  });
});

describe("reading a WHEP offer", () => {
  it("picks the offer's H.264 (main profile first) and Opus payload types", () => {
    expect(readViewerOffer(chromiumOffer())).toEqual({
      video: { mline: 0, payloadType: 127, profileLevelId: "4d001f" },
      audio: { mline: 1, payloadType: 111 },
    });
    expect(readViewerOffer(chromiumOffer({ video: false }))).toEqual({ audio: { mline: 0, payloadType: 111 } });
  });

  it.each([
    ["not SDP", "hello", /not an SDP session description/],
    ["no media", "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n", /no video or audio m-line/],
    [
      "no H.264",
      chromiumOffer().replace(/a=rtpmap:(102|127) H264/g, "a=rtpmap:$1 VP9"),
      /video m-line 0 offers no H.264/,
    ],
    ["no Opus", chromiumOffer().replace("opus/48000/2", "G722/8000"), /audio m-line 1 offers no Opus/],
    ["no mid", chromiumOffer().replace(/a=mid:1\r\n/, ""), /audio m-line 1 has no a=mid/],
    ["send-only", chromiumOffer().replace(/a=recvonly/g, "a=sendonly"), /is sendonly/],
  ])("refuses an offer with %s, saying what is wrong", (_, offer, message) => {
    expect(() => readViewerOffer(offer)).toThrow(InvalidArgumentError);
    expect(() => readViewerOffer(offer)).toThrow(message);
  });
});

describe.runIf(webrtcAvailable())("WebRTC viewers coming and going", () => {
  const openFds = () => readdirSync("/proc/self/fd").length;
  /** Threads by name: each viewer has an ICE agent thread ("webrtc:ice") while it lives. */
  const threadsNamed = (name: string) =>
    readdirSync("/proc/self/task").filter((t) => {
      try {
        return readFileSync(`/proc/self/task/${t}/comm`, "utf8").trim() === name;
      } catch {
        return false; // ended meanwhile
      }
    }).length;
  const viewerBins = (graph: RoomMediaGraph) => webrtcElementNames(graph).filter((n) => n.startsWith("whep_"));

  it("refuses a bad offer (400's error) and a viewer past the room's cap (503's), and takes the next when one leaves", async () => {
    await using graph = await liveGraph("w-cap", 2);
    await expect(graph.openViewer("v=0\r\nnonsense")).rejects.toThrow(InvalidArgumentError);
    const first = await graph.openViewer(chromiumOffer());
    await graph.openViewer(chromiumOffer({ audio: false }));
    const full = await graph.openViewer(chromiumOffer()).catch((err: unknown) => err);
    expect(full).toBeInstanceOf(ViewersFullError);
    expect((full as ViewersFullError).code).toBe("unavailable");
    expect((full as ViewersFullError).retryAfterSeconds).toBeGreaterThan(0);
    expect(await graph.closeViewer(first.sessionId)).toBe(true);
    await graph.openViewer(chromiumOffer());
    expect(graph.webrtcViewers).toBe(2);
    const sessions = await graph.registry.getSingleMetric("livehost_webrtc_sessions_total")!.get();
    const outcomes: Record<string, number> = {};
    for (const v of sessions.values) outcomes[String(v.labels.outcome)] = v.value;
    expect(outcomes).toMatchObject({ bad_offer: 1, full: 1, closed: 1 });
  }, 60_000);

  it("gathers ICE candidates only on the configured UDP ports", async () => {
    await using graph = await liveGraph("w-ports", 50, { ports: "21000-21009" });
    const { answer } = await graph.openViewer(chromiumOffer());
    const ports = [...answer.matchAll(/^a=candidate:\S+ 1 UDP \d+ \S+ (\d+) typ host/gim)].map((m) => Number(m[1]));
    expect(ports.length).toBeGreaterThan(0);
    for (const port of ports) expect(port >= 21000 && port <= 21009).toBe(true);
    expect(answer).not.toMatch(/ TCP /);
  }, 30_000);

  it("frees every viewer's webrtcbin, sockets and ICE thread after hundreds of opens and closes", async () => {
    await using graph = await liveGraph("w-churn", 50);
    // The first viewer adds the Opus encode, which stays: the baseline is taken after it.
    await graph.closeViewer((await graph.openViewer(chromiumOffer())).sessionId);
    const elements = webrtcElementNames(graph).length;
    const fds = openFds();
    for (let round = 0; round < 30; round++) {
      // Ten at once (as a burst of viewers would), then all of them leave.
      const opened = await Promise.all(Array.from({ length: 10 }, () => graph.openViewer(chromiumOffer())));
      expect(viewerBins(graph)).toHaveLength(10);
      await Promise.all(opened.map((o) => graph.closeViewer(o.sessionId)));
      expect(viewerBins(graph)).toEqual([]);
    }
    expect(graph.webrtcViewers).toBe(0);
    expect(webrtcElementNames(graph)).toHaveLength(elements);
    // Flat-ish: each viewer opens sockets, an event fd and an ICE thread; 300 of them left behind would be far more.
    // (GStreamer's streaming threads are pooled and reused: not counted.)
    await eventually(() => expect(threadsNamed("webrtc:ice")).toBe(0));
    expect(openFds()).toBeLessThan(fds + 20);
    const sessions = await graph.registry.getSingleMetric("livehost_webrtc_sessions_total")!.get();
    expect(sessions.values.find((v) => v.labels.outcome === "closed")?.value).toBe(301);
  }, 180_000);

  it("lets go of viewers that never connect, and of every viewer when the output stops", async () => {
    await using graph = await liveGraph("w-gone", 50, { connectTimeoutMs: 500 });
    for (let i = 0; i < 5; i++) await graph.openViewer(chromiumOffer());
    await eventually(
      () => {
        expect(viewerBins(graph)).toEqual([]);
        expect(graph.webrtcViewers).toBe(0);
      },
      { timeoutMs: 20_000 },
    );
    const sessions = await graph.registry.getSingleMetric("livehost_webrtc_sessions_total")!.get();
    expect(sessions.values.find((v) => v.labels.outcome === "connect_timeout")?.value).toBe(5);

    await graph.openViewer(chromiumOffer());
    await graph.stop();
    expect(graph.webrtcViewers).toBe(0);
    await expect(graph.openViewer(chromiumOffer())).rejects.toThrow(/stopped/);
  }, 60_000);
});
