// The comment understanding of `npm run bench -- brain`, computed at run time from the shipped model file
// (brain/understanding/model/understanding.onnx) through the room's own decision (exact rules, then the model):
//
// - per room language, on the held-out set (heldout6.jsonl: written from LABELS.md apart from the corpus generator,
//   never trained on, never used to choose anything) and on the development sets (dev*.jsonl, and heldout_v1 to
//   heldout_v5, the earlier held-out sets, read during tuning): intent_accuracy, moderation_accuracy, block_recall (comments that must
//   never be spoken, blocked) and false_block_rate (allowed comments blocked);
// - fixtures_accuracy: ../shared/fixtures/comments.jsonl, moderation and intent both right;
// - understand_ms_p50/p99: one comment from its text to its understanding (validation, masking, the model,
//   intent and product), as RoomBrain.receive does it; baseline, side by side: decoding the Comment protobuf the
//   room receives anyway.
import { readFile } from "node:fs/promises";
import {
  CommentClassifier,
  decideText,
  labelledSetNotes,
  labelledSets,
  loadCatalogFile,
  moderationFlags,
  readLabelled,
  sampleFiles,
  score,
  understand,
} from "../brain/internal.js";
import { Comment } from "../proto/index.js";
import type { BenchContext } from "./main.js";
import { round, summarize } from "./stats.js";

interface FixtureComment {
  text: string;
  expect: { moderation: string; intent: string };
}

export async function understanding(ctx: BenchContext): Promise<Record<string, unknown>> {
  const classifier = await CommentClassifier.load();
  try {
    const sets: Record<string, unknown> = {};
    for (const [name, path] of Object.entries(labelledSets)) {
      const { scores } = await score(await readLabelled(path), classifier);
      sets[name] = scores;
      ctx.log(`${name}: ${JSON.stringify(scores)}`);
    }

    const fixtures = (await readFile(sampleFiles.comments, "utf8"))
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line) as FixtureComment);
    let right = 0;
    for (const f of fixtures) {
      const d = await decideText(f.text, classifier);
      const [moderation, intent] =
        d.decision === "reject"
          ? ["reject", "invalid"]
          : d.decision === "block"
            ? ["block", d.reason]
            : [d.decision, moderationFlags(d.text).includes("injection") ? "injection" : d.intent];
      if (moderation === f.expect.moderation && intent === f.expect.intent) right++;
    }

    const catalog = await loadCatalogFile(sampleFiles.catalogZh);
    const texts = (await readLabelled(labelledSets.heldout)).map((r) => r.text);
    const encoded = texts.map((text, i) =>
      Comment.encode(Comment.fromPartial({ commentId: `c${i}`, roomId: "r", viewerId: `v${i}`, text })).finish(),
    );
    const rounds = ctx.quick ? 2 : 10;
    const understandMs: number[] = [];
    const decodeMs: number[] = [];
    for (let r = 0; r < rounds; r++) {
      for (const [i, text] of texts.entries()) {
        let start = performance.now();
        Comment.decode(encoded[i]!);
        decodeMs.push(performance.now() - start);
        start = performance.now();
        const d = await decideText(text, classifier);
        if (d.decision === "allow" || d.decision === "mask") {
          understand(d.text, catalog, moderationFlags(d.text), d.intent, catalog.products[0]!.id);
        }
        understandMs.push(performance.now() - start);
      }
    }
    const u = summarize(understandMs);
    const b = summarize(decodeMs);
    return {
      understanding: {
        model: "brain/understanding/model/understanding.onnx",
        labelled_sets: labelledSetNotes,
        ...sets,
      },
      fixtures_accuracy: round(right / fixtures.length, 4),
      understand_ms_p50: u.p50,
      understand_ms_p99: u.p99,
      baseline_comment_decode_ms_p99: b.p99,
      understand_comments_timed: understandMs.length,
    };
  } finally {
    await classifier.close();
  }
}

/** `npm run bench -- understanding`: the comment understanding alone (the busy room and the pipeline are `brain`). */
export const run = understanding;
