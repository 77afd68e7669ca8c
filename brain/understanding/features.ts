// What the understanding model sees of a comment: hashed feature ids, the same in training and in the room host.
// Viewers dodge filters and type fast, so the text is normalized first (full-width to ASCII, case, letters spaced
// out or written with digits, runs of one character), then described four ways that let spellings meet:
// character 1–3-grams (Chinese words, English word pieces, typos), whole English words and word pairs, pinyin
// syllables of Chinese characters and of Latin words that spell them (homophones: 薇信, 微信 and "wei xin" all read
// "wei xin"), and pinyin initials (viewers write 价格 as "jg" and 傻逼 as "sb").
import { pinyin } from "pinyin-pro";
import { hash } from "../text.js";

/** Feature buckets; ids are in [0, featureBuckets). Part of the model file's contract (its metadata says so). */
export const featureBuckets = 1 << 16;

const hanRun = /\p{Script=Han}+/gu;
const latinWord = /[a-z0-9$@*]+(?:'[a-z]+)?/g;
// Digits and symbols that stand for letters inside a word ("1d10t", "sh1t", "$pam").
const leet: Record<string, string> = { "0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", $: "s" };

// Pinyin syllables (no tones; ü typed as v), except the lone vowels and nasals, which are English words too.
const pinyinSyllables = new Set(
  [
    "ai an ang ao ba bai ban bang bao bei ben beng bi bian biao bie bin bing bo bu ca cai can cang cao ce cen ceng",
    "cha chai chan chang chao che chen cheng chi chong chou chu chua chuai chuan chuang chui chun chuo ci cong cou cu",
    "cuan cui cun cuo da dai dan dang dao de dei den deng di dia dian diao die ding diu dong dou du duan dui dun duo",
    "ei en eng er fa fan fang fei fen feng fo fou fu ga gai gan gang gao ge gei gen geng gong gou gu gua guai guan",
    "guang gui gun guo ha hai han hang hao he hei hen heng hong hou hu hua huai huan huang hui hun huo ji jia jian",
    "jiang jiao jie jin jing jiong jiu ju juan jue jun ka kai kan kang kao ke kei ken keng kong kou ku kua kuai kuan",
    "kuang kui kun kuo la lai lan lang lao le lei leng li lia lian liang liao lie lin ling liu lo long lou lu luan",
    "lun luo ma mai man mang mao me mei men meng mi mian miao mie min ming miu mo mou mu na nai nan nang nao ne nei",
    "nen neng ni nian niang niao nie nin ning niu nong nou nu nuan nuo ou pa pai pan pang pao pei pen peng pi pian",
    "piao pie pin ping po pou pu qi qia qian qiang qiao qie qin qing qiong qiu qu quan que qun ran rang rao re ren",
    "reng ri rong rou ru rua ruan rui run ruo sa sai san sang sao se sen seng sha shai shan shang shao she shei shen",
    "sheng shi shou shu shua shuai shuan shuang shui shun shuo si song sou su suan sui sun suo ta tai tan tang tao te",
    "tei teng ti tian tiao tie ting tong tou tu tuan tui tun tuo wa wai wan wang wei wen weng wo wu xi xia xian xiang",
    "xiao xie xin xing xiong xiu xu xuan xue xun ya yan yang yao ye yi yin ying yo yong you yu yuan yue yun za zai",
    "zan zang zao ze zei zen zeng zha zhai zhan zhang zhao zhe zhei zhen zheng zhi zhong zhou zhu zhua zhuai zhuan",
    "zhuang zhui zhun zhuo zi zong zou zu zuan zui zun zuo lv nv lve nve",
  ]
    .join(" ")
    .split(" "),
);

/**
 * Latin words that spell Chinese syllables ("wei xin", "jia wo", "weixin", "baoyou"): viewers type pinyin to slip
 * past filters. A word is read as syllables when it is one (in a run of two or more such words) or splits wholly
 * into two to four of them; the syllables then meet the Han characters' own (p, q and initials features).
 */
function pinyinOfLatin(words: readonly string[]): string[][] {
  const runs: string[][] = [];
  let run: string[] = [];
  const close = () => {
    if (run.length >= 2) runs.push(run);
    run = [];
  };
  for (const w of words) {
    if (pinyinSyllables.has(w)) run.push(w);
    else {
      close();
      const split = w.length >= 4 ? splitSyllables(w, 4) : undefined;
      if (split && split.length >= 2) runs.push(split);
    }
  }
  close();
  return runs;
}

function splitSyllables(word: string, most: number): string[] | undefined {
  if (word === "") return [];
  if (most === 0) return undefined;
  for (let n = Math.min(6, word.length); n >= 1; n--) {
    const head = word.slice(0, n);
    if (!pinyinSyllables.has(head)) continue;
    const rest = splitSyllables(word.slice(n), most - 1);
    if (rest) return [head, ...rest];
  }
  return undefined;
}

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
    for (let i = 0; i + n <= chars.length; i++) {
      // A Latin letter or digit alone says almost nothing, and in a short English comment its many copies would
      // outweigh the one word that does ("retard" is six letters and one word).
      if (n === 1 && /[a-z0-9 ]/.test(chars[i]!)) continue;
      out.push(`c${chars.slice(i, i + n).join("")}`);
    }
  }
  const words = (s.match(latinWord) ?? []).map(deLeet).filter((w) => w.length > 0);
  for (const [i, w] of words.entries()) {
    out.push(`w${w}`);
    if (i > 0) out.push(`b${words[i - 1]} ${w}`);
    // Initials typed for Chinese words ("jg", "yhq", "sb"): short words of consonants.
    if (w.length >= 2 && w.length <= 4 && !/[aeiou0-9]/.test(w)) out.push(...initialGrams(w));
  }
  const syllableRuns = [
    ...(s.match(hanRun) ?? []).map((run) =>
      pinyin(run, { toneType: "none", type: "array" }).map((p) => p.replace("ü", "v")),
    ),
    ...pinyinOfLatin(words),
  ];
  for (const syllables of syllableRuns) {
    for (const [i, syllable] of syllables.entries()) {
      out.push(`p${syllable}`);
      if (i > 0) out.push(`q${syllables[i - 1]} ${syllable}`);
    }
    out.push(...initialGrams(syllables.map((p) => p[0]).join("")));
  }
  // A Chinese question's character pairs again, marked as asked: "能治湿疹吗" asks about an effect (answered with
  // facts) where "治好了我的湿疹" claims it; the same characters carry both, so only their pairing with the question
  // tells them apart. (English says it with its own words: "does it cure" against "it cured".)
  if (questionEnd.test(s.replace(/[\s\p{Extended_Pictographic}~.!！。…,，]+$/u, ""))) {
    for (const run of s.match(hanRun) ?? []) {
      const chars = [...run];
      for (let i = 0; i + 2 <= chars.length; i++) out.push(`f${chars[i]}${chars[i + 1]}`);
    }
  }
  return out;
}

const questionEnd = /(?:[吗嘛么呢不没伐咩][?？]*|[?？]+)$/u;

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
