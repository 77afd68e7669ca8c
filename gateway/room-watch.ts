// RoomService.WatchRoom: a room's kept events replayed from the ROOM_EVENTS stream (where the room's owner stores each
// before it is sent live, rooms/event-log.ts) from where the caller says, then followed as they are stored, through
// one ordered consumer per call filtered to the room's subject, merged by sequence with the room's live events (the
// scripted show's sentences and cues are sent live only, not kept). The stream is the buffer for kept events: a slow
// watcher holds at most one pull batch of them in this process; live events wait in a queue of at most
// maxLagEvents. A watcher that falls too far behind is cut off to resume later (replaying kept events only).
import {
  DeliverPolicy,
  JetStreamApiCodes,
  JetStreamApiError,
  jetstream,
  jetstreamManager,
  type ConsumerMessages,
  type JsMsg,
  type JetStreamManager,
  type MsgRequest,
  type NextMsgRequest,
  type OrderedConsumerOptions,
} from "@nats-io/jetstream";
import type { NatsConnection, Subscription } from "@nats-io/transport-node";
import { Counter, rootLogger, type Logger, type Registry } from "../observability/index.js";
import { RoomEvent, RoomState, subjects, type WatchRoomRequest } from "../proto/index.js";
import { validateRoomId, type RoomDirectory } from "../rooms/index.js";
import { NotFoundError, ResourceExhaustedError, UnavailableError } from "../errors/index.js";

export interface RoomWatchDeps {
  nats: NatsConnection;
  directory: RoomDirectory;
  /** Where skipped events are counted (livehost_watch_events_skipped_total). */
  registry?: Registry;
  logger?: Logger;
  /** Aborts when the gateway stops: every watch ends with UNAVAILABLE, so its caller resumes elsewhere. */
  closing?: AbortSignal;
  /** A watcher more events than this behind the room's newest is cut off (RESOURCE_EXHAUSTED). Default 1,000. */
  maxLagEvents?: number;
  /**
   * Asks a room on air to keep the show's events it sent live only (RoomActorRequest.keep_events), so that a watch
   * resuming replays them too; best effort (a room that cannot answer in time leaves them to its next keep).
   */
  keepEvents?: (roomId: string) => Promise<void>;
}

/** Events pulled from the stream at a time: what one slow watcher holds in the gateway at most. */
const pullBatch = 64;
/** An ended room's stream ends once nothing more came for this long (its end event may be stored just after it). */
const endedIdleMs = 1_000;
/** The server removes a watch's consumer this long after the gateway stops pulling (a gateway that died). */
const consumerInactiveMs = 30_000;

const counters = new WeakMap<Registry, Counter<"reason">>();

/** livehost_watch_events_skipped_total on `registry`, made once per registry. */
function skippedCounter(registry: Registry): Counter<"reason"> {
  let counter = counters.get(registry);
  if (!counter) {
    counter = new Counter({
      name: "livehost_watch_events_skipped_total",
      help:
        "Messages on a room's event log or live event subject that a WatchRoom could not send (counted per watch), " +
        "by reason: undecodable.",
      labelNames: ["reason"],
      registers: [registry],
    });
    counters.set(registry, counter);
  }
  return counter;
}

const endsRoom = (event: RoomEvent) =>
  event.event?.$case === "stateChanged" && event.event.value.to === RoomState.ROOM_STATE_ENDED;

/**
 * A message on one of the room's event subjects as an event a watcher can be sent. Anyone who may publish there can
 * put anything there: bytes that are not a RoomEvent, another room's event, or one whose time is past what a Date
 * holds, which decodes but cannot be encoded again (the watch's response would fail, ending it with INTERNAL).
 */
function decodeEvent(data: Uint8Array, roomId: string): RoomEvent {
  const event = RoomEvent.decode(data);
  if (event.roomId !== roomId) throw new Error(`an event of room ${JSON.stringify(event.roomId.slice(0, 64))}`);
  if (!(event.sequence >= 1)) throw new Error("an event without a sequence");
  RoomEvent.encode(event); // throws where the watcher's response would
  return event;
}

