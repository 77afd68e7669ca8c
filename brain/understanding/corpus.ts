// The training corpus the project generates: comments written the way viewers write them, each with its label
// (LABELS.md). Templates per label and language (phrases-zh.ts, phrases-en.ts) are expanded with the products of the
// catalogs given (their names, nicknames, link numbers, sizes and colours) and of a list of everyday goods, then
// roughed up as live chat is: regional dialects (Cantonese, Sichuanese, Taiwanese usage; British, Australian, West
// African English…), slang and pinyin-initial variants, homophones, typos, emoji, code-mixing, traditional
// characters, full-width letters, letters spaced out or written with digits, a viewer's own phone number. The same
// seed gives the same corpus, byte for byte.
import { pinyin } from "pinyin-pro";
import { seededRandom } from "../../onnx/index.js";
import type { Catalog, Product } from "../../proto/index.js";
import { catalogLanguage, type ShowLanguage } from "../text.js";
import { en } from "./phrases-en.js";
import { zh } from "./phrases-zh.js";

/** Intents that come from someone about to buy (answered first in a busy room). */
export const purchaseIntentLabels = ["price", "size", "stock", "shipping", "coupon", "aftersales", "spec"] as const;
/** Every intent of LABELS.md, in the order of the model's intent head. */
export const intentLabels = [...purchaseIntentLabels, "greeting", "chitchat", "other", "injection"] as const;
export type IntentLabel = (typeof intentLabels)[number];
export type BlockLabel = "spam" | "abuse" | "ad_bait" | "medical" | "politics" | "personal_data";
export type ModerationLabel = "allow" | "mask" | BlockLabel;

/** In LABELS.md's order of precedence. */
export const blockLabels: readonly BlockLabel[] = ["spam", "abuse", "politics", "personal_data", "medical", "ad_bait"];

export interface LabelledComment {
  text: string;
  lang: ShowLanguage;
  /** null for blocked comments: never answered, so their intent is not scored. */
  intent: IntentLabel | null;
  moderation: ModerationLabel;
}

/** One language's templates: slot values, templates per label, and the roughening it gets. */
export interface PhraseBank {
  slots: Record<string, string[]>;
  labels: Record<IntentLabel | BlockLabel, string[]>;
  prefixes: string[];
  suffixes: string[];
  /** Words viewers write another way (slang, initials, homophones, misspellings, English in Chinese rooms). */
  variants: Record<string, string[]>;
  /**
   * How a region's speakers say the same words (Cantonese 冇 for 没有, Sichuanese 莫得, British "quid"): a viewer
   * writes in one of them throughout, so a comment gets one dialect's words together, with its own closing
   * particles.
   */
  dialects: Record<string, { words: Record<string, string[]>; endings: string[] }>;
}

const banks: Record<ShowLanguage, PhraseBank> = { zh, en };

