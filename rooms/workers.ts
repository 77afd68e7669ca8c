// Which TTS and lip-sync workers a room host can use: learnt from their announcements on workers.<kind>.announce
// (address, state, capacity, load, voices or avatars), forgotten when they say GONE or stop announcing for their ttl.
// A room picks the least loaded ready worker that has what it needs, keeps it for a whole utterance, and asks again,
// excluding the one that failed or refused, when it must move.
import type { NatsConnection, Subscription } from "@nats-io/transport-node";
import { WorkerAnnouncement, WorkerState, subjects, workerKindName, type WorkerKindName } from "../proto/index.js";
import { UnavailableError } from "../errors/index.js";
import { tierReserve, type Tier } from "../trust/index.js";

export interface KnownWorker {
  id: string;
  kind: WorkerKindName;
  address: string;
  state: WorkerState;
  maxStreams: number;
  activeStreams: number;
  /** TTS: voice ids; lip-sync: avatar ids. */
  capabilities: string[];
  /** Lip-sync: how it can draw a face (its label renderers): "viseme", and "neural" with a talking-face generator. */
  renderers: string[];
  executionProvider: string;
  /** Unix ms after which the worker is presumed gone. */
  expiresAt: number;
}

export interface PickOptions {
  /** A voice or avatar id the worker must have. */
  capability?: string;
  /** A lip-sync renderer the worker must serve ("neural"); every lip-sync worker serves "viseme". */
  renderer?: string;
  /** Workers not to pick (the one that just failed). */
  exclude?: Iterable<string>;
  /** The room's tenant's tier: lower tiers leave part of a busy pool to higher ones. None: no share is left. */
  tier?: Tier;
  /**
   * Streams that must stay free on the worker after this one (rendering ahead: only a worker whose announced load
   * leaves room for answers to viewers is picked). Default 0.
   */
  spare?: number;
}

/** Streams a worker keeps free for answers to viewers when it takes a sentence rendered ahead (PickOptions.spare). */
export const aheadSpareStreams = 1;

export class WorkerDirectory implements AsyncDisposable {
  readonly #workers = new Map<string, KnownWorker>();
  readonly #subscription: Subscription;
  readonly #now: () => number;
  /** Streams this host has opened on each worker since its last announcement: load the worker has not told yet. */
  readonly #recentlyPicked = new Map<string, number>();

