// What a watcher of a room learns of its sentences, on the output's clock: nothing before a sentence plays, then one
// start (with its words and subtitle) and one end, cues when their frame goes out, and the comments an answer was
// for told answered when it is heard, or told it was cut when none of it was.
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { CueFired_Kind, UtteranceSource, type RoomEvent } from "../proto/index.js";
import type { UtteranceReport } from "../media/index.js";
import { UtteranceEvents } from "./utterance-events.js";

const fps = 25;
let events: NonNullable<RoomEvent["event"]>[];
let counts: { answered: number; rejected: number };
let ledger: UtteranceEvents;
const kinds = () => events.map((e) => e.$case);
const report = (
  utteranceId: string,
  state: UtteranceReport["state"],
  frame: number,
  playedMs = 0,
): UtteranceReport => ({ type: "utterance", utteranceId, state, frame, playedMs, outputUnixMs: Date.now() });
const word = (text: string, startMs: number, endMs: number) => ({ text, startMs, endMs, sourceStart: 0, sourceEnd: 0 });

beforeEach(() => {
  vi.useFakeTimers();
  events = [];
  counts = { answered: 0, rejected: 0 };
  ledger = new UtteranceEvents(fps, {
    publish: (event) => events.push(event!),
    answered: (n) => (counts.answered += n),
    rejected: (n) => (counts.rejected += n),
  });
});
afterEach(() => vi.useRealTimers());

