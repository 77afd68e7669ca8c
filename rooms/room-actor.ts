// The live room as an actor: its mailbox is rooms.<id>.comments and rooms.<id>.commands (stream ROOM_INBOX), its
// state is its lifecycle, and it tells the world what happens on livehost.events.rooms.<id>. This is the room's
// skeleton on the actor runtime; the show, the voice and the media graph plug into it.
import { headers as natsHeaders } from "@nats-io/transport-node";
import type { NatsConnection } from "@nats-io/transport-node";
import { injectNatsHeaders } from "../observability/index.js";
import { Comment, RoomCommand, RoomEvent, RoomState, subjects } from "../proto/index.js";
import { InvalidArgumentError } from "../transport/index.js";
import type { ActorContext, ActorTypeDefinition } from "../actors/index.js";
import { validateComment } from "./validation.js";

export interface RoomActorState {
  state: keyof typeof RoomState;
  reason: string;
  /** Unix ms of the last state change. */
  stateTime: number;
  /** Sequence of the last RoomEvent published; events carry it + 1. */
  eventSequence: number;
  commentsAccepted: number;
  commentsRejected: number;
}

export type RoomMessage =
  { kind: "comment"; comment: Comment } | { kind: "command"; command: RoomCommand } | { kind: "status" };

const stateName = (state: RoomState) => RoomState[state] as keyof typeof RoomState;

/** The room actor type. `nats` is where its events go. */
export function roomActor(nats: NatsConnection): ActorTypeDefinition<RoomActorState, RoomMessage> {
  const publish = (ctx: ActorContext<RoomActorState>, event: RoomEvent["event"]) => {
    ctx.state.eventSequence++;
    const message = RoomEvent.fromPartial({
      roomId: ctx.id,
      sequence: ctx.state.eventSequence,
      time: new Date(),
      event,
    });
    nats.publish(subjects.roomEvents(ctx.id), RoomEvent.encode(message).finish(), {
      headers: injectNatsHeaders(natsHeaders()),
    });
  };

  const transition = (ctx: ActorContext<RoomActorState>, to: RoomState, reason: string, message = "") => {
    const from = RoomState[ctx.state.state];
    if (from === to) return;
    ctx.state.state = stateName(to);
    ctx.state.reason = reason;
    ctx.state.stateTime = Date.now();
    // A live or paused room is on air: it is never passivated and follows its host's failover.
    ctx.keepAlive(to === RoomState.ROOM_STATE_LIVE || to === RoomState.ROOM_STATE_PAUSED);
    publish(ctx, { $case: "stateChanged", value: { from, to, reason, message } });
  };

  return {
    name: "room",
    subjectPrefix: "rooms",
    stream: subjects.roomInboxStream,
    channels: ["comments", "commands"],
    // An idle room that is not live can be passivated; its state is in KV and its mailbox in JetStream.
    idleTimeoutMs: 10 * 60_000,
    initialState: () => ({
      state: "ROOM_STATE_CREATED",
      reason: "Created",
      stateTime: Date.now(),
      eventSequence: 0,
      commentsAccepted: 0,
      commentsRejected: 0,
    }),
    decode(channel, data) {
      if (channel === "comments") return { kind: "comment", comment: Comment.decode(data) };
      if (channel === "commands") return { kind: "command", command: RoomCommand.decode(data) };
      if (channel === "ask") return { kind: "status" };
      throw new Error(`unknown channel ${channel}`);
    },
    handle(ctx, message) {
      if (message.kind === "reminder") {
        if (message.name === "schedule-start") transition(ctx, RoomState.ROOM_STATE_LIVE, "ScheduleReached");
        if (message.name === "schedule-end") transition(ctx, RoomState.ROOM_STATE_ENDED, "ScheduleEnded");
        return Promise.resolve(undefined);
      }
      if (message.kind === "timer") return Promise.resolve(undefined);
      const body = message.body;
      if (body.kind === "status")
        return Promise.resolve({ roomId: ctx.id, hostId: ctx.hostId, epoch: ctx.epoch, ...ctx.state });
      if (body.kind === "comment") {
        const comment = { ...body.comment, roomId: body.comment.roomId || ctx.id };
        try {
          if (comment.roomId !== ctx.id)
            throw new InvalidArgumentError("room_id", "does not match the room it was sent to");
          validateComment(comment);
        } catch (err) {
          // A bad comment from a danmaku ingest: a clear rejection event, nothing else changes.
          ctx.state.commentsRejected++;
          const field = err instanceof InvalidArgumentError ? err.field : "";
          publish(ctx, {
            $case: "commentRejected",
            value: { commentId: comment.commentId, reason: "invalid", field, message: (err as Error).message },
          });
          return Promise.resolve(undefined);
        }
        ctx.state.commentsAccepted++;
        return Promise.resolve(undefined);
      }
      const command = body.command.command;
      switch (command?.$case) {
        case "start":
          transition(ctx, RoomState.ROOM_STATE_LIVE, "StartRequested");
          break;
        case "stop":
          transition(ctx, RoomState.ROOM_STATE_ENDED, "StopRequested", command.value.reason);
          break;
        default:
          publish(ctx, {
            $case: "error",
            value: {
              code: "unsupported_command",
              message: `command ${command?.$case ?? "(none)"} is not supported yet`,
              retryable: false,
            },
          });
      }
      return Promise.resolve(undefined);
    },
  };
}
