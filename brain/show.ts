// The scripted product show: opening, then per product its introduction, selling points, specs, price, coupons
// and a call to buy (or its restock date), with transitions, then a closing; a 24/7 room loops it. Every line is
// a pure function of (catalog, persona, seed, position), so a room resumes exactly where it stopped, on any host,
// from a small serializable ShowPosition. Wording varies per loop, and a slot never repeats the wording it had in
// the loop before. A room given a script written ahead (RoomSpec.script) speaks its variations instead, one per
// loop in turn, with the same positions and cues.
import {
  CueFired_Kind,
  type Catalog,
  type Money,
  type Persona,
  type Product,
  type ShowScript,
} from "../proto/index.js";
import { InvalidArgumentError } from "../errors/index.js";
import { couponBanner, fill, findCues, priceTag, productCard, sliceCues, type Cue, type Slot } from "./cues.js";
import { sentenceSpans } from "./sentences.js";
import { catalogLanguage, formatDate, formatList, formatMoney, hash, moneyDigits, type ShowLanguage } from "./text.js";

/** Where a show is: which loop, which line of the loop and which sentence of the line is next. JSON-safe. */
export interface ShowPosition {
  loop: number;
  line: number;
  sentence: number;
  /** The plan this position belongs to (catalog products and persona); a position from another plan restarts. */
  plan: string;
}

export const showLineKinds = [
  "opening",
  "intro",
  "points",
  "specs",
  "price",
  "coupon",
  "call",
  "transition",
  "closing",
] as const;
export type ShowLineKind = (typeof showLineKinds)[number];
/** Lines about no product: nothing is on screen while they are spoken. */
export const productlessKinds: readonly ShowLineKind[] = ["opening", "transition", "closing"];

/** What the room speaks next: the rest of a line from the position's sentence on, with its cues. */
export interface ShowUtterance {
  /** Stable id of the line in this loop, e.g. "show-3-12". */
  id: string;
  kind: ShowLineKind;
  /** The product this line is about (the one on screen while it is spoken); undefined for opening and closing. */
  productId: string | undefined;
  text: string;
  cues: Cue[];
  /** [start, end) UTF-16 offsets of each sentence in `text`. */
  sentences: [number, number][];
  position: ShowPosition;
}

/** One line of a loop: its kind and the product it is about. */
interface LineSlot {
  kind: ShowLineKind;
  product?: Product;
  productIndex: number;
  /** Which selling points or coupon this slot speaks. */
  part: number;
}

/** A product at or under this stock is "almost gone" (the only time the host may say so). */
export const lowStock = 100;

type Templates = Record<ShowLineKind, string[]>;

const zh: Templates = {
  opening: [
    "{opener}！欢迎来到{room}，我是{name}，今天给大家准备了{count}款好物，咱们一款一款看。",
    "哈喽{opener}，{name}来啦！{room}开播咯，今天有{lineup}，喜欢的先点个关注。",
    "{opener}，刚进来的朋友欢迎欢迎！这里是{room}，我是{name}，好物马上安排上。",
    "{opener}，{name}又来陪大家啦！今天的{room}有{count}款好物，从头给大家讲。",
  ],
  intro: [
    "{opener}，来看{link}号链接，{product}！",
    "接下来这款是{product}，就在{link}号链接。",
    "好，下面上{product}，{link}号链接的宝贝。",
    "{opener}，给大家看看这款{product}，{link}号链接。",
  ],
  points: [
    "它的亮点很实在：{points}。",
    "给大家划重点：{points}。",
    "说说细节，{points}，日常用起来很省心。",
    "为什么推荐它？{points}。",
  ],
  specs: ["参数也跟大家说清楚：{specs}。", "规格方面，{specs}。", "再看下规格，{specs}，按需选就好。"],
  price: [
    "价格来了！{product}原价{original}，今天直播间只要{price}。",
    "划重点，原价{original}，直播间价{price}，喜欢的别犹豫。",
    "{opener}，原价{original}的{product}，今天直播间{price}就能带回家。",
  ],
  coupon: [
    "还有券！{coupon}{terms}，下单前记得先领。",
    "记得领券：{coupon}{terms}。",
    "再给大家一张券，{coupon}{terms}，领了再拍更划算。",
  ],
  call: [
    "喜欢的宝子直接拍{link}号链接，{shipping}。",
    "想要的现在就去{link}号链接，{shipping}，{aftersales}。",
    "下单就拍{link}号链接哦，{aftersales}，放心买。",
  ],
  transition: [
    "好，这款就先讲到这儿，下一款马上来。",
    "看完这款，咱们换个宝贝，大家别走开。",
    "接下来换一款，{opener}跟上节奏。",
    "这款讲完啦，下一款也很有意思，接着看。",
  ],
  closing: [
    "今天的好物就是这些：{lineup}。没抢到的别着急，马上从头再给大家讲一遍！",
    "{opener}，一轮讲完啦，刚来的朋友别急，我们马上再过一遍。",
    "感谢大家的陪伴，喜欢的记得点关注，下一轮马上开始。",
  ],
};