// Goods beyond the catalogs, so that intent is learned from how a question is asked, not from which product.
const everydayGoods: Record<ShowLanguage, string[]> = {
  zh: "运动鞋 手机壳 口红 电饭煲 儿童外套 洗面奶 绿茶 猫粮 空气炸锅 蓝牙音箱 羽绒服 牛仔裤 枕头 行李箱 洗发水 防晒霜 面膜 零食大礼包 坚果 牛肉干 充电宝 扫地机器人 电动牙刷 保温饭盒 四件套 瑜伽垫 双肩包 耳环 项链 香水 粉底液 眼霜 精华液 拖鞋 袜子 卫衣 帽子 茶叶 蜂蜜 大米 橄榄油 狗粮 奶粉 纸尿裤 积木 台灯 电风扇 加湿器 吹风机 剃须刀 手表 榴莲 车厘子 螺蛳粉 酸奶 沙发 床垫 炒锅".split(
    " ",
  ),
  en: "sneakers|phone case|lipstick|rice cooker|kids jacket|face wash|green tea|cat food|air fryer|bluetooth speaker|puffer jacket|jeans|pillow|suitcase|shampoo|sunscreen|sheet masks|snack box|almonds|beef jerky|power bank|robot vacuum|electric toothbrush|lunch box|bedding set|yoga mat|backpack|earrings|necklace|perfume|foundation|eye cream|serum|slippers|socks|sweatshirt|cap|honey|olive oil|dog food|diapers|lego set|desk fan|humidifier|hair dryer|razor|smartwatch|blender|skillet|mattress|protein powder|leggings".split(
    "|",
  ),
};
const sizes: Record<ShowLanguage, string[]> = {
  zh: [
    "S",
    "M",
    "L",
    "XL",
    "XXL",
    "2XL",
    "3XL",
    "均码",
    "36",
    "38",
    "39",
    "40",
    "42",
    "大码",
    "小码",
    "中码",
    "xl",
    "m",
  ],
  en: ["XS", "S", "M", "L", "XL", "XXL", "2X", "small", "medium", "large", "size 8", "size 10", "32x30", "a 12", "xl"],
};
const colors: Record<ShowLanguage, string[]> = {
  zh: [
    "黑色",
    "白色",
    "红色",
    "粉色",
    "蓝色",
    "灰色",
    "墨绿",
    "雾白",
    "燕麦色",
    "卡其",
    "米白",
    "焦糖色",
    "香槟色",
    "黑的",
    "白的",
    "紫色",
  ],
  en: [
    "black",
    "white",
    "red",
    "pink",
    "navy",
    "grey",
    "sage green",
    "beige",
    "oatmeal",
    "charcoal",
    "cream",
    "the blue one",
    "the black one",
    "lilac",
  ],
};
const deictic: Record<ShowLanguage, string[]> = {
  zh: ["这个", "这款", "这件", "它", "手上这个", "刚才那个", "上一个", "这个杯子", "这套"],
  en: ["this", "this one", "it", "the one you're holding", "that one", "the last one", "these"],
};
const chineseNumerals = ["一", "二", "三", "四", "五", "六", "七", "八", "九", "十"];

/** How viewers name one product: its title, its head noun, short fragments of it. */
function productNames(product: Product | string, lang: ShowLanguage): string[] {
  const title = typeof product === "string" ? product : product.title;
  if (lang === "en") {
    const words = title.toLowerCase().match(/[a-z]+/g) ?? [];
    const head = words.filter((w) => !["with", "and", "the", "for"].includes(w));
    return [title, title.toLowerCase(), `the ${head.at(-1) ?? title}`, head.at(-1) ?? title, head.slice(-2).join(" ")];
  }
  const names = new Set([title]);
  for (const run of title.match(/[\u4e00-\u9fff]+/g) ?? []) {
    for (const n of [2, 3, 4]) if (run.length >= n) names.add(run.slice(-n));
    names.add(`${run.at(-1)}子`);
  }
  return [...names];
}

function linkReferences(lang: ShowLanguage, index: number): string[] {
  const n = index + 1;
  return lang === "zh"
    ? [`${n}号链接`, `${n}号`, `链接${n}`, `#${n}`, `${n}号宝贝`, `${chineseNumerals[index] ?? n}号链接`, `${n}号商品`]
    : [`link ${n}`, `#${n}`, `item ${n}`, `number ${n}`, `link #${n}`, `product ${n}`];
}

/** A seeded random source (onnx/random.ts): the corpus is a pure function of its seed. */
export class Random {
  readonly next: () => number;
  constructor(seed: number) {
    this.next = seededRandom(seed);
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)]!;
  }
}

interface Vocabulary {
  products: string[];
  sizes: string[];
  colors: string[];
}

function vocabulary(catalogs: readonly Catalog[], lang: ShowLanguage): Vocabulary {
  const own = catalogs.filter((c) => catalogLanguage(c) === lang);
  const products = [
    ...own.flatMap((c) => c.products.flatMap((p) => productNames(p, lang))),
    ...own.flatMap((c) => c.products.flatMap((_, i) => linkReferences(lang, i))),
    ...everydayGoods[lang].flatMap((g) => productNames(g, lang)),
  ];
  const catalogSizes = own.flatMap((c) => c.products.flatMap((p) => Object.keys(p.sizeGuide)));
  const catalogColors = own.flatMap((c) =>
    c.products.flatMap((p) => p.specs.filter((s) => /颜色|colou?r/i.test(s.name)).flatMap((s) => s.values)),
  );
  return {
    products,
    sizes: [...sizes[lang], ...catalogSizes],
    colors: [...colors[lang], ...catalogColors],
  };
}

