// Text for the overlays, measured and drawn by Pango (media/native/text.c): lines broken by Unicode's rules (CJK
// between characters, never inside a number) and never inside a code such as "XJ-2000", boxes sized from the font's
// own metrics.
// Built by `npm run setup` with the other addons.
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { repoPath } from "../avatars/index.js";
import { UnavailableError } from "../errors/index.js";

/** The font of every overlay: Noto Sans CJK covers Chinese and Latin alike. */
const family = "Noto Sans CJK SC";

export interface TextMeasure {
  /** Logical width and height of the lines kept, in px. */
  width: number;
  height: number;
  /** Lines the whole text takes at this width. */
  lines: number;
  /** How much of the text (UTF-16 units) the lines kept hold: all of it unless `lines` is over the limit. */
  fitLength: number;
  /** Height of one line (the font's ascent, descent and gap). */
  lineHeight: number;
  /** Rows (from the layout's top) between which glyphs leave ink. */
  inkTop: number;
  inkBottom: number;
}

export interface TextItem {
  text: string;
  font: string;
  /** Top-left corner of the text in the box, px. */
  x: number;
  y: number;
  /** Width lines wrap at, px (0: no wrapping). */
  width: number;
  /** At most this many lines, the last one ending with "…" when the text is longer; 0: all. */
  maxLines: number;
  align: "left" | "center" | "right";
  /** ARGB. */
  colour: number;
  /** Struck through (a price before the discount). */
  strike?: boolean;
}

interface TextAddon {
  measure(text: string, font: string, width: number, maxLines: number): number[];
  box(
    width: number,
    height: number,
    background: number,
    radius: number,
    items: Array<Omit<TextItem, "align" | "strike"> & { align: number; strike: number }>,
  ): Uint8Array;
}

const addonRelative = "media/native/build/Release/livehost_text.node";
let addon: TextAddon | undefined;

function text(): TextAddon {
  if (!addon) {
    const path = repoPath(addonRelative);
    if (!existsSync(path))
      throw new UnavailableError(`the overlays' text renderer is not built at ${addonRelative} (npm run setup)`);
    addon = createRequire(import.meta.url)(path) as TextAddon;
  }
  return addon;
}

/** A Pango font description of the overlays' font at `sizePx`. */
export function overlayFont(sizePx: number, bold = false): string {
  return `${family}${bold ? " Bold" : ""} ${Math.max(1, Math.round(sizePx))}px`;
}

/**
 * Codes and numbers with separators inside ("XJ-2000", "GB/T46483", "1,299.90"): Unicode's line breaking allows a
 * break after a hyphen or a slash, and a viewer reads "GB/" and "T46483" on two lines as two things. Each such run
 * is glued with word joiners (U+2060, invisible) so that it moves to the next line whole.
 */
const codeRun = /[A-Za-z0-9]+(?:[-/._+#:,][A-Za-z0-9]+)+[元块件个斤克折%％]?|\d+[元块件个斤克折%％]/g;
const joiner = "\u2060";

/**
 * The text as it is laid out: runs kept whole (above, a number with its unit too: "79元"), and line breaks, tabs
 * and other control characters as spaces (an overlay's text is one paragraph; its lines are the box's to make).
 * Every character keeps its place, so offsets into the result are offsets into `value` once the joiners are out.
 */
function glue(value: string): string {
  // eslint-disable-next-line no-control-regex
  return value.replace(/[\u0000-\u001f\u007f]/g, " ").replace(codeRun, (run) => [...run].join(joiner));
}

/** `value` wrapped at `width` px (0: one line), over at most `maxLines` lines (0: all). */
export function measureText(value: string, font: string, width: number, maxLines = 0): TextMeasure {
  const glued = glue(value);
  const [w, height, lines, fitGlued, lineHeight, inkTop, inkBottom] = text().measure(
    glued,
    font,
    Math.max(0, Math.round(width)),
    maxLines,
  );
  // Back to offsets in `value`: the joiners before the cut are not in it.
  const fitLength = fitGlued! - (glued.slice(0, fitGlued).split(joiner).length - 1);
  return {
    width: w!,
    // The logical height, or where glyphs leave ink when that is lower (stacked accents): nothing drawn past it.
    height: Math.max(height!, Math.ceil(inkBottom!)),
    lines: lines!,
    fitLength,
    lineHeight: lineHeight!,
    inkTop: inkTop!,
    inkBottom: inkBottom!,
  };
}

/** A box of `background` (ARGB) with rounded corners of `radius` px and the items drawn on it: RGBA, straight alpha. */
export function drawTextBox(width: number, height: number, background: number, radius: number, items: TextItem[]) {
  const align = { left: 0, center: 1, right: 2 } as const;
  return text().box(
    width,
    height,
    background >>> 0,
    Math.max(0, Math.round(radius)),
    items.map((item) => ({
      ...item,
      text: glue(item.text),
      x: Math.round(item.x),
      y: Math.round(item.y),
      width: Math.max(0, Math.round(item.width)),
      colour: item.colour >>> 0,
      align: align[item.align],
      strike: item.strike ? 1 : 0,
    })),
  );
}
