// The fixtures' viewer comments (brain/fixtures/comments.jsonl) sent on the danmaku path (the room's JetStream
// subject) to live rooms, handled as brain/fixtures/README.md says: blocked and invalid ones get a rejection event
// and are never spoken, the others are answered aloud with the facts they ask for, personal data never shows up
// in any event, and nothing said breaks the catalog's or the persona's rules.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { AnswerGuard, sampleFiles } from "../brain/internal.js";
import { Comment, RoomEvent, UtteranceSource, type RoomSpec } from "../proto/index.js";
import { enqueueComment } from "../rooms/index.js";
import { createLiveRoom, fixtureRoomSpec, natsClient, startLocalStack, type RoomWatch } from "./harness.js";

interface FixtureComment {
  user: string;
  text: string;
  expect: { moderation: "allow" | "mask" | "block" | "reject"; intent: string; mustMention: string[] };
}

const comments = readFileSync(sampleFiles.comments, "utf8")
  .trim()
  .split("\n")
  .map((line) => JSON.parse(line) as FixtureComment);

// The English comments (u3xx) go to a room selling the English catalog; the Mandarin ones are shared by two rooms
// selling the Mandarin catalog, so that every answer is spoken (at double speed) in well under a minute.
const rooms = [
  {
    id: "e2e-fixtures-zh-a",
    language: "zh",
    comments: comments.filter((c) => !c.user.startsWith("u3")).filter((_, i) => i % 2 === 0),
  },
  {
    id: "e2e-fixtures-zh-b",
    language: "zh",
    comments: comments.filter((c) => !c.user.startsWith("u3")).filter((_, i) => i % 2 === 1),
  },
  { id: "e2e-fixtures-en", language: "en", comments: comments.filter((c) => c.user.startsWith("u3")) },
] as const;
// A busy room drops questions waiting longer than 30 s: send a few at a time, the next ones once these are taken.
const batchSize = 4;
/** Personal data in the fixtures that must be masked before anything else sees it. */
const personalData = ["13812345678"];

const commentId = (c: FixtureComment) => `fx-${c.user}`;

type Outcome = { kind: "answered"; answerId: string } | { kind: "rejected"; reason: string; field: string };

function outcomeOf(event: RoomEvent, id: string): Outcome | undefined {
  const e = event.event;
  if (e?.$case === "commentAnswered" && e.value.commentId === id) {
    return { kind: "answered", answerId: e.value.utteranceId.replace(/-0$/, "") };
  }
  if (e?.$case === "commentRejected" && e.value.commentId === id) {
    return { kind: "rejected", reason: e.value.reason, field: e.value.field };
  }
  return undefined;
}

/** Sends a room its comments a batch at a time; resolves with what became of each. */
async function sendAll(
  post: (c: FixtureComment) => Promise<unknown>,
  watch: RoomWatch,
  list: readonly FixtureComment[],
): Promise<Map<string, Outcome>> {
  const outcomes = new Map<string, Outcome>();
  for (let i = 0; i < list.length; i += batchSize) {
    const batch = list.slice(i, i + batchSize);
    for (const c of batch) await post(c);
    for (const c of batch) {
      outcomes.set(c.user, await watch.waitFor((e) => outcomeOf(e, commentId(c)), 45_000, `outcome of ${c.user}`));
    }
  }
  return outcomes;
}

/**
 * The room host as a shell would start it (no UV_THREADPOOL_SIZE): three rooms on one host need more than libuv's
 * default pool of 4, and `livehost room-host` restarts itself with a larger one (cli/main.ts).
 */
const roomHostEnv = {};

async function expectFixturesHandled(env: NodeJS.ProcessEnv) {
  await using stack = await startLocalStack({ roomHostEnv: env });
  await using nats = await natsClient(stack.natsUrl);
  const live = await Promise.all(
    rooms.map(async (room) => {
      // Double speed: the same words, said in half the time.
      const spec: RoomSpec = await fixtureRoomSpec(room.language);
      spec.voice!.speed = 2;
      return { ...room, spec, ...(await createLiveRoom(stack.rooms, room.id, spec)) };
    }),
  );
  const results = await Promise.all(
    live.map(async (room) => {
      const post = (c: FixtureComment) =>
        enqueueComment(
          nats.nc,
          Comment.fromPartial({ commentId: commentId(c), roomId: room.id, viewerId: c.user, text: c.text }),
        );
      const outcomes = await sendAll(post, room.watch, room.comments);
      // Every answer's last sentence has started: all its sentences are known.
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      return { room, outcomes };
    }),
  );

  for (const { room, outcomes } of results) {
    const spoken = room.watch.utterances();
    const guard = new AnswerGuard(room.spec.catalog!, room.spec.persona!);
    // What became of each comment, next to what the fixtures say should: one table, one diff.
    const handled = room.comments.map((c) => {
      const outcome = outcomes.get(c.user)!;
      const answerId = outcome.kind === "answered" ? outcome.answerId : "none";
      const answer = spoken.filter((u) => u.utteranceId.startsWith(`${answerId}-`));
      const words = answer.map((u) => u.text).join("");
      return {
        user: c.user,
        outcome: outcome.kind === "answered" ? "answered" : `rejected ${outcome.reason} ${outcome.field}`.trim(),
        spokenUnderItsId: spoken.some((u) => u.commentId === commentId(c)) || answer.length > 0,
        spokenAsAnswer: answer.every((u) => u.source === UtteranceSource.UTTERANCE_SOURCE_ANSWER),
        factsMissing: c.expect.mustMention.filter((fact) => !words.includes(fact)),
      };
    });
    const expected = room.comments.map((c) => {
      const refused = c.expect.moderation === "block" || c.expect.moderation === "reject";
      return {
        user: c.user,
        outcome: !refused
          ? "answered"
          : c.expect.moderation === "block"
            ? `rejected ${c.expect.intent}`
            : "rejected invalid text",
        spokenUnderItsId: !refused,
        spokenAsAnswer: true,
        factsMissing: refused ? c.expect.mustMention : [],
      };
    });
    expect(handled).toEqual(expected);
    // Nothing the host said, show or answers, breaks a rule (ungrounded prices, superlatives, medical claims...).
    expect(spoken.map((u) => ({ text: u.text, ...guard.check(u.text) }))).toEqual(
      spoken.map((u) => ({ text: u.text, ok: true })),
    );
    // Personal data is masked before anything else sees it: no event carries it.
    const everything = JSON.stringify(room.watch.events.map((e) => RoomEvent.toJSON(e)));
    for (const secret of personalData) expect(everything).not.toContain(secret);
    room.watch[Symbol.dispose]();
  }
}

describe("the fixtures' comments in live rooms", () => {
  it(
    "are answered aloud, rejected or blocked as the fixtures say, with personal data masked everywhere",
    () => expectFixturesHandled(roomHostEnv),
    120_000,
  );
});
