// The exact steps every viewer comment goes through, in this order, and where the understanding model comes in:
// validation (empty, too long, control characters, invalid UTF-8), personal data masked (so nothing after this sees
// a phone number or an address, the model included), floods and duplicates per viewer, links, domains and exact
// off-platform contact offers (spam), insults and slurs that are one in any sentence (abuse), political figures by
// name (politics), then the model's verdict (brain/understanding/): spam and off-platform
// contact, abuse, politics, someone's personal data, medical claims, advertising-law bait. Comments that may be
// answered carry flags for what the answer must be careful about (superlatives, medical effects, injection attempts).
import type { BlockLabel, IntentLabel } from "./understanding/corpus.js";

/** Danmaku platforms cap comments far lower; 200 code points is the hard limit (as in actors' validation). */
export const maxCommentLength = 200;

export type RejectReason = "empty" | "too_long" | "control_characters" | "invalid_utf8";
export type BlockReason = BlockLabel | "flood" | "duplicate";
export type PiiKind = "phone" | "id_number" | "email" | "wechat" | "qq" | "address" | "name" | "number";
/** Allowed, but the answer must mind them. */
export type CommentFlag = "absolute_terms" | "medical" | "injection";

export type CommentVerdict =
  | { decision: "reject"; reason: RejectReason; field: "text"; message: string }
  | { decision: "block"; reason: BlockReason; text: string; pii: PiiKind[]; message: string }
  | {
      decision: "allow" | "mask";
      text: string;
      pii: PiiKind[];
      flags: CommentFlag[];
      /** The model's intent, and how sure it is. */
      intent: IntentLabel;
      intentConfidence: number;
    };

