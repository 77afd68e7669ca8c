// Overlays on the room's video: product card (image, title, price, sold out), coupon banner, price tag, subtitles of
// at most two lines (Chinese and English) and corner labels. Each is rendered once into a bitmap: its text measured
// and drawn by Pango (text.ts: boxes sized from the font's metrics, Unicode line breaking), the product image decoded
// by a one-shot GStreamer pipeline; placed by kind inside the frame's safe area (clear of the platforms' own
// controls), and drawn per frame with a fade or slide computed from the frame number, so an overlay cued on a word
// appears on that word's frame.
import { stat } from "node:fs/promises";
import { InvalidArgumentError } from "../errors/index.js";
import { collectBuffers, type GstElement } from "./gst.js";
import { rgbaToYuva, type Yuva } from "./picture.js";
import { drawTextBox, measureText, overlayFont, type TextItem } from "./text.js";

export type OverlayContent =
  /** `soldOut`: the notice shown when the product is out of stock ("已售罄", "Sold out"); the price is struck. */
  | { kind: "product-card"; title: string; price: string; imagePath?: string; soldOut?: string }
  | { kind: "coupon"; text: string }
  /** `soldOut`: as on the product card, the notice under the price, which is struck. */
  | { kind: "price-tag"; price: string; originalPrice?: string; soldOut?: string }
  | { kind: "subtitle"; lines: string[] }
  /** A small persistent label in a corner, e.g. the AI-content label ("AI 生成内容"). */
  | { kind: "label"; text: string; corner?: LabelCorner };

export type LabelCorner = "top-left" | "top-right" | "bottom-left" | "bottom-right";
const corners: readonly LabelCorner[] = ["top-left", "top-right", "bottom-left", "bottom-right"];

export type OverlayAnimation = "fade" | "slide" | "none";

export interface OverlaySpec {
  /** [a-z0-9-], 1 to 64; scheduling the same id again replaces that overlay. */
  id: string;
  content: OverlayContent;
  /** How it enters and leaves: "fade" (default), "slide" (in from its nearest edge, fading), or "none". */
  animation?: OverlayAnimation;
  /** How long it stays once shown, in ms; 0 or absent: until hidden. */
  durationMs?: number;
}

export interface RenderedOverlay {
  spec: OverlaySpec;
  image: Yuva;
  /** Resting position of the top-left corner on the frame. */
  x: number;
  y: number;
  /** Where a slide comes in from: the offset (px) at the start of the entrance. */
  slideFrom: { dx: number; dy: number };
}

const even = (n: number) => Math.max(2, Math.round(n / 2) * 2);

function checkText(field: string, text: unknown, max: number): string {
  if (typeof text !== "string" || text.trim() === "") throw new InvalidArgumentError(field, "is required");
  if (text.length > max) throw new InvalidArgumentError(field, `at most ${max} characters, got ${text.length}`);
  return text;
}

