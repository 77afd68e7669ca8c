// What an actor type declares, and what its handler sees. The runtime (ActorHost) does the rest: placement,
// single activation, durable mailboxes, state persistence with fencing, timers, reminders and failover.
import type { Logger } from "../observability/index.js";

/** A message as the handler sees it. Tells and reminders are durable (JetStream); asks and timers are not. */
export type ActorMessage<M> =
  | { kind: "tell"; channel: string; body: M; messageId: string; sequence: number; deliveryCount: number }
  | { kind: "ask"; body: M; messageId: string }
  | { kind: "timer"; name: string; payload: unknown }
  | { kind: "reminder"; name: string; payload: unknown; dueAt: Date; sequence: number };

/** What a timer's handler returns when it did not touch the state (see ActorTypeDefinition.handle). */
export const stateUnchanged: unique symbol = Symbol("stateUnchanged");

export interface ActorContext<S> {
  readonly type: string;
  readonly id: string;
  readonly hostId: string;
  /** Increases on every activation of this actor anywhere; the fencing token of this activation. */
  readonly epoch: number;
  /** The actor's state: mutate it or replace it; the runtime persists it (conditionally) after each message. */
  state: S;
  /** A live actor is never passivated for idleness (a live room). */
  keepAlive(on: boolean): void;
  /** A timer lives with this activation only; it is gone after deactivation or failover. */
  setTimer(name: string, delayMs: number, options?: { repeat?: boolean; payload?: unknown }): void;
  clearTimer(name: string): void;
  /** A reminder is persisted: it fires at dueAt even if the actor is not active then (it is activated for it). */
  setReminder(name: string, dueAt: Date, options?: { periodMs?: number; payload?: unknown }): Promise<void>;
  clearReminder(name: string): Promise<void>;
  /**
   * True while this activation certainly still owns the actor. Check it right before anything others would see (an
   * event, speech, a video frame): a host paused past its lease, or fenced by another, must not act for the actor.
   */
  owns(): boolean;
  /** Aborted when this activation ends (idle, drain, lease lost). */
  readonly signal: AbortSignal;
  readonly log: Logger;
}

export interface ActorTypeDefinition<S = unknown, M = unknown> {
  /** [a-z][a-z0-9-]*, e.g. "room". */
  name: string;
  /** First subject token of the type's mailboxes, e.g. "rooms" for rooms.<id>.comments. */
  subjectPrefix: string;
  /** JetStream stream holding the mailboxes of every actor of this type. */
  stream: string;
  /** Durable mailbox channels, e.g. ["comments", "commands"]; "reminders" is added by the runtime. */
  channels: string[];
  initialState(id: string): S;
  /** Decodes a tell or ask body; throw for a malformed payload (it is counted, dead-lettered, never retried). */
  decode(channel: string, data: Uint8Array): M;
  /**
   * Handles one message; the return value of an ask is the reply. Throwing sends the error to an asker. A timer's
   * handler that left the state as it was returns `stateUnchanged`: the runtime then neither compares nor writes the
   * state (a frequent timer on thousands of actors would otherwise serialize every state each time it fires).
   */
  handle(ctx: ActorContext<S>, message: ActorMessage<M>): Promise<unknown>;
  /** Encodes an ask's reply; JSON by default. */
  encodeReply?(reply: unknown): Uint8Array;
  /** Called once the activation holds its lease and state, before the first message. */
  onActivate?(ctx: ActorContext<S>): Promise<void>;
  /** Deactivate after this long without a message unless keepAlive. Default 5 min; 0 never. */
  idleTimeoutMs?: number;
  /** Attempts at a tell before it goes to the dead-letter subject. Default 5. */
  maxAttempts?: number;
}

/** An ActorTypeDefinition with its type parameters erased, as the runtime holds it. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyActorType = ActorTypeDefinition<any, any>;

export const actorNamePattern = /^[a-z][a-z0-9-]{0,31}$/;
/** Usable as a NATS subject token, a KV key part and a consumer name. */
export const actorIdPattern = /^[A-Za-z0-9_-]{1,128}$/;
