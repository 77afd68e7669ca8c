// A room-host process for the festival benchmark (bench/festival.ts) only: the real room host (actor runtime, room
// actor, brain) whose rooms go on air as dry rooms (testing/dry-room.ts: no voice, lip-sync or media).
//
//   node dist/testing/festival-host.js --nats <url,url,...> --id <hostId> --replicas 3 --capacity <n>
//
// prints "ready <hostId>", answers FestivalHostStatus as JSON on festivalHostStatusSubject(hostId) (its memory, CPU
// and rooms on air; the room ids too when the request says "rooms"), and stops cleanly on SIGTERM (rooms handed
// over). startFestivalHostProcess() runs it as a child process.
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { existsSync } from "node:fs";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import type { NatsConnection } from "@nats-io/transport-node";
import { repoPath } from "../avatars/index.js";
import { createLogger, createRegistry } from "../observability/index.js";
import { startRoomHost } from "../rooms/internal.js";
import { connectNats } from "../transport/index.js";
import { dryRoomsOnAir, openDryRoom } from "./dry-room.js";
import { killOnExit } from "./children.js";

export interface FestivalHostStatus {
  hostId: string;
  pid: number;
  rssMb: number;
  heapUsedMb: number;
  /** CPU seconds (user + system) the process has used since it started. */
  cpuS: number;
  /** Active actors (rooms) on the host. */
  actors: number;
  /** Dry rooms on air on the host. */
  onAir: number;
  /** Event-loop delay since the previous status request, ms. */
  loopDelayP99Ms: number;
  loopDelayMaxMs: number;
  /** The ids of the rooms on air, when asked with "rooms". */
  roomIds?: string[];
}

export const festivalHostStatusSubject = (hostId: string) => `livehost.bench.festival.${hostId}.status`;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Asks a festival host for its status (with its room ids when `rooms`). */
export async function festivalHostStatus(
  nats: NatsConnection,
  hostId: string,
  options: { rooms?: boolean; timeoutMs?: number } = {},
): Promise<FestivalHostStatus> {
  const reply = await nats.request(festivalHostStatusSubject(hostId), encoder.encode(options.rooms ? "rooms" : ""), {
    timeout: options.timeoutMs ?? 10_000,
  });
  return JSON.parse(decoder.decode(reply.data)) as FestivalHostStatus;
}

export interface FestivalHostProcess extends AsyncDisposable {
  readonly id: string;
  readonly child: ChildProcess;
  /** Warnings and errors the host logged, counted by message. */
  problems(): Record<string, number>;
  /** The last lines it wrote. */
  tail(): string;
  /** SIGKILL and wait for the exit: a crash. */
  kill(): Promise<void>;
  /** SIGTERM and wait: a graceful drain. */
  stop(): Promise<void>;
}

// From the sources (vitest) the built script is under dist/; from dist/ this file is the script.
const hostScript = fileURLToPath(
  import.meta.url.endsWith(".ts") ? new URL("../dist/testing/festival-host.js", import.meta.url) : import.meta.url,
);

