// `livehost room create|get|list|start|stop|say|interrupt|watch` and `livehost comment`: RoomService from the
// command line, for operators and scripts. Every command dials the gateway (--gateway or LIVEHOST_GATEWAY); `--json`
// prints protobuf JSON, one object per line, for scripts.
import { readFile } from "node:fs/promises";
import { randomUUID } from "node:crypto";
import { Command, Option } from "commander";
import { Comment, Room, RoomEvent, RoomServiceClient, RoomSpec, RoomState } from "../proto/index.js";
import { InvalidArgumentError } from "../errors/index.js";
import { callUnary, channelCredentials, configureGrpcTls } from "../transport/index.js";

interface ClientFlags {
  gateway: string;
  json?: boolean;
}

const gatewayOption = () =>
  new Option("--gateway <host:port>", "the gateway's gRPC address").env("LIVEHOST_GATEWAY").default("127.0.0.1:50051");

function dial(flags: ClientFlags): RoomServiceClient {
  return new RoomServiceClient(flags.gateway, channelCredentials());
}

const stateName = (state: RoomState | undefined) =>
  (RoomState[state ?? RoomState.ROOM_STATE_UNSPECIFIED] ?? "UNKNOWN").replace("ROOM_STATE_", "").toLowerCase();

function printRoom(room: Room, json: boolean | undefined): void {
  if (json) {
    process.stdout.write(`${JSON.stringify(Room.toJSON(room))}\n`);
    return;
  }
  const status = room.status;
  process.stdout.write(
    `${room.id}\t${stateName(status?.state)}\t${status?.reason ?? ""}\t${room.spec?.displayName ?? ""}\t` +
      `rev ${room.revision}\n`,
  );
}

/** Runs `action` with a client, closing it after. */
function withClient<A extends unknown[]>(
  action: (client: RoomServiceClient, ...args: A) => Promise<void>,
): (...args: A) => Promise<void> {
  return async (...args: A) => {
    // The gateway's TLS (mTLS) from the same variables the roles read, e.g. in a `helm test` pod.
    const env = process.env;
    if (env.LIVEHOST_TLS_CA || env.LIVEHOST_TLS_CERT) {
      await configureGrpcTls({
        caFile: env.LIVEHOST_TLS_CA,
        certFile: env.LIVEHOST_TLS_CERT,
        keyFile: env.LIVEHOST_TLS_KEY,
        serverName: env.LIVEHOST_TLS_SERVER_NAME,
      });
    }
    const command = args.findLast((a): a is Command => a instanceof Command);
    const client = dial(command!.opts<ClientFlags>());
    try {
      await action(client, ...args);
    } finally {
      client.close();
    }
  };
}