describe("utterance events", () => {
  it("says nothing while a sentence is synthesized, then one start with its words and one end when it played", () => {
    ledger.begin({ utteranceId: "s1", source: UtteranceSource.UTTERANCE_SOURCE_SHOW, text: "你好 世界" });
    ledger.words("s1", [word("你好", 0, 400), word("世界", 400, 900)]);
    ledger.subtitle("s1", true);
    ledger.synthesized("s1", 900);
    expect(events).toEqual([]);
    ledger.onMedia(report("s1", "started", 50));
    expect(kinds()).toEqual(["utteranceStarted", "cueFired"]);
    expect(events[0]!.value).toMatchObject({ streamTimeMs: 2_000, words: [{ text: "你好" }, { text: "世界" }] });
    expect(events[1]!.value).toMatchObject({ kind: CueFired_Kind.KIND_SUBTITLE, text: "你好 世界", durationMs: 900 });
    vi.advanceTimersByTime(900);
    ledger.onMedia(report("s1", "ended", 72, 900));
    ledger.onMedia(report("s1", "ended", 72, 900)); // a repeated report publishes nothing more
    expect(kinds()).toEqual(["utteranceStarted", "cueFired", "utteranceEnded"]);
    expect(events[2]!.value).toMatchObject({ interrupted: false, durationMs: 900, streamTimeMs: 2_920 });
  });

  it("publishes a cue when its frame goes out, and drops one a cut came before", () => {
    ledger.begin({ utteranceId: "s1", source: UtteranceSource.UTTERANCE_SOURCE_SHOW, text: "杯子 79 元" });
    ledger.onMedia(report("s1", "started", 0));
    const card = { kind: CueFired_Kind.KIND_PRODUCT_CARD, utteranceId: "s1", productId: "cup", couponId: "", text: "" };
    ledger.cue("s1", { ...card, durationMs: 6_000 }, 300);
    ledger.cue("s1", { ...card, kind: CueFired_Kind.KIND_PRICE_TAG, durationMs: 6_000 }, 1_500);
    expect(kinds()).toEqual(["utteranceStarted"]);
    vi.advanceTimersByTime(300);
    expect(kinds()).toEqual(["utteranceStarted", "cueFired"]);
    expect(events[1]!.value).toMatchObject({ kind: CueFired_Kind.KIND_PRODUCT_CARD, streamTimeMs: 300 });
    ledger.onMedia(report("s1", "interrupted", 20, 800));
    vi.advanceTimersByTime(5_000);
    expect(kinds()).toEqual(["utteranceStarted", "cueFired", "utteranceEnded"]);
    expect(events[2]!.value).toMatchObject({ interrupted: true, durationMs: 800 });
  });

  it("tells an answer's comments they were answered when it is heard, or cut when none of it was", () => {
    const answer = (id: string, commentIds: string[]) => ({
      utteranceId: id,
      source: UtteranceSource.UTTERANCE_SOURCE_ANSWER,
      text: "79 元",
      commentId: "q",
      answers: { commentIds, intent: "price" },
    });
    ledger.begin(answer("a1", ["c1", "c2"]));
    ledger.onMedia(report("a1", "started", 10));
    expect(kinds()).toEqual(["commentAnswered", "commentAnswered", "utteranceStarted"]);
    expect(counts).toEqual({ answered: 2, rejected: 0 });

    // Dropped by the media graph before a sample played: no start, no end, the comment told why.
    events = [];
    ledger.begin(answer("a2", ["c3"]));
    ledger.onMedia(report("a2", "interrupted", 30, 0));
    expect(events).toMatchObject([{ $case: "commentRejected", value: { commentId: "c3", reason: "interrupted" } }]);
    // Cut while still synthesized (the media graph never had it): the same.
    events = [];
    ledger.begin(answer("a3", ["c4"]));
    ledger.interrupted([]);
    expect(events).toMatchObject([{ $case: "commentRejected", value: { commentId: "c4", reason: "interrupted" } }]);
    expect(counts).toEqual({ answered: 2, rejected: 2 });
  });

  it("tells the room an answer went unheard, so that the rest of it is not said after its comments were told so", () => {
    const unheard: string[] = [];
    const ledger = new UtteranceEvents(fps, {
      publish: (event) => events.push(event!),
      answered: () => undefined,
      rejected: () => undefined,
      answerUnheard: (questionId) => unheard.push(questionId),
    });
    const line = {
      utteranceId: "a-0",
      source: UtteranceSource.UTTERANCE_SOURCE_ANSWER,
      text: "79 元",
      commentId: "q1",
    };
    ledger.begin({ ...line, answers: { commentIds: ["c1"], intent: "price" } });
    ledger.abandoned("a-0", false); // its voice failed before any audio
    expect(unheard).toEqual(["q1"]);
    // A sentence after the first one carries no comments: nothing to tell when it goes.
    ledger.begin({ ...line, utteranceId: "a-1" });
    ledger.abandoned("a-1", false);
    expect(unheard).toEqual(["q1"]);
  });

  it("ends the sentence playing when the room goes off air: one end for its start, cut where the output stopped", () => {
    ledger.begin({ utteranceId: "s1", source: UtteranceSource.UTTERANCE_SOURCE_SHOW, text: "你好 世界" });
    ledger.synthesized("s1", 900);
    ledger.onMedia(report("s1", "started", 50));
    vi.advanceTimersByTime(300);
    ledger.begin({ utteranceId: "s2", source: UtteranceSource.UTTERANCE_SOURCE_SHOW, text: "下一句" });
    ledger.close();
    expect(kinds()).toEqual(["utteranceStarted", "utteranceEnded"]);
    expect(events[1]!.value).toMatchObject({
      utteranceId: "s1",
      interrupted: true,
      durationMs: 300,
      streamTimeMs: 2_300,
    });
  });

  it("ends a human's line cut before any of it played with its end alone, so the caller of Say learns it", () => {
    const human = (utteranceId: string) =>
      ledger.begin({ utteranceId, source: UtteranceSource.UTTERANCE_SOURCE_HUMAN, text: "大家好" });
    human("say-1");
    ledger.onMedia(report("say-1", "interrupted", 40));
    human("say-2");
    ledger.abandoned("say-2", false);
    human("say-3");
    ledger.close();
    // A show sentence cut unheard says nothing (nobody holds its id).
    ledger.begin({ utteranceId: "s1", source: UtteranceSource.UTTERANCE_SOURCE_SHOW, text: "下一句" });
    ledger.abandoned("s1", false);
    expect(kinds()).toEqual(["utteranceEnded", "utteranceEnded", "utteranceEnded"]);
    expect(events.map((e) => e.value)).toMatchObject([
      { utteranceId: "say-1", interrupted: true, durationMs: 0, streamTimeMs: 1_600, words: [] },
      { utteranceId: "say-2", interrupted: true, durationMs: 0 },
      { utteranceId: "say-3", interrupted: true, durationMs: 0 },
    ]);
  });
});
