// A room host paused past its lease (SIGSTOP) while another host takes its room, then resumed (SIGCONT): the
// resumed host must not publish, speak or stream for the room any more. Checked over several pauses, the room
// going back and forth between the two hosts, with real processes.
import { setTimeout as sleep } from "node:timers/promises";
import { describe, expect, it } from "vitest";
import { RoomState } from "../proto/index.js";
import { callUnary } from "../transport/index.js";
import { eventually } from "../testing/index.js";
import { createLiveRoom, fixtureRoomSpec, startLocalStack, type RoleProcess } from "./harness.js";

/** A metric of a role process, summed over its labels, from its /metrics. */
async function metric(role: RoleProcess, name: string): Promise<number> {
  const text = await (await fetch(role.endpoints.metrics!)).text();
  return text
    .split("\n")
    .filter((line) => line.startsWith(`${name} `) || line.startsWith(`${name}{`))
    .reduce((sum, line) => sum + Number(line.split(" ").at(-1)), 0);
}

describe("a room host paused past its lease and resumed", () => {
  it("publishes, says and streams nothing more for the room another host took, pause after pause", async () => {
    // With its thread pool sized, the CLI runs the room host in the process it was started as: that is the one paused.
    await using stack = await startLocalStack({ roomHosts: 2, roomHostEnv: { UV_THREADPOOL_SIZE: "64" } });
    const roomId = "e2e-paused-host";
    const spec = await fixtureRoomSpec("zh");
    spec.voice!.speed = 2;
    const { watch } = await createLiveRoom(stack.rooms, roomId, spec);
    using _watch = watch;
    const hostOf = async () => (await callUnary(stack.rooms.getRoom.bind(stack.rooms), { roomId })).status!;

    for (let pause = 1; pause <= 3; pause++) {
      const holder = await eventually(async () => {
        const status = await hostOf();
        expect(status.state).toBe(RoomState.ROOM_STATE_LIVE);
        return stack.roomHosts.find((h) => h.id === status.hostId)!;
      });
      const other = stack.roomHosts.find((h) => h !== holder)!;
      // On air and speaking on its holder.
      const spoken = watch.utterances().length;
      await watch.waitFor(() => watch.utterances()[spoken], 30_000, `a sentence before pause ${pause}`);
      const framesOut = async () =>
        (await metric(holder, "livehost_media_video_frames_total")) -
        (await metric(holder, "livehost_media_dropped_frames_total"));
      const asked = performance.now();
      const framesBefore = await framesOut();
      const eventsBefore = watch.events.length;

      holder.child.kill("SIGSTOP");
      // Frames the holder made between answering the count and the signal landing are not "after the pause": at
      // 15 fps, one per 67 ms of that time (the count's round trip included), which a busy machine makes long.
      const inFlight = Math.ceil(((performance.now() - asked) * 15) / 1000);
      await watch.waitFor(
        (e) =>
          watch.events.indexOf(e) >= eventsBefore &&
          e.event?.$case === "stateChanged" &&
          e.event.value.reason === "HostChanged" &&
          e.event.value.message === `now on ${other.id}`
            ? e
            : undefined,
        30_000,
        `HostChanged to ${other.id} after pause ${pause}`,
      );
      holder.child.kill("SIGCONT");
      // The resumed host finds its lease gone at its next renewal; give it time to do anything it would do.
      await sleep(3_000);

      // Nothing streamed: no frame went out after the pause (the few before the signal landed aside); the frames its
      // clock made up for on waking were withheld.
      expect(await framesOut()).toBeLessThanOrEqual(framesBefore + 2 + inFlight);
      // Off air there, on air on the other host, which still speaks.
      expect(await metric(holder, "livehost_rooms_on_air")).toBe(0);
      expect((await hostOf()).hostId).toBe(other.id);
      const now = watch.utterances().length;
      await watch.waitFor(() => watch.utterances()[now], 30_000, `a sentence on ${other.id} after pause ${pause}`);
    }

    // Nothing published by a paused host: every event numbered once, in order (no repeat, none out of order).
    const sequences = watch.events.map((e) => e.sequence);
    expect(sequences.slice(1).filter((s, i) => s <= sequences[i]!)).toEqual([]);
    // Every pause was noticed by the paused host itself, and none took the room back.
    const lost = await Promise.all(stack.roomHosts.map((h) => metric(h, "livehost_actor_host_lease_lost_total")));
    expect(lost.reduce((a, b) => a + b, 0)).toBe(3);
  });
});
