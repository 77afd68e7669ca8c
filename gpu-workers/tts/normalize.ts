// Commerce text normalization: what a live-commerce host actually says for prices (¥199, 49.99 USD), discounts
// (8折, 30% off), sizes (XL, 500ml, 1.7 L), dates, times, phone numbers and model numbers, in Mandarin and English.
// Numbers read wrongly are the most reported TTS error in live commerce; this is where they are read right.
// The output is a list of segments, each with the words to speak, its language run and the span of the original
// text it came from (so word timings can point back at "¥199" and overlays can cue on it).
import { enDigitsOf, enNumber, enOrdinal, enYear, zhCount, zhDigitsOf, zhNumber } from "./numbers.js";

export type Language = "zh" | "en";

export interface Segment {
  /** What to say. */
  spoken: string;
  /** Which voice reads it: a Mandarin voice reads English words with an English voice, and the other way round. */
  lang: Language;
  /** UTF-16 offsets into the original text, end exclusive. */
  sourceStart: number;
  sourceEnd: number;
}

const num = String.raw`\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?`;
const units: Record<string, { zh: string; en: string; enPlural?: string }> = {
  ml: { zh: "毫升", en: "milliliter" },
  l: { zh: "升", en: "liter" },
  kg: { zh: "公斤", en: "kilogram" },
  g: { zh: "克", en: "gram" },
  mg: { zh: "毫克", en: "milligram" },
  cm: { zh: "厘米", en: "centimeter" },
  mm: { zh: "毫米", en: "millimeter" },
  m: { zh: "米", en: "meter" },
  km: { zh: "公里", en: "kilometer" },
  in: { zh: "英寸", en: "inch", enPlural: "inches" },
  inch: { zh: "英寸", en: "inch", enPlural: "inches" },
  w: { zh: "瓦", en: "watt" },
  kw: { zh: "千瓦", en: "kilowatt" },
  mah: { zh: "毫安时", en: "milliamp hour" },
  gb: { zh: "G", en: "gigabyte" },
  tb: { zh: "T", en: "terabyte" },
  hz: { zh: "赫兹", en: "hertz", enPlural: "hertz" },
  k: { zh: "K", en: "kelvin", enPlural: "kelvin" },
  "°c": { zh: "摄氏度", en: "degree", enPlural: "degrees" },
  "℃": { zh: "摄氏度", en: "degree", enPlural: "degrees" },
  c: { zh: "度", en: "degree", enPlural: "degrees" },
  gsm: { zh: "克重", en: "G S M", enPlural: "G S M" },
};
const unitPattern = String.raw`mAh|ml|mL|ML|kg|KG|Kg|mg|cm|mm|km|kW|kw|gsm|GB|TB|Hz|inch|in|°C|℃|L|l|g|m|W|w|K|C`;
const currencySymbols: Record<string, { zh: string; en: string; minor?: string }> = {
  "¥": { zh: "元", en: "yuan" },
  "￥": { zh: "元", en: "yuan" },
  $: { zh: "美元", en: "dollar", minor: "cent" },
  "€": { zh: "欧元", en: "euro", minor: "cent" },
  "£": { zh: "英镑", en: "pound", minor: "penny" },
  usd: { zh: "美元", en: "dollar", minor: "cent" },
  cny: { zh: "元", en: "yuan" },
  rmb: { zh: "元", en: "yuan" },
  eur: { zh: "欧元", en: "euro", minor: "cent" },
  元: { zh: "元", en: "yuan" },
  块: { zh: "块", en: "yuan" },
  美元: { zh: "美元", en: "dollar", minor: "cent" },
};
const months = [
  "January",
  "February",
  "March",
  "April",
  "May",
  "June",
  "July",
  "August",
  "September",
  "October",
  "November",
  "December",
];
const sizeLabels = new Set(["XXS", "XS", "S", "M", "L", "XL", "XXL", "XXXL", "2XL", "3XL", "4XL", "5XL"]);
/** Measure words after which 2 is 两. */
const zhMeasure = /^(个|件|条|双|套|瓶|支|盒|包|袋|只|台|张|把|块|斤|位|种|款|次|小时|天|周|年|分钟|秒)/;

