// Asking rooms to do things, from the gateway, the CLI's tour or a test: a RoomActorRequest to the room's actor
// (activated on demand wherever it lands), its RoomActorReply back. A room's refusal keeps its code; a refusal of
// bad input keeps the field it names.
import type { NatsConnection } from "@nats-io/transport-node";
import { ActorClient } from "../actors/index.js";
import { RoomActorReply, RoomActorRequest } from "../proto/index.js";
import { roomActorType } from "./room-actor.js";
import { validateSpecSize } from "./spec.js";
import { validateRequestId } from "./validation.js";

export class RoomClient {
  readonly #actors: ActorClient;

  constructor(nats: NatsConnection) {
    this.#actors = new ActorClient(nats, [roomActorType]);
  }

  async request(
    roomId: string,
    request: NonNullable<RoomActorRequest["request"]>,
    options: { timeoutMs?: number; signal?: AbortSignal; tier?: string } = {},
  ): Promise<RoomActorReply> {
    checkRequest(request);
    const message = RoomActorRequest.encode({ request, tier: options.tier ?? "" }).finish();
    // A refusal comes back as its named kind (an InvalidArgumentError with its field, ...): see ActorClient.ask.
    const reply = await this.#actors.ask("room", roomId, message, options);
    return RoomActorReply.decode(reply);
  }
}

/**
 * What must hold before a request is sent, whoever asks (the gateway checks most of it first): a request id is an
 * id, not free text (it names the room's utterances); a spec too large for one NATS message is the caller's to make
 * smaller, not a failure to ask (an update's spec is checked whole by the room only once merged, so here first).
 */
function checkRequest(request: NonNullable<RoomActorRequest["request"]>): void {
  switch (request.$case) {
    case "create":
      validateRequestId(request.value.requestId, { required: true });
      if (request.value.spec) validateSpecSize(request.value.spec);
      break;
    case "update":
      if (request.value.spec) validateSpecSize(request.value.spec);
      break;
    case "start":
    case "stop":
    case "say":
      validateRequestId(request.value.requestId);
      break;
  }
}
