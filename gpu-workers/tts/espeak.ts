// The embedded voice engine: libespeak-ng through our N-API addon (native/espeak_addon.c), run on one worker
// thread because the library is a process-wide singleton and synthesis must not block the gRPC event loop.
// The thread is given one job at a time: interactive jobs (an answer a viewer waits for) before normal ones, each in
// arrival order; callers enqueue one sentence at a time, so concurrent streams share the thread fairly.
import { existsSync } from "node:fs";
import { Worker } from "node:worker_threads";
import { repoPath } from "../../avatars/index.js";
import { UnavailableError } from "../../errors/index.js";
import { EspeakError, EspeakVoiceError } from "../errors.js";

/** espeak-ng event types (speak_lib.h). */
export const EspeakEventType = { word: 1, sentence: 2, end: 5, msgTerminated: 6, phoneme: 7 } as const;

export interface EspeakEvent {
  type: number;
  /** 1-based position in the input, in characters (code points). */
  textPosition: number;
  /** Word length in characters. */
  length: number;
  /** ms from the start of this synthesis call. */
  audioPositionMs: number;
  /** IPA symbol, for phoneme events. */
  phoneme?: string;
}

export interface EspeakChunk {
  samples: Int16Array;
  events: EspeakEvent[];
}

/** Interactive jobs go to the thread before normal ones that wait (the job running is finished first). */
export type EspeakPriority = "interactive" | "normal";

/** One synthesis queued on the thread: iterate it once for its audio, or cancel it. */
export interface EspeakJob extends AsyncIterable<EspeakChunk> {
  /** Stops the job (queued or running) and forgets it; for a job that will not be iterated to its end. */
  cancel(): void;
}

type FromThread =
  | { type: "ready"; sampleRate: number }
  | { type: "chunk"; id: number; samples: Int16Array | null; events: EspeakEvent[]; done?: { completed: boolean } }
  | { type: "done"; id: number; completed: boolean }
  | { type: "phonemes"; id: number; clauses: string[] }
  | { type: "error"; id: number; code?: string; message: string }
  | { type: "fatal"; message: string };

// Runs inside the worker thread (CommonJS, eval). Cancellation is a shared flag per job slot, since the thread
// cannot read messages while it is inside espeak_Synth.
const threadSource = `
const { parentPort, workerData } = require("node:worker_threads");
let addon;
let groupSamples = 11025;
try {
  addon = require(workerData.addonPath);
  const sampleRate = addon.initialize(workerData.dataPath);
  groupSamples = Math.round(sampleRate / 2);
  parentPort.postMessage({ type: "ready", sampleRate });
} catch (err) {
  parentPort.postMessage({ type: "fatal", message: String(err && err.message || err) });
}
const cancel = new Int32Array(workerData.cancel);
parentPort.on("message", (job) => {
  if (job.phonemize) {
    try {
      parentPort.postMessage({ type: "phonemes", id: job.id, clauses: addon.textToPhonemes(job.text, job.voice) });
    } catch (err) {
      parentPort.postMessage({ type: "error", id: job.id, code: err && err.code, message: String(err && err.message || err) });
    }
    return;
  }
  const slot = job.id % cancel.length;
  // The library calls back every 60 ms of audio; the first buffer goes at once (latency), later ones in groups of
  // ~0.5, 1, then 1.4 s, so the main thread, which also serves gRPC, wakes up a few times per sentence, not dozens.
  let parts = [];
  let count = 0;
  let events = [];
  let sent = 0;
  const flush = (done) => {
    if (count === 0 && events.length === 0) {
      if (done) parentPort.postMessage({ type: "done", id: job.id, completed: done.completed });
      return;
    }
    const samples = new Int16Array(count);
    let offset = 0;
    for (const part of parts) {
      samples.set(part, offset);
      offset += part.length;
    }
    // The last chunk carries the end of the job: one message, one wake-up of the main thread, fewer.
    parentPort.postMessage({ type: "chunk", id: job.id, samples, events, done }, [samples.buffer]);
    parts = [];
    count = 0;
    events = [];
    sent++;
  };
  try {
    const completed = addon.synthesize(job.text, job.voice, job.rateWpm, (samples, chunkEvents) => {
      if (Atomics.load(cancel, slot) === job.id) return false;
      if (samples) {
        parts.push(samples);
        count += samples.length;
      }
      for (const event of chunkEvents) events.push(event);
      if (sent === 0 || count >= Math.min(groupSamples * 2 ** (sent - 1), groupSamples * 2.8)) flush();
      return true;
    });
    flush({ completed });
  } catch (err) {
    parentPort.postMessage({ type: "error", id: job.id, code: err && err.code, message: String(err && err.message || err) });
  }
});
`;