/** The RoomEvent.sequence of a stored message, or undefined when it is not the room's event. */
function sequenceOf(data: Uint8Array, roomId: string): number | undefined {
  try {
    return decodeEvent(data, roomId).sequence;
  } catch {
    return undefined;
  }
}

/** Watches rooms for one RoomService: `watch(request, signal)` is WatchRoom's handler. */
export function roomWatcher(deps: RoomWatchDeps) {
  const log = (deps.logger ?? rootLogger()).child({ component: "room-watch" });
  const skipped = deps.registry ? skippedCounter(deps.registry) : undefined;
  const maxLag = deps.maxLagEvents ?? 1_000;
  const js = jetstream(deps.nats);
  let manager: Promise<JetStreamManager> | undefined;
  const jsm = () => (manager ??= jetstreamManager(deps.nats, { checkAPI: false }));

  /** The room's last stored event: where its log ends now. */
  async function tail(roomId: string, subject: string) {
    const stored = await (await jsm()).streams.getMessage(subjects.roomEventsStream, { last_by_subj: subject });
    return stored ? { seq: stored.seq, sequence: sequenceOf(stored.data, roomId) ?? 0 } : undefined;
  }

  /**
   * The stream position from which the first event delivered is the room's first kept event above `after`. Events
   * are stored in sequence order, so "the next event of the room at or after position p is above `after`" is false
   * and then true as p grows: a bisection over positions, a few direct gets, instead of reading the room's events.
   */
  async function startAfter(
    roomId: string,
    subject: string,
    after: number,
    end: { seq: number; sequence: number } | undefined,
  ) {
    if (!end) return 1;
    if (end.sequence <= after) return end.seq + 1;
    // nats-server (2.9 on) answers next_by_subj on a plain message get too; the client types it for direct gets only.
    const next = (seq: number) => {
      const query: NextMsgRequest = { next_by_subj: subject, seq };
      return jsm().then((m) => m.streams.getMessage(subjects.roomEventsStream, query as unknown as MsgRequest));
    };
    // Usually all of the room's kept events are asked for, or the oldest is already past `after` (a gap).
    const first = await next(1);
    if (!first || (sequenceOf(first.data, roomId) ?? Infinity) > after) return 1;
    let lo = first.seq + 1;
    let hi = end.seq;
    while (lo < hi) {
      const mid = Math.floor((lo + hi) / 2);
      const found = await next(mid);
      // Removed meanwhile (retention): start lower, the watch skips what was not asked for.
      if (!found) break;
      // An undecodable message says nothing about where we are: look lower, never skip past an event.
      if ((sequenceOf(found.data, roomId) ?? Infinity) > after) hi = mid;
      else lo = found.seq + 1;
    }
    return lo;
  }

  return async function* watch(request: WatchRoomRequest, signal: AbortSignal): AsyncGenerator<RoomEvent> {
    const { roomId, afterSequence: after } = request;
    validateRoomId(roomId);
    const room = await deps.directory.get(roomId);
    if (!room) throw new NotFoundError(`room ${roomId} does not exist`);
    const ended = room.status?.state === RoomState.ROOM_STATE_ENDED;
    // From now on, for a room that has ended: nothing will come.
    if (ended && after === undefined) return;

    // Two sources, merged by sequence: the room's kept events from its log (replayed from where the caller asks,
    // then followed) and its live events (the show is sent live only), taken from before the log is read so that
    // nothing sent meanwhile falls between them. A live event waits while kept events before it are replayed.
    // A message that is not the room's event: skipped, the watch goes on with the next. Each is counted; a watch
    // warns of the first only, so that a flood of them does not flood the logs as well.
    let warned = false;
    const skip = (err: unknown, subject: string, streamSequence?: number) => {
      skipped?.inc({ reason: "undecodable" });
      const fields = { err, roomId, subject, streamSequence };
      if (warned) log.debug(fields, "undecodable room event skipped");
      else log.warn(fields, "undecodable room event skipped (later ones of this watch are counted only)");
      warned = true;
    };
    const live = new LiveEvents(deps.nats, roomId, maxLag, (err) => skip(err, subjects.roomEvents(roomId)));
    const onAir =
      room.status?.state === RoomState.ROOM_STATE_LIVE || room.status?.state === RoomState.ROOM_STATE_PAUSED;
    // A room on air sends its show's events live only: kept now, they are replayed from `after`, and unset, the last
    // event stored is the room's last (the watch starts there, not before show events it would then skip).
    if (onAir && deps.keepEvents) {
      await deps.keepEvents(roomId).catch((err: unknown) => log.debug({ err, roomId }, "room did not keep its events"));
    }
    const subject = subjects.roomEventLog(roomId);
    let messages: ConsumerMessages;
    let deleteConsumer: () => Promise<unknown>;
    let replayEnd: number;
    let startSeq: number;
    try {
      const end = await tail(roomId, subject);
      replayEnd = end?.seq ?? 0;
      startSeq = after === undefined ? replayEnd : await startAfter(roomId, subject, after, end);
      const start: Partial<OrderedConsumerOptions> =
        after === undefined
          ? { deliver_policy: DeliverPolicy.LastPerSubject }
          : { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: startSeq };
      const consumer = await js.consumers.get(subjects.roomEventsStream, {
        ...start,
        filter_subjects: subject,
        inactive_threshold: consumerInactiveMs,
      });
      deleteConsumer = () => consumer.delete();
      messages = await consumer.consume({ max_messages: pullBatch });
    } catch (err) {
      live.close();
      // No room host has made the stream yet, or JetStream is electing a leader: the caller may retry.
      const missing = err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamNotFound;
      const what = missing ? "are not kept yet" : "cannot be read now";
      throw new UnavailableError(`room ${roomId}'s events ${what}; retry`, { cause: err });
    }

    let last = after ?? 0;
    let first = true;
    // Replaying: kept events up to the log's end when the watch began; live events go once it is done.
    let replaying = replayEnd > 0 && startSeq <= replayEnd;
    const resume = () => `resume with after_sequence ${last}`;
    const log$ = new LogReader(messages);
    const stop = () => void log$.close();
    live.onOverflow = stop;
    signal.addEventListener("abort", stop, { once: true });
    deps.closing?.addEventListener("abort", stop, { once: true });
    let idle: NodeJS.Timeout | undefined;
    const quiet = () => {
      if (!ended) return;
      clearTimeout(idle);
      idle = setTimeout(stop, endedIdleMs);
    };
    /** Live events that may go now, below `before`: all once the replay is done, else only the very next one. */
    function* takeLive(before = Infinity): Generator<RoomEvent> {
      for (;;) {
        const event = live.peek();
        if (!event || event.sequence >= before || (replaying && event.sequence !== last + 1)) return;
        live.shift();
        if (event.sequence <= last) continue;
        last = event.sequence;
        yield event;
      }
    }
    try {
      quiet();
      for (;;) {
        if (live.overflowed) {
          throw new ResourceExhaustedError(`watcher of room ${roomId} fell ${live.length} events behind; ${resume()}`);
        }
        const message = log$.next();
        if (!message) {
          let sent = false;
          for (const event of takeLive()) {
            sent = true;
            quiet();
            yield event;
            if (endsRoom(event)) return;
          }
          // Whatever came while the caller took those is looked at before waiting.
          if (sent) continue;
          if (log$.done) break;
          await Promise.race([log$.arrived(), live.arrived()]);
          continue;
        }
        quiet();
        if (message.seq >= replayEnd || message.info.pending === 0) replaying = false;
        let event: RoomEvent;
        try {
          event = decodeEvent(message.data, roomId);
        } catch (err) {
          // Not ours to end the watch for: the next events still make sense.
          skip(err, subject, message.seq);
          continue;
        }
        // A kept event carries the show's live-only events before it (replayed too, except from now on).
        const kept = [...(after === undefined && first ? [] : event.earlier), { ...event, earlier: [] }];
        first = false;
        for (const one of kept) {
          // Live events numbered before this one go first (a show sentence between two kept events).
          for (const earlier of takeLive(one.sequence)) {
            yield earlier;
            if (endsRoom(earlier)) return;
          }
          // Below the start asked for (the bisection may land early), or a duplicate.
          if (one.sequence <= last) continue;
          // Past what the room had stored when the watch began, the watcher must keep up with the room.
          if (message.seq > replayEnd && message.info.pending > maxLag) {
            throw new ResourceExhaustedError(
              `watcher of room ${roomId} fell ${message.info.pending} events behind; ${resume()}`,
            );
          }
          last = one.sequence;
          yield one;
          if (endsRoom(one)) return;
        }
      }
      if (log$.failure) throw log$.failure;
    } catch (err) {
      if (err instanceof ResourceExhaustedError || signal.aborted) throw err;
      throw new UnavailableError(`room ${roomId}'s events could not be read; ${resume()}`, { cause: err });
    } finally {
      clearTimeout(idle);
      live.close();
      signal.removeEventListener("abort", stop);
      deps.closing?.removeEventListener("abort", stop);
      await log$.close();
      await deleteConsumer().catch(() => undefined);
    }
    // The messages stopped without the room's end: cancelled, an ended room replayed, or the gateway or NATS going.
    if (signal.aborted || (ended && !deps.closing?.aborted && !deps.nats.isClosed())) return;
    throw new UnavailableError(`the gateway stopped watching room ${roomId}; ${resume()}`);
  };
}

