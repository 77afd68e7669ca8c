// Where a room's frames are made. Live rooms run on a small pool of compose workers shared by every room of the
// process (one thread per core by default, LIVEHOST_MEDIA_THREADS to change it; 0 keeps composition on the main
// thread): each room is assigned to the least loaded worker for its life, and its pacing, clock, picture and pushes
// to the encoder run there (compose-worker.ts), so a host's rooms use its cores and a busy main thread makes no room
// miss a frame. Offline renders, rooms with a frame tap and machines without the appsrc addon make their frames on
// the graph's own thread (InlineFrames). Workers start with the first room that needs one and are terminated when the
// last room of the process stops.
import { availableParallelism } from "node:os";
import { createRequire } from "node:module";
import { setImmediate as yieldToLoop, setTimeout as sleep } from "node:timers/promises";
import { MessageChannel, Worker, type MessagePort, type Transferable } from "node:worker_threads";
import { CancelledError, InvalidArgumentError, UnavailableError } from "../errors/index.js";
import { BindingSink, nativePushAvailable, retainAppSrc } from "./appsrc.js";
import type { FromWorker, RoomAck, ToRoom, ToWorker } from "./compose-worker.js";
import {
  FramePacer,
  FrameStatus,
  RoomFrames,
  maxQueuedFrames,
  type FrameCommand,
  type FrameReport,
  type FramesInit,
} from "./frames.js";
import type { GstAppSrc } from "./gst.js";

/** How a graph drives its room's frames, wherever they are made. */
export interface FrameDriver {
  readonly status: FrameStatus;
  /** "worker": on a compose worker; "inline": on the graph's own thread. */
  readonly where: "worker" | "inline";
  command(command: FrameCommand, transfer?: Transferable[]): void;
  /** The encoder of a newly built pipeline; its timestamps start at the next frame. */
  attach(video: GstAppSrc, audio: GstAppSrc): void;
  /** Resolves once no frame will be pushed into the current pipeline any more. */
  detach(): Promise<void>;
  /** Starts making frames at the wall clock's pace. */
  start(): void;
  /** Stops making frames; resolves once none will be pushed any more. */
  stop(): Promise<void>;
}

// ---------------------------------------------------------------------------------------------------------------
// On the graph's own thread.

/** A room's frames made on the calling thread: offline renders, frame taps, and live rooms where no worker can push. */
export class InlineFrames implements FrameDriver {
  readonly where = "inline";
  readonly room: RoomFrames;
  readonly #onGiveUp: () => void;
  #pacer: FramePacer | undefined;
  #stopped = false;

  constructor(init: FramesInit, onReport: (report: FrameReport) => void, onGiveUp: () => void) {
    this.room = new RoomFrames(init, onReport);
    this.#onGiveUp = onGiveUp;
  }

  get status(): FrameStatus {
    return this.room.status;
  }

  command(command: FrameCommand): void {
    this.room.apply(command);
  }

  attach(video: GstAppSrc, audio: GstAppSrc): void {
    this.room.attach(new BindingSink(video, audio));
  }

  detach(): Promise<void> {
    this.room.detach();
    return Promise.resolve();
  }

  start(): void {
    this.#pacer = new FramePacer();
    this.#pacer.add(this.room, this.#onGiveUp);
  }

  /**
   * Makes `frames` frames as fast as the encoder takes them (at most maxQueuedFrames queued; waiting while no
   * pipeline is attached), yielding to the event loop every few frames. Resolves when they are made or on stop().
   */
  async render(frames: number, onYield: () => void): Promise<void> {
    const limit = maxQueuedFrames * this.room.frameBytes;
    let sinceYield = 0;
    while (this.room.frame < frames && !this.#stopped) {
      if (!this.room.attached || this.room.queuedVideoBytes() > limit) {
        await sleep(2);
        continue;
      }
      if (!this.room.produce(false)) {
        this.#onGiveUp();
        return;
      }
      if (++sinceYield >= 10) {
        sinceYield = 0;
        onYield();
        await yieldToLoop();
      }
    }
  }

  stop(): Promise<void> {
    this.#stopped = true;
    this.#pacer?.delete(this.room);
    this.room.close();
    return Promise.resolve();
  }
}

// ---------------------------------------------------------------------------------------------------------------
// On a compose worker.

/** One compose worker and the rooms assigned to it. */
class ComposeThread {
  readonly worker: Worker;
  readonly ready: Promise<void>;
  /** Pixels per second of the rooms assigned to it: what the pool balances. */
  load = 0;
  readonly rooms = new Set<WorkerFrames>();
  /** Rooms assigned to it and not set up yet. */
  starting = 0;
  exited: Error | undefined;

  constructor(worker: Worker, onExit: (thread: ComposeThread) => void) {
    this.worker = worker;
    this.ready = new Promise<void>((resolve, reject) => {
      worker.once("message", (message: FromWorker) => (message.type === "ready" ? resolve() : undefined));
      worker.once("error", reject);
      worker.once("exit", (code) =>
        reject(new UnavailableError(`compose worker exited (${code}) before it was ready`)),
      );
    });
    this.ready.catch(() => undefined);
    worker.on("error", (err) => (this.exited ??= err));
    worker.once("exit", (code) => {
      this.exited ??= new UnavailableError(`compose worker exited (${code})`);
      onExit(this);
      for (const room of this.rooms) room.threadLost(this.exited);
    });
  }
}

