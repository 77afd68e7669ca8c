// Faults a live room survives, with real processes: its room host killed (SIGKILL) — the room comes back on the
// other host and its show goes on from where it was, not from the opening — and a TTS or lip-sync worker killed
// while the room speaks — the utterance is spoken (or animated) by the other worker and the room goes on without an
// error.
import { describe, expect, it } from "vitest";
import { UtteranceSource, RoomState, type UtteranceStarted } from "../proto/index.js";
import { callUnary } from "../transport/index.js";
import { compareShowPlaces, eventually, showPlace } from "../testing/index.js";
import {
  createLiveRoom,
  fixtureRoomSpec,
  startLocalStack,
  type LocalStack,
  type RoleProcess,
  type RoomWatch,
} from "./harness.js";

/** The show at double speed: the same sentences, twice as many in the same time. */
async function quickShow() {
  const spec = await fixtureRoomSpec("zh");
  spec.voice!.speed = 2;
  return spec;
}

const isShow = (u: UtteranceStarted) => u.source === UtteranceSource.UTTERANCE_SOURCE_SHOW;

/** Seconds of speech a TTS worker has synthesized, from its /metrics. */
/** The sum of a counter's series on a worker's /metrics. */
async function counted(worker: RoleProcess, metric: string): Promise<number> {
  const metrics = await (await fetch(worker.endpoints.metrics!)).text();
  return metrics
    .split("\n")
    .filter((line) => line.startsWith(`${metric}{`) || line.startsWith(`${metric} `))
    .reduce((sum, line) => sum + Number(line.split(" ").at(-1)), 0);
}

const audioSecondsMade = (worker: RoleProcess) => counted(worker, "livehost_tts_audio_seconds_total");
const mouthFramesMade = (worker: RoleProcess) => counted(worker, "livehost_lipsync_frames_total");

/** The TTS worker speaking the room's show, found by the audio it has made once the first show sentence started. */
async function speakingTtsWorker(stack: LocalStack, watch: RoomWatch): Promise<RoleProcess> {
  await watch.waitFor(() => watch.utterances().filter(isShow)[0], 30_000, "first show sentence");
  return eventually(async () => {
    const made = await Promise.all(stack.ttsWorkers.map(audioSecondsMade));
    const index = made.findIndex((seconds) => seconds > 0);
    expect(index).toBeGreaterThanOrEqual(0);
    return stack.ttsWorkers[index]!;
  });
}