const token = new RegExp(
  [
    String.raw`(?<isoDate>\d{4}-\d{1,2}-\d{1,2})`,
    String.raw`(?<zhDate>(?:(?<zy>\d{4})年)?(?<zm>\d{1,2})月(?<zd>\d{1,2})[日号])`,
    String.raw`(?<time>(?<![\d.])(?<hh>[01]?\d|2[0-3]):(?<mm>[0-5]\d)(?!\d))`,
    // Phone numbers, read digit by digit: mobiles as typed (13800138000, 138-0013-8000, 138 0013 8000, +86 …),
    // 400 numbers, landlines (010-12345678), North American (415-555-0123) and international ones (+44 20 7946 0958).
    String.raw`(?<phone>(?<![\d.])(?:(?:\+?86[-\s]?)?1[3-9]\d(?:[-\s]?\d{4}){2}|400-?\d{3}-?\d{4}|0\d{2,3}-\d{7,8}|\(?\d{3}\)?[-\s]\d{3}-\d{4}|\+\d{1,3}(?:[-\s]\d{1,4}){2,5})(?!\d))`,
    String.raw`(?<cur1>(?<sym>[¥￥$€£])\s?(?<amount1>${num}))`,
    String.raw`(?<cur2>(?<amount2>${num})\s?(?<code>USD|usd|CNY|cny|RMB|rmb|EUR|eur|美元|元|块)(?![A-Za-z]))`,
    String.raw`(?<percent>(?<pct>${num})\s?%)`,
    String.raw`(?<discount>(?<disc>\d+(?:\.\d+)?)\s?折)`,
    String.raw`(?<range>(?<r1>${num})\s?(?:${unitPattern})?\s?(?:-|~|–|到|to)\s?(?<r2>${num})\s?(?<runit>${unitPattern})(?![A-Za-z]))`,
    String.raw`(?<measure>(?<qty>${num})\s?(?<unit>${unitPattern})(?![A-Za-z]))`,
    String.raw`(?<ordinal>(?<ord>\d+)(?:st|nd|rd|th)\b)`,
    String.raw`(?<size>(?<![A-Za-z])(?:[2-5]XL|X{0,3}[SML]|XL|XXL|XXXL|XS|XXS)(?![A-Za-z]))`,
    String.raw`(?<model>[A-Za-z]+-?\d+[A-Za-z0-9]*)`,
    String.raw`(?<number>${num})`,
    String.raw`(?<word>[A-Za-z][A-Za-z'’]*)`,
    String.raw`(?<han>\p{Script=Han}+)`,
  ].join("|"),
  "gu",
);

type Groups = Record<string, string | undefined>;

/** Splits text into spoken segments for a voice whose language is `language`. */
export function normalize(text: string, language: Language): Segment[] {
  const segments: Segment[] = [];
  let last = 0;
  const push = (spoken: string, lang: Language, start: number, end: number) => {
    if (spoken === "") return;
    segments.push({ spoken, lang, sourceStart: start, sourceEnd: end });
  };
  for (const match of text.matchAll(token)) {
    const start = match.index;
    if (start > last) pushPlain(text.slice(last, start), language, last, push);
    const end = start + match[0].length;
    const g = match.groups as Groups;
    const next = text.slice(end);
    for (const [spoken, lang] of read(g, language, next)) push(spoken, lang, start, end);
    last = end;
  }
  if (last < text.length) pushPlain(text.slice(last), language, last, push);
  return mergeSpaces(segments);
}

/** Punctuation and spaces between tokens: kept (they give the pauses), in the surrounding language. */
function pushPlain(
  plain: string,
  language: Language,
  offset: number,
  push: (spoken: string, lang: Language, start: number, end: number) => void,
): void {
  const spoken = plain
    .replace(/[，、；：]/g, ", ")
    .replace(/[。！？]/g, ". ")
    .replace(/\s+/g, " ");
  if (spoken.trim() === "" && spoken !== " ") return;
  push(spoken, language, offset, offset + plain.length);
}

function mergeSpaces(segments: Segment[]): Segment[] {
  return segments.filter((s, i) => !(s.spoken.trim() === "" && (i === 0 || segments[i - 1]!.spoken.endsWith(" "))));
}

