// Asking rooms to do things, from the gateway, the CLI's tour or a test: a RoomActorRequest to the room's actor
// (activated on demand wherever it lands), its RoomActorReply back. A room's refusal keeps its code; a refusal of
// bad input keeps the field it names.
import type { NatsConnection } from "@nats-io/transport-node";
import { ActorClient } from "../actors/index.js";
import { RoomActorReply, RoomActorRequest } from "../proto/index.js";
import { roomActorType } from "./room-actor.js";

export class RoomClient {
  readonly #actors: ActorClient;

  constructor(nats: NatsConnection) {
    this.#actors = new ActorClient(nats, [roomActorType]);
  }

  async request(
    roomId: string,
    request: NonNullable<RoomActorRequest["request"]>,
    options: { timeoutMs?: number; signal?: AbortSignal } = {},
  ): Promise<RoomActorReply> {
    // A refusal comes back as its named kind (an InvalidArgumentError with its field, ...): see ActorClient.ask.
    const reply = await this.#actors.ask("room", roomId, RoomActorRequest.encode({ request }).finish(), options);
    return RoomActorReply.decode(reply);
  }
}