/** Checks an overlay spec; throws InvalidArgumentError naming the field (under `field`, e.g. "overlay"). */
export async function checkOverlaySpec(spec: OverlaySpec, field = "overlay"): Promise<void> {
  if (typeof spec?.id !== "string" || !/^[a-z0-9][a-z0-9-]{0,63}$/.test(spec.id)) {
    throw new InvalidArgumentError(`${field}.id`, "must be [a-z0-9-], 1 to 64 characters");
  }
  if (spec.animation !== undefined && !["fade", "slide", "none"].includes(spec.animation)) {
    throw new InvalidArgumentError(`${field}.animation`, "must be fade, slide or none");
  }
  const duration = spec.durationMs ?? 0;
  if (!Number.isFinite(duration) || duration < 0 || duration > 86_400_000) {
    throw new InvalidArgumentError(`${field}.durationMs`, "must be 0 to 86400000 ms");
  }
  const content = spec.content;
  const at = `${field}.content`;
  switch (content?.kind) {
    case "product-card":
      checkText(`${at}.title`, content.title, 120);
      checkText(`${at}.price`, content.price, 40);
      if (content.soldOut !== undefined) checkText(`${at}.soldOut`, content.soldOut, 20);
      if (content.imagePath !== undefined) {
        const file = await stat(content.imagePath).catch(() => undefined);
        if (!file?.isFile()) throw new InvalidArgumentError(`${at}.imagePath`, `no such file: ${content.imagePath}`);
      }
      return;
    case "coupon":
      checkText(`${at}.text`, content.text, 60);
      return;
    case "price-tag":
      checkText(`${at}.price`, content.price, 40);
      if (content.originalPrice !== undefined) checkText(`${at}.originalPrice`, content.originalPrice, 40);
      if (content.soldOut !== undefined) checkText(`${at}.soldOut`, content.soldOut, 20);
      return;
    case "subtitle":
      if (!Array.isArray(content.lines) || content.lines.length < 1 || content.lines.length > 2) {
        throw new InvalidArgumentError(`${at}.lines`, "must hold 1 or 2 lines (e.g. Chinese, then English)");
      }
      content.lines.forEach((line, i) => checkText(`${at}.lines[${i}]`, line, 200));
      return;
    case "label":
      checkText(`${at}.text`, content.text, 40);
      if (content.corner !== undefined && !corners.includes(content.corner)) {
        throw new InvalidArgumentError(`${at}.corner`, `must be one of ${corners.join(", ")}`);
      }
      return;
    default:
      throw new InvalidArgumentError(`${at}.kind`, "must be product-card, coupon, price-tag, subtitle or label");
  }
}

async function decodeImage(path: string, width: number, height: number, field: string): Promise<Uint8Array> {
  const [buffer] = await collectBuffers(
    `filesrc name=file ! decodebin ! videoconvert ! videoscale add-borders=true ! ` +
      `video/x-raw,format=RGBA,width=${width},height=${height},pixel-aspect-ratio=1/1 ! appsink name=out sync=false`,
    { limit: 1, configure: (pipeline) => ((pipeline.findChild("file") as GstElement).location = path) },
  ).catch((err: unknown) => {
    throw new InvalidArgumentError(field, `cannot decode ${path} as an image`, { cause: err });
  });
  if (!buffer) throw new InvalidArgumentError(field, `cannot decode ${path} as an image`);
  return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
}

/** Copies an opaque RGBA picture into an RGBA canvas at (x, y). */
function paste(
  canvas: Uint8Array,
  canvasWidth: number,
  picture: Uint8Array,
  width: number,
  height: number,
  x: number,
  y: number,
) {
  for (let row = 0; row < height; row++) {
    canvas.set(picture.subarray(row * width * 4, (row + 1) * width * 4), ((y + row) * canvasWidth + x) * 4);
  }
}

/** Insets (px) of the part of a frame overlays keep to. */
export interface SafeArea {
  left: number;
  right: number;
  top: number;
  bottom: number;
}

/**
 * Where overlays may go on a frame. A vertical stream is watched in the platforms' apps, which draw their own
 * controls over it: the streamer's name and the viewer count along the top, the comment box, buttons and the
 * scrolling comments along the bottom; so 8% stays clear at the top and 15% at the bottom (4% at the sides). A
 * landscape frame keeps the broadcast title-safe margin, 5% on every side.
 */
export function safeArea(frameWidth: number, frameHeight: number): SafeArea {
  if (frameHeight > frameWidth) {
    const side = even(frameWidth * 0.04);
    return { left: side, right: side, top: even(frameHeight * 0.08), bottom: even(frameHeight * 0.15) };
  }
  const side = even(frameWidth * 0.05);
  const edge = even(frameHeight * 0.05);
  return { left: side, right: side, top: edge, bottom: edge };
}

/** The sizes of a frame's subtitle box: font, paddings and the most lines it shows. */
function subtitleLayout(frameWidth: number, frameHeight: number) {
  const unit = Math.min(frameWidth, frameHeight) / 720;
  const safe = safeArea(frameWidth, frameHeight);
  const padX = even(20 * unit);
  const padY = even(10 * unit);
  const width = even(frameWidth - safe.left - safe.right);
  const font = overlayFont(36 * unit, true);
  return { unit, safe, padX, padY, width, wrap: width - 2 * padX, font, maxLines: 2 };
}

