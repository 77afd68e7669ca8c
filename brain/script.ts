// The show written ahead for a room (RoomSpec.script): by an LLM from the catalog and persona, one structured call per
// variation, every line through the guard; by the embedded brain when there is no LLM or it fails. checkScript is
// the one check of a script, whoever wrote it (the writer, a merchant's edit, a room's spec).
import { rootLogger, type Logger } from "../observability/index.js";
import { ShowScript, type Catalog, type Persona, type ScriptLine } from "../proto/index.js";
import { InvalidArgumentError } from "../errors/index.js";
import { LlmError, type LlmFailure } from "./errors.js";
import { AnswerGuard, type GuardViolation } from "./guard.js";
import { compileLlmOptions, streamChat, type LlmConfig, type LlmOptions } from "./llm.js";
import { absoluteTerms, medicalTerms } from "./moderation.js";
import { promptRules, replyFormat, scriptFormat, scriptMessages, scriptRules } from "./prompt.js";
import { sentenceSpans } from "./sentences.js";
import { productlessKinds, ShowPlan, showLineKinds, type ShowLineKind } from "./show.js";

/** The limits room.proto writes for a ShowScript. */
export const scriptLimits = { variations: 8, lines: 400, textCharacters: 600 } as const;

export const scriptAuthors = ["llm", "embedded", "merchant"] as const;
export type ScriptAuthor = (typeof scriptAuthors)[number];

/**
 * Something else went into the script than was asked for: the whole script by the embedded brain (`scope: "script"`;
 * the script's fallbackReason says the same), fewer variations (`scope: "variations"`), or one line (`scope: "line"`:
 * the LLM's line was refused and the embedded brain's line for the same slot is said instead, or the line left out
 * where the embedded show has none).
 */
export type ScriptFallback =
  | { scope: "script"; reason: LlmFailure; message: string }
  /** Fewer variations than asked: more would not fit in maxScriptBytes. */
  | { scope: "variations"; asked: number; written: number; message: string }
  | {
      scope: "line";
      /** The variation and the LLM's line (0-based). */
      variation: number;
      line: number;
      /** The guard's rule, or "text": empty, too long or with control characters. */
      reason: GuardViolation | "text";
      message: string;
    };

export interface WriteScriptOptions {
  catalog: Catalog;
  /** The host; default the default host a room without a persona has (小雅 or Ava, by the catalog's language). */
  persona?: Persona;
  /**
   * An OpenAI-compatible LLM; without one the embedded brain writes the script. Timeouts and max tokens that are not
   * set take a written show's defaults, not an answer's: first token 30 s, stall 15 s, each variation 180 s, 4096
   * tokens.
   */
  llm?: LlmOptions;
  /** Variations of the whole show, 1 to 8 (a 24/7 room speaks one per loop). Default 1. */
  variations?: number;
  /** Seeds the embedded brain's wording. Default 0. */
  seed?: number;
  /**
   * The loop of the show the first variation is spoken in: a room writing ahead passes its next loop, so that the
   * embedded brain's wording and the LLM's angles go on from the variations before instead of repeating them.
   * Default 0.
   */
  firstLoop?: number;
  /**
   * The script these variations follow (a room writing ahead: the one it speaks): the embedded brain words a slot
   * otherwise where its templates have another wording.
   */
  after?: ShowScript;
  /** The script's version (a room writing ahead: the one after its current script's). Default 1. */
  version?: number;
  /** ShowScript.rewrite_ahead of the script written: a 24/7 room writes the next variations as it speaks these. */
  rewriteAhead?: boolean;
  /** Cancels the writing (the job was cancelled): throws the signal's reason, nothing is written. */
  signal?: AbortSignal;
  /** Told each time something else than the LLM's words went into the script (the job's FALLBACK event). */
  onFallback?: (fallback: ScriptFallback) => void;
  logger?: Logger;
  /** The script's update_time; tests pass their own clock. */
  now?: () => Date;
}

