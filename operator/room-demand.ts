// Demand from the room directory: every room's record lives in the `livehost_rooms` KV bucket, kept current by its
// actor. RoomDirectoryDemand watches the bucket (initial values first, then every change) and remembers only the rooms
// that need workers: those on air (WARMING, LIVE, PAUSED) and those SCHEDULED to start. It passes the workers' own
// load through untouched, so the operator sizes pools on the larger of the two. While the bucket cannot be read (no
// JetStream, no bucket, no permission, NATS down) it says so and the operator falls back to the workers' load.
import { setTimeout as sleep } from "node:timers/promises";
import { Kvm, type KV, type KvWatchEntry } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import { Room, RoomState, subjects } from "../proto/index.js";
import { Counter, Gauge, type Logger, type Registry } from "../observability/index.js";
import type { RoomsSeen, ScheduledRoom } from "./decide.js";
import type { DemandSource, RoomDirectoryView, WorkerLoad } from "./demand.js";
import { RoomWatchEndedError } from "./errors.js";
import type { WorkerKindName } from "./resources.js";
import type { Tier } from "../trust/index.js";

export interface RoomDirectoryDemandOptions {
  nats: NatsConnection;
  /** The workers' load (NatsWorkerDemand), passed through: rooms add to it, they do not replace it. */
  workers: DemandSource;
  logger: Logger;
  registry: Registry;
  /** Rooms remembered at most (on air or scheduled); beyond it records are counted as rejected. Default 200,000. */
  maxRooms?: number;
  /** How often the bucket is checked while watching: a deleted bucket or a lost JetStream is otherwise silent. */
  probeIntervalMs?: number;
  /** Retry after a failure: doubling from the first to the second. Default 500 ms to 30 s. */
  retryMs?: [number, number];
  /** A tenant's tier now (the gateway's policy); rooms of tenants it does not name compete as gold. */
  tierOf?: (tenant: string) => Tier | undefined;
}

/** One room that needs workers: on air now, or scheduled; with its tenant, whose tier is looked up when sizing. */
type TrackedRoom = ({ onAir: true } | ({ onAir: false } & ScheduledRoom)) & { tenant: string };

const onAirStates = new Set([RoomState.ROOM_STATE_WARMING, RoomState.ROOM_STATE_LIVE, RoomState.ROOM_STATE_PAUSED]);

/** What the operator needs to know of a room record; undefined when the room needs no worker (created, ended). */
export function trackRoom(room: Room): TrackedRoom | undefined {
  const state = room.status?.state ?? RoomState.ROOM_STATE_UNSPECIFIED;
  if (onAirStates.has(state)) return { onAir: true, tenant: room.tenant };
  if (state !== RoomState.ROOM_STATE_SCHEDULED) return undefined;
  // A scheduled room without a start time is due now: better capacity too early than a room without a voice.
  const schedule = room.spec?.schedule;
  return {
    onAir: false,
    tenant: room.tenant,
    startMs: schedule?.startTime?.getTime() ?? 0,
    endMs: schedule?.endTime?.getTime() ?? Number.POSITIVE_INFINITY,
  };
}

export class RoomDirectoryDemand implements DemandSource, AsyncDisposable {
  readonly #rooms = new Map<string, TrackedRoom>();
  readonly #options: RoomDirectoryDemandOptions;
  readonly #maxRooms: number;
  readonly #stop = new AbortController();
  readonly #rejected: Counter<"reason">;
  readonly #running: Promise<void>;
  #view: "syncing" | "watching" | "unreachable" = "syncing";
  #problem = "";
  #watch: Awaited<ReturnType<KV["watch"]>> | undefined;