/** Height of the tallest subtitle box (two lines): what other overlays stay above. */
function subtitleReserve(frameWidth: number, frameHeight: number): number {
  const { padY, font } = subtitleLayout(frameWidth, frameHeight);
  return even(2 * measureText("国", font, 0).lineHeight + 2 * padY);
}

export interface SubtitlePage {
  text: string;
  /** Where the page starts in the whole text (UTF-16 units): it shows from the word spoken there. */
  start: number;
}

/**
 * A sentence as the pages of subtitles it takes on a frame of this size: each page at most two lines of the
 * subtitle box, broken where Unicode allows (never inside a number or a product code), the rest carried to the next
 * page. Most sentences are one page.
 */
export function subtitlePages(text: string, frameWidth: number, frameHeight: number): SubtitlePage[] {
  const { wrap, font, maxLines } = subtitleLayout(frameWidth, frameHeight);
  const pages: SubtitlePage[] = [];
  let start = text.length - text.trimStart().length;
  while (start < text.length) {
    const rest = text.slice(start);
    const fit = measureText(rest, font, wrap, maxLines);
    // A page always takes something (a single unbreakable run wider than the box is cut by the box's ellipsis).
    const length = fit.lines <= maxLines ? rest.length : Math.max(1, fit.fitLength);
    const page = rest.slice(0, length).trimEnd();
    if (page) pages.push({ text: page, start });
    start += length;
    while (start < text.length && /\s/.test(text[start]!)) start++;
  }
  return pages.length > 0 ? pages : [{ text: text.trim(), start: 0 }];
}

