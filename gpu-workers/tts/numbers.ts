// Numbers read aloud: Chinese (十二, 一百九十九, 两件, 一点七) and English (forty-nine, twelve hundred, point five).

const zhDigits = ["零", "一", "二", "三", "四", "五", "六", "七", "八", "九"];
const zhSmallUnits = ["", "十", "百", "千"];
const zhBigUnits = ["", "万", "亿", "万亿"];

/** Reads a four-digit group (0..9999) in Chinese, with the zeros a speaker says ("一千零五"). */
function zhGroup(n: number): string {
  let out = "";
  let zero = false;
  for (let i = 3; i >= 0; i--) {
    const d = Math.floor(n / 10 ** i) % 10;
    if (d === 0) {
      if (out !== "") zero = true;
      continue;
    }
    if (zero) out += "零";
    zero = false;
    out += zhDigits[d]! + zhSmallUnits[i]!;
  }
  return out;
}

/** Cardinal number in Chinese: 0 → 零, 12 → 十二, 10086 → 一万零八十六, 1.7 → 一点七. */
export function zhNumber(value: string): string {
  const [intPart = "0", fraction] = value.replace(/,/g, "").split(".");
  const digits = (intPart || "0").replace(/^0+(?=\d)/, "");
  const groups: number[] = [];
  for (let end = digits.length; end > 0; end -= 4) groups.push(Number(digits.slice(Math.max(0, end - 4), end)));
  let out = "";
  let zeroPending = false;
  for (let i = groups.length - 1; i >= 0; i--) {
    const group = groups[i]!;
    if (group === 0) {
      zeroPending = out !== "";
      continue;
    }
    if (out !== "" && (zeroPending || group < 1000)) out += "零";
    out += zhGroup(group) + zhBigUnits[i]!;
    zeroPending = false;
  }
  if (out === "") out = "零";
  // 一十二 is read 十二 at the start of a number; a leading 2 before 千, 万 or 亿 is 两 (两千, 两万).
  out = out.replace(/^一十/, "十").replace(/^二(千|万|亿)/, "两$1");
  if (fraction) out += "点" + [...fraction].map((d) => zhDigits[Number(d)]).join("");
  return out;
}

/** Digit by digit, as phone numbers and model numbers are read; 1 is 幺 in phone numbers. */
export function zhDigitsOf(value: string, phone = false): string {
  return [...value.replace(/\D/g, "")].map((d) => (phone && d === "1" ? "幺" : zhDigits[Number(d)])).join("");
}

/** 2 before a measure word is 两 (两件, 两小时), except in ordinals and decimals. */
export function zhCount(value: string): string {
  const read = zhNumber(value);
  return read === "二" ? "两" : read.replace(/^二(千|百|万|亿)/, "两$1");
}

const ones = [
  "zero",
  "one",
  "two",
  "three",
  "four",
  "five",
  "six",
  "seven",
  "eight",
  "nine",
  "ten",
  "eleven",
  "twelve",
  "thirteen",
  "fourteen",
  "fifteen",
  "sixteen",
  "seventeen",
  "eighteen",
  "nineteen",
];
const tens = ["", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"];
const scales = ["", "thousand", "million", "billion", "trillion"];

function enBelowThousand(n: number): string {
  const parts: string[] = [];
  if (n >= 100) {
    parts.push(`${ones[Math.floor(n / 100)]} hundred`);
    n %= 100;
  }
  if (n >= 20) parts.push(tens[Math.floor(n / 10)]! + (n % 10 ? `-${ones[n % 10]}` : ""));
  else if (n > 0 || parts.length === 0) parts.push(ones[n]!);
  return parts.join(" ");
}

/** Cardinal number in English: 49 → forty-nine, 1200 → twelve hundred, 1.7 → one point seven. */
export function enNumber(value: string): string {
  const [intPart = "0", fraction] = value.replace(/,/g, "").split(".");
  let n = Number(intPart || "0");
  let out: string;
  if (n >= 1100 && n < 10000 && n % 100 === 0 && n % 1000 !== 0) {
    out = `${enBelowThousand(n / 100)} hundred`;
  } else if (n === 0) {
    out = "zero";
  } else {
    const parts: string[] = [];
    for (let scale = 0; n > 0; scale++) {
      const group = n % 1000;
      if (group) parts.unshift(enBelowThousand(group) + (scales[scale] ? ` ${scales[scale]}` : ""));
      n = Math.floor(n / 1000);
    }
    out = parts.join(" ");
  }
  if (fraction) out += " point " + [...fraction].map((d) => ones[Number(d)]).join(" ");
  return out;
}

/** Years are read in pairs: 2026 → twenty twenty-six, 2005 → two thousand five. */
export function enYear(year: number): string {
  if (year >= 2000 && year < 2010) return enNumber(String(year));
  const high = Math.floor(year / 100);
  const low = year % 100;
  return `${enBelowThousand(high)} ${low === 0 ? "hundred" : low < 10 ? `oh ${ones[low]}` : enBelowThousand(low)}`;
}

const ordinalIrregular: Record<string, string> = {
  one: "first",
  two: "second",
  three: "third",
  five: "fifth",
  eight: "eighth",
  nine: "ninth",
  twelve: "twelfth",
};

export function enOrdinal(n: number): string {
  const words = enNumber(String(n));
  const last = words.split(/[ -]/).at(-1)!;
  const ordinal = ordinalIrregular[last] ?? (last.endsWith("y") ? `${last.slice(0, -1)}ieth` : `${last}th`);
  return words.slice(0, words.length - last.length) + ordinal;
}

export function enDigitsOf(value: string): string {
  return [...value.replace(/\D/g, "")].map((d) => ones[Number(d)]).join(" ");
}
