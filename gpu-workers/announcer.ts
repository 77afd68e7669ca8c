// A worker tells the rooms (and the operator) who it is and how busy it is: a WorkerAnnouncement on
// workers.<kind>.announce every interval, at once on a change of state, within 100 ms of a change of load (load
// changes are coalesced: a busy worker starts and ends streams hundreds of times a second), and GONE when it leaves.
import type { NatsConnection } from "@nats-io/transport-node";
import { WorkerAnnouncement, WorkerState, subjects, workerKindOf, type WorkerKindName } from "../proto/index.js";
import type { Logger } from "../observability/index.js";

export interface AnnouncerSettings {
  nats: NatsConnection;
  kind: WorkerKindName;
  base: Omit<
    WorkerAnnouncement,
    "state" | "activeStreams" | "maxStreams" | "time" | "ttlMs" | "message" | "kind" | "grpcAddress"
  >;
  intervalMs: number;
  activeStreams: () => number;
  /** The streams it accepts now (its measured capacity, within its cap). */
  maxStreams: () => number;
  logger: Logger;
}

/** At most one load announcement per this many ms (state changes go at once). */
const loadIntervalMs = 100;

export class WorkerAnnouncer {
  #state = WorkerState.WORKER_STATE_READY;
  #message = "";
  #timer: NodeJS.Timeout | undefined;
  #loadTimer: NodeJS.Timeout | undefined;
  #lastAt = 0;
  #address: string | undefined;
  readonly #settings: AnnouncerSettings;

  constructor(settings: AnnouncerSettings) {
    this.#settings = settings;
  }

  /** Starts announcing once the worker serves at `grpcAddress`. */
  start(grpcAddress: string): void {
    this.#address = grpcAddress;
    this.announce();
    this.#timer = setInterval(() => this.announce(), this.#settings.intervalMs);
    this.#timer.unref();
  }

  setState(state: WorkerState, message = ""): void {
    if (state === this.#state && message === this.#message) return;
    this.#state = state;
    this.#message = message;
    this.announce();
  }

  /**
   * The number of active streams changed: announced off the caller's path (a stream's first audio does not wait
   * for a NATS write), at most once per 100 ms, always with the count at the time it is sent.
   */
  loadChanged(): void {
    if (this.#loadTimer) return;
    const wait = Math.max(0, this.#lastAt + loadIntervalMs - performance.now());
    this.#loadTimer = setTimeout(() => {
      this.#loadTimer = undefined;
      this.announce();
    }, wait);
    this.#loadTimer.unref();
  }

  /** Publishes now; called on the timer, on every change of state, and (coalesced) on changes of load. */
  announce(): void {
    const { nats, kind, base, intervalMs, activeStreams, maxStreams } = this.#settings;
    if (this.#address === undefined || nats.isClosed() || nats.isDraining()) return;
    this.#lastAt = performance.now();
    const announcement = WorkerAnnouncement.create({
      ...base,
      grpcAddress: this.#address,
      kind: workerKindOf(kind),
      state: this.#state,
      message: this.#message,
      activeStreams: activeStreams(),
      maxStreams: maxStreams(),
      time: new Date(),
      // Three missed announcements and the worker is considered gone.
      ttlMs: intervalMs * 3,
    });
    try {
      nats.publish(subjects.workerAnnounce(kind), WorkerAnnouncement.encode(announcement).finish());
    } catch (err) {
      this.#settings.logger.warn({ err }, "worker announcement not published");
    }
  }

  /** Stops the timer and says GONE, so rooms forget the worker now rather than after its ttl. */
  async close(): Promise<void> {
    clearInterval(this.#timer);
    clearTimeout(this.#loadTimer);
    this.setState(WorkerState.WORKER_STATE_GONE);
    await this.#settings.nats.flush().catch(() => undefined);
  }
}
