// What the host may say, checked on every sentence an LLM writes before it reaches the voice: every number must
// be one the catalog (or the persona) has, no advertising-law absolute terms or medical claims, no promise the
// listing does not make, and nothing of the instructions the brain was given. Words quoted from the catalog are
// allowed as they stand ("100% cotton", "free over $35").
import type { Catalog, Persona } from "../proto/index.js";
import { absoluteTerms, medicalTerms } from "./moderation.js";
import { formatMoney, moneyDigits, showLanguage } from "./text.js";

export type GuardViolation =
  "ungrounded_number" | "absolute_terms" | "medical_claim" | "ungrounded_promise" | "prompt_disclosure";

export type GuardResult = { ok: true } | { ok: false; violation: GuardViolation; detail: string };

const numberPattern = /\d+(?:[.,]\d+)*/g;
/** A figure said as money: "¥79", "$49.99", "79元", "1块", "5 dollars". */
const moneyPattern = /[¥￥$]\s*(\d+(?:[.,]\d+)*)|(\d+(?:[.,]\d+)*)\s*(?:元|块|美元|美金|dollars?|bucks?|usd|cny|rmb)/gi;
const spelledAmount =
  /[零一二两三四五六七八九十百千万]+\s*(?:块|元|毛|角|美元|折)|\b(?:zero|one|two|three|four|five|six|seven|eight|nine|ten|a) (?:dollars?|bucks?|cents?|yuan)\b/i;
const promises =
  /免费|白送|赠送|送你|包邮|保证|承诺|保退|终身|无限期|\bfree\b|\bgift\b|\bguarantee[ds]?\b|\bforever\b|\blifetime\b|\bpromise\b/gi;
const disclosure =
  /系统提示|提示词|我的指令|我的设定|我被要求|system prompt|my instructions|i was told to|i am instructed|as an ai\b|language model/i;

/** Checks sentences against one room's catalog and persona (build once per room; checking is cheap). */
export class AnswerGuard {
  readonly #numbers = new Set<string>();
  /** Figures that may be said as money: prices, coupon amounts, and amounts the catalog's own text names. */
  readonly #amounts = new Set<string>();
  readonly #quotes: string[];
  readonly #catalogText: string;
  readonly #secrets: string[];

  /** `secrets`: text of the instructions given to the LLM that must never be repeated (e.g. its rules). */
  constructor(catalog: Catalog, persona: Persona, secrets: readonly string[] = []) {
    const language = showLanguage(catalog.language);
    const quotes: string[] = [catalog.title, persona.name, ...persona.catchphrases];
    catalog.products.forEach((product, i) => {
      this.#numbers.add(String(i + 1));
      this.#numbers.add(String(product.stock));
      const prices = [
        product.price,
        product.originalPrice,
        ...product.coupons.flatMap((c) => [c.threshold, c.discount]),
      ];
      for (const money of prices) {
        if (!money) continue;
        this.#numbers.add(moneyDigits(money));
        this.#amounts.add(moneyDigits(money));
        quotes.push(formatMoney(money, language));
      }
      if (product.restockDate !== "") {
        const [year, month, day] = product.restockDate.split("-").map(Number);
        for (const part of [year, month, day]) this.#numbers.add(String(part));
      }
      quotes.push(
        product.title,
        product.shipping,
        product.afterSales,
        ...product.sellingPoints,
        ...product.specs.flatMap((s) => [s.name, ...s.values]),
        ...Object.entries(product.sizeGuide).flat(),
        ...product.coupons.map((c) => c.title),
      );
    });
    for (const quote of quotes) {
      for (const n of quote.match(numberPattern) ?? []) this.#numbers.add(normalizeNumber(n));
      for (const m of quote.matchAll(moneyPattern)) this.#amounts.add(normalizeNumber(m[1] ?? m[2]!));
    }
    // Longest first, so removing a quote never leaves part of a longer one behind.
    this.#quotes = [...new Set(quotes.filter((q) => q.trim().length >= 2))].sort((a, b) => b.length - a.length);
    this.#catalogText = quotes.join("\n").toLowerCase();
    this.#secrets = [...persona.rules, ...secrets].filter((s) => s.length >= 6);
  }

  check(sentence: string): GuardResult {
    for (const n of sentence.match(numberPattern) ?? []) {
      if (!this.#numbers.has(normalizeNumber(n))) return { ok: false, violation: "ungrounded_number", detail: n };
    }
    for (const m of sentence.matchAll(moneyPattern)) {
      if (!this.#amounts.has(normalizeNumber(m[1] ?? m[2]!)))
        return { ok: false, violation: "ungrounded_number", detail: m[0] };
    }
    const spelled = spelledAmount.exec(sentence);
    if (spelled) return { ok: false, violation: "ungrounded_number", detail: spelled[0] };
    const lower = sentence.toLowerCase();
    const secret = this.#secrets.find((s) => lower.includes(s.toLowerCase()));
    if (secret !== undefined || disclosure.test(sentence)) {
      return { ok: false, violation: "prompt_disclosure", detail: secret ?? "instructions" };
    }
    const own = this.#withoutQuotes(sentence);
    const absolute = absoluteTerms.exec(own);
    if (absolute) return { ok: false, violation: "absolute_terms", detail: absolute[0] };
    const medical = medicalTerms.exec(own);
    if (medical) return { ok: false, violation: "medical_claim", detail: medical[0] };
    for (const promise of own.match(promises) ?? []) {
      if (!this.#catalogText.includes(promise.toLowerCase())) {
        return { ok: false, violation: "ungrounded_promise", detail: promise };
      }
    }
    return { ok: true };
  }

  /** The sentence with catalog quotes blanked out: what is left is the speaker's own words. */
  #withoutQuotes(sentence: string): string {
    let own = sentence;
    for (const quote of this.#quotes) own = own.split(quote).join(" ");
    return own;
  }
}

/** "1,200" and "1200" are the same figure; "79.00" is "79". */
function normalizeNumber(n: string): string {
  const plain = n.replace(/,(?=\d{3}\b)/g, "");
  return plain.includes(".") ? plain.replace(/\.?0+$/, "") : plain;
}