interface Job {
  push(chunk: EspeakChunk): void;
  end(error?: Error): void;
  phonemes?(clauses: string[]): void;
}

/** Where the addon was built: gpu-workers/tts/native/build/Release (LIVEHOST_ESPEAK_ADDON overrides). */
export function espeakAddonPath(): string {
  return process.env.LIVEHOST_ESPEAK_ADDON ?? repoPath("gpu-workers/tts/native/build/Release/livehost_espeak.node");
}

interface SharedEngine {
  key: string;
  users: number;
  engine: Promise<EspeakEngine>;
  /** The engine, once started. */
  instance?: EspeakEngine;
}

/** The process's one espeak-ng engine, while anyone uses it (see EspeakEngine.start). */
let shared: SharedEngine | undefined;

export class EspeakEngine implements AsyncDisposable {
  readonly sampleRate: number;
  readonly #worker: Worker;
  readonly #cancel: Int32Array;
  readonly #jobs = new Map<number, Job>();
  /** Jobs not yet given to the thread, by priority; the one it runs. */
  readonly #waiting: Record<EspeakPriority, { id: number; message: object }[]> = { interactive: [], normal: [] };
  #running: number | undefined;
  #nextId = 1;

  private constructor(worker: Worker, sampleRate: number, cancel: Int32Array) {
    this.#worker = worker;
    this.sampleRate = sampleRate;
    this.#cancel = cancel;
    worker.on("message", (message: FromThread) => this.#onMessage(message));
    worker.on("error", (err) => this.#failAll(err));
    worker.on("exit", () => this.#failAll(new UnavailableError("espeak-ng thread exited")));
    // The thread keeps the process alive only while it has work (see #track).
    worker.unref();
  }

  /**
   * The process's engine: its synthesis thread is started by the first caller and shared by the others (closed when
   * the last one closes it). espeak-ng keeps its state in process globals, so two threads running it at once (two
   * speech workers in one process, as tests start them) race in its initialization and can hang. Rejects with the
   * reason when the addon or espeak-ng data cannot be loaded.
   */
  static async start(options: { addonPath?: string; dataPath?: string } = {}): Promise<EspeakEngine> {
    const key = `${options.addonPath ?? espeakAddonPath()}\0${options.dataPath ?? ""}`;
    if (shared) {
      if (shared.key !== key) {
        throw new EspeakError("espeak-ng already runs in this process with another addon or data path");
      }
      shared.users++;
      return shared.engine;
    }
    const entry: SharedEngine = { key, users: 1, engine: EspeakEngine.#launch(options) };
    shared = entry;
    entry.engine.then(
      (engine) => (entry.instance = engine),
      () => {
        if (shared === entry) shared = undefined;
      },
    );
    return entry.engine;
  }

  static async #launch(options: { addonPath?: string; dataPath?: string }): Promise<EspeakEngine> {
    const addonPath = options.addonPath ?? espeakAddonPath();
    if (!existsSync(addonPath)) {
      throw new UnavailableError(`espeak-ng addon not built at ${addonPath} (npm run setup builds it)`);
    }
    const cancel = new Int32Array(new SharedArrayBuffer(4 * 1024));
    const worker = new Worker(threadSource, {
      eval: true,
      workerData: { addonPath, dataPath: options.dataPath, cancel: cancel.buffer },
    });
    const ready = await new Promise<FromThread>((resolve, reject) => {
      worker.once("message", resolve);
      worker.once("error", reject);
    });
    if (ready.type !== "ready") {
      await worker.terminate();
      throw new UnavailableError(`espeak-ng failed to start: ${ready.type === "fatal" ? ready.message : ready.type}`);
    }
    return new EspeakEngine(worker, ready.sampleRate, cancel);
  }

  /**
   * Synthesizes `text` with an espeak-ng voice name (e.g. "en-us+m3", "cmn-latn-pinyin+f3"). The job is queued at
   * once (by `priority`), so a caller can start the next sentence while it is still sending this one; iterate the job
   * for audio as the library produces it (the first buffer at once, then up to 1.4 s at a time) with the events it
   * covers. Aborting, or `cancel()` on a job never iterated, stops the library at once.
   */
  synthesize(
    text: string,
    voice: string,
    rateWpm: number,
    signal?: AbortSignal,
    priority: EspeakPriority = "normal",
  ): EspeakJob {
    signal?.throwIfAborted();
    const id = this.#nextId++;
    const queue: EspeakChunk[] = [];
    let finished = false;
    let failure: Error | undefined;
    let wake: (() => void) | undefined;
    this.#track(id, {
      push: (chunk) => {
        queue.push(chunk);
        wake?.();
      },
      end: (error) => {
        finished = true;
        failure = error;
        wake?.();
      },
    });
    const stop = () => {
      if (!finished && !this.#unqueue(id)) Atomics.store(this.#cancel, id % this.#cancel.length, id);
      this.#untrack(id);
    };
    const onAbort = () => {
      if (!this.#unqueue(id)) Atomics.store(this.#cancel, id % this.#cancel.length, id);
      finished = true;
      wake?.();
    };
    signal?.addEventListener("abort", onAbort, { once: true });
    this.#enqueue(id, { id, text, voice, rateWpm }, priority);
    async function* chunks(): AsyncGenerator<EspeakChunk> {
      try {
        for (;;) {
          const chunk = queue.shift();
          if (chunk) {
            yield chunk;
            continue;
          }
          if (finished) break;
          await new Promise<void>((resolve) => (wake = resolve));
          wake = undefined;
        }
        signal?.throwIfAborted();
        if (failure) throw failure;
      } finally {
        signal?.removeEventListener("abort", onAbort);
        stop();
      }
    }
    const iterator = chunks();
    return {
      [Symbol.asyncIterator]: () => iterator,
      cancel: () => {
        signal?.removeEventListener("abort", onAbort);
        stop();
      },
    };
  }

  /** IPA phonemes of `text`, one string per clause, as Piper voices are trained on (espeak-ng's phonemizer). */
  phonemize(text: string, voice: string): Promise<string[]> {
    const id = this.#nextId++;
    return new Promise<string[]>((resolve, reject) => {
      this.#track(id, {
        push: () => undefined,
        end: (error) => reject(error ?? new UnavailableError("phonemizer ended without a result")),
        phonemes: resolve,
      });
      // Short, and what a Piper voice batches on: straight to the thread, never behind the queued synthesis.
      this.#worker.postMessage({ id, text, voice, phonemize: true });
    });
  }

  #enqueue(id: number, message: object, priority: EspeakPriority): void {
    this.#waiting[priority].push({ id, message });
    this.#dispatch();
  }

