// The embedded default brain: answers a viewer from the catalog alone, in the persona's voice, in Mandarin or
// English. Deterministic (no model, no network), so it runs everywhere and is the fallback when an LLM is slow,
// down or says something it must not. Every figure it says is copied from the catalog.
import type { Catalog, Persona, Product } from "../proto/index.js";
import { couponBanner, fill, join, priceTag, productCard, type CuedText, type Slot } from "./cues.js";
import type { BodyMeasure, Intent, Understanding } from "./intent.js";
import { lowStock, restockText, termsSlot } from "./show.js";
import { catalogLanguage, formatList, formatMoney, hash, type ShowLanguage } from "./text.js";

type Phrases = Record<string, string[]>;

const zh: Phrases = {
  price: ["{opener}，{product}直播间价{price}，原价{original}。", "{product}今天到手{price}，原价是{original}哦。"],
  plainPrice: ["{opener}，{product}直播间价{price}。", "{product}今天到手{price}哦。"],
  linkPrice: ["{link}号链接是{product}，直播间价{price}，原价{original}。"],
  baitPrice: ["比价的事交给宝子们自己判断，{product}直播间价{price}，原价{original}。"],
  couponHint: ["还有券：{coupon}{terms}。", "下单前记得领券：{coupon}{terms}。"],
  noCoupon: ["{product}这次没有券，直播间价{price}。", "这款暂时没有券哦，直播间价{price}。"],
  coupon: ["{product}有券：{coupon}{terms}，下单前记得先领。", "有的宝子，可以领券：{coupon}{terms}。"],
  soldOutNote: ["不过现在暂时没货，{restock}。"],
  inStock: [
    "{product}有货的，现在库存{stock}件，直接拍{link}号链接就行。",
    "有货有货，{product}库存{stock}件，放心拍。",
  ],
  lowStock: ["{scarcity}，{product}只剩{stock}件了，想要的抓紧。", "有的，不过{product}只剩{stock}件了，{scarcity}。"],
  soldOut: ["{product}暂时卖光了，{restock}，{shipping}。", "不好意思宝子，{product}现在没货，{restock}。"],
  shipping: ["{product}{shipping}。", "发货问题放心，{product}{shipping}。"],
  shippingBare: ["{product}的发货时间以商品详情页为准哦。"],
  aftersales: ["放心买，{product}支持{aftersales}。", "{product}售后是{aftersales}。"],
  aftersalesBare: ["{product}的售后政策以商品详情页为准，有问题可以联系客服哦。"],
  sizePick: ["按你说的身高体重，建议选{size}码，{size}码对应{fit}。", "建议拍{size}码哦，{size}码对应{fit}。"],
  sizeBetween: ["你的身材在两个码之间，建议选大一点的{size}码，{size}码对应{fit}。"],
  sizeFit: ["{size}码对应{fit}。"],
  sizeGuide: ["{product}尺码参考：{guide}。"],
  noSizes: ["{product}不分尺码哦，规格是{specs}。"],
  noSizesBare: ["{product}不分尺码哦，有其他想了解的随时问我。"],
  spec: ["{product}的{specs}。", "跟宝子说下，{product}的{specs}。"],
  specAll: ["{product}的规格：{specs}，亮点是{points}。"],
  specList: ["{product}的规格：{specs}。"],
  specPoints: ["{product}的亮点是{points}。"],
  specListBare: ["{product}的详细规格以商品详情页为准哦，有想了解的随时问我。"],
  trial: ["拿不准的话建议先小范围试用。"],
  medical: [
    "宝子，{product}不是药品哦，皮肤有问题还是要先看医生；它的亮点是{points}。",
    "{product}是日常护理用的，不是药品，有皮肤问题请先看医生哦；亮点是{points}。",
  ],
  greeting: [
    "欢迎欢迎，{opener}！我是{name}，有想了解的随时打在公屏上。",
    "欢迎来到直播间！{name}在这儿，喜欢的先点个关注哦。",
  ],
  lineup: ["欢迎新来的宝子！今天有{lineup}，想了解哪款直接问我。"],
  chitchat: ["谢谢宝子捧场！有想了解的商品随时问我哦。", "哈哈谢谢宝子，喜欢的话点个关注，有问题随时问。"],
  injection: [
    "{name}只聊直播间的好物哦，有商品问题随时问我。",
    "宝子，我是{name}，咱们专心看好物，想了解哪款直接问我。",
  ],
  injectionPrice: ["价格以商品信息为准：{product}直播间价{price}。"],
};

