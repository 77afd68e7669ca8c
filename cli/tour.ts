// What `livehost demo` shows once every role is healthy: a room created from the sample catalog through RoomService,
// put on air (its show spoken by the TTS pool, animated by the lip-sync pool, streamed as HLS by its media graph), a
// viewer's price question answered from the catalog while the show goes on, and the viewer page's address.
import { existsSync } from "node:fs";
import { join } from "node:path";
import { loadCatalogFile, loadPersonasFile, pickPersona, sampleFiles } from "../brain/index.js";
import {
  Comment,
  RoomServiceClient,
  RoomSpec,
  RoomState,
  UtteranceSource,
  type RoomEvent,
  type UtteranceStarted,
} from "../proto/index.js";
import { DeadlineExceededError, againOnDeadline } from "../errors/index.js";
import { bearerToken, callUnary, channelCredentials } from "../transport/index.js";
import { findToken } from "../trust/index.js";
import type { Stack } from "./stack.js";

export const demoRoomId = "demo";
const question = "这个保温杯多少钱？";

export async function tour(stack: Stack, say: (line: string) => void): Promise<{ viewerUrl?: string }> {
  const endpoint = (role: string, name: string) => stack.roles.find((r) => r.role === role)?.endpoints[name];
  const token = await findToken();
  const rooms = new RoomServiceClient(endpoint("gateway", "grpc")!, channelCredentials(), {
    interceptors: token ? [bearerToken(token)] : [],
  });
  try {
    // 1. A room from the sample catalog, through RoomService.
    const spec = await demoRoomSpec();
    const room = await patiently(() =>
      callUnary(rooms.createRoom.bind(rooms), { requestId: "livehost-demo", roomId: demoRoomId, spec, tenant: "" }),
    );
    say(`room ${room.id} created: "${room.spec?.displayName}", ${room.spec?.catalog?.products.length} products`);

    // 2. On air: the show starts, and the stream is written as HLS.
    // From the room's first event: nothing it does after this is missed, however late the watch's call arrives.
    const events = eventStream(rooms.watchRoom({ roomId: demoRoomId, afterSequence: 0 }));
    const live = await patiently(() =>
      callUnary(rooms.startRoom.bind(rooms), { roomId: demoRoomId, requestId: "livehost-demo-start" }),
    );
    say(`room ${room.id}: ${RoomState[live.status!.state]} (${live.status!.reason}) on ${live.status!.hostId}`);
    const first = await events.next((u) => u.source === UtteranceSource.UTTERANCE_SOURCE_SHOW, 30_000);
    say(`the host says: "${first.text}"`);
    const playlist = join(stack.mediaDir, demoRoomId, "hls", "index.m3u8");
    await until(() => existsSync(playlist), 30_000, "the room's HLS playlist did not appear");
    say(`HLS: ${playlist}`);

    // 3. A viewer asks the price; the answer comes from the catalog, between two sentences of the show.
    // Timed to where the answer's first sample went into the stream's encoder (UtteranceStarted.output_unix_ms,
    // published when it plays); a viewer hears it that much later plus the delivery (README: Latency).
    const asked = Date.now();
    const comment = Comment.fromPartial({ commentId: `demo-${Date.now()}`, viewerId: "viewer-1", text: question });
    await callUnary(rooms.postComment.bind(rooms), { roomId: demoRoomId, comment });
    const answer = await events.next((u) => u.commentId === comment.commentId, 30_000);
    const heard = Number(answer.outputUnixMs) - asked;
    say(
      `a viewer asks "${question}"; the answer's first sound is in the stream ${heard} ms later ` +
        `(at the encoder; over WebRTC a viewer hears it about 0.1 s after that, over HLS seconds after it): "${answer.text}"`,
    );

    const viewer = endpoint("gateway", "http");
    const viewerUrl = viewer ? `${viewer}/rooms/${demoRoomId}` : undefined;
    if (viewerUrl) say(`watch and ask the host yourself: ${viewerUrl}`);
    events.close();
    return { viewerUrl };
  } finally {
    rooms.close();
  }
}

/** The demo's room: the sample Mandarin catalog and its persona, portrait 720x1280 at 25 fps, as HLS. */
async function demoRoomSpec(): Promise<RoomSpec> {
  const catalog = await loadCatalogFile(sampleFiles.catalogZh);
  const persona = pickPersona(await loadPersonasFile(sampleFiles.personas), catalog);
  return RoomSpec.fromPartial({
    displayName: catalog.title,
    catalog,
    persona,
    voice: { voiceId: "zh-female-warm" },
    avatar: { avatarId: "default" },
    output: {
      video: { widthPx: 720, heightPx: 1280, fps: 25, bitrateKbps: 2000 },
      audioBitrateKbps: 128,
      outputs: [{ kind: { $case: "hls", value: { segmentDurationS: 2, playlistLength: 6 } } }],
    },
  });
}

/** Utterances of a WatchRoom stream, waited for by what they are. */
function eventStream(stream: ReturnType<RoomServiceClient["watchRoom"]>) {
  const seen: UtteranceStarted[] = [];
  const waiting = new Set<() => void>();
  stream.on("data", (event: RoomEvent) => {
    if (event.event?.$case === "utteranceStarted") seen.push(event.event.value);
    for (const wake of waiting) wake();
  });
  stream.on("error", () => undefined);
  return {
    next(match: (u: UtteranceStarted) => boolean, timeoutMs: number): Promise<UtteranceStarted> {
      return new Promise((resolve, reject) => {
        const check = () => {
          const found = seen.find(match);
          if (!found) return;
          cleanup();
          resolve(found);
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(new DeadlineExceededError("the room did not say it in time"));
        }, timeoutMs);
        const cleanup = () => {
          clearTimeout(timer);
          waiting.delete(check);
        };
        waiting.add(check);
        check();
      });
    },
    close: () => stream.cancel(),
  };
}

/**
 * A call that may outlast the gateway's wait for a room on a machine still busy starting (every role boots at once):
 * asked again, as a patient caller would (both asks are idempotent: the same request id).
 */
const patiently = <T>(call: () => Promise<T>): Promise<T> => againOnDeadline(call, 4);

async function until(probe: () => boolean, timeoutMs: number, message: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!probe()) {
    if (Date.now() > deadline) throw new DeadlineExceededError(message);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
