// Baselines every later benchmark compares against: a NATS request/reply and a gRPC unary call on loopback, raw
// and through livehost's own wrappers (trace context, error mapping, metrics), measured in the same run; and what
// authenticating a caller and checking the policy adds to a RoomService call (authz.ts).
import { Server, ServerCredentials, credentials, type ServerWritableStream } from "@grpc/grpc-js";
import {
  HealthClient,
  Room,
  RoomServiceClient,
  SpeechServiceClient,
  SpeechServiceService,
  SynthesizeRequest,
  SynthesizeResponse,
} from "../proto/index.js";
import { createRegistry, startTracing } from "../observability/index.js";
import {
  callUnary,
  connectNats,
  mediaChannelOptions,
  serverStream,
  startGrpcServer,
  unary,
} from "../transport/index.js";
import { fakeRoomService, startNatsServer } from "../testing/index.js";
import { summarize, timeSequential } from "./stats.js";
import { authzOverhead } from "./authz.js";
import type { BenchContext } from "./main.js";

export async function run({ log, quick }: BenchContext): Promise<Record<string, unknown>> {
  const n = quick ? 500 : 5_000;
  const warmup = quick ? 100 : 1_000;
  const tracing = await startTracing({ serviceName: "bench", spanProcessors: [] });

  await using nats = await startNatsServer({ jetstream: false });
  const responder = await connectNats({ servers: nats.url, name: "bench-responder" });
  const requester = await connectNats({ servers: nats.url, name: "bench-requester" });
  responder.subscribe("bench.echo", {
    callback: (_err, msg) => {
      msg.respond(msg.data);
    },
  });
  await responder.flush();
  const payload = new Uint8Array(128);

  log(`nats request/reply x${n}`);
  const natsSamples = await timeSequential(n, warmup, () =>
    requester.request("bench.echo", payload, { timeout: 5_000 }),
  );

  await using grpc = await startGrpcServer({
    services: [
      fakeRoomService({
        getRoom: unary("GetRoom", (request: { roomId: string }) =>
          Promise.resolve(Room.fromPartial({ id: request.roomId })),
        ),
      }),
    ],
    registry: createRegistry(),
  });
  const health = new HealthClient(grpc.address, credentials.createInsecure());
  const rooms = new RoomServiceClient(grpc.address, credentials.createInsecure());

  log(`grpc unary (raw grpc-js, Health.Check) x${n}`);
  const rawSamples = await timeSequential(
    n,
    warmup,
    () =>
      new Promise((resolve, reject) =>
        health.check({ service: "" }, (err, response) => (err ? reject(err) : resolve(response))),
      ),
  );

  log(`grpc unary (livehost wrappers, RoomService.GetRoom) x${n}`);
  const wrappedSamples = await timeSequential(n, warmup, () =>
    callUnary(rooms.getRoom.bind(rooms), { roomId: "room-1" }),
  );

  // A server stream shaped like speech: 9 messages of 22 KB (4.5 s of 22.05 kHz PCM in 500 ms chunks).
  const chunk = SynthesizeResponse.fromPartial({ pcm: Buffer.alloc(22_050), durationMs: 500 });
  const rawStream = new Server();
  rawStream.addService(SpeechServiceService, {
    synthesize: (call: ServerWritableStream<SynthesizeRequest, SynthesizeResponse>) => {
      for (let i = 0; i < 9; i++) call.write(chunk);
      call.end();
    },
    listVoices: (_call: unknown, callback: (err: null, response: { voices: [] }) => void) =>
      callback(null, { voices: [] }),
  });
  const rawPort = await new Promise<number>((resolve, reject) =>
    rawStream.bindAsync("127.0.0.1:0", ServerCredentials.createInsecure(), (err, port) =>
      err ? reject(err) : resolve(port),
    ),
  );
  await using ourStream = await startGrpcServer({
    registry: createRegistry(),
    services: [
      {
        name: "livehost.v1.SpeechService",
        definition: SpeechServiceService,
        implementation: {
          synthesize: serverStream("Synthesize", async function* () {
            for (let i = 0; i < 9; i++) yield await Promise.resolve(chunk);
          }),
          listVoices: unary("ListVoices", () => Promise.resolve({ voices: [] })),
        },
      },
    ],
  });
  const streamOnce = (client: SpeechServiceClient) =>
    new Promise<void>((resolve, reject) => {
      const call = client.synthesize(SynthesizeRequest.fromPartial({ text: "x" }));
      call.on("data", () => undefined);
      call.on("end", resolve);
      call.on("error", reject);
    });
  const rawClient = new SpeechServiceClient(`127.0.0.1:${rawPort}`, credentials.createInsecure(), mediaChannelOptions);
  const ourClient = new SpeechServiceClient(ourStream.address, credentials.createInsecure(), mediaChannelOptions);
  const streams = Math.floor(n / 5);
  log(`grpc server stream, 9 x 22 KB (raw grpc-js, then livehost wrappers) x${streams}`);
  const rawStreamStats = summarize(await timeSequential(streams, 100, () => streamOnce(rawClient)));
  const ourStreamStats = summarize(await timeSequential(streams, 100, () => streamOnce(ourClient)));
  rawClient.close();
  ourClient.close();
  rawStream.forceShutdown();

  health.close();
  rooms.close();
  await requester.close();
  await responder.close();
  await tracing.shutdown();
  const authz = await authzOverhead(n, warmup, log);

  const natsStats = summarize(natsSamples);
  const rawStats = summarize(rawSamples);
  const wrappedStats = summarize(wrappedSamples);
  return {
    nats_request_ms_p50: natsStats.p50,
    nats_request_ms_p99: natsStats.p99,
    grpc_unary_ms_p50: rawStats.p50,
    grpc_unary_ms_p99: rawStats.p99,
    grpc_livehost_unary_ms_p50: wrappedStats.p50,
    grpc_livehost_unary_ms_p99: wrappedStats.p99,
    grpc_wrapper_overhead_ratio_p50: Math.round((wrappedStats.p50 / rawStats.p50) * 100) / 100,
    grpc_stream_ms_p50: rawStreamStats.p50,
    grpc_livehost_stream_ms_p50: ourStreamStats.p50,
    authz_overhead_ratio: authz.authz_overhead_ratio,
    authz_overhead_ratio_p99: authz.authz_overhead_ratio_p99,
    authz_new_token_ms_p50: authz.get_room_new_token_ms.p50,
    samples: n,
    detail: {
      get_room_with_authz_ms: authz.get_room_with_authz_ms,
      get_room_without_authz_ms: authz.get_room_without_authz_ms,
      get_room_new_token_ms: authz.get_room_new_token_ms,
      nats_request_ms: natsStats,
      grpc_unary_ms: rawStats,
      grpc_livehost_unary_ms: wrappedStats,
      grpc_stream_9x22kb_ms: rawStreamStats,
      grpc_livehost_stream_9x22kb_ms: ourStreamStats,
    },
  };
}
