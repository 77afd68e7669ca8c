// Scores of the whole decision (exact rules, then the model) on labelled comments, per room language: what the
// train command writes beside the model and what `npm run bench -- brain` recomputes.
import { readFile } from "node:fs/promises";
import { InvalidArgumentError } from "../../errors/index.js";
import { decideText, moderationFlags, type CommentReader } from "../moderation.js";
import type { ShowLanguage } from "../text.js";
import { blockLabels, intentLabels, type LabelledComment } from "./corpus.js";

export interface Scores {
  comments: number;
  /** Allowed comments (allow or mask) whose intent is right; a wrongly blocked one counts as wrong. */
  intent_accuracy: number;
  /** allow, mask, or the right block reason. */
  moderation_accuracy: number;
  /** Comments that must never be spoken, blocked (for any reason). */
  block_recall: number;
  /** Allowed comments blocked. */
  false_block_rate: number;
}

export interface Miss {
  text: string;
  lang: ShowLanguage;
  expected: string;
  got: string;
}

const round = (x: number) => Math.round(x * 10_000) / 10_000;
const moderationValues = new Set(["allow", "mask", ...blockLabels]);

/** Reads a labelled JSONL file (LABELS.md), checking every row. */
export async function readLabelled(path: string): Promise<LabelledComment[]> {
  const lines = (await readFile(path, "utf8")).split("\n").filter((l) => l.trim() !== "");
  return lines.map((line, i) => {
    const field = `${path}:${i + 1}`;
    const row = JSON.parse(line) as Partial<LabelledComment>;
    if (typeof row.text !== "string") throw new InvalidArgumentError(`${field}.text`, "must be a string");
    if (row.lang !== "zh" && row.lang !== "en") throw new InvalidArgumentError(`${field}.lang`, "must be zh or en");
    if (!moderationValues.has(row.moderation as string)) {
      throw new InvalidArgumentError(`${field}.moderation`, `must be one of ${[...moderationValues].join(", ")}`);
    }
    const blocked = row.moderation !== "allow" && row.moderation !== "mask";
    if (blocked ? row.intent != null : !intentLabels.includes(row.intent!)) {
      throw new InvalidArgumentError(`${field}.intent`, blocked ? "must be null for a blocked comment" : "unknown");
    }
    return { text: row.text, lang: row.lang, intent: row.intent ?? null, moderation: row.moderation! };
  });
}

/** The intent the room acts on: an injection attempt the rules see is one, whatever the model says. */
export function actedIntent(text: string, modelIntent: string): string {
  return moderationFlags(text).includes("injection") ? "injection" : modelIntent;
}

/** Scores per language, and the comments decided wrongly. */
export async function score(
  rows: readonly LabelledComment[],
  reader: CommentReader,
): Promise<{ scores: Partial<Record<ShowLanguage, Scores>>; misses: Miss[] }> {
  const tally = new Map<
    ShowLanguage,
    {
      n: number;
      intentN: number;
      intentOk: number;
      modOk: number;
      mustBlock: number;
      blocked: number;
      allowed: number;
      falseBlocks: number;
    }
  >();
  const misses: Miss[] = [];
  for (const row of rows) {
    const t = tally.get(row.lang) ?? {
      n: 0,
      intentN: 0,
      intentOk: 0,
      modOk: 0,
      mustBlock: 0,
      blocked: 0,
      allowed: 0,
      falseBlocks: 0,
    };
    tally.set(row.lang, t);
    const decided = await decideText(row.text, reader);
    const got =
      decided.decision === "block" ? decided.reason : decided.decision === "reject" ? "reject" : decided.decision;
    const intent =
      decided.decision === "allow" || decided.decision === "mask" ? actedIntent(decided.text, decided.intent) : got;
    t.n++;
    const mustBlock = row.moderation !== "allow" && row.moderation !== "mask";
    if (got === row.moderation) t.modOk++;
    else misses.push({ text: row.text, lang: row.lang, expected: row.moderation, got });
    if (mustBlock) {
      t.mustBlock++;
      if (decided.decision === "block") t.blocked++;
    } else {
      t.allowed++;
      if (decided.decision === "block") t.falseBlocks++;
      t.intentN++;
      if (intent === row.intent) t.intentOk++;
      else if (decided.decision !== "block")
        misses.push({ text: row.text, lang: row.lang, expected: row.intent!, got: intent });
    }
  }
  const scores: Partial<Record<ShowLanguage, Scores>> = {};
  for (const [lang, t] of tally) {
    scores[lang] = {
      comments: t.n,
      intent_accuracy: round(t.intentOk / Math.max(t.intentN, 1)),
      moderation_accuracy: round(t.modOk / t.n),
      block_recall: round(t.blocked / Math.max(t.mustBlock, 1)),
      false_block_rate: round(t.falseBlocks / Math.max(t.allowed, 1)),
    };
  }
  return { scores, misses };
}
