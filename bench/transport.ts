// Baselines every later benchmark compares against: a NATS request/reply and a gRPC unary call on loopback, raw
// and through livehost's own wrappers (trace context, error mapping, metrics), measured in the same run.
import { credentials } from "@grpc/grpc-js";
import { HealthClient, Room, RoomServiceClient } from "../proto/index.js";
import { createRegistry, startTracing } from "../observability/index.js";
import { callUnary, connectNats, startGrpcServer, unary } from "../transport/index.js";
import { fakeRoomService, startNatsServer } from "../testing/index.js";
import { summarize, timeSequential } from "./stats.js";
import type { BenchContext } from "./main.js";

export async function run({ log, quick }: BenchContext): Promise<Record<string, unknown>> {
  const n = quick ? 500 : 5_000;
  const warmup = quick ? 100 : 1_000;
  const tracing = startTracing({ serviceName: "bench", spanProcessors: [] });

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

  health.close();
  rooms.close();
  await requester.close();
  await responder.close();
  await tracing.shutdown();

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
    samples: n,
    detail: { nats_request_ms: natsStats, grpc_unary_ms: rawStats, grpc_livehost_unary_ms: wrappedStats },
  };
}
