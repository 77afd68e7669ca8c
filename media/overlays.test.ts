// The AI-content label as a viewer sees it: in its corner, inside the frame, with its text drawn, at both the
// vertical and the landscape size; a label it cannot draw is refused naming the field.
import { describe, expect, it } from "vitest";
import { InvalidArgumentError } from "../errors/index.js";
import {
  formatMoney,
  loadCatalogFile,
  loadPersonasFile,
  pickPersona,
  sampleFiles,
  showLanguage,
} from "../brain/index.js";
import { ShowPlan } from "../brain/internal.js";
import { renderOverlay, safeArea, subtitlePages, type LabelCorner, type RenderedOverlay } from "./overlays.js";

const corners: LabelCorner[] = ["top-left", "top-right", "bottom-left", "bottom-right"];

describe("the AI-content label", () => {
  it.each([
    [720, 1280],
    [640, 360],
  ])("sits in each corner of a %dx%d frame with its text drawn", async (width, height) => {
    for (const corner of corners) {
      const label = await renderOverlay(
        { id: "ai-label", content: { kind: "label", text: "AI 生成内容", corner }, animation: "none" },
        width,
        height,
      );
      const { image, x, y } = label;
      expect(x).toBeGreaterThan(0);
      expect(y).toBeGreaterThan(0);
      expect(x + image.width).toBeLessThan(width);
      expect(y + image.height).toBeLessThan(height);
      expect(corner.endsWith("left") ? x < width / 2 : x > width / 2).toBe(true);
      expect(corner.startsWith("top") ? y < height / 4 : y > height / 2).toBe(true);
      // White glyphs on the dark box: bright luma where the text is, the box itself dark.
      const bright = image.y.filter((luma) => luma > 200).length;
      expect(bright).toBeGreaterThan(50);
      expect(bright).toBeLessThan(image.y.length / 2);
    }
  });

  it("refuses a label that is empty, too long, or in no corner", async () => {
    for (const [content, field] of [
      [{ kind: "label", text: "" }, "overlay.content.text"],
      [{ kind: "label", text: "x".repeat(41) }, "overlay.content.text"],
      [{ kind: "label", text: "AI", corner: "middle" }, "overlay.content.corner"],
    ] as const) {
      const refused = renderOverlay({ id: "ai-label", content: content as never }, 720, 1280);
      await expect(refused).rejects.toBeInstanceOf(InvalidArgumentError);
      await expect(refused).rejects.toMatchObject({ field });
    }
  });
});

// Text that fits its box, at every size: what a viewer sees of subtitles and cards. The overlay's own pixels are
// read back (luma of the rendered box): glyph ink never touches the box's edge rows or columns (text cut by its
// box leaves ink there), a subtitle page holds at most two lines of ink, and every box lies inside the safe area.
const personas = await loadPersonasFile(sampleFiles.personas);
const fixtures = await Promise.all(
  [sampleFiles.catalogZh, sampleFiles.catalogEn].map(async (file) => {
    const catalog = await loadCatalogFile(file);
    const plan = new ShowPlan(catalog, pickPersona(personas, catalog), { seed: 7 });
    const said: string[] = [];
    for (let pos = plan.start(); pos.loop < 2; pos = plan.nextLine(pos)) said.push(plan.at(pos).text);
    const longest = (texts: string[]) => texts.reduce((a, b) => (b.length > a.length ? b : a));
    const language = showLanguage(catalog.language);
    return {
      language,
      sentence: longest(said),
      title: longest(catalog.products.map((p) => p.title)),
      prices: catalog.products.map((p) => formatMoney(p.price!, language)),
      coupon: longest(catalog.products.flatMap((p) => p.coupons.map((c) => c.title))),
    };
  }),
);
const sizes = [
  [720, 1280],
  [360, 640],
  [1080, 1920],
  [1280, 720],
  [640, 360],
] as const;

/** Rows and columns of the box where glyphs left ink (text lighter or darker than the box by far), and its lines. */
function ink(overlay: RenderedOverlay, glyphs: "light" | "dark") {
  const { y: luma, a: alpha, width, height } = overlay.image;
  const isInk = (i: number) => alpha[i]! > 0 && (glyphs === "light" ? luma[i]! > 180 : luma[i]! < 110);
  const rows: number[] = [];
  let left = width;
  let right = -1;
  for (let row = 0; row < height; row++) {
    let any = false;
    for (let col = 0; col < width; col++) {
      if (!isInk(row * width + col)) continue;
      any = true;
      left = Math.min(left, col);
      right = Math.max(right, col);
    }
    if (any) rows.push(row);
  }
  // Lines: runs of inked rows, apart by more than a few blank rows (the gap between two lines of text).
  let lines = rows.length > 0 ? 1 : 0;
  for (let i = 1; i < rows.length; i++) if (rows[i]! - rows[i - 1]! > 3) lines++;
  return { top: rows[0] ?? -1, bottom: rows.at(-1) ?? -1, left, right, lines, width, height };
}