const en: Phrases = {
  price: [
    "{opener}: the {product} is {price} today, down from {original}.",
    "The {product} is {price} right now, usually {original}.",
  ],
  plainPrice: ["The {product} is {price} today.", "{opener}: the {product} is {price}."],
  linkPrice: ["Link {link} is the {product}: {price} today, usually {original}."],
  baitPrice: ["I'll let you compare for yourself: the {product} is {price} here, usually {original}."],
  couponHint: ["There's also a coupon: {coupon}{terms}.", "Grab the coupon too: {coupon}{terms}."],
  noCoupon: [
    "No coupon on the {product} this time; it's {price} today.",
    "No coupon for this one, but it's {price} today.",
  ],
  coupon: ["Yes! The {product} has a coupon: {coupon}{terms}.", "There's a coupon for the {product}: {coupon}{terms}."],
  soldOutNote: ["It's sold out right now; {restock}."],
  inStock: [
    "Yes, the {product} is in stock: {stock} available on link {link}.",
    "In stock! {stock} of the {product} available.",
  ],
  lowStock: ["{scarcity}: only {stock} of the {product} left.", "Yes, but only {stock} left of the {product}."],
  soldOut: [
    "The {product} is sold out right now; {restock}. {shipping}.",
    "Sorry, the {product} is out of stock; {restock}.",
  ],
  shipping: ["The {product}: {shipping}.", "Shipping on the {product}: {shipping}."],
  shippingBare: ["Shipping times for the {product} are on its product page."],
  aftersales: ["The {product} comes with {aftersales}.", "No worries: {aftersales} on the {product}."],
  aftersalesBare: ["The {product}'s return policy is on its product page, and customer service can help."],
  sizePick: ["I'd go with {size}: {size} fits {fit}.", "Size {size} should fit: it's {fit}."],
  sizeBetween: ["You're between sizes, so I'd size up to {size}: {size} fits {fit}."],
  sizeFit: ["Size {size} fits {fit}."],
  sizeGuide: ["Size guide for the {product}: {guide}."],
  noSizes: ["The {product} is one size; specs: {specs}."],
  noSizesBare: ["The {product} is one size; ask me anything else about it."],
  spec: ["The {product}: {specs}.", "Here you go, the {product} has {specs}."],
  specAll: ["The {product}: {specs}. What people like: {points}."],
  specList: ["The {product}: {specs}."],
  specPoints: ["What people like about the {product}: {points}."],
  specListBare: ["The full specs of the {product} are on its product page; ask me anything about it."],
  trial: ["If you're unsure, try a little first."],
  medical: [
    "The {product} isn't a medicine, so please see a doctor for skin conditions. What it does offer: {points}.",
  ],
  greeting: [
    "Hey, welcome in! I'm {name}, ask me anything about the products.",
    "Welcome! Great to have you here, {name} at your service.",
  ],
  lineup: ["Welcome! Today we've got {lineup}. Ask me about any of them."],
  chitchat: [
    "Thanks for hanging out! Ask me anything about the products.",
    "Appreciate you! Any questions on the products, just ask.",
  ],
  injection: ["I'm {name}, and I stick to the products here. Ask me anything about them!"],
  injectionPrice: ["Prices come from the product listing: the {product} is {price} today."],
};

const scarcityPhrase = /库存|货|stock|left|selling out/i;

interface SizeRange {
  measure: BodyMeasure;
  low: number;
  high: number;
}

const measureNames: [RegExp, BodyMeasure][] = [
  [/身高|height/i, "height"],
  [/体重|weight/i, "weight"],
  [/胸围|chest/i, "chest"],
  [/腰围|waist/i, "waist"],
];

/** "身高160-165 体重50-55kg" -> height 160..165, weight 50..55. */
export function sizeRanges(fit: string): SizeRange[] {
  const ranges: SizeRange[] = [];
  for (const m of fit.matchAll(
    /(身高|体重|胸围|腰围|height|weight|chest|waist)\s*(\d+(?:\.\d+)?)\s*[-~至到]\s*(\d+(?:\.\d+)?)/gi,
  )) {
    const measure = measureNames.find(([name]) => name.test(m[1]!))![1];
    ranges.push({ measure, low: Number(m[2]), high: Number(m[3]) });
  }
  return ranges;
}

/**
 * The size whose guide fits the most of the viewer's measurements; between two sizes, the larger (sizes are listed
 * small to large). `exact` when it fits every measurement the guide gives.
 */
