// The first three steps every viewer comment goes through, in this order: validation (empty, too long, control
// characters, invalid UTF-8), personal data masked (so nothing after this sees a phone number or an address),
// then moderation (spam and links, abuse, floods and duplicates per viewer). Comments that may still be answered
// carry flags for what the answer must be careful about (superlative bait, medical claims, injection attempts).

/** Danmaku platforms cap comments far lower; 200 code points is the hard limit (as in actors' validation). */
export const maxCommentLength = 200;

export type RejectReason = "empty" | "too_long" | "control_characters" | "invalid_utf8";
export type BlockReason = "spam" | "abuse" | "flood" | "duplicate";
export type PiiKind = "phone" | "id_number" | "email" | "wechat" | "qq" | "address" | "number";
/** Allowed, but the answer must mind them. */
export type CommentFlag = "absolute_terms" | "medical" | "injection";

export type CommentVerdict =
  | { decision: "reject"; reason: RejectReason; field: "text"; message: string }
  | { decision: "block"; reason: BlockReason; text: string; pii: PiiKind[]; message: string }
  | { decision: "allow" | "mask"; text: string; pii: PiiKind[]; flags: CommentFlag[] };

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
    /(?<=(?:微信|威信|薇信|v信|V信|vx|VX|Vx|wx|WX|weixin|wechat|WeChat)\s*(?:号|id|ID)?\s*[:：]?\s*)[A-Za-z][-_A-Za-z0-9]{5,19}/g,
  ],
  ["qq", /(?<=(?:qq|QQ|扣扣)\s*号?\s*[:：]?\s*)\d{5,11}/g],
  [
    "address",
    /[\u4e00-\u9fa5]{0,8}(?:省|市|区|县|州)[\u4e00-\u9fa5A-Za-z0-9]{0,16}(?:路|街|大道|巷|弄|村|小区|花园|大厦)[\u4e00-\u9fa5A-Za-z0-9-]{0,16}(?:号|栋|幢|室|楼|单元)?/g,
  ],
  [
    "address",
    /(?<!\d)\d{1,5}(?:\s+[A-Za-z]+){1,4}\s+(?:street|st|avenue|ave|road|rd|lane|ln|drive|dr|boulevard|blvd|way)\b\.?/gi,
  ],
  // Anything else with 7 digits or more (order numbers, bank cards, numbers written with spaces).
  ["number", /(?<!\d)\d(?:[\s-]?\d){6,}(?!\d)/g],
];

/** The text with personal data replaced by `piiMask`, and which kinds were found. */
export function maskPersonalData(text: string): { text: string; pii: PiiKind[] } {
  const pii = new Set<PiiKind>();
  let masked = text;
  for (const [kind, pattern] of piiPatterns) {
    masked = masked.replace(pattern, () => {
      pii.add(kind);
      return piiMask;
    });
  }
  return { text: masked, pii: [...pii] };
}

const links = [
  /https?:\/\/|www\.|[A-Za-z0-9-]+\.(?:com|cn|net|org|top|xyz|io|cc|me|vip|shop|info|example)\b/i,
  /\b[A-Za-z0-9-]+\s*(?:dot|点)\s*(?:com|cn|net|org|top|xyz|io|cc|me|vip|shop|info|example)\b/i,
];
const spam =
  /加(?:我|个)?(?:微|v|V|薇|威|qq|QQ|扣)|私(?:聊|信)我|代购|刷单|兼职|日赚|返利|免费领|领红包|出售|买粉|涨粉|\b(?:buy|cheap)\s+(?:\w+\s+)?(?:followers|likes|views|subs)\b|\bfollowers\s+cheap\b|\bdm me\b|whatsapp|telegram|click here|make money|earn \$/i;
const abuse =
  /傻[Xx×逼bB比]|沙比|煞笔|(?<![A-Za-z])SB(?![A-Za-z])|智障|脑残|垃圾主播|给我滚|滚(?:开|蛋|吧)|去死|草泥马|操你|尼玛|你妈的|\b(?:fuck\w*|shit|bitch|idiot|stupid|moron|retard\w*|asshole|dumbass|shut up)\b/i;
/** Advertising-law absolute terms and their English kin; a viewer may say them, the host never does. */
export const absoluteTerms =
  /最(?!近|后|初)|第一|唯一|首个|首选|顶级|国家级|世界级|全网|史上|极品|极致|绝对|万能|永久|无敌|完美|终极|100%|\b(?:best|cheapest|lowest|number one|no\.? ?1|#1|guaranteed|perfect|ultimate|world-class|unbeatable)\b/i;
/** Medical effects no cosmetic (or anything else sold here) may claim. */
export const medicalTerms =
  /治(?:疗|愈|好|病|痘)?|疗效|药效|祛痘|消炎|杀菌|抗菌|抗敏|除螨|痊愈|处方|\b(?:cures?|heals?|treats?|treatment|medical|therapy|acne|eczema|disease)\b/i;
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

/** Spam, links or abuse in an already masked text; undefined when none. */
export function contentViolation(text: string): "spam" | "abuse" | undefined {
  if (links.some((p) => p.test(text)) || spam.test(text)) return "spam";
  if (abuse.test(text)) return "abuse";
  return undefined;
}

export interface CommentGateOptions {
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

  constructor(options: CommentGateOptions = {}) {
    this.#floodLimit = options.floodLimit ?? 5;
    this.#floodWindowMs = options.floodWindowMs ?? 10_000;
    this.#duplicateWindowMs = options.duplicateWindowMs ?? 60_000;
    this.#maxViewers = options.maxViewers ?? 10_000;
  }

  /** Viewers currently remembered (bounded by maxViewers). */
  get viewersTracked(): number {
    return this.#viewers.size;
  }

  check(viewerId: string, input: string | Uint8Array, nowMs: number): CommentVerdict {
    const valid = validateCommentText(input);
    if (!valid.ok) return { decision: "reject", reason: valid.reason, field: "text", message: valid.message };
    const { text, pii } = maskPersonalData(valid.text);
    const repeat = this.#remember(viewerId, duplicateKey(text), nowMs);
    if (repeat) return { decision: "block", reason: repeat, text, pii, message: `blocked: ${repeat}` };
    const violation = contentViolation(text);
    if (violation) return { decision: "block", reason: violation, text, pii, message: `blocked: ${violation}` };
    return { decision: pii.length > 0 ? "mask" : "allow", text, pii, flags: moderationFlags(text) };
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
