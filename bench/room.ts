// Live rooms against the product's budget: a viewer's comment published on NATS → the first sample of its spoken
// answer going into the room's muxed output, with 1 and 10 rooms on air on this machine, the embedded brain and the
// project's models; where the time goes (the answer's stages); and how many rooms this machine keeps on air in real
// time at 720x1280.
//
// Everything is real and on loopback: nats-server, a room host with its media graphs (x264 + AAC to HLS), a TTS
// worker and a lip-sync worker, all in this process (which is why the libuv pool is raised by `npm run bench`).
import type { Registry } from "../observability/index.js";
import { Comment, RoomEvent, UtteranceSource } from "../proto/index.js";
import { enqueueComment } from "../rooms/internal.js";
import { onAir, type Size } from "./rooms-on-air.js";
import { round, summarize } from "./stats.js";
import type { BenchContext } from "./main.js";

const questions = ["这个保温杯多少钱？", "杯子有什么颜色", "连衣裙还有货吗", "有优惠券吗", "什么时候发货"];

export async function run({ log, quick }: BenchContext): Promise<Record<string, unknown>> {
  const small: Size = { width: 360, height: 640, preset: "ultrafast" };
  const portrait: Size = { width: 720, height: 1280, preset: "veryfast" };
  const by_rooms: Record<string, unknown> = {};
  let tenRooms: Awaited<ReturnType<typeof latency>> | undefined;
  for (const rooms of [1, 10]) {
    log(`comment → answer audio with ${rooms} room(s) on air at ${small.width}x${small.height} x264 ${small.preset}`);
    const result = await latency(rooms, small, quick ? 2 : 6, log);
    by_rooms[String(rooms)] = {
      comment_to_audio_ms_p50: result.total.p50,
      comment_to_audio_ms_p95: result.total.p95,
      answers: result.total.n,
      frames_dropped: result.dropped,
    };
    if (rooms === 10) tenRooms = result;
  }
  log(`rooms on air in real time at ${portrait.width}x${portrait.height} x264 ${portrait.preset}`);
  const live = await roomsLiveMax(portrait, quick ? 2 : 8, log);
  const t = tenRooms!;
  return {
    comment_to_audio_ms_p50: t.total.p50,
    comment_to_audio_ms_p95: t.total.p95,
    beyond_model_ms_p95: t.beyondModel.p95,
    beyond_model_note:
      "comment → answer audio minus model compute: the brain's own time to its first sentence, TTS to its first chunk, lip-sync to its first frame",
    rooms: 10,
    output: `${small.width}x${small.height}@25 x264 ${small.preset}, HLS, embedded brain and voices`,
    by_rooms,
    moderation_ms: t.stages.moderation,
    brain_ms: t.stages.brain,
    tts_first_chunk_ms: t.stages.ttsFirstChunk,
    lipsync_first_frame_ms: t.stages.lipsyncFirstFrame,
    mux_ms: t.stages.mux,
    stages_note: "p50 per answer; brain includes waiting for the sentence playing to end (at most 250 ms)",
    rooms_live_max: live.max,
    rooms_live_detail: live.detail,
    rooms_live_note: `${portrait.width}x${portrait.height}@25 x264 ${portrait.preset}: rooms that kept 25 fps with no dropped frame for the trial`,
  };
}

/**
 * Viewers' questions to every room, each timed from its publish to its answer's first muxed sample. A room gets its
 * next question once it is back to its show (answers are not cut by other questions, so asking during an answer
 * measures the answer's length, not the path), at a random point of a show sentence.
 */
