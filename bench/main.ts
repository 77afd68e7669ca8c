// `npm run bench -- <name> [--quick]`: runs bench/<name>.ts, prints progress on stderr and, as its last line on
// stdout, one JSON object of named figures (also written to bench/results/<name>.json, unless --quick).
//
// Rooms on air in this process (latency, room, density, ...) poll their GStreamer graphs' buses on libuv pool
// threads, and libuv sizes its pool from UV_THREADPOOL_SIZE once, as the process starts: with libuv's 4 they queue
// behind each other and the rooms' file reads. `npm run bench` sets 128; run as `node dist/bench/main.js` without
// it, the bench starts itself again with it.
import { spawn } from "node:child_process";
import { mkdir, writeFile } from "node:fs/promises";
import { cpus } from "node:os";
import { fileURLToPath } from "node:url";

export interface BenchContext {
  /** Progress for the person watching; never part of the result. */
  log: (message: string) => void;
  /** Fewer iterations, for a smoke run. */
  quick: boolean;
}

type Benchmark = (ctx: BenchContext) => Promise<Record<string, unknown>>;

const benchmarks: Record<string, () => Promise<{ run: Benchmark }>> = {
  transport: () => import("./transport.js"),
  actors: () => import("./actors.js"),
  tts: () => import("./tts.js"),
  cuda: () => import("./cuda.js"),
  lipsync: () => import("./lipsync.js"),
  render: () => import("./render.js"),
  prerender: () => import("./prerender.js"),
  media: () => import("./media.js"),
  autoscale: () => import("./autoscale.js"),
  brain: () => import("./brain.js"),
  understanding: () => import("./understanding.js"),
  room: () => import("./room.js"),
  density: () => import("./density.js"),
  festival: () => import("./festival.js"),
  latency: () => import("./latency.js"),
  encoder: () => import("./encoder.js"),
  quality: () => import("./quality.js"),
  onboarding: () => import("./onboarding.js"),
};

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const name = args.find((a) => !a.startsWith("-"));
  const quick = args.includes("--quick");
  if (!name || !(name in benchmarks)) {
    process.stderr.write(`usage: npm run bench -- <${Object.keys(benchmarks).join("|")}> [--quick]\n`);
    process.exit(2);
  }
  // Servers started in-process log at warn: the figures are the output.
  process.env.LIVEHOST_LOG_LEVEL ??= "warn";
  const log = (message: string) => process.stderr.write(`bench ${name}: ${message}\n`);
  const { run } = await benchmarks[name]!();
  const started = Date.now();
  const figures = await run({ log, quick });
  const result = {
    bench: name,
    ...figures,
    machine: { cpus: cpus().length, cpu: cpus()[0]?.model ?? "unknown", node: process.version },
    duration_s: Math.round((Date.now() - started) / 100) / 10,
    time: new Date().toISOString(),
  };
  // A --quick run is a smoke test, and a partial one measured only part: neither replaces the last real figures.
  if (!quick && !("partial" in figures)) {
    const dir = fileURLToPath(new URL("../../bench/results/", import.meta.url));
    await mkdir(dir, { recursive: true });
    await writeFile(`${dir}${name}.json`, `${JSON.stringify(result, null, 2)}\n`);
  }
  process.stdout.write(`${JSON.stringify(result)}\n`);
  process.exit(0);
}

if (!process.env.UV_THREADPOOL_SIZE) {
  const child = spawn(process.execPath, process.argv.slice(1), {
    stdio: "inherit",
    env: { ...process.env, UV_THREADPOOL_SIZE: "128" },
  });
  for (const signal of ["SIGINT", "SIGTERM"] as const) process.on(signal, () => child.kill(signal));
  child.on("exit", (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
} else {
  await main();
}
