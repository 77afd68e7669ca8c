// A room's events: fanned out live on livehost.events.rooms.<id>, and those that matter after the moment kept in the
// ROOM_EVENTS stream (one subject per room, livehost.eventlog.rooms.<id>), so a watcher that comes late or loses its
// connection replays what it missed from the sequence it last saw (RoomService.WatchRoom), and a host that takes a
// room over knows what its predecessor answered.
//
// What is kept: everything but speech's moments (an utterance's start and end and its cues, the show's and the
// answers' alike). Those are most of what a room says (about one every two seconds, all day, and three or more for
// every answered comment) and worth nothing a minute later; keeping each cost a replicated write, which neither the
// control plane's budget for an idle room (0.1 a second) nor a festival's comment rate can pay. They go out live
// only, and ride along in the next kept event (its `earlier`) for a watcher that replays. What a comment got (its
// outcome), state changes, errors and host changes are kept, each at once.
//
// The log is also a fence. Each kept event is stored only if the room's log still ends where this activation last
// wrote it (JetStream's expected-last-subject-sequence): once a successor has written, a predecessor that wakes up
// (paused past its lease) cannot add one more event. Live-only events go out only while the host holds its lease
// (`owns`), as speech and frames do. Sequence numbers are never used twice: a kept event reserves the next
// `reserve` numbers for live-only events (header Livehost-Events-Reserved), a live-only event past the reservation
// is kept instead, and a successor numbers from past its predecessor's reservation (a gap after a crash, none after
// a clean handover, whose activation records its exact last number with the room's state). Events are sent one at a
// time per room, in order; while the host is not sure of its lease they wait (it proves it at its next renewal), and
// are dropped, counted, once the activation ends or the wait is long.
import {
  DeliverPolicy,
  DiscardPolicy,
  RetentionPolicy,
  StorageType,
  jetstream,
  type JetStreamClient,
  type JetStreamManager,
} from "@nats-io/jetstream";
import { randomUUID } from "node:crypto";
import { headers as natsHeaders, type MsgHdrs, type NatsConnection } from "@nats-io/transport-node";
import { injectNatsHeaders, type Logger } from "../observability/index.js";
import { whileJetStreamStarts } from "../actors/index.js";
import { RoomEvent, subjects } from "../proto/index.js";
import type { RoomMetrics } from "./metrics.js";

export interface RoomEventsSettings {
  /** Replicas of the stream: 1 on a single server, 3 in production. Default 1. */
  replicas?: number;
  /** How long events are kept for WatchRoom to replay. Default 15 min. */
  retentionMs?: number;
  /** Most bytes kept for all rooms together; the oldest go first. Default 2 GiB. */
  maxBytes?: number;
  /** Most events kept per room; the oldest go first. Default 5,000. */
  maxPerRoom?: number;
}

const nanos = (ms: number) => ms * 1_000_000;

/** Creates or updates the ROOM_EVENTS stream (idempotent: every room host calls it at start, with its settings). */
export async function ensureRoomEventsStream(jsm: JetStreamManager, settings: RoomEventsSettings = {}): Promise<void> {
  const config = {
    name: subjects.roomEventsStream,
    subjects: [subjects.roomEventLog("*")],
    retention: RetentionPolicy.Limits,
    storage: StorageType.File,
    discard: DiscardPolicy.Old,
    num_replicas: settings.replicas ?? 1,
    max_age: nanos(settings.retentionMs ?? 15 * 60_000),
    max_bytes: settings.maxBytes ?? 2 * 1024 ** 3,
    max_msgs_per_subject: settings.maxPerRoom ?? 5_000,
    duplicate_window: nanos(60_000),
  };
  await whileJetStreamStarts(async () => {
    try {
      await jsm.streams.info(config.name);
    } catch (err) {
      if (!/not found/i.test((err as Error).message)) throw err;
      try {
        await jsm.streams.add(config);
        return;
      } catch (addErr) {
        if (!/already in use|exists/i.test((addErr as Error).message)) throw addErr;
      }
    }
    await jsm.streams.update(config.name, config);
  });
}

