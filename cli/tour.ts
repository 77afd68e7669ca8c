// What `livehost demo` shows once every role is healthy: one viewer comment through the gateway into its room actor,
// one line spoken by the TTS worker, and the lip-sync worker animating that line — the roles working together.
import { credentials } from "@grpc/grpc-js";
import {
  AnimateRequest,
  Comment,
  LipSyncServiceClient,
  RoomServiceClient,
  RoomSpec,
  RoomState,
  SpeechServiceClient,
  SynthesizeRequest,
  type AnimateResponse,
  type SynthesizeResponse,
} from "../proto/index.js";
import { animateOpen } from "../gpu-workers/index.js";
import { callUnary, connectNats, mediaChannelOptions } from "../transport/index.js";
import type { Stack } from "./stack.js";

export async function tour(stack: Stack, say: (line: string) => void): Promise<void> {
  const address = (role: string) => stack.roles.find((r) => r.role === role)?.endpoints.grpc;
  const nats = await connectNats({ servers: stack.nats.url, name: "livehost-demo" });
  try {
    // 1. A room created through RoomService, and a viewer comment into its durable inbox, handled by its actor.
    const rooms = new RoomServiceClient(address("gateway")!, credentials.createInsecure());
    const room = await callUnary(rooms.createRoom.bind(rooms), {
      requestId: "demo-room",
      roomId: "demo-room",
      spec: demoRoomSpec(),
    });
    say(
      `room ${room.id} created: ${room.spec?.catalog?.products.length} products, state ${RoomState[room.status!.state]}`,
    );
    const comment = Comment.fromPartial({
      commentId: `demo-${Date.now()}`,
      viewerId: "viewer-1",
      text: "How much is the kettle?",
    });
    const queued = await callUnary(rooms.postComment.bind(rooms), { roomId: "demo-room", comment });
    const received = await waitFor(async () => {
      const status = (await callUnary(rooms.getRoom.bind(rooms), { roomId: "demo-room" })).status!;
      return status.commentsReceived > 0 ? status : undefined;
    });
    rooms.close();
    say(
      `comment ${queued.commentId}: queued ${queued.queued}; room demo-room on ${received.hostId} has received ${received.commentsReceived}`,
    );

    // 2. A line of the show, spoken by the TTS worker.
    const speech = new SpeechServiceClient(address("tts-worker")!, credentials.createInsecure(), mediaChannelOptions);
    const text = "Welcome to livehost! The gooseneck kettle is $49.99 today.";
    const started = performance.now();
    let firstChunkMs = 0;
    const chunks = await new Promise<SynthesizeResponse[]>((resolve, reject) => {
      const out: SynthesizeResponse[] = [];
      const call = speech.synthesize(SynthesizeRequest.fromPartial({ text, voiceId: "en-male-bright" }));
      call.on("data", (c: SynthesizeResponse) => {
        if (out.length === 0) firstChunkMs = performance.now() - started;
        out.push(c);
      });
      call.on("end", () => resolve(out));
      call.on("error", reject);
    });
    speech.close();
    const pcm = Buffer.concat(chunks.map((c) => c.pcm));
    const rate = chunks[0]?.format?.sampleRateHz ?? 22_050;
    const words = chunks.flatMap((c) => c.words.map((w) => w.text));
    say(
      `tts: "${text}" -> ${((pcm.length / 2 / rate) * 1000).toFixed(0)} ms of audio, first chunk after ${firstChunkMs.toFixed(1)} ms, words: ${words.join(" ")}`,
    );

    // 3. The same audio, animated by the lip-sync worker.
    const lipsync = new LipSyncServiceClient(
      address("lipsync-worker")!,
      credentials.createInsecure(),
      mediaChannelOptions,
    );
    const frames = await new Promise<AnimateResponse[]>((resolve, reject) => {
      const out: AnimateResponse[] = [];
      const call = lipsync.animate();
      call.on("data", (r: AnimateResponse) => {
        out.push(r);
        if (r.message?.$case === "flushed") {
          call.end();
          resolve(out);
        }
      });
      call.on("error", reject);
      call.write(animateOpen({ sampleRateHz: rate, roomId: "demo-room" }));
      for (let i = 0; i < pcm.length; i += 8_820) {
        call.write(
          AnimateRequest.fromPartial({ message: { $case: "audio", value: { pcm: pcm.subarray(i, i + 8_820) } } }),
        );
      }
      call.write(AnimateRequest.fromPartial({ message: { $case: "flush", value: {} } }));
    });
    lipsync.close();
    const visemes = frames.flatMap((r) => (r.message?.$case === "frame" ? [r.message.value.mouth?.viseme ?? 0] : []));
    say(`lip-sync: ${visemes.length} mouth frames at 25 fps; visemes ${visemes.slice(0, 40).join("")}…`);
  } finally {
    await nats.close();
  }
}

/** The demo's room: the kettle the tour talks about, in USD, with the embedded English voice. */
function demoRoomSpec(): RoomSpec {
  return RoomSpec.fromPartial({
    displayName: "livehost demo",
    catalog: {
      title: "Kitchen picks",
      language: "en-US",
      currency: "USD",
      products: [{ id: "kettle", title: "Gooseneck kettle", price: { currency: "USD", amountMinor: 4999 }, stock: 40 }],
    },
    voice: { voiceId: "en-male-bright" },
    avatar: { avatarId: "default" },
  });
}

async function waitFor<T>(probe: () => Promise<T | undefined>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error("the room did not see the comment in time");
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