const en: Templates = {
  opening: [
    "Hey everyone, welcome to {room}! I'm {name}, and I've got {count} products for you today.",
    "{opener}: it's {name}, live from {room}. Today we've got {lineup}.",
    "Welcome in, and hi to everyone just joining {room}! I'm {name}, let's get started.",
    "Good to see you all! {name} here at {room}, with {count} products to walk through.",
  ],
  intro: [
    "First up on link {link}: the {product}.",
    "Next, link {link}, the {product}.",
    "Let's look at the {product}, that's link {link}.",
    "{opener}: link {link} is the {product}.",
  ],
  points: [
    "Why people like it: {points}.",
    "Here's what it does well: {points}.",
    "The short version: {points}.",
    "A few things to know: {points}.",
  ],
  specs: ["The specs: {specs}.", "For the details, {specs}.", "Quick specs: {specs}."],
  price: [
    "Now the price: it's usually {original}, and today it's {price}.",
    "{opener}: {original} normally, {price} in this live room.",
    "Today the {product} is {price}, down from {original}.",
  ],
  coupon: [
    "There's also a coupon: {coupon}{terms}.",
    "Grab the coupon before you check out: {coupon}{terms}.",
    "{opener}: the coupon {coupon} is live{terms}.",
  ],
  call: [
    "Want one? Tap link {link}. {shipping}.",
    "Link {link} if you're in. {shipping}, and {aftersales}.",
    "It's on link {link}. {aftersales}.",
  ],
  transition: [
    "Okay, that's this one. Next up in a second.",
    "Let's switch it up with the next product.",
    "Moving on, stay with me.",
    "Alright, on to the next one.",
  ],
  closing: [
    "That's the lineup for this round: {lineup}. Stick around, we're starting over in a moment!",
    "That's everything for now. Just joined? We're going through it all again right away.",
    "Thanks for hanging out! Follow the room, the next round starts now.",
  ],
};

// Used instead of "price" when the product has no list price above today's.
const plainPrice: Record<ShowLanguage, string[]> = {
  zh: [
    "价格来了！{product}今天直播间只要{price}。",
    "直播间价{price}，喜欢的别犹豫。",
    "{opener}，{product}今天{price}。",
  ],
  en: ["Now the price: the {product} is {price} today.", "{opener}: {price} in this live room.", "Today it's {price}."],
};
// Used instead of "call" when the product is sold out, or almost.
const soldOut: Record<ShowLanguage, string[]> = {
  zh: [
    "这款已经卖光了，{restock}，可以先收藏{link}号链接。",
    "不好意思宝子们，{product}暂时没货，{restock}，先收藏{link}号链接不迷路。",
  ],
  en: [
    "Heads-up, it's sold out right now; {restock}. Save link {link} for later.",
    "The {product} is out of stock at the moment; {restock}.",
  ],
};
const almostGone: Record<ShowLanguage, string[]> = {
  zh: [
    "{scarcity}，{product}只剩{stock}件了，想要的抓紧拍{link}号链接。",
    "只剩{stock}件，{scarcity}，拍{link}号链接。",
  ],
  en: ["Only {stock} left of the {product}, so tap link {link} soon.", "{scarcity}: just {stock} left on link {link}."],
};

const scarcityPhrase = /库存|货|stock|left|selling out/i;
const pointsPerLine = 2;

