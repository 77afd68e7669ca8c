// `livehost room create|get|list|start|stop|say|interrupt|watch` and `livehost comment`: RoomService from the
// command line, for operators and scripts. Every command dials the gateway (--gateway, LIVEHOST_GATEWAY, else the
// local stack's that `livehost up` records); `--json` prints protobuf JSON, one object per line, for scripts. `room watch` resumes by itself when its stream breaks.
// Every call carries the caller's token: --token-file, LIVEHOST_TOKEN or LIVEHOST_TOKEN_FILE, else the one
// `livehost up` made in LIVEHOST_HOME (~/.livehost); under mTLS the client certificate can be the identity instead.
import { randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import type { ServiceError } from "@grpc/grpc-js";
import type { Command } from "commander";
import { Option } from "commander";
import { Comment, Room, RoomEvent, RoomServiceClient, RoomState } from "../proto/index.js";
import { InvalidArgumentError } from "../errors/index.js";
import { parseDuration } from "../observability/index.js";
import { callUnary, fromServiceError } from "../transport/index.js";
import { gatewayOption, tenantOption, tokenOption, withGatewayClient, type ClientFlags } from "./gateway-client.js";
import { readJsonFile, roomSpecFromJson } from "./proto-json.js";

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

/** Runs `action` with a RoomService client, closing it after. */
const withClient = <A extends unknown[]>(action: (client: RoomServiceClient, ...args: A) => Promise<void>) =>
  withGatewayClient(RoomServiceClient, action);

export function registerRoomCommands(program: Command): void {
  const room = program.command("room").description("create, run and watch rooms through the gateway");
  const sub = (name: string, description: string) =>
    room
      .command(name)
      .description(description)
      .addOption(gatewayOption())
      .addOption(tokenOption())
      .option("--json", "print protobuf JSON");

  sub("create", "create a room from a RoomSpec file (protobuf JSON)")
    .requiredOption("--spec <file>", "RoomSpec as protobuf JSON: catalog, persona, voice, avatar, output, schedule")
    .option("--id <room-id>", "room id (default: derived from the request id)")
    .option("--request-id <id>", "idempotency key: a retry with it returns the same room (default: random)")
    .addOption(tenantOption("the merchant the room belongs to"))
    .action(
      withClient(
        async (client, flags: ClientFlags & { spec: string; id?: string; requestId?: string; tenant: string }) => {
          const spec = roomSpecFromJson(await readJsonFile(flags.spec, "--spec"), "--spec");
          const created = await callUnary(client.createRoom.bind(client), {
            requestId: flags.requestId ?? randomUUID(),
            roomId: flags.id ?? "",
            spec,
            tenant: flags.tenant,
          });
          printRoom(created, flags.json);
        },
      ),
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
    .addOption(
      new Option("--tenant <tenant>", "only this tenant's rooms").default("", "every tenant the caller acts for"),
    )
    .action(
      withClient(async (client, flags: ClientFlags & { state?: string; tenant: string }) => {
        const state = flags.state
          ? RoomState[`ROOM_STATE_${flags.state.toUpperCase()}` as keyof typeof RoomState]
          : RoomState.ROOM_STATE_UNSPECIFIED;
        let pageToken = "";
        do {
          const page = await callUnary(client.listRooms.bind(client), {
            pageSize: 500,
            pageToken,
            state,
            labels: {},
            tenant: flags.tenant,
          });
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
    .option("--override-guard", "admin only: speak the line even if the speech guard refuses it (audited)")
    .action(
      withClient(
        async (
          client,
          roomId: string,
          text: string,
          flags: ClientFlags & { interrupt?: boolean; overrideGuard?: boolean },
        ) => {
          const reply = await callUnary(client.say.bind(client), {
            roomId,
            text,
            interrupt: flags.interrupt ?? false,
            requestId: randomUUID(),
            overrideGuard: flags.overrideGuard ?? false,
          });
          process.stdout.write(`${reply.utteranceId}\n`);
        },
      ),
    );

  sub("interrupt", "stop the current line; the show resumes where it stopped")
    .argument("<room-id>")
    .action(
      withClient(async (client, roomId: string) => {
        await callUnary(client.interrupt.bind(client), { roomId });
      }),
    );

  sub("watch", "print a room's events as they happen, until it ends or Ctrl-C; a broken stream is resumed")
    .argument("<room-id>")
    .option(
      "--after <sequence>",
      "first replay the events the room still keeps after this sequence (0: all it keeps), then follow; " +
        "default: from the room's last event",
    )
    .option("--give-up-after <duration>", "stop reconnecting once no stream has worked for this long", "2m")
    .action(
      withClient(async (client, roomId: string, flags: ClientFlags & WatchFlags) => {
        const options = compileWatchOptions(flags);
        const abort = new AbortController();
        const stop = () => abort.abort();
        process.once("SIGINT", stop).once("SIGTERM", stop);
        try {
          let last = options.after;
          for await (const event of followRoom(client, roomId, { ...options, signal: abort.signal })) {
            // A jump in the room's sequence: events it no longer kept (or a gap it reported itself).
            if (last !== undefined && event.sequence > last + 1) {
              process.stderr.write(`room ${roomId}: events ${last + 1} to ${event.sequence - 1} were missed\n`);
            }
            last = event.sequence;
            process.stdout.write(flags.json ? `${JSON.stringify(RoomEvent.toJSON(event))}\n` : `${describe(event)}\n`);
          }
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
    .addOption(tokenOption())
    .option("--json", "print protobuf JSON")
    .action(
      withClient(async (client, roomId: string, text: string, flags: ClientFlags & { viewer: string }) => {
        const comment = Comment.fromPartial({ commentId: `cli-${randomUUID()}`, viewerId: flags.viewer, text });
        const reply = await callUnary(client.postComment.bind(client), { roomId, comment });
        process.stdout.write(flags.json ? `${JSON.stringify(reply)}\n` : `queued ${reply.commentId}\n`);
      }),
    );
}

interface WatchFlags {
  after?: string;
  giveUpAfter: string;
}

interface WatchOptions {
  /** Replay what the room keeps after this sequence; undefined: from its last event. */
  after?: number;
  /** How long reconnecting goes on without a stream that worked. */
  giveUpMs: number;
}

function compileWatchOptions(flags: WatchFlags): WatchOptions {
  let after: number | undefined;
  if (flags.after !== undefined) {
    after = /^\d+$/.test(flags.after) ? Number(flags.after) : NaN;
    if (!Number.isSafeInteger(after)) {
      throw new InvalidArgumentError(
        "--after",
        `must be an event sequence, a whole number from 0, got "${flags.after}"`,
      );
    }
  }
  return { after, giveUpMs: parseDuration(flags.giveUpAfter, "--give-up-after", { bare: "s", maxMs: 86_400_000 }) };
}

/** Delays between reconnections: doubled from the first to the last, reset by a stream that works. */
const retryDelaysMs = { first: 250, max: 5_000 };
/** A stream open this long worked, even if the room said nothing meanwhile. */
const workingStreamMs = 5_000;

/**
 * A room's events through WatchRoom, in order and once each, until the room ends or the signal aborts. When the
 * stream breaks (the gateway restarting, the network, a slow reader cut off) it is called again from the last event
 * received, after a growing delay, for as long as the failure is one a retry may cure and no more than `giveUpMs`
 * without a stream that worked.
 */
async function* followRoom(
  client: RoomServiceClient,
  roomId: string,
  options: WatchOptions & { signal: AbortSignal },
): AsyncGenerator<RoomEvent> {
  const { signal } = options;
  let after = options.after;
  let delayMs = retryDelaysMs.first;
  let failingSince: number | undefined;
  while (!signal.aborted) {
    const opened = performance.now();
    const call = client.watchRoom({ roomId, afterSequence: after });
    const cancel = () => call.cancel();
    signal.addEventListener("abort", cancel, { once: true });
    try {
      for await (const event of call as AsyncIterable<RoomEvent>) {
        failingSince = undefined;
        delayMs = retryDelaysMs.first;
        after = event.sequence;
        yield event;
      }
      return;
    } catch (err) {
      if (signal.aborted) return;
      const error = fromServiceError(err as ServiceError);
      // A cancellation we did not ask for is the server going away.
      if (!error.retryable && error.code !== "cancelled") throw error;
      const now = performance.now();
      if (now - opened >= workingStreamMs) {
        failingSince = undefined;
        delayMs = retryDelaysMs.first;
      }
      failingSince ??= now;
      if (now - failingSince > options.giveUpMs) throw error;
      const from = after === undefined ? "from its last event" : `after event ${after}`;
      process.stderr.write(
        `watch of room ${roomId} broke (${error.message}); resuming ${from} in ${(delayMs / 1_000).toFixed(2)} s\n`,
      );
      await sleep(delayMs, undefined, { signal }).catch(() => undefined);
      delayMs = Math.min(delayMs * 2, retryDelaysMs.max);
    } finally {
      signal.removeEventListener("abort", cancel);
      call.cancel();
    }
  }
}

function stateChoices(): string[] {
  return Object.keys(RoomState)
    .filter((k) => k.startsWith("ROOM_STATE_") && k !== "ROOM_STATE_UNSPECIFIED")
    .map((k) => k.replace("ROOM_STATE_", "").toLowerCase());
}

/** One line per event, for people: its time, its sequence, what happened. */
function describe(event: RoomEvent): string {
  // The sequence is what `watch --after` takes to resume from.
  const at = `${event.time?.toISOString() ?? ""} #${event.sequence}`;
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
