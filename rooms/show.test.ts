// What an audience notices of a room on air, with real engines (NATS, TTS and lip-sync workers, the media graph):
// the show goes on sentence after sentence and comes back round, and a viewer's question cuts in, is answered aloud,
// and the show resumes from the sentence it cut.
import { describe, expect, it } from "vitest";
import {
  Comment,
  CueFired_Kind,
  RoomState,
  ShowScript,
  UtteranceSource,
  type RoomEvent,
  type UtteranceStarted,
} from "../proto/index.js";
import { compareShowPlaces, eventually, showPlace, startTestRoomStack } from "../testing/index.js";
import { enqueueComment } from "./internal.js";

const isShow = (u: UtteranceStarted) => u.source === UtteranceSource.UTTERANCE_SOURCE_SHOW;
const ended = (events: RoomEvent[], utteranceId: string) =>
  events.flatMap((e) =>
    e.event?.$case === "utteranceEnded" && e.event.value.utteranceId === utteranceId ? [e.event.value] : [],
  )[0];

describe("a room on air", () => {
  it("says its show sentence after sentence, in order, and comes back round to the start", async () => {
    await using stack = await startTestRoomStack({ live: true });
    // One product and double speed: a whole loop of the show in a few seconds of speech.
    const spec = stack.liveSpec({ voice: { voiceId: "zh-female-warm", speed: 2 } });
    spec.catalog!.products = spec.catalog!.products.slice(0, 1);
    await stack.create("loop", spec);
    await stack.start("loop");

    // The second loop starts: every sentence before it was said, each after the one before.
    const show = await eventually(
      () => {
        const said = stack.utterances("loop").filter(isShow);
        expect(said.some((u) => showPlace(u)[0] === 1)).toBe(true);
        return said;
      },
      { timeoutMs: 90_000, intervalMs: 100 },
    );
    const places = show.map(showPlace);
    expect(places[0]).toEqual([0, 0, 0]);
    expect(places.slice(1).every((place, i) => compareShowPlaces(place, places[i]!) > 0)).toBe(true);
    const secondLoop = places.findIndex((place) => place[0] === 1);
    expect(places[secondLoop]).toEqual([1, 0, 0]);
    // Every sentence of the first loop was said to its end, none cut, none failed.
    const events = stack.eventsOf("loop");
    for (const u of show.slice(0, secondLoop)) {
      const end = ended(events, u.utteranceId)!;
      expect(end.interrupted).toBe(false);
      expect(end.durationMs).toBeGreaterThan(0);
      // Start and end are on the output's clock: on the stream they lie as far apart as the speech lasts (within a
      // frame of rounding, plus any frames its audio came late for), on the wall at least that, and the start
      // carries the words, the last ending with the speech.
      const span = Number(end.streamTimeMs - u.streamTimeMs);
      expect(span).toBeGreaterThanOrEqual(end.durationMs - 40);
      expect(span).toBeLessThan(end.durationMs + 1_000);
      expect(Number(end.outputUnixMs - u.outputUnixMs)).toBeGreaterThan(end.durationMs - 200);
      expect(u.words.length).toBeGreaterThan(0);
      expect(u.words.at(-1)!.endMs).toBeLessThanOrEqual(end.durationMs + 40);
      // One start, one end, and the subtitle shown when it starts.
      const about = events.filter(
        (e) => e.event && "utteranceId" in e.event.value && e.event.value.utteranceId === u.utteranceId,
      );
      expect(about.filter((e) => e.event?.$case === "utteranceStarted")).toHaveLength(1);
      expect(about.filter((e) => e.event?.$case === "utteranceEnded")).toHaveLength(1);
      const subtitle = about.find(
        (e) => e.event?.$case === "cueFired" && e.event.value.kind === CueFired_Kind.KIND_SUBTITLE,
      );
      expect(subtitle?.event?.value).toMatchObject({ text: u.text, streamTimeMs: u.streamTimeMs });
    }
    expect(events.filter((e) => e.event?.$case === "error")).toEqual([]);
    // The stream clock runs on: each sentence starts later in the stream than the one before.
    const times = show.map((u) => u.streamTimeMs);
    expect(times.slice(1).every((t, i) => t > times[i]!)).toBe(true);
    // And the record knows where the show is (a room that moves host resumes from there).
    await eventually(async () => expect((await stack.get("loop")).status?.state).toBe(RoomState.ROOM_STATE_LIVE));
  });

  it("speaks the script its spec gives: its lines in order, sentence by sentence, the next variation on the next loop, cards on cue", async () => {
    await using stack = await startTestRoomStack({ live: true });
    const spec = stack.liveSpec({ voice: { voiceId: "zh-female-warm", speed: 2 } });
    spec.catalog!.products = spec.catalog!.products.slice(0, 1);
    spec.script = ShowScript.fromPartial({
      version: 1,
      author: "merchant",
      variations: [
        {
          lines: [
            { kind: "opening", productId: "", text: "宝子们好！" },
            { kind: "intro", productId: "p-cup-500", text: "先看这款保温杯。直播间79元。" },
          ],
        },
        { lines: [{ kind: "price", productId: "p-cup-500", text: "原价129元，今天79元。" }] },
      ],
    });
    await stack.create("scripted", spec);
    await stack.start("scripted");

    const show = await eventually(
      () => {
        const said = stack.utterances("scripted").filter(isShow);
        expect(said.some((u) => showPlace(u)[0] === 2)).toBe(true);
        return said.filter((u) => showPlace(u)[0] < 2);
      },
      { timeoutMs: 60_000, intervalMs: 100 },
    );
    expect(show.map((u) => [...showPlace(u), u.text])).toEqual([
      [0, 0, 0, "宝子们好！"],
      [0, 1, 0, "先看这款保温杯。"],
      [0, 1, 1, "直播间79元。"],
      [1, 0, 0, "原价129元，今天79元。"],
    ]);
    // The overlays come from each line's kind and product: the card with the intro, the price tag on the price.
    const cues = stack
      .eventsOf("scripted")
      .flatMap((e) => (e.event?.$case === "cueFired" ? [e.event.value] : []))
      .filter((c) => c.kind !== CueFired_Kind.KIND_SUBTITLE);
    const on = (u: UtteranceStarted) => cues.filter((c) => c.utteranceId === u.utteranceId).map((c) => c.kind);
    expect(on(show[1]!)).toContain(CueFired_Kind.KIND_PRODUCT_CARD);
    expect(on(show[3]!)).toContain(CueFired_Kind.KIND_PRICE_TAG);
    expect(on(show[0]!)).toEqual([]);
  });

  it("keeps a 24/7 room's show fresh: writes its next variations while it speaks its last, speaks them from the next loop, and keeps them as its spec", async () => {
    await using stack = await startTestRoomStack({ live: true });
    const spec = stack.liveSpec({ voice: { voiceId: "zh-female-warm", speed: 2 } });
    spec.catalog!.products = spec.catalog!.products.slice(0, 1);
    spec.script = ShowScript.fromPartial({
      version: 4,
      author: "merchant",
      rewriteAhead: true,
      variations: [{ lines: [{ kind: "opening", productId: "", text: "宝子们好！" }] }],
    });
    await stack.create("fresh", spec);
    await stack.start("fresh");

    // The one variation is the last: the next is written while it is said, by the embedded brain (no LLM here).
    const room = await eventually(
      async () => {
        const record = await stack.get("fresh");
        expect(record.spec?.script).toMatchObject({ version: 5, author: "embedded", rewriteAhead: true });
        return record;
      },
      { timeoutMs: 60_000, intervalMs: 200 },
    );
    const written = room.spec!.script!.variations[0]!.lines;
    expect(written.length).toBeGreaterThan(1);
    // Loop 1 speaks it from its first line: the old words are not said again.
    const next = await eventually(
      () => {
        const said = stack.utterances("fresh").filter(isShow);
        const first = said.find((u) => showPlace(u)[0] === 1);
        expect(first).toBeDefined();
        return first!;
      },
      { timeoutMs: 60_000, intervalMs: 100 },
    );
    expect(showPlace(next)).toEqual([1, 0, 0]);
    expect(next.text).not.toBe("宝子们好！");
    expect(written[0]!.text.startsWith(next.text)).toBe(true);
  });

  it("lets a viewer's question cut in: the sentence playing is cut, the answer is said, the show says that sentence again", async () => {
    await using stack = await startTestRoomStack({ live: true });
    await stack.create("cut-in", stack.liveSpec());
    await stack.start("cut-in");

    // A long show sentence plays (its start is published when it is heard, with its words): the question arrives
    // while the audience hears it.
    const playing = await eventually(
      () => {
        const long = stack
          .utterances("cut-in")
          .filter(isShow)
          .find((u) => (u.words.at(-1)?.endMs ?? 0) > 2_500 && !ended(stack.eventsOf("cut-in"), u.utteranceId));
        expect(long).toBeDefined();
        return long!;
      },
      { timeoutMs: 60_000, intervalMs: 20 },
    );
    await enqueueComment(
      stack.nc,
      Comment.fromPartial({ commentId: "q-price", roomId: "cut-in", viewerId: "u1", text: "这个保温杯多少钱？" }),
    );

    // The sentence playing is cut and said to be cut.
    await eventually(
      () =>
        expect(
          stack
            .eventsOf("cut-in")
            .some(
              (e) =>
                e.event?.$case === "utteranceEnded" &&
                e.event.value.utteranceId === playing.utteranceId &&
                e.event.value.interrupted,
            ),
        ).toBe(true),
      { timeoutMs: 20_000 },
    );
    // Said once, and what was heard of it is less than all of it.
    const cut = stack
      .eventsOf("cut-in")
      .filter((e) => e.event?.$case === "utteranceEnded" && e.event.value.utteranceId === playing.utteranceId);
    expect(cut).toHaveLength(1);
    expect(cut[0]!.event?.value).toMatchObject({ interrupted: true });
    expect((cut[0]!.event!.value as { durationMs: number }).durationMs).toBeLessThan(playing.words.at(-1)!.endMs);
    // The answer is said next, with the catalog's price.
    const answer = await eventually(
      () => {
        const found = stack.utterances("cut-in").find((u) => u.commentId === "q-price");
        expect(found).toBeDefined();
        return found!;
      },
      { timeoutMs: 30_000, intervalMs: 50 },
    );
    expect(answer.source).toBe(UtteranceSource.UTTERANCE_SOURCE_ANSWER);
    expect(answer.text).toContain("79");
    expect(
      stack
        .eventsOf("cut-in")
        .some((e) => e.event?.$case === "commentAnswered" && e.event.value.commentId === "q-price"),
    ).toBe(true);
    // Then the show resumes from the sentence it cut: the same place, said again from its start.
    const before = stack.utterances("cut-in").indexOf(answer);
    const resumed = await eventually(
      () => {
        const next = stack.utterances("cut-in").slice(before).find(isShow);
        expect(next).toBeDefined();
        return next!;
      },
      { timeoutMs: 30_000, intervalMs: 50 },
    );
    expect(showPlace(resumed)).toEqual(showPlace(playing));
    expect(resumed.text).toBe(playing.text);
    await eventually(async () => expect((await stack.get("cut-in")).status?.commentsAnswered).toBe(1));
  });
});