/**
 * The most a written script takes encoded (protobuf or JSON, the larger): a room's spec is at most 512 KiB, and its
 * catalog, persona and the rest need the remainder.
 */
export const maxScriptBytes = 384 * 1024;

/** How many of the leading variations fit in maxScriptBytes (at least one). */
function fitting(variations: ScriptLine[][]): number {
  const bytes = (n: number) => {
    const script = ShowScript.fromPartial({
      author: "embedded",
      variations: variations.slice(0, n).map((lines) => ({ lines })),
    });
    return Math.max(
      ShowScript.encode(script).finish().length,
      Buffer.byteLength(JSON.stringify(ShowScript.toJSON(script))),
    );
  };
  let n = variations.length;
  while (n > 1 && bytes(n) > maxScriptBytes) n--;
  return n;
}

/** The share of a variation's lines the guard may refuse before the LLM is judged not to keep the rules. */
const maxRefusedShare = 0.25;

/** An answer's defaults are for a few sentences said at once; a show is written ahead, and is long. */
function scriptLlmOptions(llm: LlmOptions): LlmOptions {
  return {
    ...llm,
    firstTokenTimeoutMs: llm.firstTokenTimeoutMs ?? 30_000,
    stallTimeoutMs: llm.stallTimeoutMs ?? 15_000,
    totalTimeoutMs: llm.totalTimeoutMs ?? 180_000,
    maxTokens: llm.maxTokens ?? 4096,
  };
}

/**
 * Writes a room's show (version 1 unless told). With an LLM: one call per variation, one after the other, each a JSON object of
 * lines (kind, product_id, text) written to the embedded show's outline; a line the guard refuses (or that is empty
 * or too long) is replaced by the embedded brain's line for the same slot. An LLM that is down, slow, refuses, sends
 * something that is not the JSON asked for, or has more than a quarter of a variation's lines refused: the embedded
 * brain writes the whole script, with fallbackReason naming the cause. The embedded brain's script is the templates'
 * show (ShowPlan) for loops 0 … variations-1, so its variations differ in wording.
 *
 * InvalidArgumentError: `variations` out of range, bad `llm` options (naming the field), a catalog or persona whose
 * own words the guard refuses (naming the field, e.g. catalog.products[2].selling_points[0]), or a catalog whose
 * show is longer than a script may be.
 */
