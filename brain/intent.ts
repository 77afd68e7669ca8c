// What a (masked, moderated) comment asks and about which product. What it asks is the understanding model's intent
// (brain/understanding/), or "injection" when the exact injection patterns see one. Which product is found here:
// by name or alias, by link number ("1号链接", "link 1" = products[0]), by what only one product can answer (a size
// question when only the dress has a size guide), else the product on screen.
import type { Catalog, Product } from "../proto/index.js";
import type { CommentFlag } from "./moderation.js";
import { catalogLanguage } from "./text.js";
import { purchaseIntentLabels, type IntentLabel } from "./understanding/corpus.js";

export type Intent = IntentLabel;

/** Intents that come from someone about to buy: answered first in a busy room. */
export const purchaseIntents: ReadonlySet<Intent> = new Set(purchaseIntentLabels);

export type ProductReference = "name" | "link" | "only-one" | "screen" | "none";

export interface Understanding {
  intent: Intent;
  /** The product the comment is about; undefined for greetings and chit-chat that name none. */
  productId: string | undefined;
  productBy: ProductReference;
  flags: CommentFlag[];
  /** Size labels of the product named in the comment ("XL"). */
  sizes: string[];
  /** Spec names of the product the comment asks about ("颜色"). */
  specs: string[];
  /** Height (cm), weight (kg), chest (in) or waist (in) the viewer gave, to pick a size. */
  body: Partial<Record<BodyMeasure, number>>;
  /** "今天卖什么" / "what are you selling": asks for the line-up rather than one product. */
  asksLineup: boolean;
}

export type BodyMeasure = "height" | "weight" | "chest" | "waist";

const lineup =
  /卖什么|有什么(?:好物|东西|商品)|今天.{0,4}(?:有啥|上什么)|\bwhat (?:are you|do you) sell|\bwhat'?s on (?:sale|today)\b/i;