  constructor(options: RoomDirectoryDemandOptions) {
    this.#options = options;
    this.#maxRooms = options.maxRooms ?? 200_000;
    const registers = [options.registry];
    this.#rejected = new Counter({
      name: "livehost_operator_room_records_rejected_total",
      help: "Room records the operator could not use: malformed, or over its cap of rooms remembered.",
      labelNames: ["reason"],
      registers,
    });
    const rooms = this.#rooms;
    new Gauge({
      name: "livehost_operator_rooms",
      help: "Rooms the operator sees in the room directory that need workers: on_air now, scheduled to start.",
      labelNames: ["state"],
      registers,
      collect() {
        let onAir = 0;
        for (const room of rooms.values()) if (room.onAir) onAir++;
        this.set({ state: "on_air" }, onAir);
        this.set({ state: "scheduled" }, rooms.size - onAir);
      },
    });
    const view = () => this.#view;
    new Gauge({
      name: "livehost_operator_room_directory_up",
      help: "1 while the operator watches the room directory; 0 while it cannot (demand is then the workers' load).",
      registers,
      collect() {
        this.set(view() === "watching" ? 1 : 0);
      },
    });
    this.#running = this.#run(this.#stop.signal);
  }

  workers(kind: WorkerKindName): WorkerLoad[] {
    return this.#options.workers.workers(kind);
  }

  rooms(): RoomDirectoryView {
    if (this.#view === "syncing") return { state: "syncing" };
    if (this.#view === "unreachable") return { state: "unreachable", message: this.#problem };
    const seen = { onAir: 0, onAirByTier: { silver: 0, bronze: 0 }, scheduled: [] as ScheduledRoom[] };
    const tierOf = this.#options.tierOf ?? (() => undefined);
    for (const room of this.#rooms.values()) {
      const tier = tierOf(room.tenant);
      if (room.onAir) {
        seen.onAir++;
        if (tier === "silver" || tier === "bronze") seen.onAirByTier[tier]++;
      } else {
        seen.scheduled.push({ startMs: room.startMs, endMs: room.endMs, tier });
      }
    }
    return { state: "watching", rooms: seen satisfies RoomsSeen };
  }

  async #run(signal: AbortSignal): Promise<void> {
    const [firstRetryMs, maxRetryMs] = this.#options.retryMs ?? [500, 30_000];
    let retryMs = firstRetryMs;
    while (!signal.aborted) {
      try {
        await this.#watchBucket(() => (retryMs = firstRetryMs));
      } catch (err) {
        if (signal.aborted) return;
        this.#unreachable(err);
      }
      await sleep(retryMs, undefined, { signal }).catch(() => undefined);
      retryMs = Math.min(maxRetryMs, retryMs * 2);
    }
  }

  /** Watches the bucket until the watch breaks (throws why) or the demand closes (returns). */
  async #watchBucket(onSynced: () => void): Promise<void> {
    const kv = await new Kvm(this.#options.nats).open(subjects.roomDirectoryBucket);
    // Binding does not look at the server: this does, and says when the bucket is missing.
    const { values } = await kv.status();
    const watch = await kv.watch();
    this.#watch = watch;
    this.#rooms.clear();
    const synced = () => {
      if (this.#view !== "watching") this.#options.logger.info("watching the room directory");
      this.#view = "watching";
      onSynced();
    };
    if (values === 0) synced();
    let broken: unknown;
    const probe = setInterval(() => {
      kv.status().catch((err: unknown) => {
        broken = err;
        watch.stop();
      });
    }, this.#options.probeIntervalMs ?? 10_000);
    try {
      for await (const entry of watch) {
        this.#apply(entry);
        // delta: records still pending in the watch; 0 once the initial values are all in.
        if (this.#view !== "watching" && entry.delta === 0) synced();
      }
    } finally {
      clearInterval(probe);
      this.#watch = undefined;
    }
    if (this.#stop.signal.aborted) return;
    if (broken instanceof Error) throw broken;
    throw new RoomWatchEndedError(broken === undefined ? "the watch ended" : "the bucket could not be read", {
      cause: broken,
    });
  }

  #apply(entry: KvWatchEntry): void {
    if (entry.operation !== "PUT" || entry.value.length === 0) {
      this.#rooms.delete(entry.key);
      return;
    }
    let tracked: TrackedRoom | undefined;
    try {
      tracked = trackRoom(Room.decode(entry.value));
    } catch {
      this.#rejected.inc({ reason: "malformed" });
      this.#rooms.delete(entry.key);
      return;
    }
    if (!tracked) {
      this.#rooms.delete(entry.key);
      return;
    }
    if (!this.#rooms.has(entry.key) && this.#rooms.size >= this.#maxRooms) {
      this.#rejected.inc({ reason: "over_cap" });
      return;
    }
    this.#rooms.set(entry.key, tracked);
  }

  #unreachable(err: unknown): void {
    const why =
      err instanceof Error && err.name === "StreamNotFoundError"
        ? "no such bucket (no room created yet?)"
        : err instanceof Error
          ? err.message
          : String(err);
    const message = `room directory (KV bucket ${subjects.roomDirectoryBucket}) unreadable: ${why}`;
    if (this.#view !== "unreachable" || this.#problem !== message) {
      this.#options.logger.warn({ err }, "room directory unreachable; demand falls back to the workers' load");
    }
    this.#view = "unreachable";
    this.#problem = message;
    this.#rooms.clear();
  }

  /** Stops watching; the workers' source is its owner's to close. */
  async close(): Promise<void> {
    this.#stop.abort();
    this.#watch?.stop();
    await this.#running;
  }

  [Symbol.asyncDispose] = () => this.close();
}
