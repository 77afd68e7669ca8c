// Overlays on the room's video: product card (image, title, price), coupon banner, price tag and two-line subtitles
// (Chinese and English). Each is rendered once into a bitmap by a one-shot GStreamer pipeline (pango's textoverlay
// with a CJK font, decodebin for the product image), placed by kind for the frame size, and drawn per frame with a
// fade or slide computed from the frame number, so an overlay cued on a word appears on that word's frame.
import { stat } from "node:fs/promises";
import { InvalidArgumentError } from "../errors/index.js";
import { RenderError } from "./errors.js";
import { collectBuffers, type GstElement, type GstPipeline } from "./gst.js";
import { rgbaToYuva, type Yuva } from "./picture.js";

export type OverlayContent =
  | { kind: "product-card"; title: string; price: string; imagePath?: string }
  | { kind: "coupon"; text: string }
  | { kind: "price-tag"; price: string; originalPrice?: string }
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

const font = "Noto Sans CJK SC";
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
      return;
    case "subtitle":
      if (!Array.isArray(content.lines) || content.lines.length < 1 || content.lines.length > 3) {
        throw new InvalidArgumentError(`${at}.lines`, "must hold 1 to 3 lines (e.g. Chinese, then English)");
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

interface TextLine {
  text: string;
  /** Pango font size in px. */
  size: number;
  bold?: boolean;
  /** ARGB. */
  colour: number;
  halign: "left" | "center" | "right";
  valign: "top" | "center" | "bottom";
  xpad: number;
  ypad: number;
}

/** A box of `background` (ARGB) with text lines drawn by pango; returns RGBA. */
async function renderTextBox(width: number, height: number, background: number, lines: TextLine[]) {
  const overlays = lines
    .map(
      (line, i) =>
        `textoverlay name=t${i} auto-resize=false shaded-background=false halignment=${line.halign} ` +
        `valignment=${line.valign} line-alignment=${line.halign} xpad=${line.xpad} ypad=${line.ypad} ` +
        `color=${line.colour} wrap-mode=wordchar`,
    )
    .join(" ! ");
  const [buffer] = await collectBuffers(
    `videotestsrc pattern=solid-color foreground-color=${background} num-buffers=1 ! ` +
      `video/x-raw,format=RGBA,width=${width},height=${height},framerate=1/1 ! ${overlays} ! appsink name=out sync=false`,
    {
      limit: 1,
      configure: (pipeline: GstPipeline) =>
        lines.forEach((line, i) => {
          const element = pipeline.findChild(`t${i}`) as GstElement;
          element["font-desc"] = `${font}${line.bold ? " Bold" : ""} ${line.size}px`;
          // textoverlay reads its text as Pango markup: "Home & Gadgets" must not read as a broken entity.
          element.text = escapeMarkup(line.text);
        }),
    },
  );
  if (!buffer) throw new RenderError("text rendering produced no image");
  return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
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

/** Renders an overlay for a frame of `frameWidth` x `frameHeight` and places it by its kind. */
export async function renderOverlay(spec: OverlaySpec, frameWidth: number, frameHeight: number, field = "overlay") {
  await checkOverlaySpec(spec, field);
  const unit = Math.min(frameWidth, frameHeight) / 720;
  const margin = even(24 * unit);
  const content = spec.content;
  let width: number;
  let height: number;
  let rgba: Uint8Array;
  let x: number;
  let y: number;
  let slideFrom: { dx: number; dy: number };
  switch (content.kind) {
    case "product-card": {
      width = even(560 * unit);
      height = even(200 * unit);
      const pad = even(16 * unit);
      const picture = height - 2 * pad;
      const textLeft = content.imagePath ? picture + 2 * pad : pad;
      rgba = await renderTextBox(width, height, 0xf2ffffff, [
        {
          text: content.title,
          size: Math.round(34 * unit),
          bold: true,
          colour: 0xff202020,
          halign: "left",
          valign: "top",
          xpad: textLeft,
          ypad: pad,
        },
        {
          text: content.price,
          size: Math.round(56 * unit),
          bold: true,
          colour: 0xffe0203c,
          halign: "left",
          valign: "bottom",
          xpad: textLeft,
          ypad: pad,
        },
      ]);
      if (content.imagePath) {
        paste(
          rgba,
          width,
          await decodeImage(content.imagePath, picture, picture, `${field}.content.imagePath`),
          picture,
          picture,
          pad,
          pad,
        );
      }
      x = margin;
      // Above the subtitles (two lines), whatever the frame's shape.
      y = frameHeight - height - even(Math.max(frameHeight * 0.2, 150 * unit + frameHeight * 0.04));
      slideFrom = { dx: -(x + width), dy: 0 };
      break;
    }
    case "coupon":
      width = even(Math.min(frameWidth - 2 * margin, 600 * unit));
      height = even(96 * unit);
      rgba = await renderTextBox(width, height, 0xf0ff4d4f, [
        {
          text: content.text,
          size: Math.round(44 * unit),
          bold: true,
          colour: 0xffffffff,
          halign: "center",
          valign: "center",
          xpad: 0,
          ypad: 0,
        },
      ]);
      x = even((frameWidth - width) / 2);
      y = even(frameHeight * 0.06);
      slideFrom = { dx: 0, dy: -(y + height) };
      break;
    case "price-tag": {
      width = even(260 * unit);
      height = even(content.originalPrice ? 150 * unit : 110 * unit);
      const lines: TextLine[] = [
        {
          text: content.price,
          size: Math.round(56 * unit),
          bold: true,
          colour: 0xffffffff,
          halign: "center",
          valign: "top",
          xpad: 0,
          ypad: even(14 * unit),
        },
      ];
      if (content.originalPrice) {
        lines.push({
          text: content.originalPrice,
          size: Math.round(30 * unit),
          colour: 0xffffe0e0,
          halign: "center",
          valign: "bottom",
          xpad: 0,
          ypad: even(12 * unit),
        });
      }
      rgba = await renderTextBox(width, height, 0xf0e0203c, lines);
      x = frameWidth - width - margin;
      y = even(frameHeight * 0.3);
      slideFrom = { dx: width + margin, dy: 0 };
      break;
    }
    case "subtitle": {
      const size = Math.round(36 * unit);
      width = even(frameWidth - 2 * margin);
      height = even(content.lines.length * size * 1.5 + 2 * (12 * unit));
      rgba = await renderTextBox(width, height, 0x90000000, [
        {
          text: content.lines.join("\n"),
          size,
          bold: true,
          colour: 0xffffffff,
          halign: "center",
          valign: "center",
          xpad: 0,
          ypad: 0,
        },
      ]);
      x = margin;
      y = frameHeight - height - even(frameHeight * 0.04);
      slideFrom = { dx: 0, dy: even(height / 2) };
      break;
    }
    case "label": {
      const size = Math.round(26 * unit);
      // Wide enough for the text: a CJK character is about one em, Latin about 0.6 em.
      const ems = [...content.text].reduce((sum, c) => sum + (c.charCodeAt(0) > 0x2e80 ? 1 : 0.6), 0);
      width = even(Math.min(frameWidth - 2 * margin, ems * size + 28 * unit));
      height = even(size * 1.6);
      rgba = await renderTextBox(width, height, 0xa0000000, [
        { text: content.text, size, colour: 0xffffffff, halign: "center", valign: "center", xpad: 0, ypad: 0 },
      ]);
      const corner = content.corner ?? "top-left";
      x = corner.endsWith("left") ? margin : frameWidth - width - margin;
      // At the bottom: above the two-line subtitles, clear of the platforms' own controls there.
      y = corner.startsWith("top")
        ? margin
        : frameHeight - height - even(frameHeight * 0.04) - even(2 * 36 * unit * 1.5 + 24 * unit) - margin;
      slideFrom = { dx: 0, dy: 0 };
      break;
    }
  }
  return { spec, image: rgbaToYuva(rgba, width, height), x, y, slideFrom } satisfies RenderedOverlay;
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

function escapeMarkup(text: string): string {
  return text.replace(/[&<>]/g, (c) => (c === "&" ? "&amp;" : c === "<" ? "&lt;" : "&gt;"));
}