const linkNumber = /(\d{1,3})\s*号\s*(?:链接|商品|宝贝)?|(?:link|item|product|#)\s*(?:no\.?\s*)?(\d{1,3})\b/i;

const stopWords = new Set(["with", "and", "for", "the", "from", "this", "that", "your", "cotton"]);

/** Words a viewer may use for a product: its English title words, its Chinese title fragments, "杯子" for 杯. */
export function productTerms(product: Product): string[] {
  const terms = new Set<string>();
  for (const word of product.title.toLowerCase().match(/[a-z]{3,}/g) ?? []) {
    if (!stopWords.has(word)) terms.add(word);
  }
  for (const run of product.title.match(/[\u4e00-\u9fff]+/g) ?? []) {
    for (let i = 0; i < run.length - 1; i++) {
      for (let j = i + 2; j <= run.length; j++) terms.add(run.slice(i, j));
    }
    // A Chinese product name ends in its head noun; "杯子" means the 保温杯, "裙子" the 连衣裙.
    terms.add(`${run.at(-1)}子`);
  }
  return [...terms];
}

function termFound(text: string, term: string): boolean {
  if (!/^[a-z]/.test(term)) return text.includes(term);
  // English words match whole, with a plural s.
  return new RegExp(`\\b${term}s?\\b`).test(text);
}

/** The product a text names, by its longest matching term (ties go to the one on screen, then catalog order). */
export function productNamedIn(text: string, catalog: Catalog, onScreenId?: string): Product | undefined {
  const lower = text.toLowerCase();
  let best: { product: Product; score: number } | undefined;
  for (const product of catalog.products) {
    const score = Math.max(
      0,
      ...productTerms(product)
        .filter((t) => termFound(lower, t))
        .map((t) => t.length),
    );
    if (score === 0) continue;
    const better = !best || score > best.score || (score === best.score && product.id === onScreenId);
    if (better) best = { product, score };
  }
  return best?.product;
}

const specSynonyms: [RegExp, RegExp][] = [
  [/颜色|colou?rs?/i, /颜色|色|\bcolou?rs?\b|\b(?:black|white|red|blue|green|pink|grey|gray|purple|yellow|brown)\b/i],
  [/容量|capacity/i, /容量|多大|装多少|\bcapacity\b|\bhow (?:big|much (?:water|does it hold))\b/i],
  [/保温/i, /保温|保多久|保暖/],
  [/续航|battery/i, /续航|电池|用多久|\bbattery\b|\bhow long\b/i],
  [/肤质|skin/i, /肤质|敏感肌|油皮|干皮|皮肤|\bskin\b/i],
  [/面料|材质|fabric|material/i, /面料|材质|料子|\bfabric\b|\bmaterial\b|\bcotton\b/i],
  [/尺码|sizes/i, /尺码|几个码|\bsizes\b/i],
  [/防水|waterproof/i, /防水|进水|\bwaterproof\b|\bwater\b/i],
  [/brightness|亮度/i, /亮度|\bbrightness\b|\bbright\b/i],
  [/power|功率/i, /功率|\bpower\b|\bwatts?\b/i],
];

function specsAskedIn(text: string, product: Product): string[] {
  return product.specs
    .filter((spec) => {
      if (text.toLowerCase().includes(spec.name.toLowerCase())) return true;
      if (spec.values.some((v) => v.length >= 2 && text.includes(v))) return true;
      return specSynonyms.some(([name, asked]) => name.test(spec.name) && asked.test(text));
    })
    .map((spec) => spec.name);
}

function sizesNamedIn(text: string, product: Product): string[] {
  return Object.keys(product.sizeGuide).filter((size) =>
    new RegExp(`(?<![A-Za-z])${size.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}(?![A-Za-z])`).test(text),
  );
}

function bodyIn(text: string): Understanding["body"] {
  const body: Understanding["body"] = {};
  const height = /身高\s*(\d{3})|(\d{3})\s*(?:cm|厘米)|1米(\d{1,2})/i.exec(text);
  if (height) body.height = height[3] ? 100 + Number(height[3].padEnd(2, "0")) : Number(height[1] ?? height[2]);
  const jin = /(\d{2,3})\s*斤/.exec(text);
  const kg = /体重\s*(\d{2,3})|(\d{2,3})\s*(?:kg|公斤|千克)/i.exec(text);
  if (jin) body.weight = Number(jin[1]) / 2;
  else if (kg) body.weight = Number(kg[1] ?? kg[2]);
  const chest = /(\d{2})\s*(?:-?\s*inch(?:es)?|in\b|")?\s*chest|chest\s*(?:is|of)?\s*(\d{2})/i.exec(text);
  if (chest) body.chest = Number(chest[1] ?? chest[2]);
  const waist = /(\d{2})\s*(?:-?\s*inch(?:es)?|in\b|")?\s*waist|waist\s*(?:is|of)?\s*(\d{2})/i.exec(text);
  if (waist) body.waist = Number(waist[1] ?? waist[2]);
  return body;
}

/** Products that can answer an intent at all: only those with a size guide answer size questions, etc. */
function canAnswer(product: Product, intent: Intent): boolean {
  if (intent === "size") return Object.keys(product.sizeGuide).length > 0;
  if (intent === "coupon") return product.coupons.length > 0;
  return true;
}

const notAboutAProduct: ReadonlySet<Intent> = new Set(["greeting", "chitchat", "other", "injection"]);

/**
 * Intent and product of a masked comment. `modelIntent` is the understanding model's; `flags` come from moderation
 * (an injection flag makes the intent "injection"); `onScreenId` is the product shown now.
 */
export function understand(
  text: string,
  catalog: Catalog,
  flags: CommentFlag[],
  modelIntent: Intent,
  onScreenId?: string,
): Understanding {
  const intent: Intent = flags.includes("injection") ? "injection" : modelIntent;
  const named = productNamedIn(text, catalog, onScreenId);

  let product: Product | undefined;
  let productBy: ProductReference = "none";
  const link = linkNumber.exec(text);
  const linked = link ? catalog.products[Number(link[1] ?? link[2]) - 1] : undefined;
  const onScreen = catalog.products.find((p) => p.id === onScreenId) ?? catalog.products[0];
  if (linked) {
    [product, productBy] = [linked, "link"];
  } else if (named) {
    [product, productBy] = [named, "name"];
  } else if (!notAboutAProduct.has(intent)) {
    const able = catalog.products.filter((p) => canAnswer(p, intent));
    if (onScreen && canAnswer(onScreen, intent)) [product, productBy] = [onScreen, "screen"];
    else if (able.length === 1) [product, productBy] = [able[0], "only-one"];
    else [product, productBy] = [onScreen, "screen"];
  }
  return {
    intent,
    productId: product?.id,
    productBy: product ? productBy : "none",
    flags,
    sizes: product ? sizesNamedIn(text, product) : [],
    specs: product ? specsAskedIn(text, product) : [],
    body: bodyIn(text),
    asksLineup: lineup.test(text) || (catalogLanguage(catalog) === "zh" && /今天.{0,3}卖/.test(text)),
  };
}
