// The live room as an actor. Its mailbox is rooms.<id>.comments and rooms.<id>.commands (stream ROOM_INBOX); the
// gateway asks it to create, update, start and stop itself (RoomActorRequest, in order with the mailbox); its state
// is its record (spec, lifecycle, counters) and the comments waiting for an answer, persisted by the runtime and
// projected into the room directory; it tells the world what happens on livehost.events.rooms.<id>, kept in the
// ROOM_EVENTS stream (event-log.ts).
//
// No accepted comment is lost: a comment is acknowledged once it is in the room's persisted state (its mailbox
// message is acknowledged after the state write), and it leaves the state when its outcome (answered, rejected,
// expired, dropped) has been published. A room taken over by another host puts the waiting comments back in its
// queue, in order, except those whose outcome its predecessor had already published.
//
// Writes are kept to what readers need: the directory is written on changes of spec or state at once, counters at
// most every few seconds; where the show is (for a room that moves host) is persisted every 15 s.
//
// Lifecycle: created → scheduled → warming → live ⇄ paused → ended, each transition with a reason. A scheduled room
// goes live by itself: its start and end are reminders, which fire on whichever host holds the room then.
import type { NatsConnection } from "@nats-io/transport-node";
import { jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import { randomUUID } from "node:crypto";
import { UnknownChannelError, stateUnchanged, type ActorContext, type ActorTypeDefinition } from "../actors/index.js";
import type { Registry } from "../observability/index.js";
import type { RoomEvent } from "../proto/index.js";
import {
  Comment,
  Room,
  RoomActorReply,
  RoomActorRequest,
  RoomCommand,
  RoomSpec,
  RoomState,
  subjects,
  type RoomQuality,
  type ShowProgress,
} from "../proto/index.js";
import { InvalidArgumentError, LivehostError, NotFoundError, PermissionDeniedError } from "../errors/index.js";
import type { RoomDirectory } from "./directory.js";
import { RoomEventLog } from "./event-log.js";
import { isTier, type Tier } from "../trust/index.js";
import {
  LineRefusedError,
  RoomEndedError,
  RoomExistsError,
  RoomNotLiveError,
  RoomRevisionError,
  RoomSpecIncompleteError,
  UnknownAvatarError,
  UnknownVoiceError,
} from "./errors.js";
import { LiveRoom, type LiveRoomDeps, type OnAirRoom } from "./live-room.js";
import { compileOutputConfig } from "../media/index.js";
import { roomMetrics } from "./metrics.js";
import { applyUpdate, validateRoomSpec } from "./spec.js";
import { validateComment } from "./validation.js";

export interface RoomActorState {
  /** RoomSpec as protobuf JSON; absent until the room is created. */
  spec?: unknown;
  createRequestId: string;
  /** The merchant the room belongs to (set at creation, never changed); absent for rooms made before tenants. */
  tenant?: string;
  /** Its tier as the gateway last said (create, start, update): how it competes for workers when they are short. */
  tier?: Tier;
  /** Increases on every change of spec or status. */
  revision: number;
  createTime: number;
  updateTime: number;
  state: keyof typeof RoomState;
  reason: string;
  message: string;
  /** Unix ms of the last state change. */
  stateTime: number;
  /** A floor for the room's event numbering (written every 15 s and at a clean end); the log itself is the truth. */
  eventSequence: number;
  /** The last activation ended cleanly and eventSequence is its last number exactly (nothing reserved to skip). */
  eventsClosed?: boolean;
  /** commentsReceived when the counters were last written to the directory. */
  countersPublished?: number;
  commentsReceived: number;
  commentsRejected: number;
  commentsAnswered: number;
  /** Where the show is (brain ShowPosition), so a room that moves host resumes where it stopped. */
  show?: unknown;
  /** Comments accepted and not yet given an outcome, in arrival order (text as received, personal data masked). */
  pending?: PendingComment[];
}

export interface PendingComment {
  commentId: string;
  viewerId: string;
  text: string;
  /** Unix ms when the room accepted it. */
  at: number;
}

/** Comments waiting in a room beyond this are refused as busy (the brain keeps far fewer questions). */
const maxPending = 256;
/** A waiting comment older than this when its room comes back elsewhere is reported expired, not answered. */
const pendingMaxAgeMs = 30_000;
/** How often a room on air persists where its show is. */
const showPersistMs = 15_000;
/**
 * A room on air writes its counters to the directory at most every 5 s, and a host all its rooms' at most 100 times a
 * second: at a festival a host of 1,250 rooms that each get a comment every few seconds writes each room's counters
 * every 12.5 s, not for nearly every comment (each is a directory write and a state write).
 */
const countersPublishMs = (roomsOnAir: number) => Math.max(5_000, (roomsOnAir * 1_000) / 100);

export type RoomMessage =
  | { kind: "comment"; comment: Comment }
  | { kind: "command"; command: RoomCommand }
  | { kind: "request"; request: RoomActorRequest };

/** What clients need to reach rooms (ActorClient). */
export const roomActorType = { name: "room", subjectPrefix: "rooms", channels: ["comments", "commands"] };

const stateName = (state: RoomState) => RoomState[state] as keyof typeof RoomState;
const { ROOM_STATE_CREATED, ROOM_STATE_SCHEDULED, ROOM_STATE_WARMING, ROOM_STATE_LIVE, ROOM_STATE_PAUSED } = RoomState;
const ended = RoomState.ROOM_STATE_ENDED;

export interface RoomActorDeps {
  nats: NatsConnection;
  registry: Registry;
  /** Where the room's record is published for gateways; none in tests that only look at events. */
  directory?: RoomDirectory;
  /**
   * What a room needs to go on air for real (worker pools, avatars, media output); without it a room only keeps
   * its record and lifecycle (control-plane tests).
   */
  live?: Omit<LiveRoomDeps, "publish" | "log">;
  /** The rooms on air on this host, by id (the host waits for them to stop before it closes). */
  onAir?: Map<string, OnAirRoom>;
}

/** What a client asks of a room, as a request (RoomActorRequest, answered) or a command (RoomCommand, the mailbox). */
type RoomOp =
  | { op: "create"; requestId: string; spec: RoomSpec | undefined; tenant: string }
  | { op: "get" }
  | { op: "update"; spec: RoomSpec; paths: string[]; expectedRevision: number }
  | { op: "start" }
  | { op: "stop"; reason: string }
  | { op: "say"; text: string; interrupt: boolean; utteranceId: string; overrideGuard: boolean }
  | { op: "interrupt" }
  | { op: "keepEvents" };

/** A request as an operation; undefined when it is empty. */
function requestOp({ request: r }: RoomActorRequest): RoomOp | undefined {
  switch (r?.$case) {
    case "create":
      return { op: "create", requestId: r.value.requestId, spec: r.value.spec, tenant: r.value.tenant };
    case "get":
      return { op: "get" };
    case "update":
      return {
        op: "update",
        spec: r.value.spec ?? RoomSpec.fromPartial({}),
        paths: r.value.updateMask ?? [],
        expectedRevision: r.value.expectedRevision,
      };
    case "start":
      return { op: "start" };
    case "stop":
      return { op: "stop", reason: r.value.reason };
    case "say": {
      const utteranceId = r.value.requestId ? `say-${r.value.requestId}` : `say-${randomUUID()}`;
      const { text, interrupt, overrideGuard } = r.value;
      return { op: "say", text, interrupt, utteranceId, overrideGuard };
    }
    case "interrupt":
      return { op: "interrupt" };
    case "keepEvents":
      return { op: "keepEvents" };
    default:
      return undefined;
  }
}

/** A command as an operation; undefined when it is empty. Commands carry no revision to check. */
function commandOp({ command: c, commandId }: RoomCommand): RoomOp | undefined {
  switch (c?.$case) {
    case "start":
      return { op: "start" };
    case "stop":
      return { op: "stop", reason: c.value.reason };
    case "updateSpec":
      return {
        op: "update",
        spec: c.value.spec ?? RoomSpec.fromPartial({}),
        paths: [...c.value.updatePaths],
        expectedRevision: 0,
      };
    case "say":
      return {
        op: "say",
        text: c.value.text,
        interrupt: c.value.interrupt,
        utteranceId: c.value.utteranceId || `say-${commandId}`,
        overrideGuard: false,
      };
    case "interrupt":
      return { op: "interrupt" };
    default:
      return undefined;
  }
}

/** The room actor type. */
export function roomActor(deps: RoomActorDeps): ActorTypeDefinition<RoomActorState, RoomMessage> {
  const { nats, directory } = deps;
  type Ctx = ActorContext<RoomActorState>;
  const metrics = roomMetrics(deps.registry);
  /** The rooms on air in this host, by id. */
  const onAir = deps.onAir ?? new Map<string, OnAirRoom>();
  const onAirBase = new Map<string, { answered: number; rejected: number }>();
  /** Per room on air here: what its usage counters last counted (billing is the sum of the differences). */
  const usageCounted = new Map<string, { at: number; spokenSeconds: number; frames: number }>();
  /** The activation (epoch) that put each room on air here. */
  const onAirEpoch = new Map<string, number>();
  /** Each activation's event log and what it learnt since the last look, by room id. */
  const activations = new Map<string, { epoch: number; log: RoomEventLog; handled: Set<string> }>();
  /** When each room on air last persisted its show position and published its counters, and the counts then. */
  const lastWrites = new Map<string, { show: number; counters: number; answered: number; rejected: number }>();
  /** Each room on air's quality gate, as its record last published it. */
  const published = new Map<string, RoomQuality>();
  /** Each room on air's show progress, as its record last published it. */
  const publishedShow = new Map<string, ShowProgress>();
  let jsm: JetStreamManager | undefined;

  const activation = (ctx: Ctx) => {
    let current = activations.get(ctx.id);
    if (current?.epoch !== ctx.epoch) {
      current = {
        epoch: ctx.epoch,
        log: new RoomEventLog(nats, jsmOf(), {
          roomId: ctx.id,
          owns: () => ctx.owns(),
          signal: ctx.signal,
          floor: ctx.state.eventSequence,
          floorExact: ctx.state.eventsClosed === true,
          log: ctx.log,
          metrics,
        }),
        handled: new Set(),
      };
      const mine = current;
      activations.set(ctx.id, mine);
      ctx.state.eventsClosed = false;
      ctx.signal.addEventListener(
        "abort",
        () => {
          if (activations.get(ctx.id) === mine) activations.delete(ctx.id);
          // Nothing more goes out from this activation: a clean end (drain, idle) writes its last number exactly,
          // so the next owner goes on from it with no gap. (A lost activation writes nothing.)
          ctx.state.eventSequence = Math.max(ctx.state.eventSequence, mine.log.sequence);
          ctx.state.eventsClosed = true;
        },
        { once: true },
      );
    }
    return current;
  };
  const jsmOf = () => {
    if (!jsm) throw new Error("room actor used before its host opened JetStream");
    return jsm;
  };

  /**
   * Publishes a room event through the activation's fenced log; an outcome, once kept, takes its comment off the
   * waiting list (one not sent stays there, for the room's next owner to answer).
   */
  const publish = (ctx: Ctx, event: RoomEvent["event"]) => {
    const { log, handled } = activation(ctx);
    const sent = log.publish(event);
    if (event?.$case === "commentAnswered" || event?.$case === "commentRejected") {
      const { commentId } = event.value;
      void sent.then((sequence) => sequence > 0 && handled.add(commentId));
    }
  };

  /** True while this activation may act for the room (speak, stream, publish). */
  const mayAct = (ctx: Ctx) => ctx.owns() && !activation(ctx).log.fenced;

  const record = (ctx: Ctx): Room =>
    Room.fromPartial({
      id: ctx.id,
      spec: RoomSpec.fromJSON(ctx.state.spec ?? {}),
      status: {
        state: RoomState[ctx.state.state],
        reason: ctx.state.reason,
        message: ctx.state.message,
        stateTime: new Date(ctx.state.stateTime),
        hostId: ctx.hostId,
        commentsReceived: ctx.state.commentsReceived,
        commentsRejected: ctx.state.commentsRejected,
        commentsAnswered: ctx.state.commentsAnswered,
        quality: published.get(ctx.id),
        show: publishedShow.get(ctx.id),
      },
      revision: ctx.state.revision,
      tenant: ctx.state.tenant ?? "",
      createTime: new Date(ctx.state.createTime),
      updateTime: new Date(ctx.state.updateTime),
    });

  /** What a revision stands for: the room's spec and status (not its counters, published between revisions). */
  const specAndStatus = (ctx: Ctx) => {
    const { spec, state, reason, message, stateTime, tenant } = ctx.state;
    return JSON.stringify([spec, state, reason, message, stateTime, tenant]);
  };

  /** Bumps the revision and publishes the record to the directory. */
  const changed = async (ctx: Ctx) => {
    ctx.state.revision++;
    ctx.state.updateTime = Date.now();
    await directory?.put(record(ctx));
  };

  const transition = (ctx: Ctx, to: RoomState, reason: string, message = "") => {
    const from = RoomState[ctx.state.state];
    if (from === to) return false;
    Object.assign(ctx.state, { state: stateName(to), reason, message, stateTime: Date.now() });
    // A room on air is never passivated and follows its host's failover.
    ctx.keepAlive(to === ROOM_STATE_WARMING || to === ROOM_STATE_LIVE || to === ROOM_STATE_PAUSED);
    publish(ctx, { $case: "stateChanged", value: { from, to, reason, message } });
    return true;
  };

  /** A schedule given now cannot end in the past: the room would end before it was ever on air. */
  const requireEndAhead = (spec: RoomSpec) => {
    const end = spec.schedule?.endTime;
    if (end && end.getTime() <= Date.now()) {
      throw new InvalidArgumentError("spec.schedule.end_time", `${end.toISOString()} has already passed`);
    }
  };

  /**
   * The voice and avatar a spec names (of `paths`) exist: a voice some speech worker offers (while none is known yet,
   * any voice is taken: a host that just started has not heard them all), an avatar pack on this host or published.
   */
  const requireKnown = async (spec: RoomSpec, paths: readonly string[]) => {
    const live = deps.live;
    if (!live) return;
    const voiceId = spec.voice?.voiceId;
    if (paths.includes("voice") && voiceId) {
      const offered = live.voice.directory.offered("tts");
      if (offered.length > 0 && !offered.includes(voiceId)) throw new UnknownVoiceError(voiceId, offered);
    }
    const avatarId = spec.avatar?.avatarId;
    if (paths.includes("avatar") && avatarId && live.avatarExists && !(await live.avatarExists(avatarId))) {
      throw new UnknownAvatarError(avatarId);
    }
  };

  const requireRoom = (ctx: Ctx) => {
    if (ctx.state.spec === undefined) throw new NotFoundError(`room ${ctx.id} does not exist`);
  };

  /**
   * Reminders follow the schedule: a start time makes the room scheduled (one that has already passed — a caller's
   * clock a little behind, a retry — makes it go live now), an end ends it.
   */
  const schedule = async (ctx: Ctx, spec: RoomSpec) => {
    const { startTime, endTime } = spec.schedule ?? {};
    await ctx.clearReminder("schedule-start");
    await ctx.clearReminder("schedule-end");
    const current = RoomState[ctx.state.state];
    // A scheduled room given another start time takes it (its old reminder was cleared above).
    if (startTime && (current === ROOM_STATE_CREATED || current === ROOM_STATE_SCHEDULED)) {
      const due = new Date(Math.max(startTime.getTime(), Date.now()));
      await ctx.setReminder("schedule-start", due);
      transition(ctx, ROOM_STATE_SCHEDULED, "ScheduleSet", `goes live at ${due.toISOString()}`);
    } else if (!startTime && current === ROOM_STATE_SCHEDULED) {
      transition(ctx, ROOM_STATE_CREATED, "ScheduleCleared");
    }
    if (endTime) await ctx.setReminder("schedule-end", endTime);
  };

  const goLive = async (ctx: Ctx, reason: string) => {
    const current = RoomState[ctx.state.state];
    if (current === ended) {
      throw new RoomEndedError(ctx.id);
    }
    if (current === ROOM_STATE_LIVE || current === ROOM_STATE_PAUSED) return;
    // What the room streams is part of its spec: without it the room cannot go live, whatever the request said.
    try {
      compileOutputConfig(RoomSpec.fromJSON(ctx.state.spec).output, "spec.output");
    } catch (err) {
      if (err instanceof InvalidArgumentError) throw new RoomSpecIncompleteError(ctx.id, err.message);
      throw err;
    }
    transition(ctx, ROOM_STATE_WARMING, reason);
    try {
      await putOnAir(ctx);
    } catch (err) {
      transition(ctx, ROOM_STATE_CREATED, "WarmingFailed", (err as Error).message);
      throw err;
    }
    transition(ctx, ROOM_STATE_LIVE, "Ready");
  };

  /** Builds the room's media graph and starts its show (when this host runs rooms for real). */
  const putOnAir = async (ctx: Ctx) => {
    const previous = onAir.get(ctx.id);
    // The same room back on this host while its last activation's media still stops (or was left by an activation
    // that ended without taking it off air): that one stops first.
    if (previous && (previous.stopped || onAirEpoch.get(ctx.id) !== ctx.epoch)) {
      await previous.stop();
      if (onAir.get(ctx.id) === previous) onAir.delete(ctx.id);
    }
    if (!deps.live || onAir.has(ctx.id)) return;
    const open = deps.live.openRoom ?? ((...args: ConstructorParameters<typeof LiveRoom>) => new LiveRoom(...args));
    const spec = RoomSpec.fromJSON(ctx.state.spec);
    await deps.live.ensureAvatar?.(spec.avatar?.avatarId || "default");
    const room = open(ctx.id, spec, ctx.state.show, {
      ...deps.live,
      log: ctx.log,
      publish: (event) => publish(ctx, event),
      owns: () => mayAct(ctx),
      tier: () => ctx.state.tier,
    });
    await room.start();
    onAir.set(ctx.id, room);
    onAirEpoch.set(ctx.id, ctx.epoch);
    // Whatever ends this activation (idle, drain, a lost lease) takes the room off air here.
    ctx.signal.addEventListener("abort", () => void takeOffAir(ctx), { once: true });
    onAirBase.set(ctx.id, { answered: ctx.state.commentsAnswered, rejected: ctx.state.commentsRejected });
    lastWrites.set(ctx.id, {
      show: performance.now(),
      counters: performance.now(),
      answered: ctx.state.commentsAnswered,
      rejected: ctx.state.commentsRejected,
    });
    ctx.setTimer("progress", 500, { repeat: true });
  };

  const takeOffAir = async (ctx: Ctx) => {
    const room = onAir.get(ctx.id);
    if (!room) return;
    ctx.clearTimer("progress");
    // Where the show is goes with the room (persisted at the end of a drained activation); its last usage is counted.
    const last = room.progress();
    ctx.state.show = last.position;
    countUsage(ctx, last.spokenSeconds, last.frames);
    // Still listed while it stops, so a closing host waits for it.
    await room.stop();
    // Its counters once it has stopped: going off air publishes outcomes too (an answer told it was not heard), and
    // the record written next (ended, handed over) counts every outcome published.
    const counted = room.progress();
    const base = onAirBase.get(ctx.id);
    if (base) {
      ctx.state.commentsAnswered = base.answered + counted.answered;
      ctx.state.commentsRejected = base.rejected + counted.rejected;
    }
    onAirBase.delete(ctx.id);
    usageCounted.delete(ctx.id);
    lastWrites.delete(ctx.id);
    published.delete(ctx.id);
    publishedShow.delete(ctx.id);
    if (onAir.get(ctx.id) === room) {
      onAir.delete(ctx.id);
      onAirEpoch.delete(ctx.id);
    }
  };

  /**
   * One more CommentRejected published by the actor itself (not by the room on air): counted in the record, and in the
   * base the room's own count is added to while it is on air, so that the next progress does not undo it.
   */
  const countRejected = (ctx: Ctx) => {
    ctx.state.commentsRejected++;
    const base = onAirBase.get(ctx.id);
    if (base) base.rejected++;
  };

  /** Adds what the room used since the last look to its tenant's usage counters. */
  const countUsage = (ctx: Ctx, spokenSeconds: number, frames: number) => {
    const now = performance.now();
    const last = usageCounted.get(ctx.id);
    usageCounted.set(ctx.id, { at: now, spokenSeconds, frames });
    if (!last) return;
    const tenant = { tenant: ctx.state.tenant || "_" };
    metrics.tenantOnAirSeconds.inc(tenant, (now - last.at) / 1_000);
    // A media graph rebuilt counts its frames from 0 again: what it shows is then all new.
    metrics.tenantSpeechSeconds.inc(tenant, Math.max(0, spokenSeconds - last.spokenSeconds));
    metrics.tenantFrames.inc(tenant, frames >= last.frames ? frames - last.frames : frames);
  };

  /**
   * What the room on air learnt since the last look: which waiting comments got their outcome (persisted with the
   * next write), whether it can speak (the directory at once), its counters (the directory every few seconds) and
   * where the show is (persisted every 15 s: a room that moves host may repeat a few sentences, never skip one).
   * Most looks change nothing and write nothing.
   */
  const progress = async (ctx: Ctx): Promise<boolean> => {
    const room = onAir.get(ctx.id);
    if (!room) return false;
    const { log, handled } = activation(ctx);
    /** Whether the state changed: most looks change nothing, and then nothing is serialized or written. */
    let stateChanged = false;
    // Comments with an outcome leave the waiting list here, and the state's next write (a comment, the show's
    // position) records it: a successor meanwhile finds their outcome in the room's log (recoverPending). One write
    // per comment fewer. The last outcomes are remembered, not forgotten once applied: a handler that fails before
    // that write rolls the state back to the list with them, and the next look takes them out again.
    if (handled.size > 0 && ctx.state.pending?.length) {
      ctx.state.pending = ctx.state.pending.filter((c) => !handled.has(c.commentId));
    }
    for (const id of handled) {
      if (handled.size <= maxPending) break;
      handled.delete(id);
    }
    const { position, stalled, answered, rejected, spokenSeconds, frames, quality, show, script } = room.progress();
    countUsage(ctx, spokenSeconds, frames);
    const writes = lastWrites.get(ctx.id) ?? { show: 0, counters: 0, answered: 0, rejected: 0 };
    const now = performance.now();
    void log.flushIfDue();
    if (now - writes.show >= showPersistMs) {
      ctx.state.show = position;
      // Only a floor for the log's numbering (the log itself is the truth): no write of its own.
      ctx.state.eventSequence = Math.max(ctx.state.eventSequence, log.sequence);
      writes.show = now;
      stateChanged = true;
    }
    // Counts the room on air learnt since it went on air here, added to what the record had then.
    const base = onAirBase.get(ctx.id) ?? { answered: 0, rejected: 0 };
    const counts = { commentsAnswered: base.answered + answered, commentsRejected: base.rejected + rejected };
    // What the directory shows between two revisions (counters, quality, show): written there without a new
    // revision, so not with the state; the state takes them with its next write, and a crash loses at most a few
    // seconds of counting, never a comment.
    let dirty =
      counts.commentsAnswered !== writes.answered ||
      counts.commentsRejected !== writes.rejected ||
      ctx.state.commentsReceived !== ctx.state.countersPublished;
    Object.assign(ctx.state, counts);
    // The quality gate: published when its score moved by 5 or its reasons changed.
    const before = published.get(ctx.id);
    if (quality) {
      dirty ||=
        !before ||
        Math.abs(before.score - quality.score) >= 5 ||
        before.issues.join("\n") !== quality.issues.join("\n");
    }
    // Where the show is: published when it moves to another product (readers need the product, not the sentence).
    dirty ||= publishedShow.get(ctx.id)?.productId !== show.productId;
    dirty &&= now - writes.counters >= countersPublishMs(onAir.size);
    // Changes of spec or status: a new revision, written with the state.
    let revised = false;
    // A 24/7 room wrote its show's next variations and speaks them: they are its spec from now, wherever it goes.
    if (script) {
      const spec = RoomSpec.fromJSON(ctx.state.spec);
      ctx.state.spec = RoomSpec.toJSON({ ...spec, script });
      ctx.state.show = position;
      revised = true;
    }
    const current = RoomState[ctx.state.state];
    if (stalled && current === ROOM_STATE_LIVE)
      revised = transition(ctx, ROOM_STATE_PAUSED, "Stalled", stalled) || revised;
    if (!stalled && current === ROOM_STATE_PAUSED && ctx.state.reason === "Stalled") {
      revised = transition(ctx, ROOM_STATE_LIVE, "Resumed") || revised;
    }
    if (dirty || revised) {
      if (quality) published.set(ctx.id, quality);
      publishedShow.set(ctx.id, show);
      Object.assign(writes, { counters: now, answered: counts.commentsAnswered, rejected: counts.commentsRejected });
      ctx.state.countersPublished = ctx.state.commentsReceived;
      if (revised) await changed(ctx);
      else await directory?.put(record(ctx), { sameRevision: true });
      if (script) room.scriptPersisted?.(script.version);
    }
    return stateChanged || revised;
  };

  /**
   * The comments that were waiting when the room left its last host go back in its queue, in order, once: those
   * whose outcome the last host published are dropped, those too old are reported expired.
   */
  const recoverPending = async (ctx: Ctx, room: OnAirRoom) => {
    const pending = ctx.state.pending ?? [];
    if (pending.length === 0) return;
    // What the predecessor answered is read from the room's log; on a loaded cluster that read may time out, and a
    // comment requeued without it could be answered twice: read again rather than give up on the waiting comments.
    let answered: Set<string> | undefined;
    for (let attempt = 1; !answered; attempt++) {
      try {
        answered = await activation(ctx).log.outcomesSince(pending[0]!.at - 2_000, ctx.signal);
      } catch (err) {
        if (attempt >= 5 || ctx.signal.aborted) throw err;
        ctx.log.warn({ err, attempt }, "could not read which waiting comments were answered; reading again");
        await new Promise((resolve) => setTimeout(resolve, 1_000 * attempt));
      }
    }
    const now = Date.now();
    for (const comment of pending) {
      if (answered.has(comment.commentId)) {
        metrics.commentsRecovered.inc({ outcome: "already_handled" });
        activation(ctx).handled.add(comment.commentId);
      } else if (now - comment.at > pendingMaxAgeMs) {
        metrics.commentsRecovered.inc({ outcome: "expired" });
        countRejected(ctx);
        publish(ctx, {
          $case: "commentRejected",
          value: { commentId: comment.commentId, reason: "expired", field: "", message: "not answered in time" },
        });
      } else {
        metrics.commentsRecovered.inc({ outcome: "requeued" });
        room.receive(
          Comment.fromPartial({
            commentId: comment.commentId,
            viewerId: comment.viewerId,
            text: comment.text,
            roomId: ctx.id,
          }),
        );
      }
    }
  };

  /**
   * Ends the room. Off air first, so that what it says last comes before its end on the events: the sentence playing
   * is told cut (UtteranceEnded), and every comment still waiting for an outcome is told the room ended
   * (CommentRejected "room_ended"); then the StateChanged to ENDED, after which a watch's stream ends.
   */
  const end = async (ctx: Ctx, reason: string, message: string) => {
    if (RoomState[ctx.state.state] === ended) return;
    await takeOffAir(ctx);
    await rejectWaiting(ctx);
    transition(ctx, ended, reason, message);
    await ctx.clearReminder("schedule-start");
    await ctx.clearReminder("schedule-end");
  };

  /** The comments waiting with no outcome published yet are told the room ended; none waits after. */
  const rejectWaiting = async (ctx: Ctx) => {
    const pending = ctx.state.pending ?? [];
    if (pending.length === 0) return;
    const { log, handled } = activation(ctx);
    // The outcomes the room published as it went off air are stored (and marked handled) first.
    await log.settled();
    for (const comment of pending) {
      if (handled.has(comment.commentId)) continue;
      countRejected(ctx);
      publish(ctx, {
        $case: "commentRejected",
        value: {
          commentId: comment.commentId,
          reason: "room_ended",
          field: "",
          message: `room ${ctx.id} ended before this comment was answered`,
        },
      });
    }
    ctx.state.pending = [];
  };

  const requireOnAir = (ctx: Ctx, what: string) => {
    const current = RoomState[ctx.state.state];
    if (current !== ROOM_STATE_LIVE && current !== ROOM_STATE_PAUSED) {
      throw new RoomNotLiveError(ctx.id, what);
    }
  };

  /** One operation on the room, whichever way it came; resolves with the utterance id of a Say. */
  async function apply(ctx: Ctx, op: RoomOp): Promise<string> {
    if (op.op !== "create") requireRoom(ctx);
    // A request that changes neither spec nor status (StartRoom on a live room, StopRoom on an ended one, an update
    // to the same values) keeps the revision: a caller holding it is not refused for a change that did not happen.
    const before = specAndStatus(ctx);
    switch (op.op) {
      case "create": {
        if (ctx.state.spec !== undefined) {
          // A room id belongs to one tenant for good: another tenant learns only that it may not have it.
          if ((ctx.state.tenant ?? "") !== op.tenant) {
            throw new PermissionDeniedError(`room ${ctx.id} belongs to another tenant; choose another room_id`);
          }
          if (ctx.state.createRequestId === op.requestId) return "";
          throw new RoomExistsError(ctx.id);
        }
        validateRoomSpec(op.spec);
        requireEndAhead(op.spec);
        await requireKnown(op.spec, ["voice", "avatar"]);
        const now = Date.now();
        Object.assign(ctx.state, { spec: RoomSpec.toJSON(op.spec), createRequestId: op.requestId, tenant: op.tenant });
        Object.assign(ctx.state, { createTime: now, stateTime: now });
        await schedule(ctx, op.spec);
        break;
      }
      case "get":
        return "";
      case "keepEvents":
        // Only a room on air speaks a show; asking any other changes nothing.
        if (onAir.has(ctx.id)) await activation(ctx).log.flush();
        return "";
      case "update": {
        // An ended room keeps the spec it ended with, as its record of what was streamed.
        if (RoomState[ctx.state.state] === ended) throw new RoomEndedError(ctx.id);
        if (op.expectedRevision !== 0 && op.expectedRevision !== ctx.state.revision) {
          throw new RoomRevisionError(ctx.id, ctx.state.revision, op.expectedRevision);
        }
        const next = applyUpdate(RoomSpec.fromJSON(ctx.state.spec), op.spec, op.paths);
        validateRoomSpec(next);
        // An output may be changed, never taken away (the room could not go live again).
        if (op.paths.includes("output")) compileOutputConfig(next.output, "spec.output");
        if (op.paths.includes("schedule")) requireEndAhead(next);
        await requireKnown(next, op.paths);
        // The room on air first: a change it cannot make (an avatar pack that does not load) leaves the spec as it was.
        await onAir.get(ctx.id)?.update(next, op.paths);
        ctx.state.spec = RoomSpec.toJSON(next);
        if (op.paths.includes("schedule")) await schedule(ctx, next);
        break;
      }
      case "start":
        await goLive(ctx, "StartRequested");
        break;
      case "stop":
        await end(ctx, "StopRequested", op.reason);
        break;
      case "say": {
        requireOnAir(ctx, "Say");
        const room = onAir.get(ctx.id);
        const verdict = room?.checkLine(op.text);
        if (verdict && !verdict.ok) {
          // The gateway lets only an admin override, and audits it; the room logs what was said against the guard.
          if (!op.overrideGuard) throw new LineRefusedError(verdict);
          ctx.log.warn({ violation: verdict.violation }, "a human line the guard refuses is said (override)");
        }
        room?.say(op.text, op.interrupt, op.utteranceId);
        return op.utteranceId;
      }
      case "interrupt":
        requireOnAir(ctx, "Interrupt");
        onAir.get(ctx.id)?.interrupt();
        return "";
    }
    // The record changed: a new revision, published to the directory.
    if (specAndStatus(ctx) !== before) await changed(ctx);
    return "";
  }

  /** A request from the gateway: the reply carries the room after it. */
  async function handleRequest(ctx: Ctx, request: RoomActorRequest): Promise<RoomActorReply> {
    const op = requestOp(request);
    if (!op) throw new InvalidArgumentError("request", "is empty");
    if (isTier(request.tier)) ctx.state.tier = request.tier;
    const utteranceId = await apply(ctx, op);
    // The events the request made are stored before it is answered: a watcher that starts from the room's last
    // event right after (StartRoom, then WatchRoom) sees them.
    await activation(ctx).log.settled();
    return RoomActorReply.fromPartial({ room: record(ctx), utteranceId });
  }

  /** A command from the mailbox: nobody waits for it, so what cannot apply is told on the room's events. */
  async function handleCommand(ctx: Ctx, command: RoomCommand): Promise<void> {
    try {
      requireRoom(ctx);
      const op = commandOp(command);
      if (!op) throw new InvalidArgumentError("command", "is empty");
      await apply(ctx, op);
    } catch (err) {
      if (!(err instanceof LivehostError)) throw err;
      // A command that cannot apply is reported, not retried: retrying would not make it valid.
      publish(ctx, { $case: "error", value: { code: err.code, message: err.message, retryable: false } });
    }
  }

  async function handleComment(ctx: Ctx, body: Comment): Promise<void> {
    const comment = { ...body, roomId: body.roomId || ctx.id };
    const reject = async (reason: string, field: string, message: string) => {
      countRejected(ctx);
      publish(ctx, { $case: "commentRejected", value: { commentId: comment.commentId, reason, field, message } });
      // A room on air publishes its counters every few seconds (progress); others at once.
      if (ctx.state.spec !== undefined && !onAir.has(ctx.id)) await changed(ctx);
    };
    if (ctx.state.spec === undefined) {
      // A subject no room can have (upper case, a dot's worth of junk): the publisher's mistake, named as such.
      if (!subjects.roomIdPattern.test(ctx.id)) {
        return reject("invalid", "room_id", `"${ctx.id}" is not a room id (a-z, 0-9 and '-', 1 to 63 characters)`);
      }
      return reject("not_found", "room_id", `room ${ctx.id} does not exist`);
    }
    if (ctx.state.state === "ROOM_STATE_ENDED") {
      return reject("room_ended", "room_id", `room ${ctx.id} has ended; its comments are not answered`);
    }
    // The same comment again (published past JetStream's duplicate window, or under another message id) while it
    // waits or just after its outcome: it has, or will have, one outcome; a second would answer it twice.
    if (
      ctx.state.pending?.some((c) => c.commentId === comment.commentId) ||
      activation(ctx).handled.has(comment.commentId)
    ) {
      metrics.commentDuplicates.inc();
      return;
    }
    ctx.state.commentsReceived++;
    try {
      if (comment.roomId !== ctx.id)
        throw new InvalidArgumentError("room_id", "does not match the room it was sent to");
      validateComment(comment);
    } catch (err) {
      // A bad comment from a danmaku ingest: a clear rejection event, nothing else changes.
      const field = err instanceof InvalidArgumentError ? err.field : "";
      return reject("invalid", field, (err as Error).message);
    }
    const current = RoomState[ctx.state.state];
    if (current === ROOM_STATE_CREATED || current === ROOM_STATE_SCHEDULED) {
      return reject(
        "not_live",
        "room_id",
        `room ${ctx.id} is not on air yet; its comments are answered while it is live`,
      );
    }
    const room = onAir.get(ctx.id);
    if (!room) {
      await changed(ctx);
      return;
    }
    // On air here: the comment waits in the persisted state until its outcome is published (see progress).
    const pending = (ctx.state.pending ??= []);
    if (pending.length >= maxPending) {
      return reject("busy", "", `room ${ctx.id} has ${maxPending} comments waiting; more useful questions first`);
    }
    pending.push({ commentId: comment.commentId, viewerId: comment.viewerId, text: comment.text, at: Date.now() });
    room.receive(comment);
  }

  return {
    ...roomActorType,
    stream: subjects.roomInboxStream,
    // An idle room that is not live can be passivated; its state is in KV and its mailbox in JetStream.
    idleTimeoutMs: 10 * 60_000,
    initialState: () => ({
      createRequestId: "",
      revision: 0,
      createTime: 0,
      updateTime: 0,
      state: "ROOM_STATE_CREATED",
      reason: "Created",
      message: "",
      stateTime: 0,
      eventSequence: 0,
      countersPublished: 0,
      commentsReceived: 0,
      commentsRejected: 0,
      commentsAnswered: 0,
    }),
    decode(channel, data) {
      if (channel === "comments") return { kind: "comment", comment: Comment.decode(data) };
      if (channel === "commands") return { kind: "command", command: RoomCommand.decode(data) };
      if (channel === "ask") return { kind: "request", request: RoomActorRequest.decode(data) };
      throw new UnknownChannelError("room", channel);
    },
    encodeReply: (reply) => RoomActorReply.encode(reply as RoomActorReply).finish(),
    async onActivate(ctx) {
      jsm ??= await jetstreamManager(nats);
      if (ctx.state.spec === undefined) return;
      // A room that was on air when its previous host went away comes back on air here, where its show was.
      const current = RoomState[ctx.state.state];
      if (current === ROOM_STATE_WARMING || current === ROOM_STATE_LIVE || current === ROOM_STATE_PAUSED) {
        ctx.keepAlive(true);
        try {
          const activated = performance.now();
          await putOnAir(ctx);
          if (deps.live) metrics.backOnAir.observe((performance.now() - activated) / 1000);
          publish(ctx, {
            $case: "stateChanged",
            value: { from: current, to: current, reason: "HostChanged", message: `now on ${ctx.hostId}` },
          });
          const room = onAir.get(ctx.id);
          if (room) await recoverPending(ctx, room);
        } catch (err) {
          publish(ctx, {
            $case: "error",
            value: { code: "warming_failed", message: (err as Error).message, retryable: true },
          });
        }
      }
      // The host that holds the room now is part of its record.
      await changed(ctx);
    },
    async handle(ctx, message) {
      if (message.kind === "reminder") {
        if (ctx.state.spec === undefined) return undefined;
        if (message.name === "schedule-start" && RoomState[ctx.state.state] === ROOM_STATE_SCHEDULED) {
          await goLive(ctx, "ScheduleReached");
        }
        if (message.name === "schedule-end") await end(ctx, "ScheduleEnded", "");
        await changed(ctx);
        return undefined;
      }
      if (message.kind === "timer") {
        if (message.name === "progress" && (await progress(ctx))) return undefined;
        return stateUnchanged;
      }
      const body = message.body;
      if (body.kind === "request") return handleRequest(ctx, body.request);
      if (body.kind === "comment") await handleComment(ctx, body.comment);
      else await handleCommand(ctx, body.command);
      return undefined;
    },
  };
}