/** Renders an overlay for a frame of `frameWidth` x `frameHeight` and places it by its kind, inside the safe area. */
export async function renderOverlay(spec: OverlaySpec, frameWidth: number, frameHeight: number, field = "overlay") {
  await checkOverlaySpec(spec, field);
  const unit = Math.min(frameWidth, frameHeight) / 720;
  const safe = safeArea(frameWidth, frameHeight);
  const safeWidth = frameWidth - safe.left - safe.right;
  /** The bottom of the space above the subtitles and a corner label's row (a label may sit at a bottom corner). */
  const aboveSubtitles = frameHeight - safe.bottom - subtitleReserve(frameWidth, frameHeight) - even(12 * unit);
  const aboveBottomLabel = aboveSubtitles - labelHeight(unit) - even(8 * unit);
  /** The top of the space below the label row and a coupon of two lines (the price tag's highest place). */
  const belowCoupon = safe.top + labelHeight(unit) + even(8 * unit) + couponHeight(unit) + even(8 * unit);
  const radius = 12 * unit;
  const content = spec.content;
  let width: number;
  let height: number;
  let rgba: Uint8Array;
  let x: number;
  let y: number;
  let slideFrom: { dx: number; dy: number };
  switch (content.kind) {
    case "product-card": {
      width = even(Math.min(safeWidth, 560 * unit));
      const pad = even(16 * unit);
      const picture = content.imagePath ? even(168 * unit) : 0;
      const textLeft = content.imagePath ? picture + 2 * pad : pad;
      const textWidth = width - textLeft - pad;
      const titleFont = overlayFont(34 * unit, true);
      const title = measureText(content.title, titleFont, textWidth, 2);
      // A long price (decimals, a currency, thousands) shrinks to the card's width rather than leaving it.
      const price = fitOneLine(content.price, 56 * unit, 12 * unit, textWidth, true);
      const soldOutFont = overlayFont(28 * unit, true);
      const soldOut = content.soldOut ? measureText(content.soldOut, soldOutFont, textWidth, 1) : undefined;
      const gap = even(6 * unit);
      const textHeight = title.height + gap + price.measure.height + (soldOut ? gap + soldOut.height : 0);
      height = even(Math.max(picture + 2 * pad, textHeight + 2 * pad));
      const items: TextItem[] = [
        {
          text: content.title,
          font: titleFont,
          x: textLeft,
          y: pad,
          width: textWidth,
          maxLines: 2,
          align: "left",
          colour: 0xff202020,
        },
        {
          text: content.price,
          font: price.font,
          x: textLeft,
          y: pad + title.height + gap,
          width: textWidth,
          maxLines: 1,
          align: "left",
          // Sold out: the price greyed and struck through, under the notice.
          colour: content.soldOut ? 0xff9a9a9a : 0xffe0203c,
          strike: content.soldOut !== undefined,
        },
      ];
      if (content.soldOut && soldOut) {
        items.push({
          text: content.soldOut,
          font: soldOutFont,
          x: textLeft,
          y: pad + title.height + gap + price.measure.height + gap,
          width: textWidth,
          maxLines: 1,
          align: "left",
          colour: 0xff5a5a5a,
        });
      }
      rgba = drawTextBox(width, height, 0xf2ffffff, radius, items);
      if (content.imagePath) {
        paste(
          rgba,
          width,
          await decodeImage(content.imagePath, picture, picture, `${field}.content.imagePath`),
          picture,
          picture,
          pad,
          even((height - picture) / 2),
        );
      }
      x = safe.left;
      y = even(aboveBottomLabel - height);
      slideFrom = { dx: -(x + width), dy: 0 };
      break;
    }
    case "coupon": {
      width = even(Math.min(safeWidth, 600 * unit));
      const { padX, padY, font } = couponLayout(unit);
      const measured = measureText(content.text, font, width - 2 * padX, 2);
      height = even(measured.height + 2 * padY);
      rgba = drawTextBox(width, height, 0xf0ff4d4f, radius, [
        {
          text: content.text,
          font,
          x: padX,
          y: padY,
          width: width - 2 * padX,
          maxLines: 2,
          align: "center",
          colour: 0xffffffff,
        },
      ]);
      x = even((frameWidth - width) / 2);
      // Below the AI-content label's row (a label in a top corner stays readable).
      y = safe.top + labelHeight(unit) + even(8 * unit);
      slideFrom = { dx: 0, dy: -(y + height) };
      break;
    }
    case "price-tag": {
      const pad = even(16 * unit);
      const widest = Math.min(safeWidth, 420 * unit) - 2 * pad;
      const price = fitOneLine(content.price, 56 * unit, 12 * unit, widest, true);
      const originalFont = overlayFont(30 * unit);
      const original = content.originalPrice ? measureText(content.originalPrice, originalFont, widest, 1) : undefined;
      const soldOutFont = overlayFont(28 * unit, true);
      const soldOut = content.soldOut ? measureText(content.soldOut, soldOutFont, widest, 1) : undefined;
      const widestText = Math.max(price.measure.width, original?.width ?? 0, soldOut?.width ?? 0);
      width = even(Math.min(safeWidth, Math.max(260 * unit, widestText + 2 * pad)));
      height = even(pad + price.measure.height + (original?.height ?? 0) + (soldOut?.height ?? 0) + pad);
      const items: TextItem[] = [
        {
          text: content.price,
          font: price.font,
          x: pad,
          y: pad,
          width: width - 2 * pad,
          maxLines: 1,
          align: "center",
          colour: 0xffffffff,
          strike: soldOut !== undefined,
        },
      ];
      if (content.originalPrice && original) {
        items.push({
          text: content.originalPrice,
          font: originalFont,
          x: pad,
          y: pad + price.measure.height,
          width: width - 2 * pad,
          maxLines: 1,
          align: "center",
          colour: 0xffffe0e0,
          strike: true,
        });
      }
      if (content.soldOut && soldOut) {
        items.push({
          text: content.soldOut,
          font: soldOutFont,
          x: pad,
          y: pad + price.measure.height + (original?.height ?? 0),
          width: width - 2 * pad,
          maxLines: 1,
          align: "center",
          colour: 0xffffffff,
        });
      }
      // Sold out: grey, not the sale's red.
      rgba = drawTextBox(width, height, soldOut ? 0xf0707070 : 0xf0e0203c, radius, items);
      x = frameWidth - safe.right - width;
      y = even(Math.max(belowCoupon, frameHeight * 0.3));
      slideFrom = { dx: width + safe.right, dy: 0 };
      break;
    }
    case "subtitle": {
      const layout = subtitleLayout(frameWidth, frameHeight);
      // Each given line (e.g. Chinese, then English) wraps in the box; together they take at most two lines (one
      // each when there are two), the last one ending in "…" when its text is longer: a caller with more to say
      // pages it (subtitlePages).
      const budget = layout.maxLines;
      const items: TextItem[] = [];
      let used = 0;
      let top = layout.padY;
      content.lines.forEach((line, i) => {
        const allowed = budget - used - (content.lines.length - 1 - i);
        const measured = measureText(line, layout.font, layout.wrap, allowed);
        items.push({
          text: line,
          font: layout.font,
          x: layout.padX,
          y: top,
          width: layout.wrap,
          maxLines: allowed,
          align: "center",
          colour: 0xffffffff,
        });
        used += Math.min(measured.lines, allowed);
        top += measured.height;
      });
      width = layout.width;
      height = even(top + layout.padY);
      rgba = drawTextBox(width, height, 0x90000000, radius, items);
      x = safe.left;
      y = frameHeight - safe.bottom - height;
      slideFrom = { dx: 0, dy: even(height / 2) };
      break;
    }
    case "label": {
      const { font, padX, padY } = labelLayout(unit);
      const measured = measureText(content.text, font, safeWidth - 2 * padX, 1);
      width = even(Math.min(safeWidth, measured.width + 2 * padX));
      height = labelHeight(unit);
      rgba = drawTextBox(width, height, 0xa0000000, radius / 2, [
        {
          text: content.text,
          font,
          x: padX,
          y: padY,
          width: width - 2 * padX,
          maxLines: 1,
          align: "center",
          colour: 0xffffffff,
        },
      ]);
      const corner = content.corner ?? "top-left";
      x = corner.endsWith("left") ? safe.left : frameWidth - safe.right - width;
      // At the bottom: above the subtitles.
      y = corner.startsWith("top") ? safe.top : even(aboveSubtitles - height);
      slideFrom = { dx: 0, dy: 0 };
      break;
    }
  }
  return { spec, image: rgbaToYuva(rgba, width, height), x, y, slideFrom } satisfies RenderedOverlay;
}