function read(g: Groups, language: Language, next: string): [string, Language][] {
  const zh = language === "zh";
  if (g.isoDate) {
    const [y, m, d] = g.isoDate.split("-").map(Number) as [number, number, number];
    return zh
      ? [[`${zhDigitsOf(String(y))}年${zhNumber(String(m))}月${zhNumber(String(d))}日`, "zh"]]
      : [[`${months[m - 1] ?? enNumber(String(m))} ${enOrdinal(d)}, ${enYear(y)}`, "en"]];
  }
  if (g.zhDate) {
    const year = g.zy ? `${zhDigitsOf(g.zy)}年` : "";
    const spoken = `${year}${zhNumber(g.zm!)}月${zhNumber(g.zd!)}日`;
    return zh ? [[spoken, "zh"]] : [[`${months[Number(g.zm) - 1]} ${enOrdinal(Number(g.zd))}`, "en"]];
  }
  if (g.time) {
    const h = Number(g.hh);
    const m = Number(g.mm);
    if (zh) return [[`${zhNumber(String(h))}点${m === 0 ? "" : m === 30 ? "半" : `${zhNumber(String(m))}分`}`, "zh"]];
    const h12 = h % 12 === 0 ? 12 : h % 12;
    const minutes = m === 0 ? "" : m < 10 ? ` oh ${enNumber(String(m))}` : ` ${enNumber(String(m))}`;
    return [[`${enNumber(String(h12))}${minutes} ${h < 12 ? "A M" : "P M"}`, "en"]];
  }
  if (g.phone) return zh ? [[zhDigitsOf(g.phone, true), "zh"]] : [[enDigitsOf(g.phone), "en"]];
  if (g.cur1 || g.cur2) {
    const currency = currencySymbols[(g.sym ?? g.code ?? "").toLowerCase()] ?? currencySymbols[g.sym ?? g.code ?? ""]!;
    const amount = (g.amount1 ?? g.amount2)!.replace(/,/g, "");
    if (zh) return [[`${zhNumber(amount)}${currency.zh}`, "zh"]];
    return [[enMoney(amount, currency), "en"]];
  }
  if (g.percent) return zh ? [[`百分之${zhNumber(g.pct!)}`, "zh"]] : [[`${enNumber(g.pct!)} percent`, "en"]];
  if (g.discount) {
    // 8折 → 八折, 7.5折 → 七五折, 8.8折 → 八八折: discounts are read digit by digit.
    const digits = zhDigitsOf(g.disc!);
    return zh ? [[`${digits}折`, "zh"]] : [[`${enNumber(String(100 - Number(g.disc) * 10))} percent off`, "en"]];
  }
  if (g.range) {
    const unit = unitFor(g.runit!);
    if (!zh) return [[`${enNumber(g.r1!)} to ${enNumber(g.r2!)} ${unit.enPlural ?? `${unit.en}s`}`, "en"]];
    const spokenRange = `${zhNumber(g.r1!)}到${zhNumber(g.r2!)}`;
    return isLatin(unit.zh)
      ? [
          [spokenRange, "zh"],
          [unit.zh, "en"],
        ]
      : [[spokenRange + unit.zh, "zh"]];
  }
  if (g.measure) {
    const unit = unitFor(g.unit!);
    if (zh) {
      if (isLatin(unit.zh))
        return [
          [zhNumber(g.qty!), "zh"],
          [unit.zh, "en"],
        ];
      return [[`${zhNumber(g.qty!)}${unit.zh}`, "zh"]];
    }
    const one = Number(g.qty) === 1;
    return [[`${enNumber(g.qty!)} ${one ? unit.en : (unit.enPlural ?? `${unit.en}s`)}`, "en"]];
  }
  if (g.ordinal) return zh ? [[`第${zhNumber(g.ord!)}`, "zh"]] : [[enOrdinal(Number(g.ord)), "en"]];
  if (g.size && sizeLabels.has(g.size)) return [[spellSize(g.size), "en"]];
  if (g.model) return readModel(g.model, zh);
  if (g.number) {
    if (zh) return [[zhMeasure.test(next) ? zhCount(g.number) : zhNumber(g.number), "zh"]];
    return [[enNumber(g.number), "en"]];
  }
  if (g.word) return [[/^[A-Z]{2,4}$/.test(g.word) ? [...g.word].join(" ") : g.word, "en"]];
  if (g.han) return [[g.han, "zh"]];
  // A size-like token that is not a size (a lone "S" in a sentence): read it as a word.
  return [[g.size ?? "", "en"]];
}

function unitFor(raw: string) {
  return units[raw.toLowerCase()] ?? units[raw]!;
}

function isLatin(s: string): boolean {
  return /^[A-Za-z ]+$/.test(s);
}

function enMoney(amount: string, currency: { en: string; minor?: string }): string {
  const [whole = "0", fraction = ""] = amount.split(".");
  const plural = (n: string, word: string) => (Number(n) === 1 ? word : word === "penny" ? "pence" : `${word}s`);
  const major = currency.en === "yuan" ? "yuan" : plural(whole, currency.en);
  if (!fraction || Number(fraction) === 0) return `${enNumber(whole)} ${major}`;
  if (currency.minor) {
    const cents = fraction.padEnd(2, "0").slice(0, 2);
    return `${enNumber(whole)} ${major} and ${enNumber(String(Number(cents)))} ${plural(cents, currency.minor)}`;
  }
  return `${enNumber(`${whole}.${fraction}`)} ${major}`;
}

function spellSize(size: string): string {
  const m = /^(\d)XL$/.exec(size);
  if (m) return `${m[1]} X L`;
  if (size === "XXL") return "double X L";
  if (size === "XXXL") return "triple X L";
  return [...size].join(" ");
}

/** X200 → X two hundred / X 二百; RTX4090 → R T X forty ninety / R T X 四零九零; iPhone15 → iPhone fifteen. */
function readModel(model: string, zh: boolean): [string, Language][] {
  const out: [string, Language][] = [];
  for (const part of model.split("-").flatMap((p) => p.match(/[A-Za-z]+|\d+/g) ?? [])) {
    if (/^\d+$/.test(part)) {
      if (zh) out.push([part.length > 2 ? zhDigitsOf(part) : zhNumber(part), "zh"]);
      else if (part.length === 4) out.push([enYear(Number(part)), "en"]);
      else out.push([part.length > 4 ? enDigitsOf(part) : enNumber(part), "en"]);
    } else {
      out.push([/^[A-Z]{1,4}$/.test(part) ? [...part].join(" ") : part, "en"]);
    }
  }
  // In English the parts are separate words.
  return zh ? out : out.map(([spoken, lang], i) => [i < out.length - 1 ? `${spoken} ` : spoken, lang]);
}
