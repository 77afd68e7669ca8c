// The local livehost the end-to-end tests run against: a nats-server, and each role as its own process of the built
// CLI (dist/cli/main.js, as users and Kubernetes run it) on 127.0.0.1 ephemeral ports, with a small (360x640)
// avatar pack in a temporary directory. Rooms are driven over gRPC (RoomService) and watched with WatchRoom.
// Everything is torn down by `await using`. Needs `npx tsc -p tsconfig.build.json` first.
import { execFile, fork, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { credentials, type ClientReadableStream } from "@grpc/grpc-js";
import { loadCatalogFile, loadPersonasFile, pickPersona, sampleFiles } from "../brain/index.js";
import { againOnDeadline } from "../errors/index.js";
import { writeDefaultAvatarPack } from "../gpu-workers/index.js";
import {
  RoomServiceClient,
  RoomSpec,
  WorkerAnnouncement,
  WorkerState,
  subjects,
  type RoomEvent,
  type UtteranceEnded,
  type UtteranceStarted,
} from "../proto/index.js";
import { NatsServerProcess, bearerToken, callUnary, connectNats, type NatsConnection } from "../transport/index.js";
import { findToken } from "../trust/index.js";

const execFileAsync = promisify(execFile);
const maxLogChars = 200_000;
const cli = fileURLToPath(new URL("../dist/cli/main.js", import.meta.url));

/**
 * Role processes still running, killed when the test process exits (as testing/children.ts does for the test
 * helpers', which this file may not import): a test that times out never stops its stack, and testing/setup.ts turns
 * the file process's SIGTERM into that exit.
 */
const rolesToKill = new Set<ChildProcess>();
process.once("exit", () => {
  for (const child of rolesToKill) child.kill("SIGKILL");
});

export type RoleName = "room-host" | "gateway" | "tts-worker" | "lipsync-worker";

/** One role process of the CLI. */
export interface RoleProcess extends AsyncDisposable {
  readonly role: RoleName;
  /** Its --id (room hosts: the host id rooms report), when it was given one. */
  readonly id?: string;
  readonly pid: number;
  /** What it serves, as it reported when ready (grpc, http, metrics...). */
  readonly endpoints: Record<string, string>;
  readonly child: ChildProcess;
  /** The last of what it wrote (its logs, at LIVEHOST_E2E_LOG_LEVEL; none by default). */
  logs(): string;
  /** The warnings and criticals GStreamer (or GLib) printed in it: none in a normal run (the first 50). */
  gstreamerWarnings(): string[];
  /** SIGKILL and wait for the exit: a crash. */
  kill(): Promise<void>;
  /** SIGTERM, SIGKILL after `graceMs`, and wait for the exit. */
  stop(graceMs?: number): Promise<void>;
}

/** Starts `livehost <role> --nats <url> ...args` and resolves once it reports ready. */
export async function startRole(
  role: RoleName,
  natsUrl: string,
  args: string[] = [],
  env: NodeJS.ProcessEnv = {},
): Promise<RoleProcess> {
  if (!existsSync(cli)) throw new Error(`${cli} is missing: run npx tsc -p tsconfig.build.json first`);
  const child = fork(cli, [role, "--nats", natsUrl, ...args], {
    stdio: ["ignore", "pipe", "pipe", "ipc"],
    // The roles' logs (pino, to this terminal) are off unless LIVEHOST_E2E_LOG_LEVEL asks for them.
    env: { ...process.env, LIVEHOST_LOG_LEVEL: process.env.LIVEHOST_E2E_LOG_LEVEL ?? "silent", ...env },
  });
  let logs = "";
  const keep = (chunk: string) => (logs = (logs + chunk).slice(-maxLogChars));
  child.stdout!.setEncoding("utf8").on("data", keep);
  child.stderr!.setEncoding("utf8").on("data", keep);
  // GLib prints them as "(node:123): GStreamer-WARNING **: 10:00:00.000: ../gst/gstpad.c:...: message".
  const warnings: string[] = [];
  let partial = "";
  child.stderr!.on("data", (chunk: string) => {
    const lines = (partial + chunk).split("\n");
    partial = lines.pop()!;
    for (const line of lines) {
      // Any GLib log domain: GStreamer, GStreamer-Video, GLib-GObject, libnice...
      if (/[\w-]+-(WARNING|CRITICAL) \*\*/.test(line) && warnings.length < 50) warnings.push(line);
    }
  });
  rolesToKill.add(child);
  const exited = once(child, "exit");
  void exited.then(() => rolesToKill.delete(child));
  const alive = () => child.exitCode === null && child.signalCode === null;
  const endpoints = await new Promise<Record<string, string>>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${role} not ready after 30 s`)), 30_000);
    child.on("message", (message: { type?: string; endpoints?: Record<string, string> }) => {
      if (message.type !== "ready") return;
      clearTimeout(timer);
      resolve(message.endpoints ?? {});
    });
    child.once("exit", (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`${role} exited during start-up (${signal ?? `code ${code}`}): ${logs.slice(-2_000)}`));
    });
  }).catch(async (err: unknown) => {
    if (alive()) child.kill("SIGKILL");
    await exited;
    throw err;
  });
  const kill = async () => {
    if (!alive()) return;
    child.kill("SIGKILL");
    await exited;
  };
  const stop = async (graceMs = 3_000) => {
    if (!alive()) return;
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
    await exited;
    clearTimeout(timer);
  };
  const id = args.includes("--id") ? args[args.indexOf("--id") + 1] : undefined;
  return {
    role,
    id,
    pid: child.pid!,
    endpoints,
    child,
    logs: () => logs,
    gstreamerWarnings: () => [...warnings],
    kill,
    stop,
    [Symbol.asyncDispose]: () => stop(),
  };
}

export interface LocalStackOptions {
  /** Room hosts to start (default 1). */
  roomHosts?: number;
  /** TTS workers to start (default 1). */
  ttsWorkers?: number;
  /** Lip-sync workers to start (default 1). */
  lipsyncWorkers?: number;
  /** Serve the viewer page from the gateway (default false). */
  viewer?: boolean;
  /** Extra environment of the room host processes. */
  roomHostEnv?: NodeJS.ProcessEnv;
}

export interface LocalStack extends AsyncDisposable {
  readonly dir: string;
  /** Where room hosts write each room's output: <mediaDir>/<roomId>/hls. */
  readonly mediaDir: string;
  readonly natsUrl: string;
  readonly roomHosts: RoleProcess[];
  readonly ttsWorkers: RoleProcess[];
  readonly lipsyncWorkers: RoleProcess[];
  readonly gateway: RoleProcess;
  /** RoomService on the gateway. */
  readonly rooms: RoomServiceClient;
  /** The viewer page's base URL, when it is served. */
  readonly viewerUrl?: string;
  hlsDir(roomId: string): string;
}

export const frame = { width: 360, height: 640 };

export async function startLocalStack(options: LocalStackOptions = {}): Promise<LocalStack> {
  const dir = await mkdtemp(join(tmpdir(), "livehost-e2e-"));
  const avatarsDir = join(dir, "avatars");
  const mediaDir = join(dir, "media");
  const roles: RoleProcess[] = [];
  let nats: NatsServerProcess | undefined;
  let rooms: RoomServiceClient | undefined;
  const stop = async () => {
    rooms?.close();
    // Rooms are not handed over at the end of a test: every role goes at once.
    await Promise.all(roles.map((role) => role.stop(2_000)));
    // Debugging a failure: LIVEHOST_E2E_LOG_LEVEL=info keeps every role's log next to the test's output.
    if (process.env.LIVEHOST_E2E_LOG_LEVEL) {
      for (const role of roles)
        await writeFile(join(tmpdir(), `livehost-e2e-${role.role}-${role.pid}.log`), role.logs());
    }
    await nats?.stop();
    await rm(dir, { recursive: true, force: true });
  };
  try {
    await writeDefaultAvatarPack(join(avatarsDir, "default"), frame);
    nats = await NatsServerProcess.start();
    const natsUrl = nats.url;
    const start = async (role: RoleName, args: string[], env: NodeJS.ProcessEnv = {}) => {
      const process = await startRole(role, natsUrl, args, env);
      roles.push(process);
      return process;
    };
    let hosts = 0;
    const addRoomHost = () =>
      start(
        "room-host",
        ["--id", `e2e-host-${++hosts}`, "--avatars", avatarsDir, "--media-dir", mediaDir],
        options.roomHostEnv,
      );
    const [gateway, roomHosts, ttsWorkers, lipsyncWorkers] = await Promise.all([
      start("gateway", options.viewer ? ["--media-dir", mediaDir, "--http-port", "0"] : []),
      Promise.all(Array.from({ length: options.roomHosts ?? 1 }, addRoomHost)),
      Promise.all(Array.from({ length: options.ttsWorkers ?? 1 }, () => start("tts-worker", []))),
      Promise.all(
        Array.from({ length: options.lipsyncWorkers ?? 1 }, () =>
          start("lipsync-worker", ["--avatars", avatarsDir, "--execution-provider", "cpu"]),
        ),
      ),
    ]);
    // Room hosts learn workers from their announcements: rooms created before the first one would stall a moment.
    await workersAnnounced(natsUrl, [...ttsWorkers, ...lipsyncWorkers]);
    // Local mode's development token, which the gateway process wrote to LIVEHOST_HOME as it started.
    const token = await findToken();
    rooms = new RoomServiceClient(gateway.endpoints.grpc!, credentials.createInsecure(), {
      interceptors: token ? [bearerToken(token)] : [],
    });
    return {
      dir,
      mediaDir,
      natsUrl,
      roomHosts,
      ttsWorkers,
      lipsyncWorkers,
      gateway,
      rooms,
      viewerUrl: gateway.endpoints.http,
      hlsDir: (roomId) => join(mediaDir, roomId, "hls"),
      [Symbol.asyncDispose]: stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** Resolves once every worker has announced itself ready (every 2 s, so room hosts started before know it). */
export async function workersAnnounced(natsUrl: string, workers: RoleProcess[], timeoutMs = 10_000): Promise<void> {
  await using nats = await natsClient(natsUrl);
  const waiting = new Set(workers.map((w) => w.endpoints.grpc));
  const subscription = nats.nc.subscribe(subjects.allWorkerAnnouncements);
  const timer = setTimeout(() => subscription.unsubscribe(), timeoutMs);
  for await (const message of subscription) {
    const announcement = WorkerAnnouncement.decode(message.data);
    if (announcement.state === WorkerState.WORKER_STATE_READY) waiting.delete(announcement.grpcAddress);
    if (waiting.size === 0) break;
  }
  clearTimeout(timer);
  if (waiting.size > 0) throw new Error(`workers ${[...waiting].join(", ")} did not announce in ${timeoutMs} ms`);
}

/** A room from the fixtures' catalog (Mandarin or English) at 360x640, 15 fps, as HLS in 1 s segments. */
export async function fixtureRoomSpec(language: "zh" | "en" = "zh", overrides: Partial<RoomSpec> = {}) {
  const catalog = await loadCatalogFile(language === "zh" ? sampleFiles.catalogZh : sampleFiles.catalogEn);
  const persona = pickPersona(await loadPersonasFile(sampleFiles.personas), catalog);
  return RoomSpec.fromPartial({
    displayName: catalog.title,
    catalog,
    persona,
    voice: { voiceId: language === "zh" ? "zh-female-warm" : "en-female-clear" },
    avatar: { avatarId: "default" },
    output: {
      video: { widthPx: frame.width, heightPx: frame.height, fps: 15, bitrateKbps: 500 },
      audioBitrateKbps: 64,
      outputs: [{ kind: { $case: "hls", value: { segmentDurationS: 1, playlistLength: 30 } } }],
    },
    ...overrides,
  });
}

/** Creates a room over RoomService, starts watching it, and puts it on air. */
export async function createLiveRoom(rooms: RoomServiceClient, roomId: string, spec: RoomSpec) {
  await callUnary(rooms.createRoom.bind(rooms), { requestId: `create-${roomId}`, roomId, spec, tenant: "" });
  // A new room: all its events, from the first.
  const watch = watchRoom(rooms, roomId, 0);
  await watch.ready;
  // A room going on air first on a stack that just started (every role loading its models, the suite's other files
  // busy beside it) may outlast the gateway's wait: asked again, as a patient caller would (StartRoom is idempotent).
  const room = await againOnDeadline(() => callUnary(rooms.startRoom.bind(rooms), { roomId, requestId: "" }), 3);
  return { room, watch };
}

/** A room's WatchRoom stream, recorded; waits for events by what they are. */
export interface RoomWatch extends Disposable {
  readonly events: RoomEvent[];
  /** Resolves once the gateway has surely subscribed. */
  readonly ready: Promise<void>;
  utterances(): UtteranceStarted[];
  ended(utteranceId: string): UtteranceEnded | undefined;
  /** The first event (from the start of the recording) `match` returns a value for. */
  waitFor<T>(match: (event: RoomEvent) => T | undefined, timeoutMs?: number, what?: string): Promise<T>;
  waitForUtterance(
    match: (u: UtteranceStarted) => boolean,
    timeoutMs?: number,
    what?: string,
  ): Promise<UtteranceStarted>;
}

/** Watches a room from `afterSequence` (WatchRoomRequest.after_sequence), or from its last event when undefined. */
export function watchRoom(rooms: RoomServiceClient, roomId: string, afterSequence?: number): RoomWatch {
  const stream: ClientReadableStream<RoomEvent> = rooms.watchRoom({ roomId, afterSequence });
  const events: RoomEvent[] = [];
  const waiting = new Set<() => void>();
  stream.on("data", (event: RoomEvent) => {
    events.push(event);
    for (const wake of [...waiting]) wake();
  });
  let failure: Error | undefined;
  stream.on("error", (err: Error & { code?: number }) => {
    // Cancelled by us (code 1) is the normal end.
    if (err.code !== 1) failure = err;
    for (const wake of [...waiting]) wake();
  });
  // From a sequence, the room's kept events replay: nothing is missed however late the call arrives. From the last
  // event, the gateway starts when the call arrives: give it a moment.
  const ready =
    afterSequence === undefined ? new Promise<void>((resolve) => setTimeout(resolve, 300)) : Promise.resolve();
  const utterances = () => events.flatMap((e) => (e.event?.$case === "utteranceStarted" ? [e.event.value] : []));
  const waitFor = <T>(match: (event: RoomEvent) => T | undefined, timeoutMs = 30_000, what = "an event") =>
    new Promise<T>((resolve, reject) => {
      const check = () => {
        const failed = failure;
        if (failed) return finish(() => reject(failed));
        for (const event of events) {
          const found = match(event);
          if (found !== undefined) return finish(() => resolve(found));
        }
      };
      const timer = setTimeout(
        () => finish(() => reject(new Error(`room ${roomId}: no ${what} in ${timeoutMs} ms (${summary(events)})`))),
        timeoutMs,
      );
      const finish = (settle: () => void) => {
        clearTimeout(timer);
        waiting.delete(check);
        settle();
      };
      waiting.add(check);
      check();
    });
  return {
    events,
    ready,
    utterances,
    ended: (utteranceId) =>
      events.flatMap((e) =>
        e.event?.$case === "utteranceEnded" && e.event.value.utteranceId === utteranceId ? [e.event.value] : [],
      )[0],
    waitFor,
    waitForUtterance: (match, timeoutMs, what = "matching utterance") =>
      waitFor(
        (e) => (e.event?.$case === "utteranceStarted" && match(e.event.value) ? e.event.value : undefined),
        timeoutMs,
        what,
      ),
    [Symbol.dispose]: () => stream.cancel(),
  };
}

/** The last few events, to say what the room did instead. */
function summary(events: RoomEvent[]): string {
  return events
    .slice(-Number(process.env.E2E_SUMMARY ?? 8))
    .map((e) => {
      const value = e.event?.value as { text?: string; reason?: string; message?: string } | undefined;
      return `${process.env.E2E_SUMMARY ? e.time?.toISOString().slice(17, 23) + " " : ""}${e.event?.$case}${value?.text ? ` "${value.text}"` : ""}${value?.reason ? ` ${value.reason}` : ""}${value?.message ? ` ${value.message}` : ""}`;
    })
    .join("; ");
}

/** Where a room's HLS stands: the stream time its playlist covers up to, in ms (0 before the first segment). */
export async function hlsCoveredMs(hlsDir: string): Promise<number> {
  const segments = await playlistSegments(hlsDir);
  const last = segments.at(-1);
  if (!last) return 0;
  const start = await audioStartMs(join(hlsDir, last.file));
  return start + last.seconds * 1000;
}

/**
 * The loudness (RMS, dBFS) of the room's HLS audio between two stream times (ms since the room went live), decoded
 * with ffmpeg from the segments its playlist lists. Silence is -Infinity; speech is around -20.
 */
export async function hlsAudioLevel(hlsDir: string, fromMs: number, toMs: number): Promise<number> {
  const segments = await playlistSegments(hlsDir);
  if (segments.length === 0) throw new Error(`${hlsDir}: no segments in the playlist`);
  const startMs = await audioStartMs(join(hlsDir, segments[0]!.file));
  const rate = 16_000;
  const input = `concat:${segments.map((s) => join(hlsDir, s.file)).join("|")}`;
  const { stdout } = await execFileAsync(
    "ffmpeg",
    ["-v", "error", "-i", input, "-vn", "-ac", "1", "-ar", String(rate), "-f", "s16le", "-"],
    { encoding: "buffer", maxBuffer: 64 * 1024 * 1024 },
  );
  const pcm = new Int16Array(stdout.buffer, stdout.byteOffset, stdout.byteLength >> 1);
  const first = Math.round(((fromMs - startMs) / 1000) * rate);
  const last = Math.round(((toMs - startMs) / 1000) * rate);
  if (first < 0 || last > pcm.length) {
    throw new Error(
      `${hlsDir}: the playlist holds ${startMs}..${startMs + (pcm.length / rate) * 1000} ms, not ${fromMs}..${toMs}`,
    );
  }
  let sum = 0;
  for (let i = first; i < last; i++) sum += (pcm[i]! / 32768) ** 2;
  return 10 * Math.log10(sum / Math.max(1, last - first));
}

/** MPEG-TS timestamps of the room's segments start 3600 s before its stream time 0. */
const tsOffsetMs = 3_600_000;

async function audioStartMs(segment: string): Promise<number> {
  const { stdout } = await execFileAsync("ffprobe", [
    "-v",
    "error",
    "-select_streams",
    "a:0",
    "-show_entries",
    "stream=start_time",
    "-of",
    "csv=p=0",
    segment,
  ]);
  // The stream is listed once per program and once alone: the first line is enough.
  const seconds = Number(stdout.trim().split("\n")[0]);
  if (!Number.isFinite(seconds)) throw new Error(`${segment}: no audio start time (${stdout.trim()})`);
  return Math.round(seconds * 1000) - tsOffsetMs;
}

async function playlistSegments(hlsDir: string): Promise<{ file: string; seconds: number }[]> {
  const playlist = await readFile(join(hlsDir, "index.m3u8"), "utf8").catch(() => "");
  const segments: { file: string; seconds: number }[] = [];
  let seconds = 0;
  for (const line of playlist.split("\n").map((l) => l.trim())) {
    if (line.startsWith("#EXTINF:")) seconds = Number.parseFloat(line.slice("#EXTINF:".length));
    else if (line !== "" && !line.startsWith("#")) segments.push({ file: line, seconds });
  }
  return segments;
}

/** A NATS connection of the test's own (to post on the danmaku subject), closed by `await using`. */
export async function natsClient(url: string): Promise<{ nc: NatsConnection } & AsyncDisposable> {
  const nc = await connectNats({ servers: url, name: "e2e-test" });
  return { nc, [Symbol.asyncDispose]: () => nc.close() };
}