describe("a live room", () => {
  it("comes back on the other room host when its host is killed, and keeps its place in the show", async () => {
    await using stack = await startLocalStack({ roomHosts: 2 });
    const roomId = "e2e-failover-host";
    const { room, watch } = await createLiveRoom(stack.rooms, roomId, await quickShow());
    using _watch = watch;
    const first = stack.roomHosts.find((host) => host.id === room.status?.hostId)!;
    const other = stack.roomHosts.find((host) => host !== first)!;
    expect(first).toBeDefined();

    // The show is past its opening when the host dies.
    await watch.waitFor(() => watch.utterances().filter(isShow)[3], 40_000, "fourth show sentence");
    const beforeKill = watch.utterances().filter(isShow);
    const lastPlace = showPlace(beforeKill.at(-1)!);
    await first.kill();

    // Another host takes the room, on air, and says so.
    const moved = await watch.waitFor(
      (e) => (e.event?.$case === "stateChanged" && e.event.value.reason === "HostChanged" ? e.event.value : undefined),
      30_000,
      "HostChanged",
    );
    expect(moved).toMatchObject({ to: RoomState.ROOM_STATE_LIVE, message: `now on ${other.id}` });
    await eventually(async () =>
      expect((await callUnary(stack.rooms.getRoom.bind(stack.rooms), { roomId })).status).toMatchObject({
        hostId: other.id,
        state: RoomState.ROOM_STATE_LIVE,
      }),
    );

    // The show goes on from where it was: at or after the last sentence started before the kill, never the opening.
    const resumed = await watch.waitFor(
      () => watch.utterances().filter(isShow)[beforeKill.length],
      30_000,
      "show sentence on the new host",
    );
    expect(compareShowPlaces(showPlace(resumed), lastPlace)).toBeGreaterThanOrEqual(0);
    expect(showPlace(resumed)).not.toEqual([0, 0, 0]);
    // And on: the sentence after it follows in order.
    const next = await watch.waitFor(
      () => watch.utterances().filter(isShow)[beforeKill.length + 1],
      30_000,
      "second show sentence on the new host",
    );
    expect(compareShowPlaces(showPlace(next), showPlace(resumed))).toBeGreaterThan(0);
  });

  it("keeps speaking when a TTS worker is killed while it speaks: the other worker says it", async () => {
    await using stack = await startLocalStack({ ttsWorkers: 2, roomHostEnv: { LIVEHOST_LOG_LEVEL: "warn" } });
    const roomId = "e2e-failover-tts";
    const { watch } = await createLiveRoom(stack.rooms, roomId, await quickShow());
    using _watch = watch;

    // The worker speaking the show is found by the audio it has made; it dies as the next sentence starts.
    const speaking = await speakingTtsWorker(stack, watch);
    const spokenBefore = watch.utterances().length;
    await watch.waitFor(() => watch.utterances()[spokenBefore], 30_000, "next sentence");
    await speaking.kill();

    // The room goes on: the next sentences are all said, in order, without a speech error or a stall.
    await watch.waitFor(() => watch.utterances()[spokenBefore + 3], 40_000, "three more sentences");
    const places = watch.utterances().filter(isShow).map(showPlace);
    expect(places.slice(1).every((place, i) => compareShowPlaces(place, places[i]!) >= 0)).toBe(true);
    // The sentence in flight when the worker died was said whole, on the other worker, as were those after it:
    // each ends on the output, not cut, with its audio played.
    for (const u of watch.utterances().slice(spokenBefore - 1, spokenBefore + 2)) {
      const ended = await watch.waitFor(() => watch.ended(u.utteranceId), 30_000, `end of ${u.utteranceId}`);
      expect(ended.interrupted).toBe(false);
      expect(ended.durationMs).toBeGreaterThan(0);
    }
    expect(watch.events.filter((e) => e.event?.$case === "error").map((e) => e.event?.value)).toEqual([]);
    expect(watch.events.filter((e) => e.event?.$case === "stateChanged" && e.event.value.reason === "Stalled")).toEqual(
      [],
    );
    // The dead worker was asked (it was still announced) and the utterance moved to the other one.
    expect(stack.roomHosts[0]!.logs()).toContain("tts worker failed; moving on");
  });

  it("keeps the host's mouth moving when a lip-sync worker is killed mid-sentence: the other worker animates it", async () => {
    await using stack = await startLocalStack({ lipsyncWorkers: 2, roomHostEnv: { LIVEHOST_LOG_LEVEL: "warn" } });
    const roomId = "e2e-failover-lipsync";
    // At the voice's own pace: a sentence's stream lasts seconds, so a worker found drawing is killed mid-stream.
    const { watch } = await createLiveRoom(stack.rooms, roomId, await fixtureRoomSpec("zh"));
    using _watch = watch;

    // The worker animating the show is found drawing frames (its count rising between two looks 150 ms apart), and
    // is killed there and then: in the middle of a sentence's stream.
    await watch.waitFor(() => watch.utterances().filter(isShow)[0], 30_000, "first show sentence");
    const drawing = async () => {
      for (;;) {
        const before = await Promise.all(stack.lipsyncWorkers.map(mouthFramesMade));
        await new Promise((resolve) => setTimeout(resolve, 150));
        const after = await Promise.all(stack.lipsyncWorkers.map(mouthFramesMade));
        const index = after.findIndex((frames, i) => frames > before[i]!);
        if (index >= 0) return stack.lipsyncWorkers[index]!;
      }
    };
    const animating = await drawing();
    const other = stack.lipsyncWorkers.find((worker) => worker !== animating)!;
    const drawnBefore = await mouthFramesMade(other);
    await animating.kill();
    const spokenBefore = watch.utterances().length;

    // The room goes on, and the other worker draws the mouth from then on: the sentence in flight included.
    await watch.waitFor(() => watch.utterances()[spokenBefore + 2], 40_000, "two more sentences");
    for (const u of watch.utterances().slice(spokenBefore - 1, spokenBefore + 1)) {
      const ended = await watch.waitFor(() => watch.ended(u.utteranceId), 30_000, `end of ${u.utteranceId}`);
      expect(ended.interrupted).toBe(false);
      expect(ended.durationMs).toBeGreaterThan(0);
    }
    expect(await mouthFramesMade(other)).toBeGreaterThan(drawnBefore);
    expect(watch.events.filter((e) => e.event?.$case === "error").map((e) => e.event?.value)).toEqual([]);
    const logs = stack.roomHosts[0]!.logs();
    expect(logs).toContain("lip-sync worker failed");
    expect(logs).not.toContain("no lip-sync worker");
  }, 120_000);

  it("keeps speaking when a TTS worker is drained as on a spot interruption notice: no sentence is lost", async () => {
    // The operator evicts the workers on a node under notice: each gets SIGTERM, says DRAINING, finishes what it
    // speaks and takes nothing new. The room's next sentences go to the other worker, with no failure to recover from.
    await using stack = await startLocalStack({ ttsWorkers: 2, roomHostEnv: { LIVEHOST_LOG_LEVEL: "info" } });
    const roomId = "e2e-drain-tts";
    const { watch } = await createLiveRoom(stack.rooms, roomId, await quickShow());
    using _watch = watch;

    const speaking = await speakingTtsWorker(stack, watch);
    const spokenBefore = watch.utterances().length;
    const drained = speaking.stop(30_000);

    await watch.waitFor(() => watch.utterances()[spokenBefore + 3], 40_000, "three more sentences");
    await drained;
    expect(speaking.child.exitCode).toBe(0); // it drained and stopped by itself, not killed at the grace's end
    const places = watch.utterances().filter(isShow).map(showPlace);
    expect(places.slice(1).every((place, i) => compareShowPlaces(place, places[i]!) >= 0)).toBe(true);
    expect(watch.events.filter((e) => e.event?.$case === "error").map((e) => e.event?.value)).toEqual([]);
    expect(watch.events.filter((e) => e.event?.$case === "stateChanged" && e.event.value.reason === "Stalled")).toEqual(
      [],
    );
    expect(stack.roomHosts[0]!.logs()).not.toContain("tts worker failed");
  });
});