/** Index of the wording for a slot in a loop: a shuffled cycle per slot, never the same twice in a row. */
export function variantFor(seed: number, slot: string, loop: number, variants: number): number {
  if (variants <= 1) return 0;
  if (variants === 2) return (hash(seed, slot) + loop) % 2;
  const order = (epoch: number) => {
    const perm = [...Array(variants).keys()];
    for (let i = perm.length - 1; i > 0; i--) {
      const j = hash(seed, slot, epoch, i) % (i + 1);
      [perm[i], perm[j]] = [perm[j]!, perm[i]!];
    }
    return perm;
  };
  const epoch = Math.floor(loop / variants);
  const perm = order(epoch);
  // Only the first two places ever swap, so the previous cycle's last place is its own shuffle's.
  if (epoch > 0 && perm[0] === order(epoch - 1)[variants - 1]) [perm[0], perm[1]] = [perm[1]!, perm[0]!];
  return perm[loop % variants]!;
}

export interface ShowOptions {
  /** Seeds the wording; two rooms with different seeds word the same catalog differently. Default 0. */
  seed?: number;
  /**
   * A show written ahead (RoomSpec.script, valid as checkScript says): loop n speaks variation n % variations, line
   * by line, instead of the templates. Without one (or with no variations) the templates write the show.
   */
  script?: ShowScript;
}

/** One line of the templates' show: what an LLM writing a script is asked to write. */
export interface ShowOutlineLine {
  kind: ShowLineKind;
  /** Empty for opening, transition and closing. */
  productId: string;
  /** The facts the line covers, from the catalog. */
  facts: string;
}

/** A script's line as the plan speaks it. */
interface ScriptedLine {
  kind: ShowLineKind;
  product: Product | undefined;
  text: string;
  /** Which of its product's coupons a coupon line presents (its coupon lines in the variation, in turn). */
  couponIndex: number;
}

/** The show of one catalog by one persona. Cheap to build; lines are made on demand. */
export class ShowPlan {
  readonly catalog: Catalog;
  readonly persona: Persona;
  readonly language: ShowLanguage;
  /** Identifies the plan's structure; positions carry it. */
  readonly fingerprint: string;
  readonly #seed: number;
  readonly #slots: LineSlot[];
  readonly #openers: string[];
  readonly #scarcity: string[];
  /** The script's variations, when the show is written ahead; undefined: the templates write it. */
  readonly #script: ScriptedLine[][] | undefined;