// Letters spaced, dotted or written with digits, as viewers dodge word filters.
function disguise(word: string, random: Random): string {
  if (!/^[a-z]{3,}$/i.test(word)) return word;
  const roll = random.next();
  if (roll < 0.35) return [...word].join(random.pick([" ", ".", "*", "-"]));
  if (roll < 0.7) {
    return word.replace(/[aeios]/gi, (c) => ({ a: "@", e: "3", i: "1", o: "0", s: "$" })[c.toLowerCase()] ?? c);
  }
  return word.replace(/[aeiou]/i, "*");
}

// A contact number written in words so that no digit rule sees it ("幺三八 零零一二", "five five five oh one"),
// sometimes with a digit or two left in.
const digitWords: Record<ShowLanguage, string[][]> = {
  zh: [
    ["零", "〇", "洞"],
    ["一", "幺"],
    ["二", "两"],
    ["三"],
    ["四"],
    ["五"],
    ["六"],
    ["七", "拐"],
    ["八"],
    ["九", "勾"],
  ],
  en: [["zero", "oh"], ["one"], ["two"], ["three"], ["four"], ["five"], ["six"], ["seven"], ["eight"], ["nine"]],
};

function spelledNumber(lang: ShowLanguage, random: Random): string {
  const length = lang === "zh" ? random.pick([8, 9, 11]) : random.pick([7, 10]);
  const digits = Array.from({ length }, (_, i) => (i === 0 && lang === "zh" ? 1 : Math.floor(random.next() * 10)));
  const group = random.pick([0, 3, 4]);
  const gap = lang === "en" ? random.pick([" ", ", ", " - "]) : random.pick([" ", "", "-"]);
  return digits
    .map((d, i) => {
      const word = random.chance(0.1) ? String(d) : random.pick(digitWords[lang][d]!);
      const sep = i === 0 ? "" : group > 0 && i % group === 0 ? gap : lang === "en" ? " " : "";
      return sep + word;
    })
    .join("");
}

function fill(template: string, bank: PhraseBank, vocab: Vocabulary, lang: ShowLanguage, random: Random): string {
  // `[a|b|]`: one choice; `[..]?` and `{slot}?` are optional.
  const withChoices = template
    .replace(/\]\?/g, "|]")
    .replace(/\{(\w+)\}\?/g, "{$1?}")
    .replace(/\[([^\]]*)\]/g, (_, options: string) => random.pick(options.split("|")));
  return withChoices.replace(/\{(\w+)(\?)?\}/g, (_, slot: string, optional?: string) => {
    if (optional && random.chance(0.5)) return "";
    let value: string;
    if (slot === "p") value = random.chance(0.2) ? random.pick(deictic[lang]) : random.pick(vocab.products);
    else if (slot === "size") value = random.pick(vocab.sizes);
    else if (slot === "color") value = random.pick(vocab.colors);
    else if (slot === "spelled") value = spelledNumber(lang, random);
    else {
      const values = bank.slots[slot];
      if (!values) throw new Error(`template "${template}" uses unknown slot {${slot}}`);
      value = random.pick(values);
      if (["insult", "curse", "app"].includes(slot) && random.chance(0.2)) value = disguise(value, random);
    }
    // The slot's own slots ("{who}" in a prefix, "加{app}" in a choice) are filled too.
    return value.includes("{") ? fill(value, bank, vocab, lang, random) : value;
  });
}

