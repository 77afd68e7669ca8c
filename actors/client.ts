// Talking to actors from anywhere (the gateway, another actor, a test): `tell` puts a message in the actor's
// durable mailbox (it is activated for it if needed); `ask` is a request/reply that activates the actor on demand.
import { errors as natsErrors, headers as natsHeaders, type NatsConnection } from "@nats-io/transport-node";
import { jetstream, type JetStreamClient } from "@nats-io/jetstream";
import { injectNatsHeaders } from "../observability/index.js";
import { CancelledError, InvalidArgumentError, UnavailableError, errorFromCode } from "../errors/index.js";
import { askSubject } from "./activation.js";
import { AskTimeoutError, UnknownChannelError } from "./errors.js";
import { placementSubject, type ActivateReply } from "./host.js";
import { actorIdPattern, type AnyActorType } from "./types.js";

export interface TellOptions {
  /** The JetStream message id: a retry with the same id is stored once. Required for anything that must not double. */
  messageId: string;
  signal?: AbortSignal;
}

export interface AskOptions {
  /** The whole ask, activation included. Default 5 s. */
  timeoutMs?: number;
  signal?: AbortSignal;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export class ActorClient {
  readonly #nats: NatsConnection;
  readonly #js: JetStreamClient;
  readonly #types = new Map<string, Pick<AnyActorType, "name" | "subjectPrefix" | "channels">>();

  constructor(nats: NatsConnection, types: Pick<AnyActorType, "name" | "subjectPrefix" | "channels">[]) {
    this.#nats = nats;
    this.#js = jetstream(nats);
    for (const type of types) this.#types.set(type.name, type);
  }

  #type(type: string, id: string) {
    const definition = this.#types.get(type);
    if (!definition) throw new InvalidArgumentError("type", `unknown actor type "${type}"`);
    if (!actorIdPattern.test(id))
      throw new InvalidArgumentError("id", "must be 1 to 128 characters of A-Z a-z 0-9 _ -");
    return definition;
  }

  /** Stores the message in the actor's mailbox; resolves once JetStream has it (duplicate: already stored). */
  async tell(
    type: string,
    id: string,
    channel: string,
    data: Uint8Array,
    options: TellOptions,
  ): Promise<{ sequence: number; duplicate: boolean }> {
    const definition = this.#type(type, id);
    if (!definition.channels.includes(channel)) {
      throw new UnknownChannelError(type, channel);
    }
    if (!options.messageId) throw new InvalidArgumentError("messageId", "is required");
    options.signal?.throwIfAborted();
    const ack = await this.#js.publish(`${definition.subjectPrefix}.${id}.${channel}`, data, {
      msgID: options.messageId,
      headers: injectNatsHeaders(natsHeaders()),
    });
    return { sequence: ack.seq, duplicate: ack.duplicate };
  }

  /**
   * Request/reply with the actor, handled in order with its other messages. Activates the actor when nobody serves
   * it; retries while it moves between hosts; a handler's error comes back as the class of its code (errors/).
   */
  async ask(type: string, id: string, data: Uint8Array, options: AskOptions = {}): Promise<Uint8Array> {
    const definition = this.#type(type, id);
    const deadline = Date.now() + (options.timeoutMs ?? 5_000);
    const subject = askSubject(definition as AnyActorType, id);
    for (let attempt = 0; ; attempt++) {
      options.signal?.throwIfAborted();
      const remaining = deadline - Date.now();
      if (remaining <= 0) throw new AskTimeoutError(type, id);
      try {
        const reply = await abortable(
          this.#nats.request(subject, data, { timeout: remaining, headers: injectNatsHeaders(natsHeaders()) }),
          options.signal,
        );
        const code = reply.headers?.get("Livehost-Error-Code");
        if (!code) return reply.data;
        // The actor is moving between hosts: ask again.
        if (code === "unavailable") {
          await sleep(Math.min(200, 10 * 2 ** attempt));
          continue;
        }
        throw errorFromCode(code, decoder.decode(reply.data));
      } catch (err) {
        if (
          err instanceof natsErrors.NoRespondersError ||
          (err instanceof Error && err.cause instanceof natsErrors.NoRespondersError)
        ) {
          // Activated now, or owned by a host that just died and is not yet declared dead: back off a little.
          if (attempt > 0) await sleep(Math.min(250, 10 * 2 ** attempt));
          await this.activate(type, id, deadline - Date.now()).catch((activateErr: unknown) => {
            if (Date.now() >= deadline) throw activateErr;
          });
          continue;
        }
        if (err instanceof natsErrors.TimeoutError) throw new AskTimeoutError(type, id, { cause: err });
        throw err;
      }
    }
  }

  /** Makes sure the actor is active somewhere; resolves with the host that owns it. */
  async activate(type: string, id: string, timeoutMs = 5_000): Promise<string> {
    this.#type(type, id);
    const reply = await this.#nats.request(placementSubject, encoder.encode(JSON.stringify({ type, id })), {
      timeout: Math.max(1, timeoutMs),
    });
    const answer = JSON.parse(decoder.decode(reply.data)) as ActivateReply;
    if (!answer.owner) throw new UnavailableError(`activation of ${type}/${id} failed: ${answer.error ?? "no owner"}`);
    return answer.owner;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function abortable<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return promise;
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(new CancelledError("ask aborted", { cause: signal.reason }));
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener("abort", onAbort);
        resolve(value);
      },
      (err: unknown) => {
        signal.removeEventListener("abort", onAbort);
        reject(err instanceof Error ? err : new Error(String(err)));
      },
    );
  });
}