  /** Takes job `id` out of the waiting queues; false when it is not waiting there (given to the thread, or done). */
  #unqueue(id: number): boolean {
    for (const queue of Object.values(this.#waiting)) {
      const at = queue.findIndex((job) => job.id === id);
      if (at >= 0) {
        queue.splice(at, 1);
        return true;
      }
    }
    return false;
  }

  /** The next job to the thread, when it has none. */
  #dispatch(): void {
    if (this.#running !== undefined) return;
    const next = this.#waiting.interactive.shift() ?? this.#waiting.normal.shift();
    if (!next) return;
    this.#running = next.id;
    this.#worker.postMessage(next.message);
  }

  #track(id: number, job: Job): void {
    if (this.#jobs.size === 0) this.#worker.ref();
    this.#jobs.set(id, job);
  }

  #untrack(id: number): void {
    if (this.#jobs.delete(id) && this.#jobs.size === 0) this.#worker.unref();
  }

  #onMessage(message: FromThread): void {
    if (message.type === "ready" || message.type === "fatal") return;
    // The thread's last message of a job (a cancelled one's too): it takes the next.
    const last = message.type === "done" || message.type === "error" || (message.type === "chunk" && !!message.done);
    if (last && message.id === this.#running) {
      this.#running = undefined;
      this.#dispatch();
    }
    const job = this.#jobs.get(message.id);
    if (!job) return;
    if (message.type === "phonemes") {
      job.phonemes?.(message.clauses);
      this.#untrack(message.id);
    } else if (message.type === "chunk") {
      job.push({ samples: message.samples ?? new Int16Array(0), events: message.events });
      if (message.done) job.end();
    } else if (message.type === "done") {
      job.end();
    } else {
      job.end(
        message.code === "ESPEAK_VOICE" ? new EspeakVoiceError(message.message) : new EspeakError(message.message),
      );
    }
  }

  #failAll(err: Error): void {
    // A dead thread is nobody's engine any more: the next start launches a new one.
    if (shared?.instance === this) shared = undefined;
    for (const job of this.#jobs.values()) job.end(new UnavailableError("espeak-ng thread failed", { cause: err }));
    this.#jobs.clear();
    this.#waiting.interactive = [];
    this.#waiting.normal = [];
    this.#running = undefined;
    this.#worker.unref();
  }

  /** Lets go of the process's engine; its thread stops when the last user has closed it. */
  async close(): Promise<void> {
    if (shared?.instance === this) {
      if (--shared.users > 0) return;
      shared = undefined;
    }
    await this.#worker.terminate();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