// C0 and C1 controls, DEL, and the bidi overrides that can disguise text; tabs and newlines are controls here too.
// eslint-disable-next-line no-control-regex
const controlCharacters = /[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/u;

const loneSurrogate = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** The comment text, or why it is not valid input. Bytes are decoded strictly; strings must be well-formed. */
export function validateCommentText(
  input: string | Uint8Array,
): { ok: true; text: string } | { ok: false; reason: RejectReason; message: string } {
  let text: string;
  if (typeof input === "string") {
    text = input;
  } else {
    try {
      text = new TextDecoder("utf-8", { fatal: true }).decode(input);
    } catch {
      return { ok: false, reason: "invalid_utf8", message: "text is not valid UTF-8" };
    }
  }
  // Protobuf decoding turns invalid UTF-8 into U+FFFD; lone surrogates cannot be encoded at all.
  if (text.includes("\uFFFD") || loneSurrogate.test(text)) {
    return { ok: false, reason: "invalid_utf8", message: "text is not valid UTF-8" };
  }
  if (text.trim() === "") return { ok: false, reason: "empty", message: "text must not be empty or blank" };
  if (controlCharacters.test(text)) {
    return { ok: false, reason: "control_characters", message: "text must not contain control characters" };
  }
  const length = [...text].length;
  if (length > maxCommentLength) {
    return {
      ok: false,
      reason: "too_long",
      message: `text must be at most ${maxCommentLength} characters (got ${length})`,
    };
  }
  return { ok: true, text };
}

/** What replaces personal data in the text everyone downstream sees. */
export const piiMask = "***";

// Order matters: the most specific patterns first, so an ID number is not taken for a phone number.
const piiPatterns: [PiiKind, RegExp][] = [
  ["email", /[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}/g],
  ["id_number", /(?<!\d)\d{6}(?:19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}[\dXx](?![\dA-Za-z])/g],
  ["phone", /(?<!\d)(?:\+?86[-\s]?)?1[3-9]\d(?:[-\s]?\d{4}){2}(?!\d)/g],
  ["phone", /(?<!\d)0\d{2,3}-\d{7,8}(?!\d)/g],
  ["phone", /\+\d{1,3}[\s-]?\(?\d{2,4}\)?(?:[\s-]?\d{2,4}){2,4}/g],
  [
    "wechat",
    /(?<=(?:微信|威信|薇信|v信|V信|vx|VX|Vx|wx|WX|weixin|wechat|WeChat)\s*(?:号|id|ID)?\s*(?:是|为|is)?\s*[:：]?\s*)[A-Za-z][-_A-Za-z0-9]{5,19}/g,
  ],
  ["qq", /(?<=(?:qq|QQ|扣扣)\s*号?\s*(?:是|为|is)?\s*[:：]?\s*)\d{5,11}/g],
  // A person named as the one who receives a parcel: the name after the label ("收件人李四", "收货人：王小明").
  ["name", /(?<=(?:收件人|收货人|联系人|签收人)\s*(?:是|为|叫)?\s*[:：]?\s*)[\u4e00-\u9fa5]{2,4}/g],
  [
    "address",
    // After the street, its numbers up to the last unit word ("88号3栋"); the question after it stays ("…100号要几天").
    /[\u4e00-\u9fa5]{0,8}(?:省|市|区|县|州)[\u4e00-\u9fa5A-Za-z0-9]{0,16}(?:路|街|大道|巷|弄|村|小区|花园|大厦)(?:[\u4e00-\u9fa5A-Za-z0-9-]{0,16}(?:号|栋|幢|室|楼|单元)|[A-Za-z0-9-]{0,8})/g,
  ],
  [
    "address",
    /(?<!\d)\d{1,5}(?:\s+(?:[A-Za-z]+|\d{1,3}(?:st|nd|rd|th))){1,4}\s+(?:street|st|avenue|ave|road|rd|lane|ln|drive|dr|boulevard|blvd|parade|pde|crescent|cres|terrace|tce|highway|hwy|parkway|pkwy|esplanade)\b\.?/gi,
  ],
  // Street words that are everyday words too ("its way more", "2 in a row", "a 10 min walk") only after a capitalized
  // street name.
  [
    "address",
    /(?<!\d)\d{1,5}(?:\s+[A-Z][a-z]+){1,3}\s+(?:Way|Close|Place|Pl|Court|Ct|Square|Sq|Circle|Grove|Row|Walk|Mews|Quay|Gardens|Green|Hill|Rise|Heights|View)\b\.?/g,
  ],
  // Street words written before the name (French, Spanish, Portuguese, Malay): "14 Rue Victor Hugo", "12 Jalan Ampang".
  [
    "address",
    /(?<!\d)\d{1,5},?\s+(?:[Rr]ue|[Jj]alan|[Jj]ln|[Cc]alle|[Aa]venida|[Rr]ua)(?:\s+(?:de|des|du|la|le|del|da|do|dos))*\s+[A-Z][A-Za-z'-]+(?:\s+[A-Z][A-Za-z'-]+){0,3}/g,
  ],
  // Anything else with 7 digits or more (order numbers, bank cards, numbers written with spaces).
  ["number", /(?<!\d)\d(?:[\s-]?\d){6,}(?!\d)/g],
  // The same written in words, as viewers dodge digit filters: "一五八零零一二三四五六", "幺三八 零零", "nine one two
  // three four five six" (7 or more digit words in a row, a digit or two among them).
  ["number", /[零〇一二三四五六七八九幺两洞拐勾0-9](?:[\s-]?[零〇一二三四五六七八九幺两洞拐勾0-9]){6,}/g],
  [
    "number",
    /\b(?:zero|oh|one|two|three|four|five|six|seven|eight|nine|\d)(?:[\s,-]+(?:zero|oh|one|two|three|four|five|six|seven|eight|nine|\d)\b){6,}/gi,
  ],
];

/**
 * Digits written in other forms (full-width "１３８", mathematical "𝟏𝟑𝟖") as ASCII digits, so that the patterns see
 * them: a phone number typed on a full-width keyboard is still a phone number. Other characters stay as written.
 */
const asciiDigits = (text: string) =>
  text.replace(/\p{Nd}/gu, (digit) => {
    const ascii = digit.normalize("NFKC");
    return /^[0-9]$/.test(ascii) ? ascii : digit;
  });