export async function writeScript(options: WriteScriptOptions): Promise<ShowScript> {
  const { catalog, signal, onFallback } = options;
  const persona = options.persona ?? defaultHost(catalog);
  const asked = options.variations ?? 1;
  if (!Number.isInteger(asked) || asked < 1 || asked > scriptLimits.variations) {
    throw new InvalidArgumentError("variations", `must be 1 to ${scriptLimits.variations} (got ${asked})`);
  }
  const llm = options.llm ? compileLlmOptions(scriptLlmOptions(options.llm)) : undefined;
  checkCatalogWording(catalog, persona);
  const plan = new ShowPlan(catalog, persona, { seed: options.seed ?? 0 });
  if (plan.linesPerLoop > scriptLimits.lines) {
    throw new InvalidArgumentError(
      "catalog.products",
      `the show of ${catalog.products.length} products takes ${plan.linesPerLoop} lines, more than the ` +
        `${scriptLimits.lines} a script's variation holds: write it for fewer products`,
    );
  }
  const log = options.logger ?? rootLogger().child({ component: "brain" });
  const firstLoop = options.firstLoop ?? 0;
  const avoid = new Set(options.after?.variations.flatMap((v) => v.lines.map((l) => l.text)));
  let embedded = Array.from({ length: asked }, (_, v) => embeddedLines(plan, firstLoop + v, asked, avoid));
  // As many variations as a room's spec has room for, the embedded show's size standing for the LLM's.
  const fewer = (variations: ScriptLine[][]) => {
    const fit = fitting(variations);
    if (fit === variations.length) return variations;
    const message = `${fit} of the ${asked} variations asked for: more would take over ${maxScriptBytes / 1024} KiB`;
    log.warn({ asked, written: fit }, "fewer script variations than asked: the script would be too large");
    onFallback?.({ scope: "variations", asked, written: fit, message });
    return variations.slice(0, fit);
  };
  embedded = fewer(embedded);
  const count = embedded.length;
  const script = (author: ScriptAuthor, variations: ScriptLine[][], fallbackReason = ""): ShowScript => ({
    version: options.version ?? 1,
    author,
    variations: variations.map((lines) => ({ lines })),
    updateTime: (options.now ?? (() => new Date()))(),
    fallbackReason,
    rewriteAhead: options.rewriteAhead ?? false,
  });

  if (llm) {
    const guard = scriptGuard(catalog, persona);
    const written: ScriptLine[][] = [];
    const replaced: ScriptFallback[] = [];
    try {
      for (let v = 0; v < count; v++) {
        signal?.throwIfAborted();
        const raw = await askVariation(
          llm,
          catalog,
          persona,
          plan,
          { variation: v, of: count, loop: firstLoop + v },
          signal,
        );
        written.push(guarded(raw, embedded[v]!, guard, v, replaced));
      }
      const result = script("llm", fewer(written));
      try {
        checkScript(result, catalog, { persona });
      } catch (err) {
        throw new LlmError("protocol", `the script written is not valid: ${(err as Error).message}`, { cause: err });
      }
      // Told once the LLM's script is kept: lines replaced in a script thrown away were never in it.
      if (replaced.length > 0) {
        log.info({ lines: replaced.length }, "lines of the LLM's script replaced by the embedded brain's");
        for (const fallback of replaced) onFallback?.(fallback);
      }
      return result;
    } catch (err) {
      if (signal?.aborted) throw signal.reason;
      const failure =
        err instanceof LlmError
          ? err
          : new LlmError("network", `the LLM call failed: ${(err as Error).message}`, { cause: err });
      const message = failure.message;
      log.warn({ err: failure, reason: failure.reason }, "the embedded brain writes the script: the LLM failed");
      onFallback?.({ scope: "script", reason: failure.reason, message });
      const fallback = script("embedded", embedded, `${failure.reason}: ${message}`);
      checkScript(fallback, catalog, { persona });
      return fallback;
    }
  }
  const result = script("embedded", embedded);
  checkScript(result, catalog, { persona });
  return result;
}

export interface CheckScriptOptions {
  /** The room's persona (its name and catchphrases may be quoted; its rules never repeated). Default: none. */
  persona?: Persona;
  /** Put before the fields an error names: "spec." names spec.script.variations[0]…, spec.catalog… Default "". */
  prefix?: string;
}

/**
 * Throws InvalidArgumentError naming the first bad field (e.g. script.variations[0].lines[3].text) for a script
 * with no or too many variations, a variation with no or too many lines, a line of an unknown kind, a product id
 * not in the catalog (or one on a line about no product), an empty or too long text, or a text the guard refuses
 * (catalog facts only, no advertising-law terms, no medical claims; the message says which rule and the words). A
 * catalog or persona whose own words the guard refuses is named too (as writeScript refuses it).
 */
export function checkScript(script: ShowScript, catalog: Catalog, options: CheckScriptOptions = {}): void {
  const prefix = options.prefix ?? "";
  const persona = options.persona ?? defaultHost(catalog);
  const field = `${prefix}script`;
  if (script.author !== "" && !(scriptAuthors as readonly string[]).includes(script.author)) {
    throw new InvalidArgumentError(`${field}.author`, `must be ${scriptAuthors.join(", ")} or empty`);
  }
  const { variations } = script;
  if (variations.length < 1 || variations.length > scriptLimits.variations) {
    throw new InvalidArgumentError(
      `${field}.variations`,
      `must hold 1 to ${scriptLimits.variations} variations (got ${variations.length})`,
    );
  }
  checkCatalogWording(catalog, options.persona, prefix);
  const guard = scriptGuard(catalog, persona);
  const products = new Set(catalog.products.map((p) => p.id));
  variations.forEach((variation, v) => {
    const at = `${field}.variations[${v}].lines`;
    if (variation.lines.length < 1 || variation.lines.length > scriptLimits.lines) {
      throw new InvalidArgumentError(at, `must hold 1 to ${scriptLimits.lines} lines (got ${variation.lines.length})`);
    }
    variation.lines.forEach((line, i) => checkLine(line, `${at}[${i}]`, products, guard));
  });
}