  constructor(catalog: Catalog, persona: Persona, options: ShowOptions = {}) {
    this.catalog = catalog;
    this.persona = persona;
    this.language = catalogLanguage(catalog);
    this.#seed = options.seed ?? 0;
    this.#slots = planSlots(catalog);
    this.#script = options.script?.variations.length ? scriptedLines(options.script, catalog) : undefined;
    // A changed script is another plan, as a changed catalog is: a position taken in the old one restarts.
    const structure = this.#script
      ? [
          "script",
          ...this.#script.flatMap((v) => [v.length, ...v.flatMap((l) => [l.kind, l.product?.id ?? "", l.text])]),
        ]
      : [this.#slots.length];
    this.fingerprint = hash(persona.id, catalog.language, ...catalog.products.map((p) => p.id), ...structure)
      .toString(36)
      .padStart(7, "0");
    const phrases = persona.catchphrases.filter((p) => p.trim() !== "");
    this.#scarcity = phrases.filter((p) => scarcityPhrase.test(p));
    this.#openers = phrases.filter((p) => !scarcityPhrase.test(p));
    if (this.#openers.length === 0) this.#openers.push(this.language === "zh" ? "宝子们" : "Hey everyone");
    if (this.#scarcity.length === 0) this.#scarcity.push(this.language === "zh" ? "数量有限" : "Heads-up");
  }

  /** Lines in one loop of the show (in the first loop, when a script's variations differ in length: see linesIn). */
  get linesPerLoop(): number {
    return this.linesIn(0);
  }

  /** Lines in a given loop of the show. */
  linesIn(loop: number): number {
    return this.#script ? this.#script[loop % this.#script.length]!.length : this.#slots.length;
  }

  /**
   * The templates' show as an outline, one entry per line of a loop: its kind, product and the facts it covers. What
   * an LLM is asked to write a script to (script.ts).
   */
  outline(): ShowOutlineLine[] {
    const language = this.language;
    const titles = this.catalog.products.map((p) => p.title);
    return this.#slots.map((slot) => {
      const product = slot.product;
      if (!product) {
        const lineup = formatList(titles, language);
        return { kind: slot.kind, productId: "", facts: slot.kind === "opening" ? `the lineup: ${lineup}` : lineup };
      }
      const next = this.catalog.products[slot.productIndex + 1];
      const facts: Record<ShowLineKind, () => string> = {
        opening: () => "",
        closing: () => "",
        transition: () => (next ? `from ${product.title} to ${next.title}` : ""),
        intro: () => `${product.title}, link ${slot.productIndex + 1}`,
        points: () => product.sellingPoints.slice(slot.part, slot.part + pointsPerLine).join("; "),
        specs: () => specText(product, language),
        price: () =>
          [product.price, product.originalPrice]
            .map((m, i) => (m ? `${i === 0 ? "price" : "list price"} ${formatMoney(m, language)}` : ""))
            .filter((x) => x !== "")
            .join(", "),
        coupon: () => {
          const terms = couponTerms(product, slot.part, language);
          return `${product.coupons[slot.part]?.title ?? ""}${terms === "" ? "" : ` (${terms})`}`;
        },
        call: () =>
          product.stock === 0
            ? `sold out; ${restockText(product, language)}`
            : `${product.stock <= lowStock ? `only ${product.stock} left; ` : ""}link ${slot.productIndex + 1}; ${product.shipping}; ${product.afterSales}`,
      };
      // A transition is about no product (the script's contract), though the templates' keeps the last one on screen.
      const productId = productlessKinds.includes(slot.kind) ? "" : product.id;
      return { kind: slot.kind, productId, facts: facts[slot.kind]() };
    });
  }

  /** Whether the show speaks a script written ahead (else its templates). */
  get scripted(): boolean {
    return this.#script !== undefined;
  }

  start(): ShowPosition {
    return { loop: 0, line: 0, sentence: 0, plan: this.fingerprint };
  }

  /**
   * A position read back from storage, checked. One from another plan (the catalog changed) or past the end of
   * its loop continues at the start of the next loop; malformed input is an InvalidArgumentError.
   */
  restore(json: unknown, field = "position"): ShowPosition {
    const p = json as Partial<ShowPosition> | null;
    for (const key of ["loop", "line", "sentence"] as const) {
      const value = p?.[key];
      if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 0) {
        throw new InvalidArgumentError(`${field}.${key}`, "must be a whole number, 0 or more");
      }
    }
    const { loop, line, sentence } = p as ShowPosition;
    if (p?.plan !== this.fingerprint || line >= this.linesIn(loop)) {
      return { loop: loop + 1, line: 0, sentence: 0, plan: this.fingerprint };
    }
    const sentences = sentenceSpans(this.#line(loop, line).text).length;
    const restored = { loop, line, sentence, plan: this.fingerprint };
    return sentence < sentences ? restored : this.nextLine(restored);
  }

  /** What to speak at a position: its line from the position's sentence on. */
  at(position: ShowPosition): ShowUtterance {
    const { text, cues, kind, product } = this.#line(position.loop, position.line);
    const spans = sentenceSpans(text);
    const from = spans[Math.min(position.sentence, spans.length - 1)]?.[0] ?? 0;
    return {
      id: `show-${position.loop}-${position.line}`,
      kind,
      productId: product?.id,
      text: text.slice(from),
      cues: sliceCues(cues, from, text.length),
      sentences: spans.filter(([start]) => start >= from).map(([s, e]) => [s - from, e - from]),
      position,
    };
  }

  /** The position after one more sentence was spoken. */
  afterSentence(position: ShowPosition): ShowPosition {
    const sentences = sentenceSpans(this.#line(position.loop, position.line).text).length;
    if (position.sentence + 1 < sentences) return { ...position, sentence: position.sentence + 1 };
    return this.nextLine(position);
  }

  /** The start of the line after the position's line (the next loop's opening after the closing). */
  nextLine(position: ShowPosition): ShowPosition {
    const line = position.line + 1;
    if (line < this.linesIn(position.loop)) return { loop: position.loop, line, sentence: 0, plan: this.fingerprint };
    return { loop: position.loop + 1, line: 0, sentence: 0, plan: this.fingerprint };
  }

  #line(loop: number, line: number): CuedLine {
    if (this.#script) return this.#scriptLine(loop, line);
    const slot = this.#slots[line];
    if (!slot) throw pastTheEnd();
    const language = this.language;
    const { catalog, persona } = this;
    const product = slot.product;
    const pick = (list: string[], key: string) => list[variantFor(this.#seed, `${key}:${line}`, loop, list.length)]!;
    const slots: Record<string, Slot> = {
      room: catalog.title,
      name: persona.name,
      count: String(catalog.products.length),
      lineup: formatList(
        catalog.products.map((p) => p.title),
        language,
      ),
      opener: pick(this.#openers, "opener"),
      scarcity: pick(this.#scarcity, "scarcity"),
    };
    let templates = (language === "zh" ? zh : en)[slot.kind];
    if (product) {
      Object.assign(slots, productSlots(product, slot, language));
      if (
        slot.kind === "price" &&
        !(product.originalPrice && product.price && product.originalPrice.amountMinor > product.price.amountMinor)
      ) {
        templates = plainPrice[language];
      }
      if (slot.kind === "call" && product.stock === 0) templates = soldOut[language];
      else if (slot.kind === "call" && product.stock <= lowStock) templates = almostGone[language];
    }
    const { text, cues } = fill(pick(templates, slot.kind), slots);
    return { text, cues, kind: slot.kind, product };
  }

  #scriptLine(loop: number, line: number): CuedLine {
    const variation = this.#script![loop % this.#script!.length]!;
    const scripted = variation[line];
    if (!scripted) throw pastTheEnd();
    return { ...scripted, cues: scriptCues(scripted, this.catalog) };
  }
}

interface CuedLine {
  text: string;
  cues: Cue[];
  kind: ShowLineKind;
  product: Product | undefined;
}

const pastTheEnd = () =>
  new InvalidArgumentError("position.line", "is past the end of the loop (restore() a stored position)");

/** A script's variations with their products looked up; lines about no product (or an unknown one) show none. */
function scriptedLines(script: ShowScript, catalog: Catalog): ScriptedLine[][] {
  const products = new Map(catalog.products.map((p) => [p.id, p]));
  return script.variations.map((variation) => {
    const coupons = new Map<string, number>();
    return variation.lines.map((line) => {
      const kind = (showLineKinds as readonly string[]).includes(line.kind) ? (line.kind as ShowLineKind) : "points";
      const product = productlessKinds.includes(kind) ? undefined : products.get(line.productId);
      let couponIndex = 0;
      if (product && kind === "coupon") {
        couponIndex = coupons.get(product.id) ?? 0;
        coupons.set(product.id, couponIndex + 1);
      }
      return { kind, product, text: line.text, couponIndex };
    });
  });
}

/**
 * The overlays of a script's line, driven by its kind and product: the words that name its product (card), price
 * (tag) or coupon (banner), found in the text; where an intro does not name its product, a price line its price or
 * a coupon line its coupon, the overlay comes with the line's first sentence all the same.
 */
function scriptCues({ kind, product, text, couponIndex }: ScriptedLine, catalog: Catalog): Cue[] {
  if (!product) return [];
  // Only the line's own product is cued: a line about one product never shows another's card.
  const cues = findCues(text, { ...catalog, products: [product] });
  const has = (k: CueFired_Kind) => cues.some((c) => c.kind === k);
  const [start, end] = sentenceSpans(text)[0] ?? [0, text.length];
  const whole = { start, end };
  if (kind === "intro" && !has(CueFired_Kind.KIND_PRODUCT_CARD)) {
    cues.push({ kind: CueFired_Kind.KIND_PRODUCT_CARD, productId: product.id, ...whole });
  }
  if (kind === "price" && product.price && !has(CueFired_Kind.KIND_PRICE_TAG)) {
    // The figure itself where the line writes it bare ("只要79"), else its first sentence.
    const at = new RegExp(`(?<![\\d.])${moneyDigits(product.price).replace(".", "\\.")}(?![\\d])`).exec(text);
    const span = at ? { start: at.index, end: at.index + at[0].length } : whole;
    cues.push({ kind: CueFired_Kind.KIND_PRICE_TAG, productId: product.id, ...span });
  }
  const coupon = product.coupons[couponIndex % Math.max(1, product.coupons.length)];
  if (kind === "coupon" && coupon && !has(CueFired_Kind.KIND_COUPON)) {
    cues.push({ kind: CueFired_Kind.KIND_COUPON, productId: product.id, couponId: coupon.id, ...whole });
  }
  return cues.sort((a, b) => a.start - b.start);
}

function planSlots(catalog: Catalog): LineSlot[] {
  const slots: LineSlot[] = [{ kind: "opening", productIndex: -1, part: 0 }];
  catalog.products.forEach((product, productIndex) => {
    const add = (kind: ShowLineKind, part = 0) => slots.push({ kind, product, productIndex, part });
    add("intro");
    for (let i = 0; i < product.sellingPoints.length; i += pointsPerLine) add("points", i);
    if (product.specs.length > 0) add("specs");
    add("price");
    product.coupons.forEach((_, i) => add("coupon", i));
    add("call");
    if (productIndex < catalog.products.length - 1) add("transition");
  });
  slots.push({ kind: "closing", productIndex: -1, part: 0 });
  return slots;
}

function specText(product: Product, language: ShowLanguage): string {
  return product.specs
    .slice(0, 3)
    .map((spec) => {
      const values = formatList(spec.values, language);
      if (language === "en") return `${spec.name} ${values}`;
      return spec.values.length > 1 ? `${spec.name}有${values}` : `${spec.name}${values}`;
    })
    .join(language === "zh" ? "，" : ", ");
}

/** When and how much a coupon takes off, for the part its title does not already say ("满79减10" says it all). */
export function couponTerms(product: Product, couponIndex: number, language: ShowLanguage): string {
  const coupon = product.coupons[couponIndex];
  if (!coupon?.discount) return "";
  const threshold = coupon.threshold && coupon.threshold.amountMinor > 0 ? coupon.threshold : undefined;
  const says = (money: Money) =>
    new RegExp(`(?<![\\d.])${moneyDigits(money).replace(".", "\\.")}(?![\\d.])`).test(coupon.title);
  const saysDiscount = says(coupon.discount);
  if (saysDiscount && (!threshold || says(threshold))) return "";
  const discount = formatMoney(coupon.discount, language);
  if (language === "zh") {
    if (!threshold) return saysDiscount ? "无门槛" : `无门槛减${discount}`;
    return saysDiscount
      ? `满${formatMoney(threshold, language)}可用`
      : `满${moneyDigits(threshold)}元减${moneyDigits(coupon.discount)}元`;
  }
  if (!threshold) return saysDiscount ? "on any order" : `${discount} off any order`;
  const over = `on orders of ${formatMoney(threshold, language)} or more`;
  return saysDiscount ? over : `${discount} off ${over}`;
}

/** Coupon terms as a template slot: empty, or with the separator that joins them to the coupon's title. */
export function termsSlot(product: Product, couponIndex: number, language: ShowLanguage): string {
  const terms = couponTerms(product, couponIndex, language);
  return terms === "" ? "" : `${language === "zh" ? "，" : ", "}${terms}`;
}

export function restockText(product: Product, language: ShowLanguage): string {
  if (product.restockDate === "") return language === "zh" ? "补货时间还没定" : "the restock date isn't set yet";
  const date = formatDate(product.restockDate, language);
  return language === "zh" ? `预计${date}补货` : `it's expected back on ${date}`;
}

function productSlots(product: Product, slot: LineSlot, language: ShowLanguage): Record<string, Slot> {
  const points = product.sellingPoints.slice(slot.part, slot.part + pointsPerLine);
  const coupon = product.coupons[slot.part];
  const strip = (s: string) => s.replace(/[。.！!]+$/u, "");
  return {
    product: productCard(product),
    link: String(slot.productIndex + 1),
    points: language === "zh" ? points.join("，") : formatList(points, language),
    specs: specText(product, language),
    price: product.price ? priceTag(product, formatMoney(product.price, language)) : "",
    original: product.originalPrice ? formatMoney(product.originalPrice, language) : "",
    coupon: coupon ? couponBanner(product, coupon) : "",
    terms: termsSlot(product, slot.part, language),
    stock: String(product.stock),
    restock: restockText(product, language),
    shipping: strip(product.shipping),
    aftersales: strip(product.afterSales),
  };
}