const traditional: Record<string, string> = {
  这: "這",
  个: "個",
  价: "價",
  钱: "錢",
  货: "貨",
  吗: "嗎",
  发: "發",
  么: "麼",
  码: "碼",
  颜: "顏",
  么么: "麼麼",
  还: "還",
  买: "買",
  卖: "賣",
  号: "號",
  链: "鏈",
  优: "優",
  换: "換",
  运: "運",
  费: "費",
  邮: "郵",
  递: "遞",
  质: "質",
  样: "樣",
  适: "適",
  丑: "醜",
  骂: "罵",
  网: "網",
  们: "們",
  请: "請",
  问: "問",
  币: "幣",
  台: "臺",
  装: "裝",
  说: "說",
  会: "會",
  时: "時",
  点: "點",
  东: "東",
  条: "條",
  给: "給",
  让: "讓",
  对: "對",
  过: "過",
  现: "現",
  约: "約",
  长: "長",
  门: "門",
  间: "間",
  线: "線",
  机: "機",
  电: "電",
  车: "車",
  里: "裡",
  后: "後",
  几: "幾",
  听: "聽",
  见: "見",
  觉: "覺",
  经: "經",
  颗: "顆",
  张: "張",
  双: "雙",
  块: "塊",
  开: "開",
  关: "關",
  热: "熱",
  冻: "凍",
  肤: "膚",
  脸: "臉",
  软: "軟",
  钟: "鐘",
  尔: "爾",
  灯: "燈",
  袜: "襪",
  丝: "絲",
  红: "紅",
  绿: "綠",
  蓝: "藍",
  黄: "黃",
  宝: "寶",
  亲: "親",
  爱: "愛",
  谢: "謝",
  欢: "歡",
  应: "應",
  该: "該",
  实: "實",
  际: "際",
  页: "頁",
  国: "國",
  湾: "灣",
  选: "選",
  举: "舉",
  党: "黨",
  厅: "廳",
  养: "養",
  护: "護",
  药: "藥",
  疗: "療",
  痒: "癢",
  骗: "騙",
  猪: "豬",
  脑: "腦",
  难: "難",
  滚: "滾",
  废: "廢",
  贱: "賤",
  妈: "媽",
  爷: "爺",
};

function typo(word: string, random: Random): string {
  if (word.length < 4 || !/^[a-z]+$/i.test(word)) return word;
  const i = 1 + Math.floor(random.next() * (word.length - 2));
  const roll = random.next();
  if (roll < 0.4) return word.slice(0, i) + word.slice(i + 1);
  if (roll < 0.7) return word.slice(0, i) + word[i + 1] + word[i] + word.slice(i + 2);
  return word.slice(0, i) + word[i] + word.slice(i);
}

/** Share of comments written in a regional dialect. */
const dialectShare = 0.2;

function inDialect(
  text: string,
  dialect: { words: Record<string, string[]>; endings: string[] },
  lang: ShowLanguage,
  random: Random,
): string {
  // Longest words first, so that 有没有 becomes 有冇 before 没有 is looked at; a word already replaced is not
  // replaced again (placeholders keep it out of reach).
  const kept: string[] = [];
  let s = text;
  const words = Object.keys(dialect.words).sort((a, b) => b.length - a.length);
  for (const word of words) {
    const pattern =
      lang === "en" ? new RegExp(`\\b${word.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}\\b`, "gi") : undefined;
    const found = pattern ? pattern.test(s) : s.includes(word);
    if (!found || !random.chance(0.8)) continue;
    const replace = () => {
      kept.push(random.pick(dialect.words[word]!));
      return `\uE000${kept.length - 1}\uE001`;
    };
    s = pattern ? s.replace(pattern, replace) : s.split(word).join(replace());
  }
  s = s.replace(/\uE000(\d+)\uE001/g, (_, i: string) => kept[Number(i)]!);
  if (dialect.endings.length > 0 && random.chance(0.4)) {
    s = `${s}${lang === "en" ? " " : ""}${random.pick(dialect.endings)}`;
  }
  return s;
}

function pinyinSpelled(text: string, random: Random): string {
  const runs = [...text.matchAll(/\p{Script=Han}{2,}/gu)];
  if (runs.length === 0) return text;
  const run = random.pick(runs);
  const chars = [...run[0]];
  const n = Math.min(chars.length, random.pick([2, 2, 3]));
  const at = Math.floor(random.next() * (chars.length - n + 1));
  const syllables = pinyin(chars.slice(at, at + n).join(""), { toneType: "none", type: "array" }).map((p) =>
    p.replace("ü", "v"),
  );
  const spelled = syllables.join(random.pick([" ", ""]));
  const before = chars.slice(0, at).join("");
  const after = chars.slice(at + n).join("");
  return `${text.slice(0, run.index)}${before}${before ? " " : ""}${spelled}${after ? " " : ""}${after}${text.slice(run.index + run[0].length)}`;
}

/** Labels whose comments state or demand a claim; the same words asked as a question are another label. */
const claimLabels = new Set<string>(["medical", "ad_bait"]);
/** Prefixes and suffixes that turn a comment into a question. */
const asksSomething = /[吗呢?？]|问/;