function checkLine(line: ScriptLine, at: string, products: Set<string>, guard: AnswerGuard): void {
  if (!(showLineKinds as readonly string[]).includes(line.kind)) {
    throw new InvalidArgumentError(`${at}.kind`, `${quoted(line.kind)} is not one of ${showLineKinds.join(", ")}`);
  }
  const kind = line.kind as ShowLineKind;
  if (productlessKinds.includes(kind)) {
    if (line.productId !== "") {
      throw new InvalidArgumentError(`${at}.product_id`, `must be empty on a ${kind} line (no product is on screen)`);
    }
  } else if (line.productId === "") {
    throw new InvalidArgumentError(`${at}.product_id`, `is required on a ${kind} line: the product on screen`);
  } else if (!products.has(line.productId)) {
    throw new InvalidArgumentError(`${at}.product_id`, `${quoted(line.productId)} is not a product of the catalog`);
  }
  const problem = textProblem(line.text, guard);
  if (problem) throw new InvalidArgumentError(`${at}.text`, problem.message);
}

/** Why a line's text may not be said, or undefined. */
function textProblem(
  text: string,
  guard: AnswerGuard,
): { reason: GuardViolation | "text"; message: string } | undefined {
  const characters = [...text].length;
  if (text.trim() === "") return { reason: "text", message: "is required (1 to 600 characters)" };
  if (characters > scriptLimits.textCharacters) {
    return {
      reason: "text",
      message: `must be at most ${scriptLimits.textCharacters} characters (got ${characters})`,
    };
  }
  if (controlCharacter.test(text)) return { reason: "text", message: "must not contain control characters" };
  for (const [start, end] of sentenceSpans(text)) {
    const verdict = guard.check(text.slice(start, end));
    if (!verdict.ok) {
      return {
        reason: verdict.violation,
        message: `the guard refuses it: ${violationText[verdict.violation]} (${quoted(verdict.detail)})`,
      };
    }
  }
  return undefined;
}

const violationText: Record<GuardViolation, string> = {
  ungrounded_number: "a number or amount the catalog does not have",
  absolute_terms: "an advertising-law absolute term",
  medical_claim: "a medical claim",
  ungrounded_promise: "a promise the listing does not make",
  prompt_disclosure: "the instructions the host was given",
};

const controlCharacter = /(?![\t\n])\p{Cc}/u;

/**
 * The guard trusts words quoted from the catalog and the persona as facts; a script is said on air as written, so
 * those words themselves must keep the rules: no medical claim or advertising-law absolute term in a title, a
 * selling point, a coupon's title or a catchphrase. Specs, shipping and after-sales terms are facts read as they
 * stand ("100% cotton").
 */
export function checkCatalogWording(catalog: Catalog, persona: Persona | undefined, prefix = ""): void {
  const check = (text: string, field: string) => {
    for (const [pattern, what] of [
      [medicalTerms, "a medical claim"],
      [absoluteTerms, "an advertising-law absolute term"],
    ] as const) {
      const found = pattern.exec(text);
      if (found) {
        throw new InvalidArgumentError(
          `${prefix}${field}`,
          `the guard refuses ${what} (${quoted(found[0])}) in what the host says from it`,
        );
      }
    }
  };
  check(catalog.title, "catalog.title");
  catalog.products.forEach((product, i) => {
    const at = `catalog.products[${i}]`;
    check(product.title, `${at}.title`);
    product.sellingPoints.forEach((point, j) => check(point, `${at}.selling_points[${j}]`));
    product.coupons.forEach((coupon, j) => check(coupon.title, `${at}.coupons[${j}].title`));
  });
  if (persona) {
    check(persona.name, "persona.name");
    persona.catchphrases.forEach((phrase, j) => check(phrase, `persona.catchphrases[${j}]`));
  }
}

