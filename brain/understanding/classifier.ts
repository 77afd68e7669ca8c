// The understanding model served by onnxruntime in the room host, and the order in which it and the exact rules
// decide a comment (README "Comment understanding"):
//   1. validation (empty, too long, control characters, invalid UTF-8): rejected with the reason;
//   2. personal data (phone, ID, e-mail, WeChat/QQ ids, addresses, long digit runs) masked: nothing after this step,
//      the model included, sees it;
//   3. links, domains and off-platform contact in its exact forms: spam, exactly;
//   4. the model: blocked when it gives "allow" less than `allowBelow`, for the most likely block reason; else its
//      intent. (Per-viewer floods and duplicates are decided by CommentGate between 2 and 3; moderation.ts has the
//      steps, decideText all but the per-viewer one.)
import { readFile } from "node:fs/promises";
import { BinaryReader } from "@bufbuild/protobuf/wire";
import * as ort from "onnxruntime-node";
import { repoPath } from "../../avatars/index.js";
import { UnavailableError } from "../../errors/index.js";
import type { CommentReader } from "../moderation.js";
import { intentLabels, type BlockLabel, type IntentLabel } from "./corpus.js";
import { ensembleFeatureIds, featureBuckets } from "./features.js";
import { moderationClasses } from "./model.js";

/** The model the repository ships (trained by `livehost models train-understanding`). */
export const shippedModelPath = repoPath("brain/understanding/model/understanding.onnx");

export interface Classification {
  intent: IntentLabel;
  intentConfidence: number;
  /** The model gives "allow" less than the model's `allow_below`. */
  block: boolean;
  /** The model's most likely block reason and how sure it is that the comment must not be answered. */
  blockReason: BlockLabel;
  blockProbability: number;
}

export class CommentClassifier implements CommentReader {
  readonly #session: ort.InferenceSession;
  /** A comment is blocked when the model gives "allow" less than this (from the model's metadata). */
  readonly allowBelow: number;
  readonly metadata: Record<string, string>;
  /** How each member of the model's ensemble hashes features (one member: "0"). */
  readonly #hashSeeds: number[];

  private constructor(session: ort.InferenceSession, metadata: Record<string, string>) {
    this.#session = session;
    this.metadata = metadata;
    this.allowBelow = Number(metadata.allow_below ?? "0.5");
    this.#hashSeeds = (metadata.hash_seeds ?? "0").split(",").map(Number);
  }

  /** Loads a model file (or bytes); its labels and feature space must be the ones this code was built with. */
  static async load(model: string | Uint8Array = shippedModelPath): Promise<CommentClassifier> {
    let bytes: Uint8Array;
    try {
      bytes = typeof model === "string" ? await readFile(model) : model;
    } catch (err) {
      throw new UnavailableError(`understanding model ${String(model)} cannot be read: ${(err as Error).message}`, {
        cause: err,
      });
    }
    const session = await ort.InferenceSession.create(bytes, {
      executionProviders: ["cpu"],
      // One comment is a few hundred multiply-adds: threads would cost more than they save.
      intraOpNumThreads: 1,
      interOpNumThreads: 1,
    }).catch((err: unknown) => {
      throw new UnavailableError(
        `understanding model ${typeof model === "string" ? model : "(bytes)"} is not an ONNX model onnxruntime loads: ${(err as Error).message}`,
        { cause: err },
      );
    });
    const metadata = readMetadata(bytes);
    const expected = {
      intent_labels: intentLabels.join(","),
      moderation_labels: moderationClasses.join(","),
      feature_buckets: String(featureBuckets),
    };
    for (const [key, value] of Object.entries(expected)) {
      if (metadata[key] !== value) {
        await session.release();
        throw new UnavailableError(
          `understanding model ${typeof model === "string" ? model : "(bytes)"}: ${key} is "${metadata[key] ?? ""}", this build needs "${value}" (retrain with livehost models train-understanding)`,
        );
      }
    }
    return new CommentClassifier(session, metadata);
  }

  /** The model's reading of a masked comment. */
  async classify(maskedText: string): Promise<Classification> {
    const ids = ensembleFeatureIds(maskedText, this.#hashSeeds);
    const input = new ort.Tensor("int64", BigInt64Array.from(ids, BigInt), [ids.length]);
    const out = await this.#session.run({ ids: input });
    const intent = out.intent!.data as Float32Array;
    const moderation = out.moderation!.data as Float32Array;
    let best = 0;
    for (let i = 1; i < intent.length; i++) if (intent[i]! > intent[best]!) best = i;
    let reason = 1;
    for (let i = 2; i < moderation.length; i++) if (moderation[i]! > moderation[reason]!) reason = i;
    return {
      intent: intentLabels[best]!,
      intentConfidence: intent[best]!,
      blockReason: moderationClasses[reason] as BlockLabel,
      block: moderation[0]! < this.allowBelow,
      blockProbability: 1 - moderation[0]!,
    };
  }

  async close(): Promise<void> {
    await this.#session.release();
  }
}

// ModelProto.metadata_props (field 14: StringStringEntryProto key 1, value 2), read from the bytes: onnxruntime-node
// does not expose them.
function readMetadata(bytes: Uint8Array): Record<string, string> {
  const out: Record<string, string> = {};
  const reader = new BinaryReader(bytes);
  while (reader.pos < reader.len) {
    const [field, wire] = reader.tag();
    if (field !== 14) {
      reader.skip(wire);
      continue;
    }
    const entry = new BinaryReader(reader.bytes());
    let [key, value] = ["", ""];
    while (entry.pos < entry.len) {
      const [f, w] = entry.tag();
      if (f === 1) key = entry.string();
      else if (f === 2) value = entry.string();
      else entry.skip(w);
    }
    out[key] = value;
  }
  return out;
}

let shared: Promise<CommentClassifier> | undefined;

/** The shipped model, loaded once per process and shared by its rooms (a failed load is tried again next time). */
export function sharedClassifier(): Promise<CommentClassifier> {
  shared ??= CommentClassifier.load().catch((err: unknown) => {
    shared = undefined;
    throw err;
  });
  return shared;
}

/** A CommentReader on the shared model, loading it on first use. */
export const sharedReader: CommentReader = {
  classify: async (maskedText) => (await sharedClassifier()).classify(maskedText),
};