/** The text with personal data replaced by `piiMask`, and which kinds were found. */
export function maskPersonalData(text: string): { text: string; pii: PiiKind[] } {
  const pii = new Set<PiiKind>();
  let masked = asciiDigits(text);
  for (const [kind, pattern] of piiPatterns) {
    masked = masked.replace(pattern, () => {
      pii.add(kind);
      return piiMask;
    });
  }
  return { text: masked, pii: [...pii] };
}

const topLevelDomains =
  "com|cn|net|org|top|xyz|io|cc|me|vip|shop|info|example|co|ru|app|link|club|site|online|store|live|tk";
const links = [
  new RegExp(`https?://|www\\.|[A-Za-z0-9-]+\\.(?:${topLevelDomains})\\b`, "i"),
  // Spelled out to pass filters: "spam dot com", "福利点com", "w w w".
  new RegExp(`(?:\\bdot|点)\\s*(?:${topLevelDomains})\\b|\\bw\\s+w\\s+w\\b`, "i"),
  // A domain of any ending followed by a path ("hao.ren/abc"): a link whatever its top-level domain.
  /\b[A-Za-z0-9-]{2,}\.[A-Za-z]{2,10}\/[A-Za-z0-9]/,
];
// Off-platform contact offered (exact forms only; the model reads the rest): "add me on WhatsApp", a handle after a
// messenger's name ("telegram @deals", "tg: @deals"), "加我微信", "加v", "vx同号", "飞机号". Masking has run first, so an id after them
// may already be ***.
const messengers = "whats\\s?app|telegram|tg|wechat|signal|snap(?:chat)?|insta(?:gram)?|ig|kik|viber|line(?:\\s+id)?";
const offPlatformContact = [
  new RegExp(
    `\\b(?:add|message|msg|text|dm|contact|find|follow)\\s+(?:me|us)\\s+(?:up\\s+)?on\\s+(?:${messengers})\\b`,
    "i",
  ),
  new RegExp(`\\bjoin\\s+(?:my|our)\\s+(?:${messengers}|discord)\\b`, "i"),
  new RegExp(`\\b(?:${messengers})\\s*(?:id)?\\s*[:：]?\\s*@\\s*[A-Za-z0-9_.]{3,}`, "i"),
  // Not 增加/参加/追加 ("能增加微信支付吗" asks about paying).
  /(?<![增参追更])加(?:我|俺)?\s*(?:vx|v信|wx|微信|威信|薇信|扣扣|qq|飞机|tg|v(?![a-z]))(?!支付|付款)/i,
  /(?:vx|v信|wx|微信|威信|薇信|qq|扣扣)\s*同号|飞机号|电报号/i,
  // A handle after a messenger's Chinese name ("电报 @deals", "飞机：@deals").
  /(?:电报|纸飞机|飞机|推特|油管)\s*[:：]?\s*@\s*[A-Za-z0-9_.]{3,}/,
  // A Taobao share code ("￥kK8d9Xu3￥"): a link to a listing elsewhere, in the form the app copies.
  /[￥¥$]\s*[A-Za-z0-9]{8,14}\s*[￥¥$]/,
  // Sent to search for a shop on another platform: "dy搜 小美好物", "去小红书搜我们", "快手关注…".
  /(?:\bdy|抖音|\bks|快手|小红书|\bxhs|红薯|[bB]站|拼多多|\bpdd|闲鱼|微博)\s*(?:上|里)?\s*(?:搜索?|关注|找|私信|私聊)/i,
];

/**
 * Political figures by name (LABELS.md: politics), exact: China's national leaders, past and present, and heads of
 * state in the news, in characters, pinyin and initials. A name is a name; the model reads politics by allusion.
 */
