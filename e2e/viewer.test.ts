// A viewer's view, end to end: a room created over RoomService goes on air, its HLS plays in headless Chromium
// (Debian's, driven with playwright-core) from the gateway's viewer page, and a price question typed in the page
// is answered with the catalog's price, in WatchRoom, in the page's chat (beneath the question) and event list, and
// in the stream's sound; the product panel shows the catalog's price. The page is looked at on a desktop (1280x900)
// and a phone (390x844): nothing scrolls sideways, and screenshots are kept in test-artifacts/viewer/.
import { mkdir } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import type { Page } from "playwright-core";
import { chromium } from "playwright-core";
import { UtteranceSource } from "../proto/index.js";
import { eventually } from "../testing/index.js";
import { createLiveRoom, fixtureRoomSpec, hlsAudioLevel, hlsCoveredMs, startLocalStack } from "./harness.js";

const roomId = "e2e-viewer";
const artifacts = fileURLToPath(new URL("../test-artifacts/viewer/", import.meta.url));

/** What the test reads of the page's <video> (the project type-checks without the DOM library). */
interface PlayingVideo {
  currentTime: number;
  videoWidth: number;
  videoHeight: number;
  getVideoPlaybackQuality(): { totalVideoFrames: number };
  /** Chromium's count of audio bytes decoded. */
  webkitAudioDecodedByteCount?: number;
}

async function launchChromium() {
  return chromium.launch({
    executablePath: "/usr/bin/chromium",
    args: ["--no-sandbox", "--autoplay-policy=no-user-gesture-required"],
  });
}

/** The page is no wider than its window: nothing to scroll sideways. */
async function horizontalOverflow(page: Page): Promise<number> {
  return page.evaluate<number>("document.documentElement.scrollWidth - window.innerWidth");
}

describe("the viewer page", () => {
  it("plays the room's HLS in Chromium, and a price question typed in the page is answered in words and sound", async () => {
    await using stack = await startLocalStack({ viewer: true });
    const spec = await fixtureRoomSpec("zh");
    const { room, watch } = await createLiveRoom(stack.rooms, roomId, spec);
    using _watch = watch;
    expect(room.status?.hostId).not.toBe("");
    await using browser = await launchChromium();
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    // HLS, the fallback (gateway/viewer.test.ts plays the default, WebRTC).
    await page.goto(`${stack.viewerUrl}/rooms/${roomId}?transport=hls`);

    // The stream plays: time advances and the browser decodes pictures and sound.
    const playback = () =>
      page.locator("video").evaluate((video: PlayingVideo) => ({
        currentTime: video.currentTime,
        frames: video.getVideoPlaybackQuality().totalVideoFrames,
        audioBytes: video.webkitAudioDecodedByteCount ?? 0,
        width: video.videoWidth,
        height: video.videoHeight,
      }));
    const started = await eventually(
      async () => {
        const now = await playback();
        expect(now.currentTime).toBeGreaterThan(0);
        return now;
      },
      { timeoutMs: 30_000, intervalMs: 200 },
    );
    await eventually(
      async () => {
        const now = await playback();
        expect(now.currentTime).toBeGreaterThan(started.currentTime + 1);
        expect(now.frames).toBeGreaterThan(started.frames);
        expect(now.audioBytes).toBeGreaterThan(started.audioBytes);
      },
      { timeoutMs: 20_000, intervalMs: 200 },
    );
    expect(await playback()).toMatchObject({ width: 360, height: 640 });

    // A viewer types a price question in the page's comment box.
    const question = "这个保温杯多少钱？";
    await page.fill("#comment input[name=text]", question);
    await page.click("#comment button");
    await eventually(async () => expect(await page.inputValue("#comment input[name=text]")).toBe(""));

    // The answer's words, with the catalog's price (79), come in WatchRoom and in the page's event list.
    const answer = await watch.waitForUtterance(
      (u) => u.source === UtteranceSource.UTTERANCE_SOURCE_ANSWER,
      30_000,
      "answer",
    );
    expect(answer.text).toContain("79");
    const answered = await watch.waitFor((e) =>
      e.event?.$case === "commentAnswered" && e.event.value.utteranceId === answer.utteranceId
        ? e.event.value
        : undefined,
    );
    expect(answered.commentId).toMatch(/^web-/);
    await eventually(
      async () => expect(await page.locator("#events li.utteranceStarted").allTextContents()).toContain(answer.text),
      {
        timeoutMs: 10_000,
      },
    );
    // In the chat, the answer is beneath the question it answers.
    const asked = page.locator(`#chat li[data-comment-id="${answered.commentId}"]`);
    expect(await asked.locator(".question .text").textContent()).toBe(question);
    expect(await asked.locator(".answer .text").textContent()).toContain(answer.text);

    // The product panel shows the product on screen at its catalog price, with its decimals.
    const product = page.locator("#product");
    const productId = await product.getAttribute("data-product-id");
    const price = spec.catalog!.products.find((p) => p.id === productId)!.price!;
    expect(price.currency).toBe("CNY");
    expect(await product.textContent()).toContain(`¥${(price.amountMinor / 100).toFixed(2)}`);

    // Its sound is in the stream: once the playlist covers the answer, its time window is speech, not silence.
    const ended = await watch.waitFor(
      (e) =>
        e.event?.$case === "utteranceEnded" && e.event.value.utteranceId === answer.utteranceId
          ? e.event.value
          : undefined,
      30_000,
      "end of the answer",
    );
    expect(ended.interrupted).toBe(false);
    const answerEndMs = answer.streamTimeMs + ended.durationMs;
    await eventually(async () => expect(await hlsCoveredMs(stack.hlsDir(roomId))).toBeGreaterThan(answerEndMs), {
      timeoutMs: 20_000,
      intervalMs: 250,
    });
    expect(await hlsAudioLevel(stack.hlsDir(roomId), answer.streamTimeMs, answerEndMs)).toBeGreaterThan(-40);

    // The page keeps playing through the answer.
    const afterAnswer = await playback();
    await eventually(async () => expect((await playback()).currentTime).toBeGreaterThan(afterAnswer.currentTime + 1), {
      timeoutMs: 10_000,
      intervalMs: 200,
    });

    // On a desktop and on a phone: no sideways scroll, the AI-host label, the question with its answer and the
    // product with its price all in view.
    await mkdir(artifacts, { recursive: true });
    for (const viewport of [
      { width: 1280, height: 900 },
      { width: 390, height: 844 },
    ]) {
      await page.setViewportSize(viewport);
      expect(await horizontalOverflow(page)).toBeLessThanOrEqual(0);
      await asked.scrollIntoViewIfNeeded();
      for (const shown of [page.locator(".ai-label"), asked.locator(".answer"), product.locator(".price")]) {
        expect(await shown.isVisible()).toBe(true);
      }
      await page.screenshot({ path: `${artifacts}e2e-${viewport.width}x${viewport.height}.png` });
    }

    // A normal room run, WebRTC viewers and HLS included: GStreamer warned about nothing in the room host.
    expect(stack.roomHosts.flatMap((host) => host.gstreamerWarnings())).toEqual([]);
  });
});
