// The LLM's one structured reply, read as it streams: a JSON object whose keys come in this order,
//   {"moderation": "allow" | block reason, "intent": …, "product": link number or 0, "answer": "…"}
// so that the verdict and the understanding are known before the answer's first words, and the answer can be spoken
// sentence by sentence while the model is still writing it. Parsed with @streamparser/json (partial string values).
import { JSONParser } from "@streamparser/json";
import { LlmError } from "./errors.js";
import { blockLabels, intentLabels, type BlockLabel, type IntentLabel } from "./understanding/corpus.js";

export interface StructuredHeader {
  moderation: "allow" | BlockLabel;
  intent: IntentLabel;
  /** 1-based link number of the product the comment is about; 0 for none. */
  product: number;
}

export type StructuredPart = { header: StructuredHeader } | { text: string };

const headerKeys = ["moderation", "intent", "product"] as const;

function checkHeader(fields: Record<string, unknown>, products: number): StructuredHeader {
  const { moderation, intent, product } = fields;
  if (moderation !== "allow" && !blockLabels.includes(moderation as BlockLabel)) {
    throw new LlmError("protocol", `the reply's moderation ${JSON.stringify(moderation)} is not allow or a reason`);
  }
  if (!intentLabels.includes(intent as IntentLabel)) {
    throw new LlmError(
      "protocol",
      `the reply's intent ${JSON.stringify(intent)} is not one of ${intentLabels.join(", ")}`,
    );
  }
  const link = product === null || product === undefined ? 0 : product;
  if (typeof link !== "number" || !Number.isInteger(link) || link < 0 || link > products) {
    throw new LlmError("protocol", `the reply's product ${JSON.stringify(product)} is not a link number 0-${products}`);
  }
  return { moderation: moderation as StructuredHeader["moderation"], intent: intent as IntentLabel, product: link };
}

/**
 * The header once its three keys have come, then the answer's text as it grows. A reply that is not such an object
 * (not JSON, a missing or unknown field, text after it) is an LlmError with reason "protocol"; an allowed comment
 * with an empty answer is a "refusal".
 */
export async function* structuredReply(
  pieces: AsyncIterable<string>,
  products: number,
): AsyncGenerator<StructuredPart> {
  const parser = new JSONParser({ paths: ["$.*"], emitPartialValues: true, emitPartialTokens: true, keepStack: false });
  const fields: Record<string, unknown> = {};
  let header: StructuredHeader | undefined;
  let answer = "";
  let said = 0;
  parser.onValue = ({ key, value, partial }) => {
    if (typeof key !== "string" || value === undefined) return;
    if (key === "answer") answer = typeof value === "string" ? value : "";
    else if (!partial) fields[key] = value;
  };
  const write = (piece: string) => {
    try {
      parser.write(piece);
    } catch (err) {
      throw new LlmError("protocol", `the reply is not the JSON object asked for: ${(err as Error).message}`, {
        cause: err,
      });
    }
  };
  for await (const piece of pieces) {
    write(piece);
    if (!header && headerKeys.every((k) => k in fields)) {
      header = checkHeader(fields, products);
      yield { header };
    }
    if (header && answer.length > said) {
      yield { text: answer.slice(said) };
      said = answer.length;
    }
  }
  if (!parser.isEnded) throw new LlmError("protocol", "the reply's JSON object is not complete");
  if (!header) {
    header = checkHeader(fields, products);
    yield { header };
  }
  if (answer.length > said) yield { text: answer.slice(said) };
  if (header.moderation === "allow" && answer.trim() === "") {
    throw new LlmError("refusal", "the model gave no answer for an allowed comment");
  }
}