export async function startFestivalHostProcess(options: {
  nats: string[];
  id: string;
  replicas: number;
  capacity: number;
  env?: NodeJS.ProcessEnv;
}): Promise<FestivalHostProcess> {
  if (!existsSync(hostScript)) throw new Error(`${hostScript} is missing: run npm run build`);
  const args = ["--nats", options.nats.join(","), "--id", options.id];
  args.push("--replicas", String(options.replicas), "--capacity", String(options.capacity));
  const child = spawn(process.execPath, [hostScript, ...args], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, LIVEHOST_LOG_LEVEL: "warn", ...options.env },
  });
  killOnExit(child);
  const problems: Record<string, number> = {};
  let tail = "";
  /** Reads one output stream's lines: pino's JSON lines are counted by level and message. */
  const lines = () => {
    let partial = "";
    return (chunk: string) => {
      tail = (tail + chunk).slice(-8_000);
      const complete = (partial + chunk).split("\n");
      partial = complete.pop() ?? "";
      for (const line of complete) {
        if (!line.startsWith("{")) continue;
        try {
          const entry = JSON.parse(line) as { level?: string; msg?: string };
          if (entry.level === "warn" || entry.level === "error" || entry.level === "fatal") {
            const key = `${entry.level}: ${entry.msg ?? "?"}`;
            problems[key] = (problems[key] ?? 0) + 1;
          }
        } catch {
          // Not a log line.
        }
      }
    };
  };
  child.stdout?.setEncoding("utf8").on("data", lines());
  child.stderr?.setEncoding("utf8").on("data", lines());
  const exited = once(child, "exit");
  await new Promise<void>((resolve, reject) => {
    const onExit = (code: number | null) =>
      reject(new Error(`festival host ${options.id} exited (${code}): ${tail.slice(-1_000)}`));
    child.once("exit", onExit);
    let out = "";
    const onData = (chunk: string) => {
      out += chunk;
      if (!out.includes(`ready ${options.id}`)) return;
      child.off("exit", onExit);
      child.stdout?.off("data", onData);
      resolve();
    };
    child.stdout?.on("data", onData);
  });
  const alive = () => child.exitCode === null && child.signalCode === null;
  const kill = async () => {
    if (!alive()) return;
    child.kill("SIGKILL");
    await exited;
  };
  return {
    id: options.id,
    child,
    problems: () => ({ ...problems }),
    tail: () => tail,
    kill,
    async stop() {
      if (!alive()) return;
      child.kill("SIGTERM");
      await exited;
    },
    [Symbol.asyncDispose]: kill,
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      nats: { type: "string" },
      id: { type: "string" },
      replicas: { type: "string", default: "3" },
      capacity: { type: "string", default: "1000" },
    },
  });
  if (!values.nats || !values.id) throw new Error("--nats and --id are required");
  const hostId = values.id;
  const logger = createLogger({ base: { role: "festival-host", hostId } });
  const nats = await connectNats({ servers: values.nats.split(","), name: `festival-host-${hostId}`, logger });
  const host = await startRoomHost({
    nats,
    registry: createRegistry(),
    logger,
    hostId,
    stores: { replicas: Number(values.replicas) },
    capacity: Number(values.capacity),
    // A dry room shows no picture, but a room is created only with an avatar pack that exists (the one setup makes).
    live: { avatarsDir: repoPath("models/avatars"), mediaDir: "", openRoom: openDryRoom },
  });
  const loopDelay = monitorEventLoopDelay({ resolution: 20 });
  loopDelay.enable();
  nats.subscribe(festivalHostStatusSubject(hostId), {
    callback: (_err, msg) => {
      const memory = process.memoryUsage();
      const cpu = process.cpuUsage();
      const rooms = dryRoomsOnAir();
      const status: FestivalHostStatus = {
        hostId,
        pid: process.pid,
        rssMb: memory.rss / 2 ** 20,
        heapUsedMb: memory.heapUsed / 2 ** 20,
        cpuS: (cpu.user + cpu.system) / 1e6,
        actors: host.status().actors,
        onAir: rooms.length,
        loopDelayP99Ms: loopDelay.percentile(99) / 1e6,
        loopDelayMaxMs: loopDelay.max / 1e6,
        roomIds: decoder.decode(msg.data) === "rooms" ? rooms.map((room) => room.roomId) : undefined,
      };
      loopDelay.reset();
      msg.respond(encoder.encode(JSON.stringify(status)));
    },
  });
  process.stdout.write(`ready ${hostId}\n`);
  const stop = async () => {
    await host.close();
    await nats.drain();
    process.exit(0);
  };
  process.once("SIGTERM", () => void stop());
  process.once("SIGINT", () => void stop());
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) await main();
