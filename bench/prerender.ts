// Issue 20's prerender_worker_seconds_ratio: the worker compute a 24/7 room costs with its show rendered ahead
// (spec.show.render_ahead) ÷ the same room with everything streamed live, side by side in one run. Each room has its
// own nats-server, room host (in this process) and TTS and lip-sync workers in processes of their own, so each side's
// worker compute is its worker processes' CPU seconds (user + system, /proc). Both rooms loop the same show (the
// embedded template show of one product: its wording varies loop to loop, from a finite set) and get the same
// viewer questions, 2 a minute, at the same moments.
//
// A worker costs some CPU with no room on air (announcing, its timers): that is the pool's, not a room's. A third
// pair of the same workers, with no room, runs beside the two sides over the same windows, and what it uses is taken
// off what each side's workers use (the figures with it left in are printed too). The session is shorter than a room-hour. The live side costs the same every minute, so its hour is its rate ×
// 3,600 s. The side rendering ahead pays most at its start (the show's sentences rendered once) and little after: its
// hour is what its first half cost plus its second half's rate over the rest of the hour. Both are printed with the
// figures they come from, and the ratio over the session itself beside them.
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadCatalogFile, loadPersonasFile, pickPersona, sampleFiles } from "../brain/index.js";
import { startStack, type Stack } from "../cli/internal.js";
import { writeDefaultAvatarPack } from "../gpu-workers/index.js";
import { createRegistry, type Registry } from "../observability/index.js";
import { InvalidArgumentError } from "../errors/index.js";
import { Comment, RoomSpec } from "../proto/index.js";
import { RoomClient, enqueueComment, startRoomHost, type RoomHost } from "../rooms/internal.js";
import { startNatsServer } from "../testing/index.js";
import { connectNats, type NatsConnection, type NatsServerProcess } from "../transport/index.js";
import type { BenchContext } from "./main.js";

export interface PrerenderFigures {
  /**
   * Worker CPU seconds per room-hour rendering ahead ÷ streaming everything live, the workers' idle CPU taken off
   * (extrapolated, see `extrapolation`).
   */
  prerender_worker_seconds_ratio: number;
  /** The same with the workers' idle CPU left in. */
  prerender_worker_seconds_ratio_with_idle: number;
  /** Over the session as measured (idle taken off), the start's renders included. */
  prerender_worker_seconds_ratio_session: number;
  /** Over the session's second half only (idle taken off): the show rendered, answers streamed live. */
  prerender_worker_seconds_ratio_steady: number;
  /** Idle taken off. */
  worker_cpu_s_per_room_hour: { ahead: number; live: number };
  /** As measured, idle left in. */
  worker_cpu_s_session: { ahead: number; live: number; ahead_first_half: number; live_first_half: number };
  /** The pair of workers with no room, beside the two sides over the session, per hour. */
  worker_idle_cpu_s_per_hour: number;
  session_s: number;
  questions_per_minute: number;
  questions_asked: number;
  answers_heard: { ahead: number; live: number };
  /**
   * The answers' share of the live room's speech over the session (RoomStatus.show): answers are streamed live either
   * way, so the ratio cannot go below about this share of the live side's cost.
   */
  answer_share_of_speech: number;
  /** Show sentences of the side rendering ahead, by outcome (livehost_room_prerender_sentences_total). */
  prerender_sentences: Record<string, number>;
  /** Answer sentences of that side: kept (said before, played from what was kept) or live. */
  answer_sentences: Record<string, number>;
  prerender_kept_bytes: number;
  prerender_worker_seconds: number;
  extrapolation: string;
  show: string;
}

const questions = [
  "这个保温杯多少钱？",
  "包邮吗？",
  "有优惠券吗？",
  "什么时候发货？",
  "可以七天无理由退货吗？",
  "保温杯容量多大？",
  "有什么颜色？",
  "保温效果怎么样？",
];

/** One side: its own nats-server, worker processes and room host, one room on air. */
interface Side {
  name: "ahead" | "live";
  nats: NatsServerProcess;
  nc: NatsConnection;
  workers: Stack;
  host: RoomHost;
  registry: Registry;
  pids: number[];
}

