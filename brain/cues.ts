// Cues tie an overlay (product card, price tag, coupon banner) to the words that name it: offsets are UTF-16
// code units of the line's text, the same units TTS word timings carry in source_start/source_end, so the media
// graph shows the card when the word is spoken. Lines are written from templates that record these spans as they
// fill them in; text the brain did not write (an LLM's sentence, a human's line) gets its cues by search.
import { CueFired_Kind, type Catalog, type Coupon, type Product } from "../proto/index.js";
import { TemplateSlotError } from "./errors.js";
import { productTerms } from "./intent.js";
import { catalogLanguage, formatMoney, moneyDigits } from "./text.js";

export interface Cue {
  kind: CueFired_Kind;
  productId: string;
  /** Set for KIND_COUPON. */
  couponId?: string;
  /** UTF-16 offsets of the naming words in the line's text, end exclusive. */
  start: number;
  end: number;
}

export interface CuedText {
  text: string;
  cues: Cue[];
}

/** A filled-in template slot: the words, and the overlay they cue (if any). */
export type Slot = string | { text: string; cue: Omit<Cue, "start" | "end"> };

export const productCard = (product: Product, text = product.title): Slot => ({
  text,
  cue: { kind: CueFired_Kind.KIND_PRODUCT_CARD, productId: product.id },
});

export const priceTag = (product: Product, text: string): Slot => ({
  text,
  cue: { kind: CueFired_Kind.KIND_PRICE_TAG, productId: product.id },
});

export const couponBanner = (product: Product, coupon: Coupon, text = coupon.title): Slot => ({
  text,
  cue: { kind: CueFired_Kind.KIND_COUPON, productId: product.id, couponId: coupon.id },
});

/**
 * Fills `{name}` placeholders from `slots`, recording each cued slot's span. A placeholder without a slot is a
 * programming error in a template, so it throws.
 */
export function fill(template: string, slots: Record<string, Slot>): CuedText {
  let text = "";
  const cues: Cue[] = [];
  let last = 0;
  for (const match of template.matchAll(/\{(\w+)\}/g)) {
    text += template.slice(last, match.index);
    last = match.index + match[0].length;
    const slot = slots[match[1]!];
    if (slot === undefined) throw new TemplateSlotError(match[1]!);
    if (typeof slot === "string") {
      text += slot;
    } else {
      cues.push({ ...slot.cue, start: text.length, end: text.length + slot.text.length });
      text += slot.text;
    }
  }
  return { text: text + template.slice(last), cues };
}

/** Joins cued texts, shifting the later ones' cues. */
export function join(parts: CuedText[], separator = ""): CuedText {
  let text = "";
  const cues: Cue[] = [];
  parts.forEach((part, i) => {
    if (i > 0) text += separator;
    cues.push(...part.cues.map((c) => ({ ...c, start: c.start + text.length, end: c.end + text.length })));
    text += part.text;
  });
  return { text, cues };
}

/** The cues of the part [start, end) of a text, rebased to that part. */
export function sliceCues(cues: readonly Cue[], start: number, end: number): Cue[] {
  return cues
    .filter((c) => c.start >= start && c.end <= end)
    .map((c) => ({ ...c, start: c.start - start, end: c.end - start }));
}

const alphanumeric = /[a-z0-9]/i;

/**
 * Cues for text the brain did not template (an LLM sentence, a human's Say line): product names and their short
 * forms, prices and coupon titles found in it. Overlapping finds keep the longer one.
 */
export function findCues(text: string, catalog: Catalog): Cue[] {
  const language = catalogLanguage(catalog);
  const lower = text.toLowerCase();
  const found: Cue[] = [];
  const add = (needle: string, cue: Omit<Cue, "start" | "end">, caseless = false) => {
    if (needle === "") return;
    const haystack = caseless ? lower : text;
    const target = caseless ? needle.toLowerCase() : needle;
    for (let at = haystack.indexOf(target); at >= 0; at = haystack.indexOf(target, at + target.length)) {
      const before = haystack[at - 1] ?? " ";
      const after = haystack[at + target.length] ?? " ";
      // A price "79元" inside "179元" or a word inside a longer word names nothing.
      if (alphanumeric.test(target[0]!) && alphanumeric.test(before)) continue;
      if (alphanumeric.test(target.at(-1)!) && alphanumeric.test(after)) continue;
      found.push({ ...cue, start: at, end: at + target.length });
    }
  };
  for (const product of catalog.products) {
    const card = { kind: CueFired_Kind.KIND_PRODUCT_CARD, productId: product.id };
    add(product.title, card, true);
    for (const term of productTerms(product)) if (term.length >= (/^[a-z]/.test(term) ? 4 : 2)) add(term, card, true);
    const price = { kind: CueFired_Kind.KIND_PRICE_TAG, productId: product.id };
    if (product.price) {
      add(formatMoney(product.price, language), price);
      add(`¥${moneyDigits(product.price)}`, price);
      add(`$${moneyDigits(product.price)}`, price);
    }
    for (const coupon of product.coupons) {
      add(coupon.title, { kind: CueFired_Kind.KIND_COUPON, productId: product.id, couponId: coupon.id }, true);
    }
  }
  // Longest first, then drop any find that overlaps one already kept.
  found.sort((a, b) => b.end - b.start - (a.end - a.start) || a.start - b.start);
  const kept: Cue[] = [];
  for (const cue of found) {
    if (kept.every((k) => cue.end <= k.start || cue.start >= k.end)) kept.push(cue);
  }
  return kept.sort((a, b) => a.start - b.start);
}