async function latency(rooms: number, size: Size, perRoom: number, log: (m: string) => void) {
  return onAir(rooms, size, async ({ nc, ids, registry, heard }) => {
    await sleep(3_000); // every show speaking
    const published = new Map<string, number>();
    const showStarts = new Map<string, number>();
    const subscription = nc.subscribe("livehost.events.rooms.*", {
      callback: (_err, msg) => {
        const event = RoomEvent.decode(msg.data);
        if (
          event.event?.$case === "utteranceStarted" &&
          event.event.value.source === UtteranceSource.UTTERANCE_SOURCE_SHOW
        ) {
          showStarts.set(event.roomId, performance.now());
        }
      },
    });
    let random = 42;
    const next = () => (random = (random * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31;
    await Promise.all(
      ids.map(async (roomId) => {
        for (let round = 0; round < perRoom; round++) {
          await sleep(300 + Math.round(next() * 2_500));
          const commentId = `${roomId}-q${round}`;
          published.set(commentId, performance.now());
          await enqueueComment(
            nc,
            Comment.fromPartial({
              commentId,
              roomId,
              viewerId: `v${round}`,
              text: questions[round % questions.length],
            }),
          );
          // Heard, then the show again.
          const deadline = performance.now() + 60_000;
          while (performance.now() < deadline) {
            const answer = heard.get(commentId);
            if (answer && (showStarts.get(roomId) ?? 0) > answer.at) break;
            await sleep(100);
          }
        }
      }),
    );
    subscription.unsubscribe();
    log(`  ${heard.size} of ${rooms * perRoom} answers heard`);
    const totals: number[] = [];
    const beyond: number[] = [];
    const stages = { brain: [] as number[], ttsFirstChunk: [] as number[] };
    const lip: number[] = [];
    const mux: number[] = [];
    for (const [commentId, { stages: s, at }] of heard) {
      const sent = published.get(commentId);
      if (sent === undefined) continue;
      // From the publish: NATS, JetStream and the room actor's mailbox are part of the path.
      totals.push(at - sent);
      // Model compute: the brain's first sentence, TTS to its first chunk, lip-sync to its first frame.
      beyond.push(at - sent - s.brainCompute - s.ttsFirstChunk - s.lipsyncFirstFrame);
      stages.brain.push(s.brain);
      stages.ttsFirstChunk.push(s.ttsFirstChunk);
      lip.push(s.lipsyncFirstFrame);
      mux.push(s.mux);
    }
    const moderation = await histogramMeanMs(registry, "livehost_room_answer_stage_seconds", "moderation");
    const dropped = await counterValue(registry, "livehost_media_dropped_frames_total");
    return {
      total: summarize(totals),
      beyondModel: summarize(beyond),
      dropped,
      stages: {
        moderation: round(moderation, 3),
        brain: summarize(stages.brain).p50,
        ttsFirstChunk: summarize(stages.ttsFirstChunk).p50,
        lipsyncFirstFrame: summarize(lip).p50,
        mux: summarize(mux).p50,
      },
    };
  });
}

/** Adds rooms while every room keeps 25 fps with no dropped frame over a trial. */
async function roomsLiveMax(size: Size, maxRooms: number, log: (m: string) => void) {
  const detail: Record<string, { fps: number; dropped: number }> = {};
  let max = 0;
  for (let rooms = 1; rooms <= maxRooms; rooms++) {
    const result = await onAir(rooms, size, async ({ registry }) => {
      await sleep(2_000);
      const frames0 = await counterValue(registry, "livehost_media_video_frames_total");
      const dropped0 = await counterValue(registry, "livehost_media_dropped_frames_total");
      const seconds = 8;
      await sleep(seconds * 1_000);
      const frames = (await counterValue(registry, "livehost_media_video_frames_total")) - frames0;
      const dropped = (await counterValue(registry, "livehost_media_dropped_frames_total")) - dropped0;
      return { fps: round(frames / seconds / rooms, 1), dropped };
    });
    detail[String(rooms)] = result;
    log(`  ${rooms} room(s): ${result.fps} fps each, ${result.dropped} frames dropped`);
    if (result.fps < 24.5 || result.dropped > 0) break;
    max = rooms;
  }
  return { max, detail };
}

async function counterValue(registry: Registry, name: string): Promise<number> {
  const metric = registry.getSingleMetric(name);
  if (!metric) return 0;
  return (await metric.get()).values.reduce((sum, v) => sum + v.value, 0);
}

async function histogramMeanMs(registry: Registry, name: string, stage: string): Promise<number> {
  const text = await registry.getSingleMetricAsString(name);
  const value = (suffix: string) =>
    Number(new RegExp(`^${name}_${suffix}\\{stage="${stage}"\\} (\\S+)$`, "m").exec(text)?.[1] ?? 0);
  const count = value("count");
  return count === 0 ? 0 : (value("sum") / count) * 1000;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