export interface RoomEventLogOptions {
  roomId: string;
  /** True while this activation holds the room (ActorContext.owns). */
  owns: () => boolean;
  /** The activation's end: events still waiting for `owns` are dropped. */
  signal?: AbortSignal;
  /** How long an event waits for `owns` before it is dropped. Default 10 s (more than a lease ttl and a half). */
  waitMs?: number;
  /** The last sequence the room's persisted state knows; the log's own last event wins when it is higher. */
  floor: number;
  /** The predecessor ended cleanly at `floor` (its last number, exactly): no reservation of its to skip. */
  floorExact?: boolean;
  /** Numbers a kept event reserves for the live-only events after it. Default 64. */
  reserve?: number;
  log: Logger;
  metrics: RoomMetrics;
}

const isWrongLastSequence = (err: unknown) =>
  err instanceof Error &&
  /wrong last sequence|10071/i.test(`${err.message} ${String((err as { code?: unknown }).code)}`);
export const reservedHeader = "Livehost-Events-Reserved";
/** How long a kept event is retried while JetStream fails (a leader being elected takes seconds, not this long). */
const keptRetryMs = 30_000;

/** Speech's moments, sent live only (see the top of this file); every other event is kept. */
function isMoment(event: RoomEvent["event"]): boolean {
  return event?.$case === "utteranceStarted" || event?.$case === "utteranceEnded" || event?.$case === "cueFired";
}

const isNoMessage = (err: unknown) => err instanceof Error && /no message found|not found|10037/i.test(err.message);

/** One activation's writer of a room's events. */
export class RoomEventLog {
  readonly #nats: NatsConnection;
  readonly #js: JetStreamClient;
  readonly #jsm: JetStreamManager;
  readonly #options: RoomEventLogOptions;
  readonly #subject: string;
  readonly #liveSubject: string;
  /** Where the room's subject ends (stream sequence of its last stored event), and the last RoomEvent.sequence sent. */
  #last = { streamSeq: 0, sequence: 0, timeMs: 0 };
  /** Live-only events may use numbers up to this one (reserved by this activation's last kept event). */
  #reserved = 0;
  /** Live-only events sent since the last kept one: kept with the next one (RoomEvent.earlier), or by flush(). */
  #unkept: RoomEvent[] = [];
  #flushedAt = performance.now();
  #chain: Promise<void>;
  #fenced = false;
  readonly #writer = randomUUID().slice(0, 12);

  constructor(nats: NatsConnection, jsm: JetStreamManager, options: RoomEventLogOptions) {
    this.#nats = nats;
    this.#jsm = jsm;
    this.#js = jetstream(nats);
    this.#options = options;
    this.#subject = subjects.roomEventLog(options.roomId);
    this.#liveSubject = subjects.roomEvents(options.roomId);
    this.#last.sequence = options.floor;
    this.#chain = this.#readEnd();
  }

  /** False once a successor has written the room's events: this activation must not act for the room any more. */
  get fenced(): boolean {
    return this.#fenced;
  }

  /** The sequence of the last event this log stored (or found stored). */
  get sequence(): number {
    return this.#last.sequence;
  }

