// `npm run bench -- brain`: the comment understanding (bench/understanding.ts), the room brain's share of the comment -> answer budget (<= 150 ms p95 beyond model
// compute, DESIGN.md), in-process: receive() (validate, mask, moderate, understand, queue), the embedded brain's
// first sentence, one show line, and the per-sentence cost of the LLM path (guard + cues). Baseline, measured side
// by side: decoding the Comment protobuf the room receives anyway. Then a busy room (bench/busy-room.ts): the show
// and the questions' outcomes in a live room receiving 2 questions a second for 5 minutes.
import { Comment } from "../proto/index.js";
import {
  findCues,
  loadCatalogFile,
  loadPersonasFile,
  pickPersona,
  RoomBrain,
  sampleFiles,
  type ShowPosition,
} from "../brain/internal.js";
import { readFile } from "node:fs/promises";
import type { BenchContext } from "./main.js";
import { round, summarize } from "./stats.js";
import { busyRoom } from "./busy-room.js";
import { understanding } from "./understanding.js";

const time = (once: () => void): number => {
  const start = performance.now();
  once();
  return performance.now() - start;
};

export async function run(ctx: BenchContext): Promise<Record<string, unknown>> {
  const rounds = ctx.quick ? 20 : 400;
  const personas = await loadPersonasFile(sampleFiles.personas);
  const catalog = await loadCatalogFile(sampleFiles.catalogZh);
  const persona = pickPersona(personas, catalog);
  const texts = (await readFile(sampleFiles.comments, "utf8"))
    .trim()
    .split("\n")
    .map((line) => (JSON.parse(line) as { text: string }).text);
  const encoded = texts.map((text, i) =>
    Comment.encode(Comment.fromPartial({ commentId: `c${i}`, roomId: "r", viewerId: `v${i}`, text })).finish(),
  );

  ctx.log(`receive(): ${rounds} rounds of ${texts.length} comments, against decoding them`);
  const receive: number[] = [];
  const decode: number[] = [];
  const firstSentence: number[] = [];
  let n = 0;
  for (let r = 0; r < rounds; r++) {
    // A fresh room per round, so floods and duplicates do not change the work.
    const brain = new RoomBrain({ catalog, persona, queue: { capacity: 64 } });
    for (const [i, text] of texts.entries()) {
      decode.push(time(() => Comment.decode(encoded[i]!)));
      const start = performance.now();
      await brain.receive({ commentId: `c${n++}`, viewerId: `v${i}`, text }, catalog.products[0]!.id);
      receive.push(performance.now() - start);
    }
    for (let q = brain.nextQuestion().question; q; q = brain.nextQuestion().question) {
      const start = performance.now();
      const answer = brain.answer(q);
      await answer.next();
      firstSentence.push(performance.now() - start);
      await answer.return({});
    }
  }

  ctx.log("show lines and LLM-path sentence checks");
  const brain = new RoomBrain({ catalog, persona });
  const showLine: number[] = [];
  let position: ShowPosition = brain.show.start();
  for (let i = 0; i < rounds * 10; i++) {
    showLine.push(time(() => brain.show.at(position)));
    position = brain.show.nextLine(position);
  }
  const sentence = "宝子们，304不锈钢保温杯 500ml直播间价79元，还能领满79减10的券。";
  const llmSentence = Array.from({ length: rounds * 10 }, () =>
    time(() => {
      brain.guard.check(sentence);
      findCues(sentence, catalog);
    }),
  );

  const receiveMs = summarize(receive);
  const decodeMs = summarize(decode);
  return {
    moderation_ms_p50: receiveMs.p50,
    moderation_ms_p95: receiveMs.p95,
    brain_ms_p50: summarize(firstSentence).p50,
    brain_ms_p95: summarize(firstSentence).p95,
    show_line_ms_p95: summarize(showLine).p95,
    llm_sentence_check_ms_p95: summarize(llmSentence).p95,
    baseline_comment_decode_ms_p95: decodeMs.p95,
    receive_vs_decode_p50: round(receiveMs.p50 / Math.max(decodeMs.p50, 1e-6), 1),
    comments: receive.length,
    answers: firstSentence.length,
    catalog: "brain/fixtures/catalog-zh.json",
    ...(await understanding(ctx)),
    ...(await busyRoom(ctx)),
  };
}
