// The busy room of `npm run bench -- brain`: one live room (real actor, brain, TTS and lip-sync workers, media graph
// to HLS, on a local NATS) receiving 2 questions a second for 5 minutes (30 s with --quick), questions written as
// viewers write them (the fixture comments, cycled, each with its own id and viewer). It reports what a viewer
// would see of the show and of the questions:
//
// - show_sentences_advanced: show sentences said for the first time (the show moving on) during the window;
// - max_repeats_of_a_show_sentence: the most times one show sentence was said in a row (budget: 2, once cut and
//   once whole);
// - questions_without_outcome: questions with neither CommentAnswered nor CommentRejected 60 s after the last one
//   was sent (budget 0), and how the others ended (answered, or rejected by reason);
// - show_share: the share of the window's speech that was the show (seconds of show over show plus answers).
//
// Counted from the room's events as a watcher receives them (UtteranceStarted, CommentAnswered, CommentRejected).
import { readFile } from "node:fs/promises";
import { setTimeout as sleep } from "node:timers/promises";
import { sampleFiles } from "../brain/internal.js";
import { Comment, UtteranceSource, type RoomEvent } from "../proto/index.js";
import { enqueueComment } from "../rooms/internal.js";
import { startTestRoomStack } from "../testing/index.js";
import type { BenchContext } from "./main.js";

const questionsPerSecond = 2;

export async function busyRoom(ctx: BenchContext): Promise<Record<string, number | string>> {
  const seconds = ctx.quick ? 30 : 300;
  const texts = (await readFile(sampleFiles.comments, "utf8"))
    .trim()
    .split("\n")
    .map((line) => (JSON.parse(line) as { text: string }).text);
  await using stack = await startTestRoomStack({ live: true });
  const roomId = "busy";
  await stack.create(roomId, stack.liveSpec());
  await stack.start(roomId);
  const events = () => stack.events.filter((e) => e.roomId === roomId);
  while (!events().some((e) => e.event?.$case === "utteranceStarted")) await sleep(200);

  ctx.log(`busy room: ${questionsPerSecond} questions a second for ${seconds} s into one live room`);
  const from = events().length;
  const sent: string[] = [];
  const started = performance.now();
  for (let i = 0; performance.now() - started < seconds * 1000; i++) {
    const commentId = `busy-${i}`;
    sent.push(commentId);
    await enqueueComment(
      stack.nc,
      Comment.fromPartial({ commentId, roomId, viewerId: `viewer-${i % 400}`, text: texts[i % texts.length]! }),
    );
    const due = started + ((i + 1) * 1000) / questionsPerSecond;
    await sleep(Math.max(0, due - performance.now()));
  }
  const windowEnd = events().length;
  // Outcomes may follow the last question by the time it waits in the queue.
  const outcomes = new Map<string, string>();
  const collect = () => {
    for (const e of events()) {
      if (e.event?.$case === "commentAnswered") outcomes.set(e.event.value.commentId, "answered");
      if (e.event?.$case === "commentRejected") outcomes.set(e.event.value.commentId, e.event.value.reason);
    }
  };
  const waitUntil = performance.now() + 60_000;
  for (collect(); sent.some((id) => !outcomes.has(id)) && performance.now() < waitUntil; collect()) await sleep(500);

  const window: RoomEvent[] = events().slice(from, windowEnd);
  const said = window.flatMap((e) => (e.event?.$case === "utteranceStarted" ? [e.event.value] : []));
  const show = said.filter((u) => u.source === UtteranceSource.UTTERANCE_SOURCE_SHOW);
  const place = (u: (typeof show)[number]) => (u.show ? `${u.show.loop}/${u.show.line}/${u.show.sentence}` : u.text);
  let advanced = 0;
  let repeats = 0;
  let maxRepeats = 0;
  let last = "";
  const seen = new Set<string>();
  for (const u of show) {
    repeats = place(u) === last ? repeats + 1 : 1;
    maxRepeats = Math.max(maxRepeats, repeats);
    last = place(u);
    if (!seen.has(last)) advanced++;
    seen.add(last);
  }
  const ended = window.flatMap((e) => (e.event?.$case === "utteranceEnded" ? [e.event.value] : []));
  const sourceOf = new Map(said.map((u) => [u.utteranceId, u.source]));
  let showMs = 0;
  let answerMs = 0;
  for (const e of ended) {
    if (sourceOf.get(e.utteranceId) === UtteranceSource.UTTERANCE_SOURCE_SHOW) showMs += e.durationMs;
    if (sourceOf.get(e.utteranceId) === UtteranceSource.UTTERANCE_SOURCE_ANSWER) answerMs += e.durationMs;
  }
  const byOutcome: Record<string, number> = {};
  for (const id of sent) {
    const outcome = outcomes.get(id) ?? "none";
    byOutcome[outcome] = (byOutcome[outcome] ?? 0) + 1;
  }
  const figures = {
    busy_room_seconds: seconds,
    busy_room_questions: sent.length,
    show_sentences_advanced: advanced,
    max_repeats_of_a_show_sentence: maxRepeats,
    questions_without_outcome: byOutcome.none ?? 0,
    questions_answered: byOutcome.answered ?? 0,
    questions_rejected: sent.length - (byOutcome.answered ?? 0) - (byOutcome.none ?? 0),
    questions_by_outcome: Object.entries(byOutcome)
      .map(([k, v]) => `${k} ${v}`)
      .join(", "),
    show_share: Math.round((showMs / Math.max(1, showMs + answerMs)) * 1000) / 1000,
  };
  ctx.log(
    `busy room: ${advanced} show sentences advanced, at most ${maxRepeats} in a row; ${figures.questions_answered} ` +
      `questions answered, ${figures.questions_rejected} rejected (${figures.questions_by_outcome}); ` +
      `${figures.questions_without_outcome} without an outcome; show ${Math.round(figures.show_share * 100)}% of the speech`,
  );
  return figures;
}
