// `livehost up`: the whole system on loopback — a nats-server child with a temporary JetStream store, and one
// process per role — with every address printed, and everything stopped on Ctrl-C or SIGTERM.
import { fork, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { UnavailableError } from "../errors/index.js";
import { AsyncDisposableStack } from "../observability/index.js";
import { NatsServerProcess } from "../transport/index.js";
import { credentialDir } from "../trust/index.js";
import { recordLocalGateway } from "./gateway-client.js";
import type { RoleName, RoleReady } from "./role.js";

export interface StackOptions {
  /** Use this NATS instead of starting one. */
  natsUrl?: string;
  /** Fixed gateway port; 0 picks a free one. */
  gatewayPort?: number;
  /** Log level of the role processes (their logs go to this terminal). Default "warn". */
  logLevel?: string;
  /** Where the role processes' output (their logs) goes: this process's stdout (the default) or its stderr. */
  roleOutput?: "stdout" | "stderr";
  /** Roles to start; default all. */
  roles?: RoleName[];
  /** Where rooms' output goes (and the viewer page reads); default a temporary directory removed at stop. */
  mediaDir?: string;
  /** Fixed viewer page port; 0 picks a free one. */
  httpPort?: number;
  /** Avatar packs of the room host and lip-sync worker; default the project's own (models/avatars). */
  avatarsDir?: string;
}

export interface RunningRole extends RoleReady {
  process: ChildProcess;
}

export interface Stack extends AsyncDisposable {
  nats: { url: string; monitorUrl?: string; pid?: number; managed: boolean };
  mediaDir: string;
  roles: RunningRole[];
  stop(): Promise<void>;
}

const allRoles: RoleName[] = ["room-host", "gateway", "tts-worker", "lipsync-worker", "job-worker"];
const mainScript = fileURLToPath(new URL("./main.js", import.meta.url));
const localModels = fileURLToPath(new URL("../../models/tts", import.meta.url));
const localAvatars = fileURLToPath(new URL("../../models/avatars", import.meta.url));

export async function startStack(options: StackOptions = {}): Promise<Stack> {
  // Set-up is undone in reverse if a role fails to start, and by `stop` otherwise: the rooms and the gateway first,
  // then the workers they call (a room still speaking while the workers drain would find none left and say so),
  // then nats-server, then the temporary media directory.
  await using undo = new AsyncDisposableStack();
  const mediaDir = options.mediaDir ?? (await mkdtemp(join(tmpdir(), "livehost-media-")));
  if (!options.mediaDir) undo.defer(() => rm(mediaDir, { recursive: true, force: true }));
  // nats-server and the roles run in their own process groups: a Ctrl-C at the terminal reaches only this process,
  // which stops them in the order above (a room host handing its rooms over needs NATS until it is done).
  const natsServer = options.natsUrl
    ? undefined
    : await NatsServerProcess.start({ serverName: "livehost-local", ownProcessGroup: true });
  if (natsServer) undo.defer(() => natsServer.stop());
  const natsUrl = options.natsUrl ?? natsServer!.url;
  const children: { role: RoleName; child: ChildProcess }[] = [];
  const stopRoles = async (which: (role: RoleName) => boolean) => {
    await Promise.all(children.filter((c) => which(c.role)).map((c) => stopChild(c.child)));
  };
  const callers = (role: RoleName) => role === "room-host" || role === "gateway";
  undo.defer(() => stopRoles((role) => !callers(role)));
  undo.defer(() => stopRoles(callers));

  const started = (options.roles ?? allRoles).map((role) => {
    const args = [role, "--nats", natsUrl];
    if (role === "gateway" && options.gatewayPort) args.push("--grpc-port", String(options.gatewayPort));
    if (role === "gateway") args.push("--media-dir", mediaDir, "--http-port", String(options.httpPort ?? 0));
    // Rooms go on air with the project's avatar packs (made by setup into models/avatars).
    const avatars = options.avatarsDir ?? localAvatars;
    if (role === "room-host" && existsSync(avatars)) args.push("--avatars", avatars, "--media-dir", mediaDir);
    // The project's own Piper-format voice, when setup has made it (models/tts).
    if (role === "tts-worker" && existsSync(localModels)) args.push("--model-dir", localModels);
    if (role === "lipsync-worker" && existsSync(avatars)) args.push("--avatars", avatars);
    const child = fork(mainScript, args, {
      // `up --json` keeps its stdout for the one JSON line: the roles' logs then go to stderr (fd 2).
      stdio: ["ignore", options.roleOutput === "stderr" ? 2 : "inherit", "inherit", "ipc"],
      // Its own process group (see nats-server above); it stops by itself when this process goes (its IPC channel).
      detached: true,
      env: {
        ...process.env,
        LIVEHOST_LOG_LEVEL: options.logLevel ?? (process.env.LIVEHOST_LOG_LEVEL || "warn"),
        // Each room's GStreamer graph holds libuv pool threads while it waits (bus, appsinks): more than 4.
        UV_THREADPOOL_SIZE: process.env.UV_THREADPOOL_SIZE ?? "64",
      },
    });
    children.push({ role, child });
    return waitReady(role, child);
  });
  const roles = await Promise.all(started);
  // `livehost room ...` finds this stack's gateway by itself (its port is picked free).
  const gateway = roles.find((r) => r.role === "gateway")?.endpoints.grpc;
  if (gateway) undo.defer(await recordLocalGateway(gateway));

  const teardown = undo.move();
  let stopping: Promise<void> | undefined;
  const stop = () => (stopping ??= teardown.disposeAsync());
  return {
    nats: { url: natsUrl, monitorUrl: natsServer?.monitorUrl, pid: natsServer?.pid, managed: natsServer !== undefined },
    mediaDir,
    roles,
    stop,
    [Symbol.asyncDispose]: stop,
  };
}

function waitReady(role: RoleName, child: ChildProcess, timeoutMs = 30_000): Promise<RunningRole> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => fail(new UnavailableError(`${role} not ready after ${timeoutMs} ms`)), timeoutMs);
    const fail = (err: Error) => {
      clearTimeout(timer);
      child.off("message", onMessage);
      child.off("exit", onExit);
      reject(err);
    };
    const onExit = (code: number | null, signal: NodeJS.Signals | null) =>
      fail(new UnavailableError(`${role} exited during start-up (${signal ?? `code ${code}`})`));
    const onMessage = (message: unknown) => {
      if ((message as RoleReady | undefined)?.type !== "ready") return;
      clearTimeout(timer);
      child.off("exit", onExit);
      child.off("message", onMessage);
      resolve({ ...(message as RoleReady), process: child });
    };
    child.on("message", onMessage);
    child.once("exit", onExit);
  });
}

/** SIGTERM, then SIGKILL if the role has not finished its drain in time. */
async function stopChild(child: ChildProcess, graceMs = 20_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, "exit");
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
  await exited;
  clearTimeout(timer);
}

export function describeStack(stack: Stack): string {
  const lines = [
    "livehost local stack is up",
    `  ${"nats".padEnd(16)} ${stack.nats.url}${stack.nats.managed ? `  (JetStream, temporary store; monitor ${stack.nats.monitorUrl})` : ""}`,
  ];
  for (const role of stack.roles) {
    const endpoints = Object.entries(role.endpoints)
      .map(([name, value]) => `${name} ${value}`)
      .join("  ");
    lines.push(`  ${role.role.padEnd(16)} pid ${role.pid}  ${endpoints}`);
  }
  if (stack.roles.some((r) => r.role === "gateway")) {
    // Local mode's gateway trusts the development credential it made there; the CLI sends its token by itself.
    lines.push(
      `  ${"credential".padEnd(16)} ${join(credentialDir(), "token")}  (development token; livehost room uses it)`,
    );
  }
  return lines.join("\n");
}
