// Actor host processes (dist/testing/actor-host.js) for tests and benchmarks that kill -9, pause and resume hosts.
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { killOnExit } from "./children.js";

// From the sources (vitest) the built script is under dist/; from dist/ (benchmarks) it is next to this file.
const hostScript = fileURLToPath(
  import.meta.url.endsWith(".ts")
    ? new URL("../dist/testing/actor-host.js", import.meta.url)
    : new URL("./actor-host.js", import.meta.url),
);

export interface ActorHostProcess extends AsyncDisposable {
  readonly id: string;
  readonly child: ChildProcess;
  /** What the host wrote (its logs at LIVEHOST_LOG_LEVEL, warn by default). */
  logs(): string;
  signal(signal: NodeJS.Signals): void;
  /** SIGKILL and wait for the exit: a crash. */
  kill(): Promise<void>;
  /** SIGTERM and wait: a graceful drain. */
  stop(): Promise<void>;
}

export async function startActorHostProcess(options: {
  nats: string[];
  id: string;
  replicas?: number;
  env?: NodeJS.ProcessEnv;
}): Promise<ActorHostProcess> {
  if (!existsSync(hostScript)) throw new Error(`${hostScript} is missing: run npm run build (npm test does it)`);
  const child = spawn(
    process.execPath,
    [hostScript, "--nats", options.nats.join(","), "--id", options.id, "--replicas", String(options.replicas ?? 1)],
    { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, LIVEHOST_LOG_LEVEL: "warn", ...options.env } },
  );
  killOnExit(child);
  let logs = "";
  child.stderr?.setEncoding("utf8").on("data", (chunk: string) => (logs += chunk));
  // Logs go to stdout (pino), after the ready line.
  child.stdout?.setEncoding("utf8").on("data", (chunk: string) => (logs += chunk));
  const exited = once(child, "exit");
  await new Promise<void>((resolve, reject) => {
    let out = "";
    child.stdout?.setEncoding("utf8").on("data", (chunk: string) => {
      out += chunk;
      if (out.includes(`ready ${options.id}`)) resolve();
    });
    child.once("exit", (code) => reject(new Error(`actor host ${options.id} exited (${code}): ${logs.slice(-1_000)}`)));
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
    logs: () => logs,
    signal: (signal) => child.kill(signal),
    kill,
    async stop() {
      if (!alive()) return;
      child.kill("SIGTERM");
      await exited;
    },
    [Symbol.asyncDispose]: kill,
  };
}