/** Something to wait for: `wait()` resolves at the next `signal()`. */
class Signal {
  #waiters: (() => void)[] = [];
  wait(): Promise<void> {
    return new Promise((resolve) => this.#waiters.push(resolve));
  }
  signal(): void {
    for (const resolve of this.#waiters.splice(0)) resolve();
  }
}

/** A room's live events, queued for one watch (at most `max`; past that the watch is cut off). */
class LiveEvents {
  readonly #queue: RoomEvent[] = [];
  readonly #sub: Subscription;
  readonly #arrival = new Signal();
  overflowed = false;
  onOverflow: () => void = () => undefined;

  /** `skip` is told of each message that is not the room's event, which is left out. */
  constructor(nats: NatsConnection, roomId: string, max: number, skip: (err: unknown) => void) {
    this.#sub = nats.subscribe(subjects.roomEvents(roomId), {
      callback: (_err, msg) => {
        if (!msg || this.overflowed) return;
        try {
          this.#queue.push(decodeEvent(msg.data, roomId));
        } catch (err) {
          skip(err);
          return;
        }
        if (this.#queue.length > max) {
          this.overflowed = true;
          this.onOverflow();
        }
        this.#arrival.signal();
      },
    });
  }

  get length(): number {
    return this.#queue.length;
  }
  peek(): RoomEvent | undefined {
    return this.#queue[0];
  }
  shift(): RoomEvent | undefined {
    return this.#queue.shift();
  }
  arrived(): Promise<void> {
    return this.#arrival.wait();
  }
  close(): void {
    this.#sub.unsubscribe();
    this.#arrival.signal();
  }
}

/** A watch's consumer of the room's log, read ahead by at most one pull batch (the stream is the buffer). */
class LogReader {
  readonly #messages: ConsumerMessages;
  readonly #queue: JsMsg[] = [];
  readonly #arrival = new Signal();
  readonly #taken = new Signal();
  readonly #reading: Promise<void>;
  done = false;
  failure: Error | undefined;

  constructor(messages: ConsumerMessages) {
    this.#messages = messages;
    this.#reading = (async () => {
      try {
        for await (const message of messages) {
          this.#queue.push(message);
          this.#arrival.signal();
          while (this.#queue.length >= pullBatch && !this.done) await this.#taken.wait();
        }
      } catch (err) {
        this.failure = err as Error;
      } finally {
        this.done = true;
        this.#arrival.signal();
      }
    })();
  }

  next(): JsMsg | undefined {
    const message = this.#queue.shift();
    if (message) this.#taken.signal();
    return message;
  }
  arrived(): Promise<void> {
    return this.#arrival.wait();
  }
  async close(): Promise<void> {
    this.done = true;
    this.#taken.signal();
    await this.#messages.close().catch(() => undefined);
    await this.#reading;
  }
}