  /** Where the room's events end now, read from the stream. */
  async #readEnd(): Promise<void> {
    try {
      const stored = await whileJetStreamStarts(
        () => this.#jsm.streams.getMessage(subjects.roomEventsStream, { last_by_subj: this.#subject }),
        10_000,
      );
      if (!stored) return;
      // Where the log ends is what the next write is conditional on, whatever the last message holds.
      let sequence = this.#last.sequence;
      try {
        const kept = Number(RoomEvent.decode(stored.data).sequence);
        // After a clean handover the state knows the exact last number; otherwise skip what the writer reserved.
        const exact = this.#options.floorExact === true && this.#options.floor >= kept;
        const reserved = exact ? 0 : Number(stored.header?.get(reservedHeader) || 0);
        sequence = Math.max(sequence, kept, Number.isSafeInteger(reserved) ? reserved : 0);
      } catch (err) {
        this.#options.log.warn({ err, seq: stored.seq }, "the room's last stored event is not a RoomEvent");
      }
      this.#last = { streamSeq: stored.seq, sequence, timeMs: stored.time.getTime() };
    } catch (err) {
      if (isNoMessage(err)) return;
      // Without the end we cannot write conditionally: every publish will retry reading it first.
      this.#options.log.warn({ err }, "could not read where the room's events end");
      this.#last.streamSeq = -1;
    }
  }

  /** Stores and sends an event after the ones before it; resolves with its sequence (0 when it was not sent). */
  publish(event: RoomEvent["event"]): Promise<number> {
    const queuedAt = performance.now();
    const sent = this.#chain.then(() => this.#write(event, queuedAt));
    this.#chain = sent.then(
      () => undefined,
      () => undefined,
    );
    return sent.catch((err: unknown) => {
      this.#options.log.warn({ err, event: event?.$case }, "room event not stored");
      return 0;
    });
  }

  /** Resolves once every event published so far was stored or given up. */
  settled(): Promise<void> {
    return this.#chain;
  }

  async #write(event: RoomEvent["event"], queuedAt: number): Promise<number> {
    const { metrics, roomId, signal, waitMs = 10_000 } = this.#options;
    const moment = isMoment(event);
    // A moment of speech is worth sending only near its moment; a kept one (a comment's outcome, a state change) waits
    // for as long as this activation lives: dropping it would lose what a viewer or service waits for.
    const deadline = moment || !signal ? queuedAt + waitMs : Infinity;
    if (!this.#fenced && !this.#options.owns()) await this.#waitOwns(deadline);
    if (this.#fenced || !this.#options.owns() || (moment && performance.now() > deadline)) {
      metrics.eventsFenced.inc();
      return 0;
    }
    if (this.#last.streamSeq < 0) await this.#readEnd();
    if (this.#last.streamSeq < 0) throw new Error("the end of the room's events is unknown");
    const sequence = this.#last.sequence + 1;
    const message = RoomEvent.fromPartial({ roomId, sequence, time: new Date(), event });
    const data = RoomEvent.encode(message).finish();
    const headers = injectNatsHeaders(natsHeaders());
    if (moment && sequence <= this.#reserved) {
      this.#last.sequence = sequence;
      this.#nats.publish(this.#liveSubject, data, { headers });
      this.#unkept.push(message);
      metrics.eventsSent.inc({ kept: "false" });
      return sequence;
    }
    if (!(await this.#keep(message, headers, queuedAt))) return 0;
    this.#nats.publish(this.#liveSubject, data, { headers });
    metrics.eventsSent.inc({ kept: "true" });
    return sequence;
  }

  /**
   * Stores `message` with the live-only events sent since the last kept one (in its `earlier`), conditional on the
   * log's end; it reserves the numbers after it for live-only events. False when a successor wrote first (fenced).
   */
  async #keep(message: RoomEvent, headers: MsgHdrs, queuedAt: number): Promise<boolean> {
    const { metrics, roomId, signal } = this.#options;
    const earlier = this.#unkept.filter((e) => e.sequence < message.sequence);
    const data = RoomEvent.encode({ ...message, earlier }).finish();
    const reserved = message.sequence + (this.#options.reserve ?? 64);
    headers.set(reservedHeader, String(reserved));
    for (let attempt = 1; ; attempt++) {
      try {
        const ack = await this.#js.publish(this.#subject, data, {
          // Unique to this writer: a retry of ours is stored once, another writer's event is never taken for it.
          msgID: `${roomId}:${this.#writer}:${message.sequence}`,
          expect: { lastSubjectSequence: this.#last.streamSeq },
          headers,
          timeout: 5_000,
        });
        this.#last = {
          streamSeq: ack.seq,
          sequence: Math.max(this.#last.sequence, message.sequence),
          timeMs: Date.now(),
        };
        this.#reserved = reserved;
        this.#unkept = this.#unkept.filter((e) => e.sequence > message.sequence);
        this.#flushedAt = performance.now();
        return true;
      } catch (err) {
        if (isWrongLastSequence(err)) {
          // Another activation wrote after us: the room is held elsewhere now.
          this.#fenced = true;
          metrics.eventsFenced.inc();
          this.#options.log.warn(
            { event: message.event?.$case },
            "room events written by another host: this one stops",
          );
          return false;
        }
        // JetStream electing a leader (a server lost): retried with the same message id while the activation
        // lives and holds the room, so a kept event is stored once, late rather than never.
        const keepTrying =
          signal !== undefined && !signal.aborted && this.#options.owns() && performance.now() - queuedAt < keptRetryMs;
        if ((attempt >= 3 && !keepTrying) || this.#nats.isClosed()) throw err;
        this.#options.log.debug({ err, attempt, event: message.event?.$case }, "room event not stored yet; retrying");
        await new Promise((resolve) => setTimeout(resolve, Math.min(1_000, 100 * attempt)));
      }
    }
  }

  /** flush(), when the last was `everyMs` ago or more and live-only events wait to be kept. */
  flushIfDue(everyMs = 60_000): Promise<void> {
    if (this.#unkept.length === 0 || performance.now() - this.#flushedAt < everyMs) return Promise.resolve();
    return this.flush();
  }

  /**
   * Keeps the live-only events sent since the last kept one (the last of them stored again, carrying the others),
   * so that a watcher resuming later replays them too: at most one write a minute for a room that only speaks.
   */
  async flush(): Promise<void> {
    this.#flushedAt = performance.now();
    const run = this.#chain.then(async () => {
      const last = this.#unkept.at(-1);
      if (!last || this.#fenced || !this.#options.owns() || this.#last.streamSeq < 0) return;
      await this.#keep(last, injectNatsHeaders(natsHeaders()), performance.now()).catch((err: unknown) =>
        this.#options.log.debug({ err }, "speech events not kept yet; next time"),
      );
    });
    this.#chain = run.then(
      () => undefined,
      () => undefined,
    );
    await this.#chain;
  }

  /** Waits while the host is not sure of its lease (a stall, JetStream electing a leader), within bounds. */
  async #waitOwns(deadline: number): Promise<void> {
    const { owns, signal } = this.#options;
    while (!owns() && !signal?.aborted && performance.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  /**
   * Comment ids with an outcome (answered or rejected) among the room's stored events since `sinceMs` (Unix ms): a
   * room taken over does not answer again what its predecessor already answered.
   */
  async outcomesSince(sinceMs: number, signal?: AbortSignal): Promise<Set<string>> {
    await this.#chain;
    const seen = new Set<string>();
    const end = this.#last.streamSeq;
    // Nothing stored since then (the consumer would wait for an event that never comes).
    if (end <= 0 || this.#last.timeMs < sinceMs) return seen;
    const consumer = await this.#js.consumers.get(subjects.roomEventsStream, {
      filter_subjects: this.#subject,
      deliver_policy: DeliverPolicy.StartTime,
      opt_start_time: new Date(sinceMs).toISOString(),
    });
    const messages = await consumer.consume({ max_messages: 256 });
    const stop = () => void messages.close();
    signal?.addEventListener("abort", stop, { once: true });
    const idle = setTimeout(stop, 5_000);
    try {
      for await (const msg of messages) {
        const event = RoomEvent.decode(msg.data).event;
        if (event?.$case === "commentAnswered" || event?.$case === "commentRejected") {
          seen.add(event.value.commentId);
        }
        if (msg.seq >= end) break;
      }
    } finally {
      clearTimeout(idle);
      signal?.removeEventListener("abort", stop);
      await messages.close().catch(() => undefined);
    }
    return seen;
  }
}