export function pickSize(product: Product, body: Understanding["body"]): { size: string; exact: boolean } | undefined {
  let best: { size: string; fits: number; of: number } | undefined;
  for (const [size, fit] of Object.entries(product.sizeGuide)) {
    const ranges = sizeRanges(fit).filter((r) => body[r.measure] !== undefined);
    const fits = ranges.filter((r) => body[r.measure]! >= r.low && body[r.measure]! <= r.high).length;
    if (fits > 0 && (!best || fits >= best.fits)) best = { size, fits, of: ranges.length };
  }
  return best && { size: best.size, exact: best.fits === best.of };
}

export interface EmbeddedOptions {
  /** Seeds the choice of wording. Default 0. */
  seed?: number;
}

/** Catalog-grounded answers for one room. Keeps which wording it used last per kind, so answers vary. */
export class EmbeddedBrain {
  readonly catalog: Catalog;
  readonly persona: Persona;
  readonly language: ShowLanguage;
  readonly #phrases: Phrases;
  readonly #seed: number;
  readonly #used = new Map<string, number>();
  #turn = 0;
  readonly #openers: string[];
  readonly #scarcity: string[];

  constructor(catalog: Catalog, persona: Persona, options: EmbeddedOptions = {}) {
    this.catalog = catalog;
    this.persona = persona;
    this.language = catalogLanguage(catalog);
    this.#phrases = this.language === "zh" ? zh : en;
    this.#seed = options.seed ?? 0;
    const phrases = persona.catchphrases.filter((p) => p.trim() !== "");
    this.#openers = phrases.filter((p) => !scarcityPhrase.test(p));
    this.#scarcity = phrases.filter((p) => scarcityPhrase.test(p));
    if (this.#openers.length === 0) this.#openers.push(this.language === "zh" ? "宝子们" : "Hey");
    if (this.#scarcity.length === 0) this.#scarcity.push(this.language === "zh" ? "数量有限" : "Heads-up");
  }

  /** The answer to an understood comment (see `understand`). */
  answer(u: Understanding): CuedText {
    const product = this.catalog.products.find((p) => p.id === u.productId);
    if (u.intent === "greeting") return this.#say("greeting", {});
    if (u.intent === "chitchat" || u.intent === "other" || (!product && u.intent !== "injection")) {
      return u.asksLineup ? this.#say("lineup", {}) : this.#say("chitchat", {});
    }
    if (u.intent === "injection") {
      // Whatever the comment asked the host to say, the listing's facts stand.
      return product
        ? this.#join([this.#say("injectionPrice", this.#slots(product)), this.#stockNote(product)])
        : this.#say("injection", {});
    }
    return this.#about(product!, u.intent, u);
  }

  #about(product: Product, intent: Intent, u: Understanding): CuedText {
    const s = this.#slots(product);
    const hasOriginal = Boolean(
      product.originalPrice && product.price && product.originalPrice.amountMinor > product.price.amountMinor,
    );
    switch (intent) {
      case "price": {
        const kind = !hasOriginal
          ? "plainPrice"
          : u.flags.includes("absolute_terms")
            ? "baitPrice"
            : u.productBy === "link"
              ? "linkPrice"
              : "price";
        const coupon = product.coupons[0] ? [this.#say("couponHint", this.#slots(product, 0))] : [];
        return this.#join([this.#say(kind, s), ...coupon, this.#stockNote(product)]);
      }
      case "coupon":
        return product.coupons.length === 0
          ? this.#say("noCoupon", s)
          : this.#join(
              product.coupons.map((_, i) => this.#say(i === 0 ? "coupon" : "couponHint", this.#slots(product, i))),
            );
      case "stock":
        if (product.stock === 0) return this.#say("soldOut", s);
        return this.#say(product.stock <= lowStock ? "lowStock" : "inStock", s);
      case "shipping":
        return this.#join([this.#say("shipping", s), this.#stockNote(product)]);
      case "aftersales":
        return this.#say("aftersales", s);
      case "size":
        return this.#size(product, u, s);
      default:
        return this.#spec(product, u, s);
    }
  }

  #size(product: Product, u: Understanding, s: Record<string, Slot>): CuedText {
    const guide = Object.entries(product.sizeGuide);
    if (guide.length === 0) return this.#say("noSizes", s);
    const picked = pickSize(product, u.body);
    if (picked) {
      const kind = picked.exact ? "sizePick" : "sizeBetween";
      return this.#say(kind, { ...s, size: picked.size, fit: product.sizeGuide[picked.size]! });
    }
    if (u.sizes.length > 0)
      return this.#join(u.sizes.map((size) => this.#say("sizeFit", { ...s, size, fit: product.sizeGuide[size]! })));
    const list = guide.map(([size, fit]) => (this.language === "zh" ? `${size}码${fit}` : `${size} is ${fit}`));
    return this.#say("sizeGuide", { ...s, guide: list.join(this.language === "zh" ? "；" : "; ") });
  }

  #spec(product: Product, u: Understanding, s: Record<string, Slot>): CuedText {
    if (u.flags.includes("medical")) return this.#say("medical", s);
    const asked = product.specs.filter((spec) => u.specs.includes(spec.name));
    if (asked.length === 0) {
      // What the catalog says of it: its specs and selling points, either alone where it lacks the other.
      const { specs, points } = s as Record<string, string>;
      return this.#say(specs && points ? "specAll" : points ? "specPoints" : "specList", s);
    }
    const specs = asked
      .map((spec) => {
        const values = formatList(spec.values, this.language);
        if (this.language === "en") return `${spec.name} ${values}`;
        return spec.values.length > 1 ? `${spec.name}有${values}` : `${spec.name}是${values}`;
      })
      .join(this.language === "zh" ? "，" : ", ");
    const trial = asked.some((spec) => /肤质|skin/i.test(spec.name)) ? [this.#say("trial", {})] : [];
    return this.#join([this.#say("spec", { ...s, specs }), ...trial]);
  }

  /** Sentences one after another: Chinese runs them together, English puts a space between. */
  #join(parts: CuedText[]): CuedText {
    return join(
      parts.filter((p) => p.text !== ""),
      this.language === "zh" ? "" : " ",
    );
  }

