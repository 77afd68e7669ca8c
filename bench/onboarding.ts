// `npm run bench -- onboarding`: a merchant's path from upload to air, measured as the merchant sees it, on the local
// stack with every role a process (as `livehost up` runs it): NATS, a room host, a gateway, TTS and lip-sync workers,
// job workers.
//   - upload_to_live_s: from the first byte of a 60 s 720x1280 talking-head video (made by the project from a real
//     photo in face-api's package, with espeak-ng's voice) going up in SubmitJob, until a viewer can play the room:
//     its HLS playlist, fetched from the gateway as a player does, lists a segment that downloads whole; p50 over 3
//     runs, with each step's time (from the job's own step times, and live_to_first_segment: GetRoom says LIVE to
//     that segment);
//   - faceid_true_accept_rate / faceid_false_accept_rate: onboarding/faceid-eval.ts on face-api's six package photos
//     (22 real faces, each probed in crops, light, turns and mirror; the project's drawn host as an impostor too);
//   - quality_rank_correlation: the quality score against the degradations planted at graded severities
//     (media/testing/calibration.ts), Spearman within each kind, the mean over kinds;
//   - resume_ms: a job worker killed (SIGKILL) while a job's avatar is being built, until another worker's RESUMED
//     event; and whether that job then ended SUCCEEDED exactly once with exactly one room.
// Every figure is computed by this run. --quick: one run of a 20 s video, no FaceID evaluation.
import { fork } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { credentials } from "@grpc/grpc-js";
import { startStack } from "../cli/internal.js";
import { calibrate } from "../media/internal.js";
import {
  evaluateFaceId,
  facePhoto,
  followJob,
  hostFace,
  makeTalkingHeadVideo,
  submission,
  submitVideo,
} from "../onboarding/internal.js";
import type { RoomSpec } from "../proto/index.js";
import { JobEventKind, JobState, OnboardingServiceClient, RoomServiceClient, RoomState } from "../proto/index.js";
import { bearerToken, callUnary } from "../transport/index.js";
import { findToken } from "../trust/index.js";
import { sampleRoomSpec } from "../testing/index.js";
import type { BenchContext } from "./main.js";

const round = (n: number, digits = 2) => Math.round(n * 10 ** digits) / 10 ** digits;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const mainScript = fileURLToPath(new URL("../cli/main.js", import.meta.url));

function roomSpec(): RoomSpec {
  return sampleRoomSpec({
    avatar: undefined,
    output: {
      video: { widthPx: 720, heightPx: 1280, fps: 25, bitrateKbps: 2500 },
      audioBitrateKbps: 128,
      outputs: [{ kind: { $case: "hls", value: { segmentDurationS: 2, playlistLength: 6 } } }],
      aiLabel: undefined,
    },
  });
}

const submit = (client: OnboardingServiceClient, requestId: string, video: Buffer) =>
  submitVideo(client, submission({ requestId, room: roomSpec() }), video);
const follow = followJob;

