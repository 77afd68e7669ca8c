// Interrupt and human takeover over RoomService while the show speaks: the line is cut, and the show then goes on
// from the sentence that was cut, not from its start nor from the sentence after.
import { setTimeout as sleep } from "node:timers/promises";
import { describe, expect, it } from "vitest";
import { UtteranceSource, type RoomEvent, type UtteranceStarted } from "../proto/index.js";
import { InvalidArgumentError } from "../errors/index.js";
import { callUnary } from "../transport/index.js";
import { showPlace } from "../testing/index.js";
import { createLiveRoom, fixtureRoomSpec, startLocalStack, watchRoom } from "./harness.js";

const roomId = "e2e-interrupt";

/** Where a show sentence is in the show, as "<loop>-<line>-<sentence>". */
const placeOf = (u: UtteranceStarted) => showPlace(u).join("-");
const isShow = (u: UtteranceStarted) => u.source === UtteranceSource.UTTERANCE_SOURCE_SHOW;
/**
 * A sentence is synthesized at most 0.6 s before the one playing ends, and each lasts seconds: 1.2 s after its
 * utteranceStarted it is the one the audience hears, and the next one is not queued yet.
 */
const whileItPlays = () => sleep(1_200);

describe("Interrupt and Say", () => {
  it("cut the show's sentence, the show says it again once, and moves on when it is cut again", async () => {
    await using stack = await startLocalStack();
    const { watch } = await createLiveRoom(stack.rooms, roomId, await fixtureRoomSpec("zh"));
    using _watch = watch;
    const rooms = stack.rooms;
    const showAfter = (count: number, what: string) =>
      watch.waitFor(() => watch.utterances().filter(isShow)[count], 30_000, what);

    // The show's second sentence plays; an operator interrupts it.
    const cut = await showAfter(1, "second show sentence");
    await whileItPlays();
    await callUnary(rooms.interrupt.bind(rooms), { roomId });
    const resumed = await showAfter(2, "show sentence after Interrupt");
    expect(placeOf(resumed)).toBe(placeOf(cut));
    expect(resumed.text).toBe(cut.text);
    expect(resumed.utteranceId).not.toBe(cut.utteranceId);

    // A human takes over a line while that sentence plays again.
    await whileItPlays();
    const { utteranceId } = await callUnary(rooms.say.bind(rooms), {
      roomId,
      text: "家人们稍等，库存马上更新。",
      interrupt: true,
      requestId: "takeover-1",
      overrideGuard: false,
    });
    expect(utteranceId).toBe("say-takeover-1");
    // A human's line goes through the guard generated speech goes through: a price the catalog does not have and
    // a promise the listing does not make are refused, naming the field, and nothing is said.
    const refused = callUnary(rooms.say.bind(rooms), {
      roomId,
      text: "家人们，全场只要1块钱，终身保修！",
      interrupt: false,
      requestId: "ungrounded-1",
      overrideGuard: false,
    });
    await expect(refused).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(refused).rejects.toMatchObject({ field: "text" });
    const human = await watch.waitForUtterance((u) => u.utteranceId === utteranceId, 30_000, "the human's line");
    expect(human).toMatchObject({ source: UtteranceSource.UTTERANCE_SOURCE_HUMAN, text: "家人们稍等，库存马上更新。" });
    // Cut a second time, that sentence is left behind: after the human's line the show moves on to the next one.
    const next = await watch.waitFor(() => {
      const all = watch.utterances();
      return all.slice(all.indexOf(human)).find(isShow);
    }, 30_000);
    expect(placeOf(next)).not.toBe(placeOf(cut));
    expect(watch.utterances().filter(isShow).map(placeOf)).toEqual([
      placeOf(watch.utterances().filter(isShow)[0]!),
      placeOf(cut),
      placeOf(cut),
      placeOf(next),
    ]);
    // Cutting in is normal operation: GStreamer warned about nothing in the room host.
    expect(stack.roomHosts.flatMap((host) => host.gstreamerWarnings())).toEqual([]);
  });

  it("says in WatchRoom that the sentence was cut", async () => {
    await using stack = await startLocalStack();
    const { watch } = await createLiveRoom(stack.rooms, roomId, await fixtureRoomSpec("zh"));
    using _watch = watch;
    const cut = await watch.waitFor(() => watch.utterances().filter(isShow)[1], 30_000, "second show sentence");
    await whileItPlays();
    await callUnary(stack.rooms.interrupt.bind(stack.rooms), { roomId });
    const ended = await watch.waitFor(
      (e) =>
        e.event?.$case === "utteranceEnded" &&
        e.event.value.utteranceId === cut.utteranceId &&
        e.event.value.interrupted
          ? e.event.value
          : undefined,
      10_000,
      "utteranceEnded {interrupted: true}",
    );
    expect(ended.interrupted).toBe(true);

    // A watcher resuming from an early sequence replays everything since, the show's sentences and cues included
    // (sent live only, kept on the gateway's request), exactly as the first watcher saw them.
    const from = watch.events[2]!.sequence;
    const upTo = watch.events.at(-1)!.sequence;
    using resumed = watchRoom(stack.rooms, roomId, from);
    await resumed.waitFor((e) => (e.sequence >= upTo ? true : undefined), 15_000, `event ${upTo}`);
    const span = (events: RoomEvent[]) =>
      events.filter((e) => e.sequence > from && e.sequence <= upTo).map((e) => `${e.sequence} ${e.event?.$case}`);
    expect(span(resumed.events)).toEqual(span(watch.events));
    expect(span(resumed.events).some((e) => e.endsWith("utteranceStarted"))).toBe(true);
  });
});