  #stockNote(product: Product): CuedText {
    return product.stock === 0 ? this.#say("soldOutNote", this.#slots(product)) : { text: "", cues: [] };
  }

  #slots(product: Product, couponIndex = 0): Record<string, Slot> {
    const language = this.language;
    const coupon = product.coupons[couponIndex];
    const strip = (s: string) => s.replace(/[。.！!]+$/u, "");
    return {
      product: productCard(product),
      link: String(this.catalog.products.indexOf(product) + 1),
      price: product.price ? priceTag(product, formatMoney(product.price, language)) : "",
      original: product.originalPrice ? formatMoney(product.originalPrice, language) : "",
      coupon: coupon ? couponBanner(product, coupon) : "",
      terms: termsSlot(product, couponIndex, language),
      stock: String(product.stock),
      restock: restockText(product, language),
      shipping: strip(product.shipping),
      aftersales: strip(product.afterSales),
      specs: product.specs
        .slice(0, 3)
        .map((spec) => `${spec.name}${language === "zh" ? "" : " "}${formatList(spec.values, language)}`)
        .join(language === "zh" ? "，" : ", "),
      points: formatList(product.sellingPoints.slice(0, 3), language),
    };
  }

  /**
   * One phrase of a kind, filled in; a different wording from the last time this kind was said. Only phrases whose
   * slots all have something to say are taken (a catalog may leave specs, shipping or after-sales out): with none,
   * the kind's bare phrase (`<kind>Bare`), which needs none of them.
   */
  #say(kind: string, slots: Record<string, Slot>): CuedText {
    const filled = (template: string) =>
      [...template.matchAll(/\{(\w+)\}/g)].every(([, name]) => {
        const slot = slots[name!];
        return slot === undefined || (typeof slot === "string" ? slot : slot.text).trim() !== "";
      });
    const all = this.#phrases[kind]!;
    const usable = all.filter(filled);
    const bare = this.#phrases[`${kind}Bare`];
    if (usable.length === 0 && bare) return this.#say(`${kind}Bare`, slots);
    const options = usable.length > 0 ? usable : all;
    const last = this.#used.get(kind);
    let index = hash(this.#seed, kind, this.#turn++) % options.length;
    if (options.length > 1 && index === last) index = (index + 1) % options.length;
    this.#used.set(kind, index);
    const common: Record<string, Slot> = {
      name: this.persona.name,
      opener: this.#openers[hash(this.#seed, kind, index) % this.#openers.length]!,
      scarcity: this.#scarcity[hash(this.#seed, kind) % this.#scarcity.length]!,
      lineup: formatList(
        this.catalog.products.map((p) => p.title),
        this.language,
      ),
    };
    return fill(options[index]!, { ...common, ...slots });
  }
}
