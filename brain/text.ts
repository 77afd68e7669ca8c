// How the host writes prices, dates and lists in each show language. Text goes to TTS, which reads "¥79",
// "$49.99" and "12月5日" itself, so numbers stay as digits here.
import type { Catalog, Money } from "../proto/index.js";

/** The two show languages the brain writes; anything that is not Chinese is written in English. */
export type ShowLanguage = "zh" | "en";

export function showLanguage(tag: string): ShowLanguage {
  return tag.toLowerCase().startsWith("zh") ? "zh" : "en";
}

const minorDigitsByCurrency = new Map<string, number>();

/** Digits after the decimal point in a currency's minor unit (JPY 0, CNY/USD 2), from the runtime's ISO 4217 data. */
export function minorDigits(currency: string): number {
  let digits = minorDigitsByCurrency.get(currency);
  if (digits === undefined) {
    // A formatter is costly to make (a show line formats prices on every sentence of thousands of rooms): once each.
    const format = new Intl.NumberFormat("en", { style: "currency", currency });
    digits = format.resolvedOptions().maximumFractionDigits ?? 2;
    minorDigitsByCurrency.set(currency, digits);
  }
  return digits;
}

/** A Money as plain digits in major units, trailing ".00" dropped: 7900 CNY -> "79", 4999 USD -> "49.99". */
export function moneyDigits(money: Money): string {
  const digits = minorDigits(money.currency);
  const scale = 10 ** digits;
  const whole = Math.trunc(money.amountMinor / scale);
  const fraction = money.amountMinor % scale;
  if (fraction === 0) return String(whole);
  return `${whole}.${String(fraction).padStart(digits, "0")}`;
}

const symbols: Record<string, string> = { CNY: "¥", USD: "$", EUR: "€", GBP: "£", JPY: "¥" };
const zhNames: Record<string, string> = { CNY: "元", USD: "美元", EUR: "欧元", GBP: "英镑", JPY: "日元" };

/** A price as a host says it in the show language: "79元" (zh, CNY), "$49.99" (en, USD), "49.99美元" (zh, USD). */
export function formatMoney(money: Money, language: ShowLanguage): string {
  const digits = moneyDigits(money);
  if (language === "zh") return `${digits}${zhNames[money.currency] ?? ` ${money.currency}`}`;
  const symbol = symbols[money.currency];
  return symbol === undefined ? `${digits} ${money.currency}` : `${symbol}${digits}`;
}

const enMonth = new Intl.DateTimeFormat("en", { month: "long", timeZone: "UTC" });

/** An ISO date (YYYY-MM-DD) as said on air: "12月5日" or "December 5". */
export function formatDate(iso: string, language: ShowLanguage): string {
  const [, month, day] = iso.split("-").map(Number) as [number, number, number];
  return language === "zh" ? `${month}月${day}日` : `${enMonth.format(Date.UTC(2000, month - 1, 1))} ${day}`;
}

/** "a、b、c" in Mandarin; "a, b and c" in English. */
export function formatList(items: readonly string[], language: ShowLanguage): string {
  if (language === "zh") return items.join("、");
  if (items.length <= 1) return items.join("");
  return `${items.slice(0, -1).join(", ")} and ${items.at(-1)}`;
}

export function catalogLanguage(catalog: Catalog): ShowLanguage {
  return showLanguage(catalog.language);
}

/** A stable 32-bit hash (FNV-1a) of strings and numbers; the seed of every deterministic choice in the brain. */
export function hash(...parts: (string | number)[]): number {
  let h = 0x811c9dc5;
  for (const part of parts) {
    const s = `${part}\u0000`;
    for (let i = 0; i < s.length; i++) {
      h ^= s.charCodeAt(i);
      h = Math.imul(h, 0x01000193);
    }
  }
  return h >>> 0;
}