function scriptGuard(catalog: Catalog, persona: Persona): AnswerGuard {
  return new AnswerGuard(catalog, persona, [...scriptRules, ...scriptFormat, ...promptRules, ...replyFormat]);
}

/** The host of a room whose spec has no persona (as rooms/ gives it). */
function defaultHost(catalog: Catalog): Persona {
  const zh = catalog.language.toLowerCase().startsWith("zh");
  return {
    id: "default",
    name: zh ? "小雅" : "Ava",
    language: catalog.language,
    style: "",
    catchphrases: [],
    rules: [],
  };
}

/**
 * The embedded brain's lines for one variation: the templates' show at loop `loop`. A line longer than a script's
 * line may be (an opening that lists a long lineup) takes the slot's wording of a later loop that fits (one a
 * `stride` of loops on, so variations still differ), or else is cut after its last list item that fits.
 */
function embeddedLines(plan: ShowPlan, loop: number, stride: number, avoid: ReadonlySet<string>): ScriptLine[] {
  const fits = (text: string) => [...text].length <= scriptLimits.textCharacters;
  return Array.from({ length: plan.linesIn(loop) }, (_, line) => {
    const at = (l: number) => plan.at({ loop: l, line, sentence: 0, plan: plan.fingerprint });
    const said = at(loop);
    // The templates' wording of later loops for this slot, when this one is too long or was said before.
    const tries = Array.from({ length: 8 }, (_, t) => at(loop + (t + 1) * stride).text);
    const text =
      [said.text, ...tries].find((t) => fits(t) && !avoid.has(t)) ??
      [said.text, ...tries].find(fits) ??
      cutToFit(said.text, plan.language === "zh" ? "等。" : " and more.");
    const productId = productlessKinds.includes(said.kind) ? "" : (said.productId ?? "");
    return { kind: said.kind, productId, text };
  });
}

/** A text cut after its last list separator within the limit, with `ending` after it. */
function cutToFit(text: string, ending: string): string {
  const room = [...text].slice(0, scriptLimits.textCharacters - ending.length).join("");
  const cut = Math.max(room.lastIndexOf("、"), room.lastIndexOf("，"), room.lastIndexOf(", "));
  return `${room.slice(0, cut > 0 ? cut : room.length)}${ending}`;
}

/** One line as the LLM wrote it, its kind and product understood. */
interface RawLine {
  kind: ShowLineKind;
  productId: string;
  text: string;
}

async function askVariation(
  llm: LlmConfig,
  catalog: Catalog,
  persona: Persona,
  plan: ShowPlan,
  which: { variation: number; of: number; loop: number },
  signal: AbortSignal | undefined,
): Promise<RawLine[]> {
  const messages = scriptMessages(catalog, persona, plan.outline(), which.variation, which.of, which.loop);
  let reply = "";
  for await (const piece of streamChat(llm, messages, signal, { json: true })) reply += piece;
  return readLines(reply, catalog);
}

/**
 * The lines of the LLM's reply: {"lines": [{"kind", "product_id", "text"}, …]} (a bare array, or the object in
 * markdown fences, is taken too). A reply that is not that, a kind that is not a show line's, a product that is not
 * the catalog's (by id or link number) is an LlmError "protocol"; no lines at all is a "refusal".
 */
