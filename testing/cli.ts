// Runs the built livehost CLI (dist/) as a child process, the way users and Kubernetes run it.
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { existsSync } from "node:fs";
import { once } from "node:events";
import { fileURLToPath } from "node:url";
import { killOnExit } from "./children.js";

export const cliPath = fileURLToPath(new URL("../dist/cli/main.js", import.meta.url));

export interface CliProcess extends AsyncDisposable {
  child: ChildProcessWithoutNullStreams;
  /** Everything written to stdout so far. */
  stdout(): string;
  stderr(): string;
  /** Resolves with the first stdout line matching, or rejects when the process exits first. */
  waitForLine(match: RegExp, timeoutMs?: number): Promise<string>;
  exited(): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export function runCli(args: string[], env: NodeJS.ProcessEnv = {}): CliProcess {
  if (!existsSync(cliPath)) throw new Error(`${cliPath} is missing: run npm run build (npm test does it)`);
  const child = spawn(process.execPath, [cliPath, ...args], {
    env: { ...process.env, LIVEHOST_LOG_LEVEL: "warn", ...env },
    stdio: "pipe",
  });
  killOnExit(child);
  let out = "";
  let err = "";
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => (out += chunk));
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => (err += chunk));
  const exit = once(child, "exit").then(([code, signal]) => ({
    code: code as number | null,
    signal: signal as NodeJS.Signals | null,
  }));

  const waitForLine = (match: RegExp, timeoutMs = 30_000) =>
    new Promise<string>((resolve, reject) => {
      const check = () => {
        const line = out.split("\n").find((l) => match.test(l));
        if (line === undefined) return false;
        cleanup();
        resolve(line);
        return true;
      };
      const onExit = () => {
        if (!check()) {
          cleanup();
          reject(new Error(`livehost ${args.join(" ")} exited before printing ${match}: ${err.slice(-2_000)}`));
        }
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`livehost ${args.join(" ")} did not print ${match} in ${timeoutMs} ms: ${err.slice(-2_000)}`));
      }, timeoutMs);
      const cleanup = () => {
        clearTimeout(timer);
        child.stdout.off("data", check);
        child.off("exit", onExit);
      };
      if (check()) return;
      child.stdout.on("data", check);
      child.once("exit", onExit);
    });

  return {
    child,
    stdout: () => out,
    stderr: () => err,
    waitForLine,
    exited: () => exit,
    async [Symbol.asyncDispose]() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      // SIGTERM first: `livehost up`/`demo` then stop the processes they started (roles, nats-server), which a
      // SIGKILL would leave behind. SIGKILL only if it does not exit in time.
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 20_000);
      await exit;
      clearTimeout(timer);
    },
  };
}

/** True while a process with this pid exists. */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
