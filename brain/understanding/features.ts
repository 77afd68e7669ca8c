// What the understanding model sees of a comment: hashed feature ids, the same in training and in the room host.
// Viewers dodge filters and type fast, so the text is normalized first (full-width to ASCII, case, letters spaced
// out or written with digits, runs of one character), then described four ways that let spellings meet:
// character 1–3-grams (Chinese words, English word pieces, typos), whole English words and word pairs, pinyin
// syllables of Chinese characters (homophones: 薇信 and 微信 both read "wei xin"), and pinyin initials (viewers
// write 价格 as "jg" and 傻逼 as "sb").
import { pinyin } from "pinyin-pro";
import { hash } from "../text.js";

/** Feature buckets; ids are in [0, featureBuckets). Part of the model file's contract (its metadata says so). */
export const featureBuckets = 1 << 16;

const hanRun = /\p{Script=Han}+/gu;
const latinWord = /[a-z0-9$@*]+(?:'[a-z]+)?/g;
// Digits and symbols that stand for letters inside a word ("1d10t", "sh1t", "$pam").
const leet: Record<string, string> = { "0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", $: "s" };

/** The text the features are taken from: what differs only in spelling tricks reads the same. */
export function normalizeComment(text: string): string {
  let s = text.normalize("NFKC").toLowerCase();
  // Variation selectors and joiners come with emoji; they carry nothing.
  s = s.replace(/\u200b|\u200c|\u200d|\u2060|\ufe0e|\ufe0f/g, "");
  // Letters spaced or dotted out to slip past filters: "f u c k", "w.e.c.h.a.t".
  s = s.replace(/\b(?:[a-z][ .\-_*]){2,}[a-z]\b/g, (m) => m.replace(/[ .\-_*]/g, ""));
  // A run of one character is at most two long ("sooooo", "哈哈哈哈" stays as 哈哈).
  s = s.replace(/(.)\1{2,}/gu, "$1$1");
  return s.replace(/\s+/g, " ").trim();
}

function deLeet(word: string): string {
  if (!/[a-z]/.test(word)) return word;
  return word.replace(/[013457@$]/g, (c) => leet[c]!).replace(/\*/g, "");
}

/** The feature strings of a comment (before hashing); exposed for tests and for reading what the model saw. */
export function featureStrings(text: string): string[] {
  const s = normalizeComment(text);
  const out: string[] = [];
  const chars = [...`^${s}$`];
  for (let n = 1; n <= 3; n++) {
    for (let i = 0; i + n <= chars.length; i++) out.push(`c${chars.slice(i, i + n).join("")}`);
  }
  const words = (s.match(latinWord) ?? []).map(deLeet).filter((w) => w.length > 0);
  for (const [i, w] of words.entries()) {
    out.push(`w${w}`);
    if (i > 0) out.push(`b${words[i - 1]} ${w}`);
    // Initials typed for Chinese words ("jg", "yhq", "sb"): short words of consonants.
    if (w.length >= 2 && w.length <= 4 && !/[aeiou0-9]/.test(w)) out.push(...initialGrams(w));
  }
  for (const run of s.match(hanRun) ?? []) {
    const syllables = pinyin(run, { toneType: "none", type: "array" });
    for (const [i, syllable] of syllables.entries()) {
      out.push(`p${syllable}`);
      if (i > 0) out.push(`q${syllables[i - 1]} ${syllable}`);
    }
    out.push(...initialGrams(syllables.map((p) => p[0]).join("")));
  }
  return out;
}

function initialGrams(initials: string): string[] {
  const out: string[] = [];
  for (let n = 2; n <= 3; n++) {
    for (let i = 0; i + n <= initials.length; i++) out.push(`i${initials.slice(i, i + n)}`);
  }
  return out;
}

/**
 * Hashed feature ids of a comment, in order, repeats kept (the model averages them). Never empty. Another
 * `hashSeed` puts the features in other buckets (other collisions): the members of an ensemble hash differently.
 */
export function featureIds(text: string, hashSeed = 0): number[] {
  return idsOf(featureStrings(text), hashSeed);
}

function idsOf(features: readonly string[], hashSeed: number): number[] {
  return features.map((f) => (hashSeed === 0 ? hash(f) : hash(hashSeed, f)) % featureBuckets);
}

/**
 * The ids an ensemble's graph reads: each member's ids in turn (all of one length), member m's offset by m tables
 * (its rows follow the others' in the one table).
 */
export function ensembleFeatureIds(text: string, hashSeeds: readonly number[]): number[] {
  const features = featureStrings(text);
  return hashSeeds.flatMap((seed, m) => idsOf(features, seed).map((id) => id + m * featureBuckets));
}