const politicalFigures = [
  /习近平|习大大|彭丽媛|赵乐际|王沪宁|蔡奇|丁薛祥|毛泽东|毛主席|邓小平|江泽民|胡锦涛|温家宝|李克强|周恩来|拜登|特朗普|川普|普京|泽连斯基|金正恩|金三胖|内塔尼亚胡|莫迪|马克龙|特鲁多|奥巴马|埃尔多安|斯塔默|白纸运动/,
  /\b(?:xi\s?jin\s?ping|xjp|mao\s?ze\s?dong|deng\s?xiao\s?ping|biden|putin|zelensk(?:y|yy|iy)|netanyahu|kim\s?jong[-\s]?un|(?:donald|president)\s+trump|trump's|maga|obama|kamala|trudeau|poilievre|starmer|sunak|farage|boris\s+johnson|bojo|macron|meloni|milei|erdogan|orb[aá]n|narendra\s+modi|modi\s+(?:ji|sarkar|govt|government|hai)|albanese|albo|tinubu|duterte|bongbong|luxon|jacinda|sleepy\s+joe|sinn\s+f[eé]in|anwar\s+ibrahim|(?:william\s+)?ruto|imran\s+khan|qaidi\s+(?:no\.?\s*)?804|#?endsars|indyref2?|reformasi|uniteam)\b/i,
];

/**
 * Insults and slurs that are one in any sentence (LABELS.md: abuse), exact: English ones with the symbols and digits
 * written for letters ("d1ckhead", "b!tch", "a$$hole"), Chinese ones with their initials and homophones ("sb主播",
 * "cnm"). Curses said in delight ("holy shit, so cheap") and words with an everyday sense ("stupid cheap", "傻瓜式操作",
 * 杂种狗 for a mixed-breed dog) are left to the model.
 */
const abusiveWords = [
  /\b(?:c[u*]nts?|tw[a@*]ts?|wh[o0*]res?|sl[u*]ts?|sk[a@]nks?|b[i!1*]tch(?:es|y)?|biatch|d[i!1*]ck ?heads?|knob ?heads?|bell ?ends?|wankers?|tossers?|[a@][s$*]{2} ?holes?|arse ?holes?|a-holes?|m[o0]th[ae]r ?f[u*]?c?k\w*|f[a@*]gg?[o0*]ts?|n[i1!*]gg(?:er|a|ah)s?|retard(?:ed|s)?|spastic|spaz|trann(?:y|ies)|dykes?|douche ?bags?|scumbags?|dipshits?|jackass(?:es)?|sh[i!1*]t ?heads?|morons?|eejits?|stfu|kys|chutiy[ae]|madarchod|b[e]?henchod|bsdk|bhosdi?ke|(?:fat|ugly|stupid|dumb) (?:pig|cow|whale|hag|slag)s?|kill (?:yo)?urself|piece of sh[i!1*]t|son of a b[i!1*]tch|f[u*]c?k (?:you|u|off)|fcuk (?:you|u|off)|fk (?:u|you|off))\b/i,
  /傻[逼比屄叉]|傻b|煞笔|沙比|傻批|憨批|(?<![a-z0-9])sb(?![a-z0-9])|操你|草泥马|肏|(?<![a-z])(?:cnm|nmsl|mlgb|nmb)(?![a-z])|你妈死|死全家|贱人|婊子|骚货|狗日的|日你[妈娘]|妈卖批|畜生|王八蛋|滚犊子|(?<![a-z0-9])2b(?=主播|玩意|东西|你|吧)|[弄砍捅揍]死你|等着挨揍/i,
];

/** Advertising-law absolute terms and their English kin; a viewer may say them, the host never does. */
export const absoluteTerms =
  /最(?!近|后|初)|第一|唯一|首个|首选|顶级|国家级|世界级|全网|史上|极品|极致|绝对|万能|永久|无敌|完美|终极|100%|\b(?:best|cheapest|lowest|number one|no\.? ?1|#1|guaranteed|perfect|ultimate|world-class|unbeatable)\b/i;
/** Medical effects no cosmetic (or anything else sold here) may claim. */
export const medicalTerms =
  /治(?:疗|愈|好|病|痘)?|疗效|药效|祛痘|消炎|杀菌|抗菌|抗敏|除螨|痊愈|处方|降(?:血)?压|降(?:血)?糖|降(?:血)?脂|高血压|糖尿病|失眠|助眠|减肥|瘦身|燃脂|祛斑|淡斑|抗癌|防癌|癌症|\b(?:cures?|heals?|treats?|treatment|medical|therapy|acne|eczema|disease|blood pressure|diabetes|insomnia|weight loss|lose weight|cancer)\b/i;
const injection = [
  /忽略|无视|忘(?:记|掉)(?:之前|以上|前面|所有)|(?:之前|以上|前面)的?(?:所有)?(?:指令|设定|规则|提示)/,
  /你现在是|你是一个|扮演|假装|开发者模式|越狱|系统提示|提示词|system\s*prompt/i,
  /把.{0,12}(?:价格|价钱|售价|原价).{0,6}(?:改成|说成|改为|设为|变成)|说成\d|说.{0,4}免费/,
  /\b(?:ignore|disregard|forget)\b.{0,30}\b(?:instructions?|prompts?|rules?|above|previous)\b/i,
  /\byou are now\b|\bact as\b|\bpretend\b|\bjailbreak\b|\breveal\b.{0,20}\b(?:prompt|instructions?)\b/i,
  /\bsay\b.{0,40}\b(?:is|are)\s+(?:free|\$?0\b)|\bchange\b.{0,20}\bprice\b/i,
];

export function moderationFlags(text: string): CommentFlag[] {
  const flags: CommentFlag[] = [];
  if (absoluteTerms.test(text)) flags.push("absolute_terms");
  if (medicalTerms.test(text)) flags.push("medical");
  if (injection.some((p) => p.test(text))) flags.push("injection");
  return flags;
}

/** Whether a masked text carries a link or a domain ("spam.example", "abc dot com"): spam, whatever else it says. */
export function linkIn(text: string): boolean {
  return links.some((p) => p.test(text));
}

/** Whether a masked text offers contact off the platform in an exact form ("add me on WhatsApp", "加v"): spam. */
export function offPlatformContactIn(text: string): boolean {
  return offPlatformContact.some((p) => p.test(text));
}

/** Whether the text holds an insult or slur that is one in any sentence (exact). */
export function abusiveWordIn(text: string): boolean {
  // Letters spaced out to slip past ("W A N K E R", "c u n t") are read joined up.
  const joined = text.replace(/\b(?:[a-z] ){3,}[a-z]\b/gi, (run) => run.replace(/ /g, ""));
  return abusiveWords.some((p) => p.test(text) || p.test(joined));
}

/** Whether the text names a political figure (exact). */
export function politicalFigureIn(text: string): boolean {
  return politicalFigures.some((p) => p.test(text));
}

/** How the understanding model reads a masked comment (brain/understanding/classifier.ts). */
export interface CommentReader {
  classify(maskedText: string): Promise<{
    intent: IntentLabel;
    intentConfidence: number;
    /** Whether the comment must not be answered, for the most likely block reason. */
    block: boolean;
    blockReason: BlockLabel;
    blockProbability: number;
  }>;
}

export type TextDecision =
  | { decision: "reject"; reason: RejectReason; message: string }
  | {
      decision: "block";
      reason: BlockLabel;
      text: string;
      pii: PiiKind[];
      by: "rule" | "model";
      blockProbability: number;
    }
  | {
      decision: "allow" | "mask";
      text: string;
      pii: PiiKind[];
      intent: IntentLabel;
      intentConfidence: number;
      blockProbability: number;
    };

/** Links and off-platform contact, insults and slurs, political figures by name (exact), then the model, on a masked text. */
async function decideMasked(text: string, pii: PiiKind[], reader: CommentReader): Promise<TextDecision> {
  if (linkIn(text) || offPlatformContactIn(text)) {
    return { decision: "block", reason: "spam", text, pii, by: "rule", blockProbability: 1 };
  }
  if (abusiveWordIn(text)) {
    return { decision: "block", reason: "abuse", text, pii, by: "rule", blockProbability: 1 };
  }
  if (politicalFigureIn(text)) {
    return { decision: "block", reason: "politics", text, pii, by: "rule", blockProbability: 1 };
  }
  const read = await reader.classify(text);
  if (read.block) {
    return {
      decision: "block",
      reason: read.blockReason,
      text,
      pii,
      by: "model",
      blockProbability: read.blockProbability,
    };
  }
  return {
    decision: pii.length > 0 ? "mask" : "allow",
    text,
    pii,
    intent: read.intent,
    intentConfidence: read.intentConfidence,
    blockProbability: read.blockProbability,
  };
}

/** What is decided about a comment's words alone (no per-viewer memory): validation, masking, links, the model. */
export async function decideText(input: string | Uint8Array, reader: CommentReader): Promise<TextDecision> {
  const valid = validateCommentText(input);
  if (!valid.ok) return { decision: "reject", reason: valid.reason, message: valid.message };
  const { text, pii } = maskPersonalData(valid.text);
  return decideMasked(text, pii, reader);
}

export interface CommentGateOptions {
  /** The understanding model (CommentClassifier.load()). */
  reader: CommentReader;
  /** Comments one viewer may send per `floodWindowMs`; more are blocked as a flood. Default 5. */
  floodLimit?: number;
  /** Default 10 s. */
  floodWindowMs?: number;
  /** The same text from the same viewer within this window is a duplicate. Default 60 s. */
  duplicateWindowMs?: number;
  /** Viewers remembered per room (least recently seen forgotten first). Default 10,000. */
  maxViewers?: number;
}

interface ViewerRecord {
  sent: number[];
  recent: { key: string; at: number }[];
}

/** Case, spacing and punctuation do not make a comment new. */
const duplicateKey = (text: string) => text.toLowerCase().replace(/[\s\p{P}\p{S}]+/gu, "");

/** One room's comment gate: validation, masking and moderation, with bounded per-viewer memory. */
export class CommentGate {
  readonly #floodLimit: number;
  readonly #floodWindowMs: number;
  readonly #duplicateWindowMs: number;
  readonly #maxViewers: number;
  readonly #viewers = new Map<string, ViewerRecord>();

  readonly #reader: CommentReader;

  constructor(options: CommentGateOptions) {
    this.#reader = options.reader;
    this.#floodLimit = options.floodLimit ?? 5;
    this.#floodWindowMs = options.floodWindowMs ?? 10_000;
    this.#duplicateWindowMs = options.duplicateWindowMs ?? 60_000;
    this.#maxViewers = options.maxViewers ?? 10_000;
  }

  /** Viewers currently remembered (bounded by maxViewers). */
  get viewersTracked(): number {
    return this.#viewers.size;
  }

  async check(viewerId: string, input: string | Uint8Array, nowMs: number): Promise<CommentVerdict> {
    const valid = validateCommentText(input);
    if (!valid.ok) return { decision: "reject", reason: valid.reason, field: "text", message: valid.message };
    const { text, pii } = maskPersonalData(valid.text);
    const repeat = this.#remember(viewerId, duplicateKey(text), nowMs);
    if (repeat) return { decision: "block", reason: repeat, text, pii, message: `blocked: ${repeat}` };
    const decided = await decideMasked(text, pii, this.#reader);
    if (decided.decision === "reject") throw new Error("unreachable: the text was validated");
    if (decided.decision === "block") {
      return { decision: "block", reason: decided.reason, text, pii, message: `blocked: ${decided.reason}` };
    }
    const { blockProbability: _, ...allowed } = decided;
    return { ...allowed, flags: moderationFlags(text) };
  }

  #remember(viewerId: string, key: string, now: number): "flood" | "duplicate" | undefined {
    const record = this.#viewers.get(viewerId) ?? { sent: [], recent: [] };
    // Re-inserting keeps the map in least-recently-seen order, so the first key is the one to forget.
    this.#viewers.delete(viewerId);
    this.#viewers.set(viewerId, record);
    if (this.#viewers.size > this.#maxViewers) this.#viewers.delete(this.#viewers.keys().next().value!);

    record.sent = record.sent.filter((t) => now - t < this.#floodWindowMs);
    record.recent = record.recent.filter((r) => now - r.at < this.#duplicateWindowMs);
    const flooding = record.sent.length >= this.#floodLimit;
    const duplicate = record.recent.some((r) => r.key === key);
    record.sent.push(now);
    if (record.sent.length > this.#floodLimit) record.sent.shift();
    if (!duplicate) record.recent.push({ key, at: now });
    if (record.recent.length > 8) record.recent.shift();
    if (flooding) return "flood";
    return duplicate ? "duplicate" : undefined;
  }
}