/** Live chat's roughness on a clean comment (a claim's without the ends that would make it a question). */
function roughen(text: string, bank: PhraseBank, lang: ShowLanguage, random: Random, claim = false): string {
  let s = text;
  if (random.chance(dialectShare)) s = inDialect(s, random.pick(Object.values(bank.dialects)), lang, random);
  for (const [word, alternatives] of Object.entries(bank.variants)) {
    if (s.includes(word) && random.chance(0.3)) s = s.replace(word, random.pick(alternatives));
  }
  if (lang === "en") {
    s = s.replace(/[a-z]+/gi, (w) => (random.chance(0.05) ? typo(w, random) : w));
    if (random.chance(0.5)) s = s.replace(/'/g, "");
    const roll = random.next();
    if (roll < 0.6) s = s.toLowerCase();
    else if (roll < 0.66) s = s.toUpperCase();
    if (random.chance(0.04)) s = s.replace(/([aeiouy])/i, "$1$1$1");
  } else {
    if (random.chance(0.1)) s = [...s].map((c) => traditional[c] ?? c).join("");
    // A word typed in pinyin, to dodge a filter or from a phone's keyboard ("wei xin", "baoyou", "sha bi").
    if (random.chance(0.05)) s = pinyinSpelled(s, random);
    if (random.chance(0.05)) s = s.replace(/[!-~]/g, (c) => String.fromCharCode(c.charCodeAt(0) + 0xfee0));
    if (random.chance(0.1)) s = s.replace(/[，,。？?！!\s]+/g, random.pick(["", " "]));
  }
  // An English word at the end is a word of its own ("ok lol"), never glued to the last one.
  const suffixes = claim ? bank.suffixes.filter((end) => !asksSomething.test(end)) : bank.suffixes;
  const suffix = () => {
    const end = random.pick(suffixes);
    return lang === "en" && /^[a-z]/i.test(end) ? ` ${end}` : end;
  };
  if (random.chance(0.35)) s = `${s}${suffix()}`;
  if (random.chance(0.08)) s = `${s}${suffix()}`;
  if (random.chance(0.05)) s = s.replace(/(.)$/u, "$1$1$1");
  return s.replace(/\s+/g, " ").trim();
}

// A viewer's own personal data in an otherwise allowed comment: masked by the exact rules, then answered.
function ownPersonalData(lang: ShowLanguage, random: Random): string {
  const digits = (n: number) => Array.from({ length: n }, () => Math.floor(random.next() * 10)).join("");
  const phone = `1${random.pick(["3", "5", "7", "8", "9"])}${digits(9)}`;
  return lang === "zh"
    ? random.pick([
        `我电话${phone}`,
        `到货了打我电话${phone}`,
        `我账号绑的${phone}`,
        `快递员联系我${phone}`,
        `我的会员号${digits(10)}`,
        `我的手机号${phone}`,
        `我的手机号是${phone}`,
        `我手机${phone}`,
        `我的微信号是${random.pick(["amy", "lucky", "wx"])}${digits(6)}`,
        `手机${phone}`,
        `订单号${digits(12)}`,
        `我的单号${digits(15)}`,
        `邮箱${random.pick(["amy", "lily", "xx"])}${digits(3)}@qq.com`,
        `我在${random.pick(["北京市朝阳区", "上海市浦东新区", "广州市天河区"])}${random.pick(["建国路", "世纪大道", "体育西路"])}${digits(2)}号`,
        `微信号 ${random.pick(["amy", "lucky", "wx"])}_${digits(6)}`,
        `寄件人${random.pick(["王", "李", "陈", "刘"])}${random.pick(["女士", "先生", "姐"])} 电话${phone}`,
        `收件人是我 ${random.pick(["张", "赵", "周"])}${random.pick(["小红", "伟", "婷"])} ${phone}`,
        `地址改成${random.pick(["杭州市西湖区", "成都市武侯区", "深圳市南山区"])}${random.pick(["文三路", "科华北路", "科技园路"])}${digits(3)}号`,
        `收货地址：${random.pick(["南京市鼓楼区", "武汉市洪山区"])}${random.pick(["中山路", "珞喻路"])}${digits(3)}号`,
        `手机号尾号不对，正确的是${phone}`,
        `身份证${digits(17)}${random.pick(["X", "1", "7"])}`,
      ])
    : random.pick([
        `my number is ${digits(3)}-555-${digits(4)}`,
        `text me at ${digits(3)}-${digits(3)}-${digits(4)} when it's back`,
        `my account email is ${random.pick(["jmiller", "sara.k", "tom_b"])}${digits(2)}@yahoo.com`,
        `acct ${random.pick(["amy", "lee", "raj"])}.${random.pick(["shop", "home", "work"])}@outlook.com`,
        `order ${digits(8)}`,
        `reach me at ${digits(10)} for the delivery`,
        `my phone number is ${digits(10)}`,
        `my cell ${digits(3)}${digits(7)}`,
        `call me ${digits(3)} ${digits(3)} ${digits(4)}`,
        `order #${digits(9)}`,
        `email ${random.pick(["jane", "mike", "kim"])}${digits(2)}@gmail.com`,
        `i live at ${digits(3)} ${random.pick(["Oak", "Maple", "Main", "Pine"])} ${random.pick(["Street", "Ave", "Road", "Lane"])}`,
        `order number ${digits(10)}`,
        `ship it to ${digits(3)} ${random.pick(["Cedar", "Birch", "Lake", "Hill"])} ${random.pick(["Street", "Road", "Avenue"])}`,
        `pls update my address to ${digits(2)} ${random.pick(["Baker", "Mill", "Church"])} ${random.pick(["Rd", "St", "Lane"])}, ${random.pick(["Leeds", "Austin", "Perth"])}`,
        `it's for me, ${random.pick(["Dana", "Kim", "Ravi"])} ${random.pick(["Ortiz", "Lee", "Patel"])}, ${digits(3)}-${digits(3)}-${digits(4)}`,
      ]);
}

export interface CorpusOptions {
  /** Catalogs whose products are named in the comments (both languages are generated either way). */
  catalogs: readonly Catalog[];
  seed?: number;
  /** Comments per label and language. Default 1500 (the model is trained on 4500). */
  perLabel?: number;
}

/** The labelled training corpus: every label of LABELS.md in both languages, `perLabel` distinct comments each. */
export function generateCorpus(options: CorpusOptions): LabelledComment[] {
  const random = new Random(options.seed ?? 19);
  const perLabel = options.perLabel ?? 1500;
  const rows: LabelledComment[] = [];
  const labelOf = new Map<string, string>();
  const ambiguous = new Set<string>();
  for (const lang of ["zh", "en"] as const) {
    const bank = banks[lang];
    const vocab = vocabulary(options.catalogs, lang);
    for (const [label, templates] of Object.entries(bank.labels) as [IntentLabel | BlockLabel, string[]][]) {
      const blocked = (blockLabels as readonly string[]).includes(label);
      const seen = new Set<string>();
      // Templates are finite: stop when new comments stop coming rather than loop forever.
      for (let tries = 0; seen.size < perLabel && tries < perLabel * 20; tries++) {
        let text = fill(random.pick(templates), bank, vocab, lang, random);
        // A template whose every part is optional may come out empty: a prefix or suffix alone ("lol") is no comment of
        // its label.
        if (text.trim() === "") continue;
        // A claim stays a claim: "治好了我的湿疹" with "请问" before it or "吗" after it would be a question about an
        // effect, which is spec (LABELS.md), and would teach the model that asking tells nothing.
        const claim = claimLabels.has(label);
        const prefixes = claim ? bank.prefixes.filter((prefix) => !asksSomething.test(prefix)) : bank.prefixes;
        if (random.chance(0.25)) text = `${fill(random.pick(prefixes), bank, vocab, lang, random)} ${text}`;
        text = roughen(text, bank, lang, random, claim);
        let moderation: ModerationLabel = blocked ? (label as BlockLabel) : "allow";
        if (!blocked && label !== "injection" && random.chance(0.1)) {
          text = random.chance(0.5)
            ? `${ownPersonalData(lang, random)} ${text}`
            : `${text} ${ownPersonalData(lang, random)}`;
          moderation = "mask";
        }
        if (text.length === 0 || [...text].length > 200 || seen.has(text)) continue;
        seen.add(text);
        const key = `${lang}:${text}`;
        const earlier = labelOf.get(key);
        if (earlier !== undefined && earlier !== label) ambiguous.add(key);
        labelOf.set(key, label);
        rows.push({ text, lang, intent: blocked ? null : (label as IntentLabel), moderation });
      }
    }
  }
  // A text two labels' templates both produce teaches nothing: it is left out.
  return rows.filter((r) => !ambiguous.has(`${r.lang}:${r.text}`));
}