export function registerRoomCommands(program: Command): void {
  const room = program.command("room").description("create, run and watch rooms through the gateway");
  const sub = (name: string, description: string) =>
    room.command(name).description(description).addOption(gatewayOption()).option("--json", "print protobuf JSON");

  sub("create", "create a room from a RoomSpec file (protobuf JSON)")
    .requiredOption("--spec <file>", "RoomSpec as protobuf JSON: catalog, persona, voice, avatar, output, schedule")
    .option("--id <room-id>", "room id (default: derived from the request id)")
    .option("--request-id <id>", "idempotency key: a retry with it returns the same room (default: random)")
    .action(
      withClient(async (client, flags: ClientFlags & { spec: string; id?: string; requestId?: string }) => {
        let spec: RoomSpec;
        try {
          spec = RoomSpec.fromJSON(JSON.parse(await readFile(flags.spec, "utf8")));
        } catch (err) {
          throw new InvalidArgumentError(
            "--spec",
            `${flags.spec} is not a RoomSpec JSON file: ${(err as Error).message}`,
          );
        }
        const created = await callUnary(client.createRoom.bind(client), {
          requestId: flags.requestId ?? randomUUID(),
          roomId: flags.id ?? "",
          spec,
        });
        printRoom(created, flags.json);
      }),
    );

  sub("get", "show a room")
    .argument("<room-id>")
    .action(
      withClient(async (client, roomId: string, flags: ClientFlags) => {
        printRoom(await callUnary(client.getRoom.bind(client), { roomId }), flags.json);
      }),
    );

  sub("list", "list rooms, optionally in one state")
    .addOption(new Option("--state <state>", "only rooms in this state").choices(stateChoices()))
    .action(
      withClient(async (client, flags: ClientFlags & { state?: string }) => {
        const state = flags.state
          ? RoomState[`ROOM_STATE_${flags.state.toUpperCase()}` as keyof typeof RoomState]
          : RoomState.ROOM_STATE_UNSPECIFIED;
        let pageToken = "";
        do {
          const page = await callUnary(client.listRooms.bind(client), { pageSize: 500, pageToken, state, labels: {} });
          for (const r of page.rooms) printRoom(r, flags.json);
          pageToken = page.nextPageToken;
        } while (pageToken !== "");
      }),
    );

  sub("start", "put a room on air")
    .argument("<room-id>")
    .action(
      withClient(async (client, roomId: string, flags: ClientFlags) => {
        printRoom(await callUnary(client.startRoom.bind(client), { roomId, requestId: "" }), flags.json);
      }),
    );

  sub("stop", "take a room off air for good")
    .argument("<room-id>")
    .option("--reason <text>", "why, shown in the room's status", "")
    .action(
      withClient(async (client, roomId: string, flags: ClientFlags & { reason: string }) => {
        const stopped = await callUnary(client.stopRoom.bind(client), { roomId, reason: flags.reason, requestId: "" });
        printRoom(stopped, flags.json);
      }),
    );

  sub("say", "speak a line as the host (a human takes over)")
    .argument("<room-id>")
    .argument("<text>")
    .option("--interrupt", "cut the current line at once instead of after its sentence")
    .action(
      withClient(async (client, roomId: string, text: string, flags: ClientFlags & { interrupt?: boolean }) => {
        const reply = await callUnary(client.say.bind(client), {
          roomId,
          text,
          interrupt: flags.interrupt ?? false,
          requestId: randomUUID(),
        });
        process.stdout.write(`${reply.utteranceId}\n`);
      }),
    );

  sub("interrupt", "stop the current line; the show resumes where it stopped")
    .argument("<room-id>")
    .action(
      withClient(async (client, roomId: string) => {
        await callUnary(client.interrupt.bind(client), { roomId });
      }),
    );

  sub("watch", "print a room's events as they happen, until it ends or Ctrl-C")
    .argument("<room-id>")
    .action(
      withClient(async (client, roomId: string, flags: ClientFlags) => {
        const stream = client.watchRoom({ roomId });
        const stop = () => stream.cancel();
        process.once("SIGINT", stop).once("SIGTERM", stop);
        try {
          for await (const event of stream as AsyncIterable<RoomEvent>) {
            process.stdout.write(flags.json ? `${JSON.stringify(RoomEvent.toJSON(event))}\n` : `${describe(event)}\n`);
          }
        } catch (err) {
          if ((err as { code?: number }).code !== 1) throw err; // 1: cancelled by us
        } finally {
          process.off("SIGINT", stop).off("SIGTERM", stop);
        }
      }),
    );

  program
    .command("comment")
    .description("post a viewer comment to a room, as a danmaku ingest would")
    .argument("<room-id>")
    .argument("<text>")
    .option("--viewer <id>", "viewer id", "cli")
    .addOption(gatewayOption())
    .option("--json", "print protobuf JSON")
    .action(
      withClient(async (client, roomId: string, text: string, flags: ClientFlags & { viewer: string }) => {
        const comment = Comment.fromPartial({ commentId: `cli-${randomUUID()}`, viewerId: flags.viewer, text });
        const reply = await callUnary(client.postComment.bind(client), { roomId, comment });
        process.stdout.write(flags.json ? `${JSON.stringify(reply)}\n` : `queued ${reply.commentId}\n`);
      }),
    );
}

function stateChoices(): string[] {
  return Object.keys(RoomState)
    .filter((k) => k.startsWith("ROOM_STATE_") && k !== "ROOM_STATE_UNSPECIFIED")
    .map((k) => k.replace("ROOM_STATE_", "").toLowerCase());
}

/** One line per event, for people. */
function describe(event: RoomEvent): string {
  const at = event.time?.toISOString() ?? "";
  const e = event.event;
  switch (e?.$case) {
    case "stateChanged":
      return `${at} state ${stateName(e.value.from)} -> ${stateName(e.value.to)} (${e.value.reason}) ${e.value.message}`;
    case "utteranceStarted":
      return `${at} says [${e.value.utteranceId}] ${e.value.text}`;
    case "utteranceEnded":
      return `${at} said [${e.value.utteranceId}] ${e.value.durationMs} ms${e.value.interrupted ? " (interrupted)" : ""}`;
    case "cueFired":
      return `${at} cue ${e.value.productId || e.value.couponId || e.value.text} at ${e.value.streamTimeMs} ms`;
    case "commentAnswered":
      return `${at} answered ${e.value.commentId} (${e.value.intent}) with [${e.value.utteranceId}]`;
    case "commentRejected":
      return `${at} rejected ${e.value.commentId}: ${e.value.reason} ${e.value.message}`;
    case "error":
      return `${at} error ${e.value.code}: ${e.value.message}`;
    default:
      return `${at} (unknown event)`;
  }
}