function expectInside(overlay: RenderedOverlay, frameWidth: number, frameHeight: number, glyphs: "light" | "dark") {
  const found = ink(overlay, glyphs);
  const what = `${overlay.spec.content.kind} at ${frameWidth}x${frameHeight}`;
  expect(found.lines, `${what}: text drawn`).toBeGreaterThan(0);
  // Ink clear of the box's edges: the text sits inside its box, nothing cut by it.
  expect(found.top, `${what}: ink below the box's top`).toBeGreaterThanOrEqual(2);
  expect(found.bottom, `${what}: ink above the box's bottom`).toBeLessThanOrEqual(found.height - 3);
  expect(found.left, `${what}: ink right of the box's left edge`).toBeGreaterThanOrEqual(2);
  expect(found.right, `${what}: ink left of the box's right edge`).toBeLessThanOrEqual(found.width - 3);
  const safe = safeArea(frameWidth, frameHeight);
  expect(overlay.x, `${what}: inside the safe area`).toBeGreaterThanOrEqual(safe.left);
  expect(overlay.y, `${what}: inside the safe area`).toBeGreaterThanOrEqual(safe.top);
  expect(overlay.x + overlay.image.width, `${what}: inside the safe area`).toBeLessThanOrEqual(frameWidth - safe.right);
  expect(overlay.y + overlay.image.height, `${what}: inside the safe area`).toBeLessThanOrEqual(
    frameHeight - safe.bottom,
  );
  return found;
}

describe.each(fixtures.map((f) => [f.language, f] as const))("%s text in its box", (_, fixture) => {
  it.each(sizes)("subtitles of at most two lines, the rest on the next page, inside the box at %dx%d", async (w, h) => {
    // The fixture's longest show sentence, and twice it (longer than any one page at every size).
    for (const sentence of [fixture.sentence, `${fixture.sentence} ${fixture.sentence}`]) {
      const pages = subtitlePages(sentence, w, h);
      // Nothing lost or repeated: the pages are the sentence, in order (spaces between pages aside).
      expect(pages.map((p) => p.text).join("")).toBe(
        sentence.replace(/\s+/g, (space, at: number) =>
          pages.some((p) => p.start === at + space.length) ? "" : space,
        ),
      );
      for (const page of pages) {
        expect(sentence.slice(page.start).startsWith(page.text)).toBe(true);
        const overlay = await renderOverlay(
          { id: "subtitle", content: { kind: "subtitle", lines: [page.text] }, animation: "none" },
          w,
          h,
        );
        expect(expectInside(overlay, w, h, "light").lines).toBeLessThanOrEqual(2);
      }
    }
  });

  it.each(sizes)(
    "product cards (long titles, prices with decimals, sold out), coupons and price tags at %dx%d",
    async (w, h) => {
      const title = `${fixture.title} ${fixture.title} ${fixture.title}`.slice(0, 120);
      for (const price of [...fixture.prices, fixture.language === "zh" ? "1299.90元" : "$1,299.90"]) {
        for (const soldOut of [undefined, fixture.language === "zh" ? "已售罄" : "Sold out"]) {
          const card = await renderOverlay(
            { id: "card", content: { kind: "product-card", title, price, ...(soldOut ? { soldOut } : {}) } },
            w,
            h,
          );
          // Title on two lines at most, the price, and the sold-out notice under it.
          expect(expectInside(card, w, h, "dark").lines).toBeLessThanOrEqual(soldOut ? 4 : 3);
        }
        for (const soldOut of [undefined, fixture.language === "zh" ? "已售罄" : "Sold out"]) {
          const tag = await renderOverlay(
            { id: "tag", content: { kind: "price-tag", price, originalPrice: price, ...(soldOut ? { soldOut } : {}) } },
            w,
            h,
          );
          // The price, the list price, and the sold-out notice; light text on the red (grey when sold out) tag.
          expect(expectInside(tag, w, h, "light").lines).toBeLessThanOrEqual(soldOut ? 3 : 2);
        }
      }
      const coupon = await renderOverlay(
        { id: "coupon", content: { kind: "coupon", text: `${fixture.coupon} ${fixture.coupon}`.slice(0, 60) } },
        w,
        h,
      );
      expect(expectInside(coupon, w, h, "light").lines).toBeLessThanOrEqual(2);
    },
  );
});

describe("text given with line breaks of its own", () => {
  it("keeps the box's line limits: a title of four lines takes two, a subtitle of three given lines is refused", async () => {
    const card = await renderOverlay(
      { id: "card", content: { kind: "product-card", title: "第一行\n第二行\n第三行\n第四行", price: "¥79.90" } },
      720,
      1280,
    );
    // Title (two lines at most) and price.
    expect(expectInside(card, 720, 1280, "dark").lines).toBeLessThanOrEqual(3);
    await expect(
      renderOverlay({ id: "s", content: { kind: "subtitle", lines: ["一", "二", "三"] } }, 720, 1280),
    ).rejects.toMatchObject({ field: "overlay.content.lines" });
  });
});

describe("line breaking", () => {
  it("never breaks inside a number or a product code: it moves the whole run to the next line", () => {
    // CJK text that wraps somewhere inside "XJ-2000" or "79.90" unless the breaker keeps them whole.
    for (const run of ["XJ-2000", "¥79.90", "GB/T46483", "1,299.90", "500ml"]) {
      for (let lead = 1; lead < 40; lead++) {
        const text = `${"好".repeat(lead)}${run}${"好".repeat(20)}`;
        const [first] = subtitlePages(text, 360, 640);
        const firstLineEnd = first!.start + first!.text.length;
        const runStart = text.indexOf(run);
        expect(firstLineEnd <= runStart || firstLineEnd >= runStart + run.length || first!.text === text).toBe(true);
      }
    }
  });
});
