// The viewer page as a shopper sees it, in headless Chromium at a phone's size (390x844) and a desktop's (1280x900):
// the product on screen from the room's catalog, the chat with each comment's outcome and the host's answer beneath
// the question, viewers' text shown as text only, the raw events behind their toggle, nothing scrolling sideways.
// The room stays off air: the test publishes the room's events itself, so each outcome is the one it names.
// Screenshots are kept in test-artifacts/viewer/.
import { mkdir } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import type { Page } from "playwright-core";
import { CueFired_Kind, RoomEvent, UtteranceSource, subjects } from "../proto/index.js";
import { eventually, sampleRoomSpec, startTestRoomStack } from "../testing/index.js";
import { launchTestChromium } from "../media/internal.js";

const artifacts = fileURLToPath(new URL("../test-artifacts/viewer/", import.meta.url));
const roomId = "page-room";

/** What the page's layout measures (the project type-checks without the DOM library). */
interface Box {
  x: number;
  y: number;
  width: number;
  height: number;
}

async function horizontalOverflow(page: Page): Promise<number> {
  return page.evaluate<number>("document.documentElement.scrollWidth - window.innerWidth");
}

async function box(page: Page, selector: string): Promise<Box> {
  const found = await page.locator(selector).boundingBox();
  if (!found) throw new Error(`${selector} is not shown`);
  return found;
}