/** A coupon banner's font and paddings. */
function couponLayout(unit: number) {
  return { font: overlayFont(44 * unit, true), padX: even(20 * unit), padY: even(14 * unit) };
}

/** The tallest coupon banner: two lines. */
function couponHeight(unit: number): number {
  const { font, padY } = couponLayout(unit);
  return even(2 * measureText("国", font, 0).lineHeight + 2 * padY);
}

/** A corner label's font and paddings (`unit`: the frame's shorter side over 720). */
function labelLayout(unit: number) {
  return { font: overlayFont(26 * unit), padX: even(14 * unit), padY: even(6 * unit) };
}

/** A corner label's height: one line of its font. */
function labelHeight(unit: number): number {
  const { font, padY } = labelLayout(unit);
  return even(measureText("国", font, 0).lineHeight + 2 * padY);
}

/** The largest font size from `size` down to `smallest` at which `value` fits one line of `width` px. */
function fitOneLine(value: string, size: number, smallest: number, width: number, bold: boolean) {
  let font = overlayFont(size, bold);
  let measure = measureText(value, font, 0);
  if (measure.width > width) {
    const fitted = Math.max(smallest, Math.floor((size * width) / measure.width));
    font = overlayFont(fitted, bold);
    measure = measureText(value, font, 0);
  }
  return { font, measure };
}

/** Where an overlay is and how opaque, `frame` frames after it was shown (`hideAt`: frames until it leaves). */
export function overlayPose(
  overlay: RenderedOverlay,
  framesShown: number,
  framesLeft: number,
  transitionFrames: number,
) {
  const animation = overlay.spec.animation ?? "fade";
  if (animation === "none" || transitionFrames <= 0) return { x: overlay.x, y: overlay.y, opacity: 1 };
  const entering = Math.min(1, (framesShown + 1) / transitionFrames);
  const leaving = Math.min(1, framesLeft / transitionFrames);
  const progress = Math.max(0, Math.min(entering, leaving));
  const eased = 1 - (1 - progress) ** 3;
  if (animation === "fade") return { x: overlay.x, y: overlay.y, opacity: progress };
  return {
    x: Math.round(overlay.x + overlay.slideFrom.dx * (1 - eased)),
    y: Math.round(overlay.y + overlay.slideFrom.dy * (1 - eased)),
    opacity: progress,
  };
}