function readLines(reply: string, catalog: Catalog): RawLine[] {
  const unfenced = reply.trim().replace(/^```(?:json)?\s*([\s\S]*?)\s*```$/i, "$1");
  let json: unknown;
  try {
    json = JSON.parse(unfenced);
  } catch (err) {
    throw new LlmError("protocol", `the reply is not the JSON object asked for: ${(err as Error).message}`, {
      cause: err,
    });
  }
  const lines = Array.isArray(json) ? json : (json as { lines?: unknown } | null)?.lines;
  if (!Array.isArray(lines)) throw new LlmError("protocol", 'the reply has no "lines" array');
  if (lines.length === 0) throw new LlmError("refusal", "the model wrote no lines");
  if (lines.length > scriptLimits.lines) {
    throw new LlmError("protocol", `the reply has ${lines.length} lines, more than ${scriptLimits.lines}`);
  }
  return lines.map((raw: unknown, i): RawLine => {
    const line = (raw ?? {}) as { kind?: unknown; product_id?: unknown; productId?: unknown; text?: unknown };
    const at = `line ${i + 1}`;
    if (!(showLineKinds as readonly unknown[]).includes(line.kind)) {
      throw new LlmError(
        "protocol",
        `${at}'s kind ${JSON.stringify(line.kind)} is not one of ${showLineKinds.join(", ")}`,
      );
    }
    const kind = line.kind as ShowLineKind;
    if (typeof line.text !== "string") throw new LlmError("protocol", `${at} has no text`);
    if (productlessKinds.includes(kind)) return { kind, productId: "", text: line.text.trim() };
    const id = line.product_id ?? line.productId;
    const product =
      catalog.products.find((p) => p.id === id) ??
      (/^\d+$/.test(String(id)) ? catalog.products[Number(id) - 1] : undefined);
    if (!product) {
      throw new LlmError("protocol", `${at}'s product_id ${JSON.stringify(id)} is not a product of the catalog`);
    }
    return { kind, productId: product.id, text: line.text.trim() };
  });
}

/**
 * The LLM's lines with each one the guard refuses (or empty, or too long) replaced by the embedded brain's line for
 * the same slot: the embedded show's line of that kind about that product, the n-th such line for the LLM's n-th.
 * Each replacement is added to `replaced`. More than a quarter refused: an LlmError "guard" (the embedded brain
 * writes the whole script).
 */
function guarded(
  lines: RawLine[],
  embedded: ScriptLine[],
  guard: AnswerGuard,
  variation: number,
  replaced: ScriptFallback[],
): ScriptLine[] {
  const slots = new Map<string, number[]>();
  embedded.forEach((line, i) => {
    const key = `${line.kind}|${line.productId}`;
    slots.set(key, [...(slots.get(key) ?? []), i]);
  });
  const seen = new Map<string, number>();
  const out: ScriptLine[] = [];
  const refused: string[] = [];
  lines.forEach((line, i) => {
    const key = `${line.kind}|${line.productId}`;
    const nth = seen.get(key) ?? 0;
    seen.set(key, nth + 1);
    const problem = textProblem(line.text, guard);
    if (!problem) {
      out.push(line);
      return;
    }
    refused.push(`line ${i + 1}: ${problem.message}`);
    const candidates = slots.get(key);
    const replacement = candidates ? embedded[candidates[nth % candidates.length]!] : undefined;
    if (replacement) out.push(replacement);
    replaced.push({
      scope: "line",
      variation,
      line: i,
      reason: problem.reason,
      message: `${problem.message}; ${replacement ? "the embedded brain's line is said instead" : "left out"}`,
    });
  });
  if (refused.length > lines.length * maxRefusedShare) {
    throw new LlmError(
      "guard",
      `the guard refused ${refused.length} of ${lines.length} lines of variation ${variation + 1} (${refused[0]})`,
    );
  }
  return out;
}

function quoted(value: string): string {
  const head = [...value].slice(0, 40).join("");
  return JSON.stringify(head.length < value.length ? `${head}…` : value);
}
