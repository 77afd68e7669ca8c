// Where the operator learns how busy the workers are and which rooms need them. DemandSource is the seam;
// NatsWorkerDemand is the workers' side: every WorkerAnnouncement on workers.*.announce, kept until its ttl runs out
// or the worker says GONE. Malformed announcements are counted and dropped, never fatal. The rooms' side is
// RoomDirectoryDemand (room-demand.ts), which wraps a worker source and adds the room directory.
import type { NatsConnection, Subscription } from "@nats-io/transport-node";
import { WorkerAnnouncement, WorkerState, subjects, workerKindName, type WorkerKindName } from "../proto/index.js";
import { Counter, type Logger, type Registry } from "../observability/index.js";
import type { RoomsSeen } from "./decide.js";

export interface WorkerLoad {
  workerId: string;
  kind: WorkerKindName;
  /** Serving new streams (READY); a DRAINING or NOT_READY worker only finishes what it has. */
  ready: boolean;
  activeStreams: number;
  maxStreams: number;
  labels: Record<string, string>;
}

/** The room directory as a demand source sees it: watching (with its rooms), still loading it, or unable to read it. */
export type RoomDirectoryView =
  { state: "watching"; rooms: RoomsSeen } | { state: "syncing" } | { state: "unreachable"; message: string };

export interface DemandSource {
  /** Workers alive now, of one kind. */
  workers(kind: WorkerKindName): WorkerLoad[];
  /** Rooms that need workers, where this source reads a room directory; absent where it does not. */
  rooms?(): RoomDirectoryView;
}

export interface NatsWorkerDemandOptions {
  nats: NatsConnection;
  logger: Logger;
  registry: Registry;
  /** Workers remembered at most (a flood of fake ids cannot grow memory without bound). */
  maxWorkers?: number;
  now?: () => number;
}

export class NatsWorkerDemand implements DemandSource, AsyncDisposable {
  readonly #workers = new Map<string, { load: WorkerLoad; expiresAt: number }>();
  readonly #subscription: Subscription;
  readonly #now: () => number;

  constructor(options: NatsWorkerDemandOptions) {
    this.#now = options.now ?? Date.now;
    const maxWorkers = options.maxWorkers ?? 20_000;
    const rejected = new Counter({
      name: "livehost_operator_announcements_rejected_total",
      help: "Worker announcements the operator could not use (malformed, unknown kind, over the worker cap).",
      registers: [options.registry],
    });
    this.#subscription = options.nats.subscribe(subjects.allWorkerAnnouncements, {
      callback: (err, msg) => {
        if (err) return;
        let a: WorkerAnnouncement;
        try {
          a = WorkerAnnouncement.decode(msg.data);
        } catch {
          rejected.inc();
          return;
        }
        const kind = workerKindName(a.kind);
        if (kind === undefined || a.workerId === "") {
          rejected.inc();
          return;
        }
        if (a.state === WorkerState.WORKER_STATE_GONE) {
          this.#workers.delete(a.workerId);
          return;
        }
        if (!this.#workers.has(a.workerId) && this.#workers.size >= maxWorkers) {
          this.#expire();
          if (this.#workers.size >= maxWorkers) {
            rejected.inc();
            return;
          }
        }
        this.#workers.set(a.workerId, {
          load: {
            workerId: a.workerId,
            kind,
            ready: a.state === WorkerState.WORKER_STATE_READY,
            activeStreams: a.activeStreams,
            maxStreams: a.maxStreams,
            labels: a.labels,
          },
          expiresAt: this.#now() + Math.max(1000, a.ttlMs || 15_000),
        });
      },
    });
  }

  #expire(): void {
    const now = this.#now();
    for (const [id, w] of this.#workers) if (w.expiresAt <= now) this.#workers.delete(id);
  }

  workers(kind: WorkerKindName): WorkerLoad[] {
    this.#expire();
    return [...this.#workers.values()].filter((w) => w.load.kind === kind).map((w) => w.load);
  }

  close(): Promise<void> {
    this.#subscription.unsubscribe();
    return Promise.resolve();
  }

  [Symbol.asyncDispose] = () => this.close();
}