/** Reads LIVEHOST_MEDIA_THREADS: compose workers per process (0: compose on the main thread). */
function threadsFromEnvironment(): number {
  const raw = process.env.LIVEHOST_MEDIA_THREADS;
  if (raw === undefined || raw === "") return availableParallelism();
  const threads = Number(raw);
  if (!Number.isInteger(threads) || threads < 0 || threads > 1024) {
    throw new InvalidArgumentError("LIVEHOST_MEDIA_THREADS", "must be a whole number from 0 to 1024");
  }
  return threads;
}

/**
 * Running from the TypeScript sources (tests): the worker loads them through a module hook that strips the types
 * (rolldown's transform, a dev dependency), as vitest does for the test's own thread. From dist/ it loads the
 * compiled file.
 */
function spawnWorker(): Worker {
  const fromSource = import.meta.url.endsWith(".ts");
  const entry = new URL(`./compose-worker.${fromSource ? "ts" : "js"}`, import.meta.url);
  if (!fromSource) return new Worker(entry);
  const transform = `file://${createRequire(import.meta.url).resolve("rolldown/utils")}`;
  const hooks = `data:text/javascript,${encodeURIComponent(sourceHooks(transform))}`;
  return new Worker(
    `require("node:module").register(${JSON.stringify(hooks)}); import(${JSON.stringify(entry.href)});`,
    { eval: true },
  );
}

function sourceHooks(transform: string) {
  return `
import { readFile } from "node:fs/promises";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { transformSync } from ${JSON.stringify(transform)};
export async function resolve(specifier, context, next) {
  if (specifier.endsWith(".js") && context.parentURL?.endsWith(".ts")) {
    const url = new URL(specifier, context.parentURL);
    const source = url.href.replace(/\\.js$/, ".ts");
    if (url.protocol === "file:" && !existsSync(fileURLToPath(url)) && existsSync(fileURLToPath(source)))
      return { url: source, format: "module", shortCircuit: true };
  }
  return next(specifier, context);
}
export async function load(url, context, next) {
  if (!url.endsWith(".ts")) return next(url, context);
  const file = fileURLToPath(url);
  const { code, errors } = transformSync(file, await readFile(file, "utf8"), { lang: "ts" });
  if (errors.length > 0) throw new Error(file + ": " + errors.map((e) => e.message).join("; "));
  return { format: "module", source: code, shortCircuit: true };
}`;
}

class ComposePool {
  readonly #threads = new Set<ComposeThread>();
  #size: number | undefined;

  get size(): number {
    this.#size ??= threadsFromEnvironment();
    return this.#size;
  }

  /** undefined: back to the default. */
  set size(threads: number | undefined) {
    this.#size = threads;
  }

  /** Live compose workers now. */
  get threads(): number {
    return this.#threads.size;
  }

  /** The least loaded worker, a new one while there are fewer than `size` and all have rooms. */
  async acquire(load: number, signal?: AbortSignal): Promise<ComposeThread> {
    signal?.throwIfAborted();
    let thread: ComposeThread | undefined;
    for (const candidate of this.#threads) {
      if (!candidate.exited && (!thread || candidate.load < thread.load)) thread = candidate;
    }
    if (!thread || (thread.load > 0 && this.#threads.size < this.size)) {
      thread = new ComposeThread(spawnWorker(), (exited) => this.#threads.delete(exited));
      this.#threads.add(thread);
    }
    thread.load += load;
    // Counted as taken from here, so that a room stopping meanwhile does not terminate it (see WorkerFrames).
    thread.starting++;
    try {
      await abortable(thread.ready, signal);
      return thread;
    } catch (err) {
      thread.load -= load;
      thread.starting--;
      await this.#terminateIdle();
      throw err;
    }
  }

  /** A room left `thread`; the workers go once no room of the process is left. */
  async release(thread: ComposeThread, room: WorkerFrames, load: number): Promise<void> {
    if (!thread.rooms.delete(room)) return;
    thread.load -= load;
    await this.#terminateIdle();
  }

  async kill() {
    await Promise.all([...this.#threads].map((t) => t.worker.terminate()));
  }

  async #terminateIdle() {
    for (const thread of this.#threads) if (thread.rooms.size > 0 || thread.starting > 0) return;
    const threads = [...this.#threads];
    this.#threads.clear();
    await Promise.all(threads.map((t) => t.worker.terminate()));
  }
}

function abortable<T>(promise: Promise<T>, signal?: AbortSignal): Promise<T> {
  if (!signal) return promise;
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason instanceof Error ? signal.reason : new CancelledError("aborted"));
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener("abort", onAbort);
        resolve(value);
      },
      (err: unknown) => {
        signal.removeEventListener("abort", onAbort);
        reject(err instanceof Error ? err : new Error(String(err)));
      },
    );
  });
}