describe("the viewer page in a browser", () => {
  it("shows the product on screen, the chat with every outcome and answer, text as text, at phone and desktop sizes", async () => {
    await using stack = await startTestRoomStack({ gateway: { viewer: true } });
    const spec = sampleRoomSpec({ displayName: "好物直播间<i>上新</i>" });
    const [cup, dress] = spec.catalog!.products;
    spec.catalog!.products = [
      cup!,
      { ...dress!, title: "<b>亚麻</b>混纺收腰连衣裙", stock: 0, restockDate: "2027-01-15" },
    ];
    await stack.create(roomId, spec);
    // Live (a host without media: its comments wait, and this test tells the page their outcomes).
    await stack.start(roomId);
    const base = `${stack.gateway.viewerUrl}/rooms/${roomId}`;
    let sequence = 0;
    const publish = (event: RoomEvent["event"]) =>
      stack.nc.publish(
        subjects.roomEvents(roomId),
        RoomEvent.encode(RoomEvent.fromPartial({ roomId, sequence: ++sequence, time: new Date(), event })).finish(),
      );

    // What the page reads of the room: the catalog, without what only operators see.
    const json = (await (await fetch(`${base}/room.json`)).json()) as Record<string, unknown>;
    expect(json).toMatchObject({
      id: roomId,
      hostName: "小雅",
      catalog: { currency: "CNY", products: [{ id: "p-cup-500", price: { currency: "CNY", amountMinor: 7900 } }, {}] },
    });
    expect(JSON.stringify(json)).not.toMatch(/rules|voice|不说绝对化用语/);
    expect((await fetch(`${stack.gateway.viewerUrl}/rooms/nobody/room.json`)).status).toBe(404);
    const html = await fetch(base);
    expect(html.headers.get("content-security-policy")).toMatch(/script-src 'self'/);
    expect(await html.text()).toContain('<h1 id="title">好物直播间&#60;i&#62;上新&#60;/i&#62;</h1>');

    await mkdir(artifacts, { recursive: true });
    await using browser = await launchTestChromium();
    const page = await browser.newPage();
    await page.setViewportSize({ width: 390, height: 844 });
    const dialogs: string[] = [];
    page.on("dialog", (dialog) => {
      dialogs.push(dialog.message());
      void dialog.dismiss();
    });
    await page.goto(`${base}?transport=hls`);

    // The product on screen before any cue: link 1, at its catalog price with decimals, its coupon and stock.
    const product = page.locator("#product");
    await eventually(async () => {
      const text = await product.textContent();
      expect(text).toContain("1号链接");
      expect(text).toContain("304不锈钢保温杯 500ml");
      expect(text).toContain("¥79.00");
      expect(text).toContain("¥129.00");
      expect(text).toContain("满79减10");
      expect(text).toContain("库存 1200 件");
    });
    expect(await page.locator(".ai-label").isVisible()).toBe(true);
    expect(await page.locator(".ai-label").textContent()).toBe("AI 主播");
    expect(await page.locator("#title").textContent()).toBe("好物直播间<i>上新</i>");
    expect(await page.locator("#operator").isHidden()).toBe(true);
    await eventually(async () => expect(await page.evaluate("window.livehostEvents")).toBe("open"));

    // A viewer's comment that is markup shows as the text typed, makes no element and runs nothing; it waits for
    // its outcome, then shows it.
    const xss = "<img src=x onerror=alert(1)>";
    await page.fill("#comment input[name=text]", xss);
    await page.click("#comment button");
    const own = page.locator("#chat li.own").last();
    await eventually(async () => {
      expect(await own.locator(".question .text").textContent()).toBe(xss);
      expect(await own.locator(".outcome").textContent()).toBe("已发送，等待主播回答…");
    });
    const ownId = (await own.getAttribute("data-comment-id"))!;
    expect(ownId).toMatch(/^web-/);
    publish({ $case: "commentRejected", value: { commentId: ownId, reason: "expired", field: "", message: "" } });
    await eventually(async () => expect(await own.locator(".outcome").textContent()).toBe("主播没来得及回答这条评论"));
    expect(await own.getAttribute("class")).toContain("rejected");
    // A long word wraps instead of widening the page.
    await page.fill("#comment input[name=text]", "好".repeat(30) + "a".repeat(150));
    await page.click("#comment button");
    await eventually(async () => expect(await page.locator("#chat li.own").count()).toBe(2));

    // Another viewer's question, answered in two sentences: the question (from the room's inbox), then the answer
    // beneath it, its name and text as text.
    const name = "<b onmouseover=alert(2)>小王</b>";
    const question = "裙子还有货吗？<script>alert(3)</script>";
    const posted = await fetch(`${base}/comments`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ text: question, viewer: name }),
    });
    expect(posted.status).toBe(202);
    const { commentId } = (await posted.json()) as { commentId: string };
    const utteranceId = `answer-${commentId}-0`;
    publish({ $case: "commentAnswered", value: { commentId, utteranceId, intent: "stock", answeredTogether: 1 } });
    const sentences = ["这款连衣裙暂时售罄，", "1月15日补货<i>哦</i>。"];
    sentences.forEach((text, i) =>
      publish({
        $case: "utteranceStarted",
        value: {
          utteranceId: `answer-${commentId}-${i}`,
          source: UtteranceSource.UTTERANCE_SOURCE_ANSWER,
          text,
          commentId,
          words: [],
          streamTimeMs: 1000 * i,
          outputUnixMs: 0,
          show: undefined,
        },
      }),
    );
    const answered = page.locator(`#chat li[data-comment-id="${commentId}"]`);
    await eventually(async () => {
      expect(await answered.locator(".question .who").textContent()).toBe(name);
      expect(await answered.locator(".question .text").textContent()).toBe(question);
      expect(await answered.locator(".outcome").textContent()).toBe("主播已回答");
      expect(await answered.locator(".answer .who").textContent()).toBe("AI 主播 小雅");
      expect(await answered.locator(".answer .text").textContent()).toBe(sentences.join(""));
    });

    // The host presents the dress: the panel follows the cue, sold out, with its restock date.
    publish({
      $case: "cueFired",
      value: {
        kind: CueFired_Kind.KIND_PRODUCT_CARD,
        utteranceId: "show-1",
        productId: "p-dress-linen",
        couponId: "",
        text: "",
        streamTimeMs: 0,
        durationMs: 3000,
        outputUnixMs: 0,
      },
    });
    await eventually(async () => {
      expect(await product.getAttribute("data-product-id")).toBe("p-dress-linen");
      const text = await product.textContent();
      expect(text).toContain("2号链接<b>亚麻</b>混纺收腰连衣裙");
      expect(text).toContain("¥199.00");
      expect(text).toContain("已售罄 · 2027-01-15 补货");
    });

    // Nothing a viewer, the model or the catalog wrote became an element, and nothing ran.
    expect(
      await page.evaluate(
        "document.querySelectorAll('body img, body b, body i, body script:not([src]):not([type])').length",
      ),
    ).toBe(0);
    expect(dialogs).toEqual([]);

    // The raw events are there for operators, behind their toggle.
    await page.click("#events-toggle");
    expect(await page.locator("#operator").isVisible()).toBe(true);
    expect(await page.locator("#events li.cueFired").first().textContent()).toContain("KIND_PRODUCT_CARD");
    await page.click("#events-close");
    expect(await page.locator("#operator").isHidden()).toBe(true);

    // Phone: the stream takes the whole width, the chat and the product over its lower part.
    expect(await horizontalOverflow(page)).toBeLessThanOrEqual(0);
    const phoneVideo = await box(page, "#video");
    expect(phoneVideo.width).toBe(390);
    expect((await box(page, "#chat")).y).toBeLessThan(phoneVideo.y + phoneVideo.height);
    expect(await page.locator(".ai-label").isVisible()).toBe(true);
    await page.screenshot({ path: `${artifacts}page-390x844.png` });

    // Desktop: the 9:16 stream with the product and the chat beside it.
    await page.setViewportSize({ width: 1280, height: 900 });
    expect(await horizontalOverflow(page)).toBeLessThanOrEqual(0);
    const desktopVideo = await box(page, "#video");
    expect(desktopVideo.width / desktopVideo.height).toBeCloseTo(9 / 16, 2);
    expect((await box(page, "#chat")).x).toBeGreaterThanOrEqual(desktopVideo.x + desktopVideo.width);
    expect((await box(page, "#product")).x).toBeGreaterThanOrEqual(desktopVideo.x + desktopVideo.width);
    expect(await answered.locator(".answer").isVisible()).toBe(true);
    await page.screenshot({ path: `${artifacts}page-1280x900.png` });
  });
});