  private constructor(nats: NatsConnection, now: () => number) {
    this.#now = now;
    this.#subscription = nats.subscribe(subjects.allWorkerAnnouncements, {
      callback: (err, msg) => {
        if (err) return;
        try {
          this.learn(WorkerAnnouncement.decode(msg.data));
        } catch {
          // A malformed announcement is ignored: the sender is not a livehost worker of this version.
        }
      },
    });
  }

  static async start(nats: NatsConnection, now: () => number = Date.now): Promise<WorkerDirectory> {
    const directory = new WorkerDirectory(nats, now);
    await nats.flush();
    return directory;
  }

  learn(a: WorkerAnnouncement): void {
    const kind = workerKindName(a.kind);
    if (!kind || a.workerId === "") return;
    if (a.state === WorkerState.WORKER_STATE_GONE) {
      this.#workers.delete(a.workerId);
      return;
    }
    this.#workers.set(a.workerId, {
      id: a.workerId,
      kind,
      address: a.grpcAddress,
      state: a.state,
      maxStreams: a.maxStreams,
      activeStreams: a.activeStreams,
      capabilities: a.capabilities,
      renderers: (a.labels.renderers ?? "viseme").split(",").map((r) => r.trim()),
      executionProvider: a.executionProvider,
      expiresAt: this.#now() + (a.ttlMs || 15_000),
    });
    this.#recentlyPicked.delete(a.workerId);
  }

  /** Ready, unexpired workers of a kind. */
  workers(kind: WorkerKindName): KnownWorker[] {
    const now = this.#now();
    return [...this.#workers.values()].filter(
      (w) => w.kind === kind && w.state === WorkerState.WORKER_STATE_READY && w.expiresAt > now,
    );
  }

  /**
   * The least loaded ready worker with room for one more stream (and the capability asked for). Throws
   * UnavailableError, saying what is missing, when there is none.
   */
  pick(kind: WorkerKindName, options: PickOptions = {}): KnownWorker {
    const candidates = this.#candidates(kind, options);
    const spare = options.spare ?? 0;
    if (candidates.length === 0) {
      const offered = this.offered(kind);
      if (options.capability !== undefined && offered.length > 0 && !offered.includes(options.capability)) {
        const what = kind === "tts" ? "voice" : "avatar";
        throw new UnavailableError(
          `no ${kind} worker offers ${what} ${options.capability} (${what}s offered: ${offered.join(", ")})`,
        );
      }
      const what =
        (options.capability ? ` with ${options.capability}` : "") +
        (options.renderer ? ` serving the ${options.renderer} renderer` : "");
      const room = spare > 0 ? ` and ${spare} more to spare` : "";
      throw new UnavailableError(
        `no ${kind} worker${what} has a free stream${room} (${this.workers(kind).length} known)`,
      );
    }
    const tier = options.tier;
    if (tier && tierReserve[tier] > 0) {
      const pool = this.workers(kind).filter((w) => has(w, options));
      const busy = pool.reduce((n, w) => n + w.activeStreams + (this.#recentlyPicked.get(w.id) ?? 0), 0);
      const streams = pool.reduce((n, w) => n + w.maxStreams, 0);
      if (busy + 1 > streams * (1 - tierReserve[tier])) {
        throw new UnavailableError(
          `the ${kind} pool is ${Math.round((busy / Math.max(1, streams)) * 100)}% busy: its last ` +
            `${Math.round(tierReserve[tier] * 100)}% is kept for tiers above ${tier}`,
        );
      }
    }
    const best = candidates.reduce((a, b) => (this.#load(b) < this.#load(a) ? b : a));
    this.#recentlyPicked.set(best.id, (this.#recentlyPicked.get(best.id) ?? 0) + 1);
    return best;
  }

  /** The voices (TTS) or avatars (lip-sync) the ready workers of `kind` offer, sorted; none while none is known. */
  offered(kind: WorkerKindName): string[] {
    return [...new Set(this.workers(kind).flatMap((w) => w.capabilities))].sort();
  }

  /** Whether pick() would find a worker now, without taking a stream of it (the tier's share is not checked). */
  canPick(kind: WorkerKindName, options: PickOptions = {}): boolean {
    return this.#candidates(kind, options).length > 0;
  }

  #load(w: KnownWorker): number {
    return (w.activeStreams + (this.#recentlyPicked.get(w.id) ?? 0)) / Math.max(1, w.maxStreams);
  }

  /** Ready workers with what is asked and a free stream (and `spare` more), not excluded. */
  #candidates(kind: WorkerKindName, options: PickOptions): KnownWorker[] {
    const exclude = new Set(options.exclude ?? []);
    const spare = options.spare ?? 0;
    const free = (w: KnownWorker) => w.maxStreams - w.activeStreams - (this.#recentlyPicked.get(w.id) ?? 0);
    return this.workers(kind).filter(
      (w) => !exclude.has(w.id) && this.#load(w) < 1 && free(w) > spare && has(w, options),
    );
  }

  /**
   * Resolves once a worker of `kind` is known, or after `timeoutMs` (false): a host that just started has not heard
   * every worker's announcement yet.
   */
  async known(kind: WorkerKindName, timeoutMs: number, signal?: AbortSignal): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (this.workers(kind).length === 0) {
      if (Date.now() >= deadline || signal?.aborted) return false;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    return true;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.#subscription.unsubscribe();
    await Promise.resolve();
  }
}

/** Whether the worker has the voice or avatar, and serves the renderer, asked for. */
function has(w: KnownWorker, options: PickOptions): boolean {
  return (
    (options.capability === undefined || w.capabilities.includes(options.capability)) &&
    (options.renderer === undefined || w.renderers.includes(options.renderer))
  );
}