const pool = new ComposePool();

/**
 * Compose workers per process from now on (0: live rooms compose on the main thread); rooms already on air keep
 * theirs. Default (also when `threads` is left out): LIVEHOST_MEDIA_THREADS, else one per core.
 */
export function configureComposePool(options: { threads?: number }): void {
  const threads = options.threads;
  if (threads !== undefined && (!Number.isInteger(threads) || threads < 0 || threads > 1024)) {
    throw new InvalidArgumentError("threads", "must be a whole number from 0 to 1024");
  }
  pool.size = threads;
}

/** Compose workers running now (tests check none is left behind). */
export function composeWorkers(): number {
  return pool.threads;
}

/** Tests: every compose worker ends at once, as a crashed thread would (their rooms fail; the pool starts anew). */
export async function killComposeWorkers(): Promise<void> {
  await pool.kill();
}

/** Whether a live room made now would make its frames on a compose worker. */
export function composesOnWorkers(): boolean {
  return pool.size > 0 && nativePushAvailable();
}

/** How long a compose worker has to answer a detach or a stop. */
const answerTimeoutMs = 5_000;

/** A room's frames made on a compose worker, driven through the room's own message port. */
export class WorkerFrames implements FrameDriver {
  readonly where = "worker";
  readonly status: FrameStatus;
  readonly #thread: ComposeThread;
  readonly #port: MessagePort;
  readonly #load: number;
  readonly #onReport: (report: FrameReport) => void;
  readonly #waiting = new Map<string, () => void>();
  #nextDetach = 0;
  #stopping: Promise<void> | undefined;
  #lost = false;

  /** Assigns the room to a compose worker (starting one if needed) and sets its frames up there. */
  static async open(
    init: FramesInit,
    onReport: (report: FrameReport) => void,
    signal?: AbortSignal,
  ): Promise<WorkerFrames> {
    const load = init.width * init.height * init.fps;
    const thread = await pool.acquire(load, signal);
    return new WorkerFrames(thread, init, load, onReport);
  }

  private constructor(thread: ComposeThread, init: FramesInit, load: number, onReport: (report: FrameReport) => void) {
    this.#thread = thread;
    this.#load = load;
    this.#onReport = onReport;
    this.status = new FrameStatus(init.status);
    const { port1, port2 } = new MessageChannel();
    this.#port = port1;
    thread.starting--;
    thread.rooms.add(this);
    port1.on("message", (message: FrameReport | RoomAck) => {
      if (message.type === "detached") this.#settle(`detach-${message.id}`);
      else if (message.type === "stopped") this.#settle("stop");
      else onReport(message);
    });
    thread.worker.postMessage({ type: "add", port: port2, init } satisfies ToWorker, [port2]);
    // Died between its assignment and now: this room's frames will not be made (said once the graph holds this).
    const exited = thread.exited;
    if (exited) setImmediate(() => this.threadLost(exited));
  }

  command(command: FrameCommand, transfer: Transferable[] = []): void {
    this.#post(command, transfer);
  }

  attach(video: GstAppSrc, audio: GstAppSrc): void {
    const handles = { video: retainAppSrc(video), audio: retainAppSrc(audio) };
    this.#post({ type: "attach", ...handles });
  }

  detach(): Promise<void> {
    const id = this.#nextDetach++;
    const detached = this.#waitFor(`detach-${id}`);
    this.#post({ type: "detach", id });
    // As for stop(): a worker that does not answer still holds its references; the rebuild goes on.
    return Promise.race([detached, sleep(answerTimeoutMs, undefined, { ref: false })]);
  }

  start(): void {
    this.#post({ type: "start" });
  }

  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      const stopped = this.#waitFor("stop");
      this.#post({ type: "stop" });
      // A worker that does not answer in time holds its references to the appsrc: a push after the pipeline's end
      // is refused by GStreamer, never a crash.
      await Promise.race([stopped, sleep(answerTimeoutMs, undefined, { ref: false })]);
      this.#port.close();
      await pool.release(this.#thread, this, this.#load);
    })();
    return this.#stopping;
  }

  /** The worker died: this room's frames are gone with it (reported as failed frames, so the room stops). */
  threadLost(error: Error): void {
    if (this.#lost) return;
    this.#lost = true;
    for (const settle of this.#waiting.values()) settle();
    this.#waiting.clear();
    const message = `compose worker failed: ${error.message}`;
    const frame = this.status.frame;
    this.#onReport({ type: "frame_error", error: message, frame, run: 1 });
    this.#onReport({ type: "frame_error", error: message, frame, run: Number.POSITIVE_INFINITY });
  }

  #post(message: ToRoom, transfer: Transferable[] = []) {
    if (this.#lost) return;
    this.#port.postMessage(message, transfer);
  }

  #waitFor(key: string): Promise<void> {
    if (this.#lost) return Promise.resolve();
    return new Promise((resolve) => this.#waiting.set(key, resolve));
  }

  #settle(key: string) {
    this.#waiting.get(key)?.();
    this.#waiting.delete(key);
  }
}
