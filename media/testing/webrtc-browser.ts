// A real WebRTC viewer for tests: headless Chromium (Debian's, through playwright-core) that makes a receive-only
// offer (video and/or audio, every ICE candidate in it), hands it to `answer` (a WHEP POST, or the graph directly),
// plays the answer and reports what it decoded (getStats of its inbound RTP).
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium, type BrowserContext, type Page } from "playwright-core";

export interface ReceivedMedia {
  connectionState: string;
  framesDecoded: number;
  videoPackets: number;
  audioSamples: number;
  audioPackets: number;
  videoTracks: number;
  audioTracks: number;
}

/** Chromium as tests launch it: headless, no network of its own, a fresh profile; loopback allowed for ICE. */
export async function launchTestChromium(): Promise<BrowserContext & AsyncDisposable> {
  const profile = await mkdtemp(join(tmpdir(), "livehost-chromium-"));
  const browser = await chromium.launchPersistentContext(profile, {
    executablePath: "/usr/bin/chromium",
    headless: true,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--autoplay-policy=no-user-gesture-required",
      // Host candidates as addresses (not mDNS names), loopback included: the room host is on this machine.
      "--disable-features=WebRtcHideLocalIpsWithMdns",
      "--allow-loopback-in-peer-connection",
    ],
  });
  return Object.assign(browser, {
    [Symbol.asyncDispose]: async () => {
      await browser.close();
      await rm(profile, { recursive: true, force: true });
    },
  });
}

// Runs in the page (plain JavaScript: the project type-checks without the DOM library). The answer comes from the
// test through the exposed function named `name`; the tracks are played, as a viewer would (Chromium only pulls, and
// counts, audio that something plays).
const openInPage = `async ({ name, kinds }) => {
  const pc = new RTCPeerConnection();
  const tracks = [];
  const media = document.createElement("video");
  media.autoplay = true;
  media.srcObject = new MediaStream();
  document.body.append(media);
  pc.ontrack = (e) => { tracks.push(e.track); media.srcObject.addTrack(e.track); };
  for (const kind of kinds) pc.addTransceiver(kind, { direction: "recvonly" });
  await pc.setLocalDescription(await pc.createOffer());
  await new Promise((resolve) => {
    if (pc.iceGatheringState === "complete") resolve();
    pc.onicegatheringstatechange = () => pc.iceGatheringState === "complete" && resolve();
  });
  const sdp = await window[name](pc.localDescription.sdp);
  await pc.setRemoteDescription({ type: "answer", sdp });
  window.livehostViewer = { pc, tracks };
}`;

const receivedInPage = `async () => {
  const { pc, tracks } = window.livehostViewer;
  const got = { connectionState: pc.connectionState, framesDecoded: 0, videoPackets: 0, audioSamples: 0, audioPackets: 0 };
  (await pc.getStats()).forEach((s) => {
    if (s.type !== "inbound-rtp") return;
    if (s.kind === "video") {
      got.framesDecoded += s.framesDecoded ?? 0;
      got.videoPackets += s.packetsReceived ?? 0;
    }
    if (s.kind === "audio") {
      got.audioSamples += s.totalSamplesReceived ?? 0;
      got.audioPackets += s.packetsReceived ?? 0;
    }
  });
  const live = (kind) => tracks.filter((t) => t.kind === kind && t.readyState === "live").length;
  return { ...got, videoTracks: live("video"), audioTracks: live("audio") };
}`;

/**
 * Opens a receive-only peer connection in `page` for `kinds`, gets its answer from `answer`, and returns the
 * functions to read what it received and to close it. The offer is complete (ICE gathered) before it is sent.
 */
export async function connectViewer(
  page: Page,
  answer: (offer: string) => Promise<string>,
  kinds: ("video" | "audio")[] = ["video", "audio"],
): Promise<{ received: () => Promise<ReceivedMedia>; close: () => Promise<void> }> {
  const name = `livehostAnswer${Math.random().toString(36).slice(2)}`;
  await page.exposeFunction(name, answer);
  await page.evaluate(`(${openInPage})(${JSON.stringify({ name, kinds })})`);
  return {
    received: () => page.evaluate<ReceivedMedia>(`(${receivedInPage})()`),
    close: () => page.evaluate<void>("window.livehostViewer.pc.close()"),
  };
}