export async function measurePrerender(ctx: BenchContext): Promise<PrerenderFigures> {
  // LIVEHOST_BENCH_PRERENDER_SESSION_S=3600: a whole room-hour measured, nothing extrapolated.
  const sessionS = Number(process.env.LIVEHOST_BENCH_PRERENDER_SESSION_S ?? (ctx.quick ? 120 : 600));
  if (!Number.isFinite(sessionS) || sessionS < 60) {
    throw new InvalidArgumentError("LIVEHOST_BENCH_PRERENDER_SESSION_S", "must be a number of seconds, at least 60");
  }
  const perMinute = 2;
  const dir = await mkdtemp(join(tmpdir(), "livehost-bench-prerender-"));
  const avatarsDir = join(dir, "avatars");
  const size = { width: 360, height: 640 };
  await writeDefaultAvatarPack(join(avatarsDir, "default"), size);
  const sides: Side[] = [];
  let control: { nats: NatsServerProcess; workers: Stack } | undefined;
  try {
    for (const name of ["ahead", "live"] as const) {
      const nats = await startNatsServer();
      const nc = await connectNats({ servers: nats.url, name: `bench-prerender-${name}` });
      const workers = await startStack({ natsUrl: nats.url, roles: ["tts-worker", "lipsync-worker"], avatarsDir });
      const registry = createRegistry();
      const host = await startRoomHost({
        nats: nc,
        registry,
        live: { avatarsDir, mediaDir: join(dir, `media-${name}`), x264Preset: "ultrafast" },
      });
      const pids = workers.roles.map((r) => r.process.pid!);
      sides.push({ name, nats, nc, workers, host, registry, pids });
    }
    // The control: the same workers, no room.
    const controlNats = await startNatsServer();
    control = {
      nats: controlNats,
      workers: await startStack({ natsUrl: controlNats.url, roles: ["tts-worker", "lipsync-worker"], avatarsDir }),
    };
    const controlPids = control.workers.roles.map((r) => r.process.pid!);
    const readAll = async () => [...(await Promise.all(sides.map(cpuOf))), await cpuOfPids(controlPids)];

    const spec = await benchSpec(size);
    await Promise.all(
      sides.map(async (side) => {
        const client = new RoomClient(side.nc);
        const roomSpec = {
          ...spec,
          show: { interruption: 0, answersBetweenShowSentences: 0, renderAhead: side.name === "ahead" },
        };
        await client.request("room", {
          $case: "create",
          value: { requestId: "room", roomId: "room", spec: roomSpec, tenant: "" },
        });
        await client.request(
          "room",
          { $case: "start", value: { roomId: "room", requestId: "" } },
          { timeoutMs: 60_000 },
        );
      }),
    );
    ctx.log(`both rooms on air; ${sessionS} s session, ${perMinute} questions a minute to each`);
    // The workers' start-up (loading, measuring their capacity) is theirs, not the rooms'.
    await sleep(5_000);
    const start = await readAll();
    const t0 = performance.now();
    let asked = 0;
    let half: number[] | undefined;
    const everyMs = 60_000 / perMinute;
    while (performance.now() - t0 < sessionS * 1_000) {
      const elapsed = performance.now() - t0;
      if (!half && elapsed >= (sessionS * 1_000) / 2) half = await readAll();
      // A question a little after each half minute, the same to both rooms at once.
      if (elapsed >= asked * everyMs + everyMs / 2) {
        const text = questions[asked % questions.length]!;
        await Promise.all(
          sides.map((side) =>
            enqueueComment(
              side.nc,
              Comment.fromPartial({ commentId: `q-${asked}`, roomId: "room", viewerId: `viewer-${asked}`, text }),
            ),
          ),
        );
        asked++;
      }
      await sleep(250);
      if (Math.round(elapsed / 1_000) % 30 === 0) {
        const now = await Promise.all(sides.map(cpuOf));
        ctx.log(
          `${Math.round(elapsed / 1_000)} s: worker CPU ahead ${(now[0]! - start[0]!).toFixed(1)} s, live ${(now[1]! - start[1]!).toFixed(1)} s`,
        );
        await sleep(1_000);
      }
    }
    const end = await readAll();
    const wallS = (performance.now() - t0) / 1_000;
    half ??= end;
    const used = (i: number) => end[i]! - start[i]!;
    const firstHalf = (i: number) => half[i]! - start[i]!;
    const secondHalf = (i: number) => end[i]! - half[i]!;
    const halfS = wallS / 2;
    // Idle taken off: what the room made its workers do, less what the same workers with no room did meanwhile.
    const net = (i: number, window: (i: number) => number) => Math.max(0, window(i) - window(2));
    const hour = (i: number, idle: boolean) => {
      const less = (window: (i: number) => number) => (idle ? window(i) : net(i, window));
      if (i === 1 || wallS >= 3_600) return (less(used) / wallS) * 3_600;
      return less(firstHalf) + (less(secondHalf) / halfS) * (3_600 - halfS);
    };
    const aheadHour = hour(0, false);
    const liveHour = hour(1, false);
    const [ahead] = sides;
    const outcomes: Record<string, number> = {};
    const answerSentences: Record<string, number> = {};
    for (const line of (await ahead!.registry.metrics()).split("\n")) {
      const match = /^livehost_room_prerender_sentences_total\{outcome="(\w+)"\} (\S+)$/.exec(line);
      if (match) outcomes[match[1]!] = Number(match[2]);
      const answer = /^livehost_room_answer_sentences_total\{from="(\w+)"\} (\S+)$/.exec(line);
      if (answer) answerSentences[answer[1]!] = Number(answer[2]);
    }
    const value = async (side: Side, name: string) => {
      const line = (await side.registry.metrics())
        .split("\n")
        .find((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`));
      return line ? Number(line.split(" ").at(-1)) : 0;
    };
    const statusOf = async (side: Side) =>
      (await new RoomClient(side.nc).request("room", { $case: "get", value: { roomId: "room" } })).room?.status;
    const answers = async (side: Side) => (await statusOf(side))?.commentsAnswered ?? 0;
    const voiced = (await statusOf(sides[1]!))?.show;
    const answerShare = voiced
      ? voiced.answerSecondsLastHour / Math.max(1, voiced.answerSecondsLastHour + voiced.showSecondsLastHour)
      : 0;
    const round = (x: number, digits = 3) => Math.round(x * 10 ** digits) / 10 ** digits;
    return {
      prerender_worker_seconds_ratio: round(aheadHour / liveHour),
      prerender_worker_seconds_ratio_with_idle: round(hour(0, true) / hour(1, true)),
      prerender_worker_seconds_ratio_session: round(net(0, used) / net(1, used)),
      prerender_worker_seconds_ratio_steady: round(net(0, secondHalf) / net(1, secondHalf)),
      worker_cpu_s_per_room_hour: { ahead: round(aheadHour, 1), live: round(liveHour, 1) },
      worker_cpu_s_session: {
        ahead: round(used(0), 2),
        live: round(used(1), 2),
        ahead_first_half: round(firstHalf(0), 2),
        live_first_half: round(firstHalf(1), 2),
      },
      worker_idle_cpu_s_per_hour: round((used(2) / wallS) * 3_600, 1),
      session_s: round(wallS, 1),
      questions_per_minute: perMinute,
      questions_asked: asked,
      answers_heard: { ahead: await answers(sides[0]!), live: await answers(sides[1]!) },
      answer_share_of_speech: round(answerShare),
      prerender_sentences: outcomes,
      // Answer sentences of the side rendering ahead: played from what was kept (said before) or streamed live.
      answer_sentences: answerSentences,
      prerender_kept_bytes: await value(ahead!, "livehost_room_prerender_kept_bytes"),
      prerender_worker_seconds: round(await value(ahead!, "livehost_room_prerender_worker_seconds_total"), 2),
      extrapolation:
        "each side's worker CPU is the CPU seconds (user+system, /proc) of its own TTS and lip-sync worker processes " +
        "while its room is on air, less what a third pair of the same workers with no room used over the same " +
        "window (with_idle: not taken off); " +
        (wallS >= 3_600
          ? "a whole hour was measured: both sides' session rates x 3600 s, nothing extrapolated; "
          : "live: session rate x 3600 s; ahead: first half as measured (most of the show rendered) + second " +
            "half's rate x (3600 s - first half), which counts the second half's renders of new wordings and " +
            "answers as if they went on all hour (they stop once every wording was rendered: over-counts); ") +
        "the same questions (8, in turn) at the same moments to both rooms",
      show: "the embedded template show of one product of the sample zh catalog, looped (a 24/7 room without rewrites), speed 1, 360x640 at 15 fps",
    };
  } finally {
    await Promise.all(
      sides.map(async (side) => {
        await side.host.close();
        await side.workers.stop();
        await side.nc.close();
        await side.nats.stop();
      }),
    );
    await control?.workers.stop();
    await control?.nats.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

export async function run(ctx: BenchContext): Promise<Record<string, unknown>> {
  return { ...(await measurePrerender(ctx)) };
}

/** The side's worker processes' CPU seconds so far. */
function cpuOf(side: Side): Promise<number> {
  return cpuOfPids(side.pids);
}

async function cpuOfPids(pids: number[]): Promise<number> {
  const seconds = await Promise.all(pids.map(processCpuS));
  return seconds.reduce((a, b) => a + b, 0);
}

/** CPU seconds (user + system) a process has used, from /proc (clock ticks of 1/100 s). */
async function processCpuS(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, "utf8").catch(() => "");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11] ?? 0) + Number(fields[12] ?? 0)) / 100;
}

async function benchSpec(size: { width: number; height: number }): Promise<RoomSpec> {
  const catalog = await loadCatalogFile(sampleFiles.catalogZh);
  catalog.products = catalog.products.slice(0, 1);
  return RoomSpec.fromPartial({
    displayName: "bench prerender",
    catalog,
    persona: pickPersona(await loadPersonasFile(sampleFiles.personas), catalog),
    voice: { voiceId: "zh-female-warm" },
    avatar: { avatarId: "default" },
    output: {
      video: { widthPx: size.width, heightPx: size.height, fps: 15, bitrateKbps: 500 },
      audioBitrateKbps: 64,
      outputs: [{ kind: { $case: "hls", value: { segmentDurationS: 2, playlistLength: 6 } } }],
    },
  });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