/** When GetRoom first says the room is LIVE. */
async function waitLive(rooms: RoomServiceClient, roomId: string): Promise<number> {
  for (;;) {
    const room = await callUnary(rooms.getRoom.bind(rooms), { roomId });
    if (room.status?.state === RoomState.ROOM_STATE_LIVE) return performance.now();
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * When a viewer can first play the room: its HLS playlist, as the gateway serves it to players, lists a segment and
 * that segment downloads whole.
 */
async function waitFirstSegment(viewer: string, roomId: string): Promise<number> {
  const base = new URL(`/media/${encodeURIComponent(roomId)}/hls/`, viewer);
  for (;;) {
    const playlist = await fetch(new URL("index.m3u8", base)).catch(() => undefined);
    const text = playlist?.ok ? await playlist.text() : "";
    const segment = text.split("\n").find((line) => line.trim() !== "" && !line.startsWith("#"));
    if (segment) {
      const media = await fetch(new URL(segment.trim(), base));
      if (media.ok && (await media.arrayBuffer()).byteLength > 0) return performance.now();
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

export async function run(ctx: BenchContext): Promise<Record<string, unknown>> {
  const runs = ctx.quick ? 1 : 3;
  const seconds = ctx.quick ? 20 : 60;
  const dir = await mkdtemp(join(tmpdir(), "livehost-bench-onboarding-"));
  ctx.log(`making a ${seconds} s 720x1280 talking-head video from a package photo`);
  const made = await makeTalkingHeadVideo({ out: join(dir, "host.mp4"), seconds, width: 720, height: 1280 });
  const video = await readFile(made.path);
  ctx.log(`starting the local stack (every role a process)`);
  const stack = await startStack({ mediaDir: join(dir, "media") });
  const figures: Record<string, unknown> = {};
  try {
    const gatewayRole = stack.roles.find((r) => r.role === "gateway")!;
    const gateway = gatewayRole.endpoints.grpc!;
    const viewer = gatewayRole.endpoints.http;
    if (!viewer) throw new Error("the stack's gateway serves no viewer page: nowhere to play the room from");
    const token = (await findToken())!;
    const interceptors = [bearerToken(token)];
    const client = new OnboardingServiceClient(gateway, credentials.createInsecure(), { interceptors });
    const rooms = new RoomServiceClient(gateway, credentials.createInsecure(), { interceptors });
    const photo = await facePhoto(hostFace, { degrees: 4, light: { brightness: 12 } });
    await callUnary(client.registerFace.bind(client), { tenant: "", faceId: "host", photo, displayName: "Host" });

    const totals: number[] = [];
    const steps: Record<string, number[]> = {};
    for (let i = 0; i < runs; i++) {
      const started = performance.now();
      const job = await submit(client, `bench-${Date.now()}-${i}`, video);
      const uploaded = performance.now();
      const events = await follow(client, job.id);
      const ended = events.at(-1)!.job!;
      if (ended.state !== JobState.JOB_STATE_SUCCEEDED) {
        const why = JSON.stringify(ended.failure ?? events.at(-1)!.message);
        throw new Error(
          `run ${i + 1}: the job ended ${JobState[ended.state]}: ${why} ${JSON.stringify(ended.quality)}`,
        );
      }
      const live = await waitLive(rooms, ended.roomId);
      const playable = await waitFirstSegment(viewer, ended.roomId);
      const total = (playable - started) / 1000;
      totals.push(total);
      (steps.live_to_first_segment ??= []).push((playable - live) / 1000);
      steps.upload = [...(steps.upload ?? []), (uploaded - started) / 1000];
      for (const step of ended.steps) {
        if (step.name === "upload" || !step.startTime || !step.endTime) continue;
        (steps[step.name] ??= []).push((step.endTime.getTime() - step.startTime.getTime()) / 1000);
      }
      ctx.log(`run ${i + 1}: upload to live ${total.toFixed(1)} s (quality ${ended.quality?.score.toFixed(0)})`);
      await callUnary(rooms.stopRoom.bind(rooms), { roomId: ended.roomId, requestId: "", reason: "bench over" });
    }
    figures.upload_to_live_s = round(median(totals), 1);
    figures.upload_to_live_s_runs = totals.map((t) => round(t, 1));
    figures.step_s_p50 = Object.fromEntries(Object.entries(steps).map(([k, v]) => [k, round(median(v), 1)]));
    figures.video = { seconds, width: 720, height: 1280, bytes: video.length };

    // A worker killed mid-step: a second job worker takes the job up once the first one's messages stop.
    ctx.log("resume: a job worker killed while it builds an avatar");
    const first = stack.roles.find((r) => r.role === "job-worker")!;
    // Only the stack's job worker runs when the job is taken, so it holds it; a second one starts meanwhile, and the
    // first is killed once the avatar is being built.
    const job = await submit(client, `bench-resume-${Date.now()}`, video);
    let killedAt = 0;
    let resumedAt = 0;
    let second: ReturnType<typeof fork> | undefined;
    const events = await follow(client, job.id, (event) => {
      if (event.kind === JobEventKind.JOB_EVENT_KIND_STEP_STARTED && event.step === "material" && !second) {
        second = fork(mainScript, ["job-worker", "--nats", stack.nats.url], {
          stdio: ["ignore", "inherit", "inherit", "ipc"],
          env: { ...process.env, LIVEHOST_LOG_LEVEL: "warn" },
        });
      }
      if (event.kind === JobEventKind.JOB_EVENT_KIND_STEP_STARTED && event.step === "avatar" && killedAt === 0) {
        killedAt = performance.now();
        process.kill(first.pid, "SIGKILL");
      }
      if (event.kind === JobEventKind.JOB_EVENT_KIND_RESUMED && resumedAt === 0) resumedAt = performance.now();
    });
    second?.kill("SIGTERM");
    const ended = events.at(-1)!.job!;
    const list = await callUnary(rooms.listRooms.bind(rooms), {
      pageSize: 500,
      pageToken: "",
      state: RoomState.ROOM_STATE_UNSPECIFIED,
      labels: {},
      tenant: "",
    });
    figures.resume_ms = resumedAt > 0 ? Math.round(resumedAt - killedAt) : null;
    figures.resume_finished_once =
      ended.state === JobState.JOB_STATE_SUCCEEDED &&
      events.filter((e) => e.kind === JobEventKind.JOB_EVENT_KIND_SUCCEEDED).length === 1 &&
      list.rooms.filter((r) => r.id === ended.roomId).length === 1;
    figures.resume_attempts = ended.attempts;
    client.close();
    rooms.close();
  } finally {
    await stack.stop();
  }

  if (!ctx.quick) {
    ctx.log("FaceID: face-api's package photos, augmented (about 2 minutes)");
    const faceid = await evaluateFaceId();
    Object.assign(figures, {
      faceid_true_accept_rate: round(faceid.true_accept_rate, 3),
      faceid_false_accept_rate: faceid.false_accept_rate,
      faceid_false_accepts: faceid.false_accepts,
      faceid: {
        images: faceid.images,
        identities: faceid.identities,
        genuine_pairs: faceid.genuine_pairs,
        impostor_pairs: faceid.impostor_pairs,
        threshold: faceid.threshold,
      },
    });
  }
  ctx.log("quality: the score against planted degradations");
  const calibration = await calibrate(join(dir, "quality"));
  figures.quality_rank_correlation = round(calibration.rankCorrelation.mean, 3);
  figures.quality_rank_correlation_min = round(calibration.rankCorrelation.min, 3);
  figures.quality_all_found = calibration.rows.every((r) => r.found);
  await rm(dir, { recursive: true, force: true });
  return figures;
}
