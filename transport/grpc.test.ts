import { describe, expect, it } from "vitest";
import { BinaryWriter } from "@bufbuild/protobuf/wire";
import {
  Client,
  Metadata,
  credentials,
  status as GrpcStatus,
  type ServerDuplexStream,
  type ServiceError,
} from "@grpc/grpc-js";
import {
  AnimateRequest,
  AnimateResponse,
  HealthClient,
  HealthCheckResponse_ServingStatus as Serving,
  LipSyncServiceClient,
  LipSyncServiceService,
  Room,
  RoomServiceClient,
  animateAudio,
  animateFlush,
  type HealthCheckResponse,
} from "../proto/index.js";
import { createRegistry } from "../observability/index.js";
import { CancelledError, InvalidArgumentError } from "../errors/index.js";
import {
  bidiCall,
  bidiStream,
  callUnary,
  fromServiceError,
  mediaChannelOptions,
  startGrpcServer,
  unary,
  serverStream,
  type GrpcServiceRegistration,
} from "./internal.js";
import { eventually, fakeRoomService, startTestGrpcServer } from "../testing/index.js";

/** A RoomService whose GetRoom fails the way handlers fail (bad input, or a bug) and whose WatchRoom never ends. */
function testRoomService(): GrpcServiceRegistration {
  return fakeRoomService({
    getRoom: unary("GetRoom", (request: { roomId: string }) => {
      if (request.roomId === "") return Promise.reject(new InvalidArgumentError("room_id", "is required"));
      return Promise.reject(new Error("database password is hunter2"));
    }),
    watchRoom: serverStream("WatchRoom", async function* (_request, signal) {
      for (let sequence = 1; !signal.aborted; sequence++) {
        yield { roomId: "r1", sequence, event: undefined, time: new Date(), earlier: [] };
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    }),
  });
}

describe("gRPC server", () => {
  it("answers grpc.health.v1 Check for the server and each service, NOT_FOUND for others", async () => {
    await using server = await startTestGrpcServer([testRoomService()]);
    const client = new HealthClient(server.address, credentials.createInsecure());
    try {
      expect(await callUnary(client.check.bind(client), { service: "" })).toEqual({ status: Serving.SERVING });
      expect(await callUnary(client.check.bind(client), { service: "livehost.v1.RoomService" })).toEqual({
        status: Serving.SERVING,
      });
      await expect(callUnary(client.check.bind(client), { service: "nope.Service" })).rejects.toMatchObject({
        code: "not_found",
      });
    } finally {
      client.close();
    }
  });

  it("streams health changes to Watch and reports NOT_SERVING while closing", async () => {
    const server = await startTestGrpcServer();
    const client = new HealthClient(server.address, credentials.createInsecure());
    const seen: Serving[] = [];
    const call = client.watch({ service: "" });
    const ended = new Promise<void>((resolve) => {
      call.on("data", (response: HealthCheckResponse) => seen.push(response.status));
      call.on("end", resolve);
      call.on("error", () => resolve());
    });
    await new Promise((resolve) => setTimeout(resolve, 50));
    await server.close(1_000);
    await ended;
    client.close();
    expect(seen).toEqual([Serving.SERVING, Serving.NOT_SERVING]);
  });

  it("maps typed errors to status codes naming the field, and hides unexpected ones", async () => {
    await using server = await startTestGrpcServer([testRoomService()]);
    const client = new RoomServiceClient(server.address, credentials.createInsecure());
    try {
      const invalid = await callUnary(client.getRoom.bind(client), { roomId: "" }).catch((err: unknown) => err);
      expect(invalid).toBeInstanceOf(InvalidArgumentError);
      expect(invalid).toMatchObject({ field: "room_id", message: "room_id: is required", retryable: false });

      const internal = await new Promise<ServiceError>((resolve) =>
        client.getRoom({ roomId: "r1" }, (err) => resolve(err!)),
      );
      expect(internal.code).toBe(GrpcStatus.INTERNAL);
      expect(internal.details).toBe("internal error");
      expect(internal.details).not.toContain("hunter2");
    } finally {
      client.close();
    }
  });

  it("answers a refusal that quotes a megabyte of the caller's input, or names a field that is not ASCII", async () => {
    await using server = await startTestGrpcServer([
      fakeRoomService({
        getRoom: unary("GetRoom", (request: { roomId: string }) =>
          Promise.reject(
            new InvalidArgumentError(`labels[${request.roomId.slice(0, 4)}]`, `"${request.roomId}" is bad`),
          ),
        ),
      }),
    ]);
    const client = new RoomServiceClient(server.address, credentials.createInsecure());
    const get = (roomId: string) =>
      callUnary(client.getRoom.bind(client), { roomId }, { timeoutMs: 5_000 }).catch((err: unknown) => err);
    try {
      // Whole, the message would be more than HTTP/2 takes in a header block, and the connection would fail.
      const long = await get("我".repeat(1_000_000));
      expect(long).toBeInstanceOf(InvalidArgumentError);
      expect(long).toMatchObject({ field: "labels[我我我我]" });
      expect([...(long as Error).message]).toHaveLength(1_000);
      expect((long as Error).message).toMatch(/^labels\[我我我我\]: "我+…$/);
      // The connection still serves.
      expect(await get("商户")).toMatchObject({ field: "labels[商户]", message: 'labels[商户]: "商户" is bad' });
    } finally {
      client.close();
    }
  });

  it("stops a server stream's producer when the client cancels", async () => {
    await using server = await startTestGrpcServer([testRoomService()]);
    const client = new RoomServiceClient(server.address, credentials.createInsecure());
    const call = client.watchRoom({ roomId: "r1" });
    let received = 0;
    await new Promise<void>((resolve) => {
      call.on("data", () => {
        if (++received === 3) call.cancel();
      });
      call.on("error", (err: ServiceError) => {
        expect(err.code).toBe(GrpcStatus.CANCELLED);
        resolve();
      });
    });
    client.close();
    expect(received).toBeGreaterThanOrEqual(3);
  });

  it("counts calls by method and code in its registry", async () => {
    const registry = createRegistry();
    await using server = await startGrpcServer({ services: [testRoomService()], registry });
    const client = new HealthClient(server.address, credentials.createInsecure());
    await callUnary(client.check.bind(client), { service: "" });
    client.close();
    const text = await registry.metrics();
    expect(text).toMatch(/livehost_grpc_server_handled_total\{method="\/grpc.health.v1.Health\/Check",code="OK"\} 1/);
    expect(text).toContain("livehost_grpc_server_handling_seconds_bucket");
  });
});

/** Calls a method with bytes as they are, bypassing the client's encoding; resolves with how the call ended. */
function rawCall(client: Client, path: string, bytes: Uint8Array, stream = false) {
  const identity = (b: Buffer) => b;
  return new Promise<ServiceError | undefined>((resolve) => {
    if (!stream) {
      client.makeUnaryRequest(path, identity, identity, Buffer.from(bytes), new Metadata(), {}, (err) =>
        resolve(err ?? undefined),
      );
      return;
    }
    const call = client.makeServerStreamRequest(path, identity, identity, Buffer.from(bytes), new Metadata(), {});
    call.on("data", () => undefined);
    call.on("error", resolve);
    call.on("end", () => resolve(undefined));
  });
}

/** A message of the given fields, written by hand so that it may hold what a well-behaved client never sends. */
function message(write: (writer: BinaryWriter) => void): Uint8Array {
  const writer = new BinaryWriter();
  write(writer);
  return writer.finish();
}

const notUtf8 = new Uint8Array([0x72, 0x31, 0xff, 0xfe]);

describe("requests that do not decode", () => {
  it("are INVALID_ARGUMENT naming the field (not INTERNAL), before the handler runs, and the server goes on", async () => {
    const seen: unknown[] = [];
    const room = (request: { roomId: string }): Promise<Room> => {
      seen.push(request);
      return Promise.resolve(Room.fromPartial({ id: request.roomId }));
    };
    await using server = await startTestGrpcServer([
      fakeRoomService({
        getRoom: unary("GetRoom", room),
        updateRoom: unary("UpdateRoom", room),
        createRoom: unary("CreateRoom", room),
      }),
    ]);
    const raw = new Client(server.address, credentials.createInsecure());
    const refusal = async (method: string, bytes: Uint8Array, stream = false) => {
      const err = await rawCall(raw, `/livehost.v1.RoomService/${method}`, bytes, stream);
      expect(err?.code).toBe(GrpcStatus.INVALID_ARGUMENT);
      return fromServiceError(err!);
    };
    try {
      // Not a message at all: a field whose length runs past the end.
      const garbage = await refusal("UpdateRoom", new Uint8Array([0x0a, 0xff, 0xff, 0x03, 0x01]));
      expect(garbage).toMatchObject({ field: "request" });
      expect(garbage.message).toMatch(
        /^request: is not a valid protobuf message for \/livehost\.v1\.RoomService\/UpdateRoom \(.+\)$/,
      );
      // UpdateRoomRequest.expected_revision (4) at 2^64 - 1: a valid uint64 that a JavaScript number cannot hold.
      const huge = await refusal(
        "UpdateRoom",
        message((w) => w.uint32(10).string("r1").uint32(32).uint64("18446744073709551615")),
      );
      expect(huge).toMatchObject({ field: "expected_revision" });
      expect(huge.message).toMatch(/^expected_revision: is larger than 9007199254740991/);
      // Deep inside the spec: CreateRoomRequest.spec (3) .catalog (2) .products[0] (4) .price (3) .amount_minor (2).
      const price = await refusal(
        "CreateRoom",
        message((w) =>
          w
            .uint32(26)
            .fork()
            .uint32(18)
            .fork()
            .uint32(34)
            .fork()
            .uint32(26)
            .fork()
            .uint32(16)
            .int64("-9223372036854775808")
            .join()
            .join()
            .join()
            .join(),
        ),
      );
      expect(price).toMatchObject({ field: "spec.catalog.products[0].price.amount_minor" });
      expect(price.message).toMatch(/is smaller than -9007199254740991/);
      // A string that is not UTF-8 (GetRoomRequest.room_id), and one inside a map's key (RoomSpec.labels).
      expect(
        await refusal(
          "GetRoom",
          message((w) => w.uint32(10).bytes(notUtf8)),
        ),
      ).toMatchObject({
        field: "room_id",
        message: "room_id: is not valid UTF-8",
      });
      const label = message((w) => w.uint32(66).fork().uint32(10).bytes(notUtf8).uint32(18).string("v").join());
      expect(
        await refusal(
          "CreateRoom",
          message((w) => w.uint32(26).bytes(label)),
        ),
      ).toMatchObject({
        field: "spec.labels[r1\uFFFD\uFFFD]",
      });
      // A server stream is refused the same way.
      expect(
        await refusal(
          "WatchRoom",
          message((w) => w.uint32(10).bytes(notUtf8)),
          true,
        ),
      ).toMatchObject({
        field: "room_id",
      });
      expect(seen).toEqual([]);

      // The server still serves, and a valid U+FFFD (sent as its UTF-8 bytes) is no decoding error.
      const client = new RoomServiceClient(server.address, credentials.createInsecure());
      await expect(callUnary(client.getRoom.bind(client), { roomId: "r\uFFFD" })).resolves.toMatchObject({
        id: "r\uFFFD",
      });
      client.close();
    } finally {
      raw.close();
    }
  });

  it("ends a bidirectional stream with INVALID_ARGUMENT naming the field inside the request's oneof", async () => {
    const handled: AnimateRequest[] = [];
    await using server = await startTestGrpcServer([
      bidiService(async function* (requests) {
        for await (const request of requests) {
          handled.push(request);
          yield answer(handled.length - 1);
        }
      }),
    ]);
    const raw = new Client(server.address, credentials.createInsecure());
    const identity = (b: Buffer) => b;
    const call = raw.makeBidiStreamRequest("/livehost.v1.LipSyncService/Animate", identity, identity);
    const ended = new Promise<ServiceError>((resolve) => call.on("error", resolve));
    call.on("data", () => undefined);
    call.write(Buffer.from(AnimateRequest.encode(animateFlush("u1")).finish()));
    // AnimateRequest.flush (4) .utterance_id (1), not UTF-8.
    call.write(Buffer.from(message((w) => w.uint32(34).fork().uint32(10).bytes(notUtf8).join())));
    const err = await ended;
    raw.close();
    expect(err.code).toBe(GrpcStatus.INVALID_ARGUMENT);
    expect(fromServiceError(err)).toMatchObject({ field: "flush.utterance_id" });
    expect(handled).toHaveLength(1);
  });
});

type AnimateHandler = (
  requests: AsyncIterable<AnimateRequest>,
  signal: AbortSignal,
  call: ServerDuplexStream<AnimateRequest, AnimateResponse>,
) => AsyncIterable<AnimateResponse>;

/** A bidirectional service to drive bidiStream with: LipSyncService's contract, the test's handler. */
function bidiService(handler: AnimateHandler): GrpcServiceRegistration {
  return {
    name: "livehost.v1.LipSyncService",
    definition: LipSyncServiceService,
    implementation: { animate: bidiStream("Animate", handler) },
  };
}

/** A response naming the request it answers (the nth, from 0). */
const answer = (n: number) => AnimateResponse.fromPartial({ message: { $case: "cleared", value: { frameIndex: n } } });
/** 16 KiB of audio: four fill the server's 64 KiB HTTP/2 window. */
const chunk = () => animateAudio(new Int16Array(8 * 1024), "u1");

function gate() {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { opened, open };
}

describe("bidiStream", () => {
  it("reads a request only when its handler asks for one, and answers every request in order", async () => {
    const release = gate();
    let serverCall: ServerDuplexStream<AnimateRequest, AnimateResponse> | undefined;
    let consumed = 0;
    await using server = await startTestGrpcServer([
      bidiService(async function* (requests, _signal, call) {
        serverCall = call;
        for await (const _request of requests) {
          if (++consumed === 1) await release.opened;
          yield answer(consumed - 1);
        }
      }),
    ]);
    const client = new LipSyncServiceClient(server.address, credentials.createInsecure());
    const call = client.animate();
    const answered: number[] = [];
    const ended = new Promise<void>((resolve, reject) => {
      call.on("data", (r: AnimateResponse) =>
        answered.push(r.message?.$case === "cleared" ? r.message.value.frameIndex : -1),
      );
      call.on("end", resolve);
      call.on("error", reject);
    });
    // A sender that ignores write()'s answer: what it sends waits in its own buffer, not in the server.
    let told = 0;
    for (let i = 0; i < 200; i++) if (!call.write(chunk())) told++;
    call.end();

    await eventually(() => expect(serverCall?.readableLength).toBe(serverCall?.readableHighWaterMark));
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(consumed).toBe(1);
    // Read ahead: at most the Readable's high-water mark (16 in object mode) beyond the request being handled.
    expect(serverCall!.readableLength).toBeLessThanOrEqual(serverCall!.readableHighWaterMark);
    expect(call.writableLength).toBeGreaterThan(100);
    expect(told).toBeGreaterThan(0);

    release.open();
    await ended;
    client.close();
    expect(answered).toEqual([...Array(200).keys()]);
  });

  it("aborts the signal when the client cancels: the next request throws its reason, the handler's cleanup runs", async () => {
    const busy = gate();
    const release = gate();
    let handlerSignal: AbortSignal | undefined;
    let failure: unknown;
    let handled = 0;
    let cleanedUp = false;
    await using server = await startTestGrpcServer([
      bidiService(async function* (requests, signal) {
        handlerSignal = signal;
        try {
          for await (const _request of requests) {
            handled++;
            busy.open();
            await release.opened;
          }
          yield* [];
        } catch (err) {
          failure = err;
          throw err;
        } finally {
          cleanedUp = true;
        }
      }),
    ]);
    const client = new LipSyncServiceClient(server.address, credentials.createInsecure());
    const call = client.animate();
    const failed = new Promise<ServiceError>((resolve) => call.on("error", resolve));
    for (let i = 0; i < 5; i++) call.write(chunk());
    // Cancelled while the handler is busy with its first request (cancelled while it waits for one, grpc-js may
    // first end the requests as a half-close would; the signal aborts all the same unless the handler has finished).
    await busy.opened;
    call.cancel();
    expect((await failed).code).toBe(GrpcStatus.CANCELLED);
    await eventually(() => expect(handlerSignal?.aborted).toBe(true));
    release.open();
    await eventually(() => expect(cleanedUp).toBe(true));
    expect(failure).toBeInstanceOf(CancelledError);
    expect(handled).toBe(1);
    client.close();
  });

  it("maps the handler's errors to statuses once (the field named, a bug hidden) and counts them", async () => {
    const registry = createRegistry();
    await using server = await startGrpcServer({
      registry,
      services: [
        bidiService(async function* (requests) {
          for await (const request of requests) {
            if (request.message?.$case !== "audio") throw new Error("database password is hunter2");
            throw new InvalidArgumentError("audio.pcm", "is too long");
          }
          yield* [];
        }),
      ],
    });
    const client = new LipSyncServiceClient(server.address, credentials.createInsecure());
    const animate = client.animate.bind(client);
    const invalid = await drain(bidiCall(animate, [chunk()])).catch((err: unknown) => err);
    expect(invalid).toBeInstanceOf(InvalidArgumentError);
    expect(invalid).toMatchObject({ field: "audio.pcm", message: "audio.pcm: is too long" });
    const internal = await drain(bidiCall(animate, [animateFlush("u1")])).catch((err: unknown) => err);
    expect(internal).toMatchObject({ code: "internal", message: "internal error" });
    client.close();
    const text = await registry.metrics();
    expect(text).toContain(
      'livehost_grpc_server_handled_total{method="/livehost.v1.LipSyncService/Animate",code="INVALID_ARGUMENT"} 1',
    );
    expect(text).toContain(
      'livehost_grpc_server_handled_total{method="/livehost.v1.LipSyncService/Animate",code="INTERNAL"} 1',
    );
  });
});

describe("bidiCall", () => {
  it("takes a request from its producer only when the server has taken the last, so a slow server slows it", async () => {
    let consumed = 0;
    await using server = await startTestGrpcServer([
      bidiService(async function* (requests) {
        for await (const _request of requests) {
          await new Promise((resolve) => setTimeout(resolve, 5));
          yield answer(consumed++);
        }
      }),
    ]);
    const client = new LipSyncServiceClient(server.address, credentials.createInsecure(), mediaChannelOptions);
    let produced = 0;
    let lead = 0;
    function* producer() {
      for (; produced < 200; produced++) {
        lead = Math.max(lead, produced - consumed);
        yield chunk();
      }
    }
    const answered: number[] = [];
    for await (const response of bidiCall(client.animate.bind(client), producer())) {
      answered.push(response.message?.$case === "cleared" ? response.message.value.frameIndex : -1);
    }
    client.close();
    expect(answered).toEqual([...Array(200).keys()]);
    // In flight at most: the server's read-ahead (16 requests), its HTTP/2 window and stream buffer (80 KiB: 5), the
    // client's grpc-js buffer (64 KiB on a media channel: 4) and Writable (16), and the ones being handled.
    expect(lead).toBeLessThanOrEqual(50);
  });

  it("cancels the call when its signal aborts or its reader stops, and says so with CancelledError", async () => {
    const calls: ServerDuplexStream<AnimateRequest, AnimateResponse>[] = [];
    await using server = await startTestGrpcServer([
      bidiService(async function* (requests, _signal, call) {
        calls.push(call);
        let n = 0;
        for await (const _request of requests) yield answer(n++);
      }),
    ]);
    const client = new LipSyncServiceClient(server.address, credentials.createInsecure(), mediaChannelOptions);
    function* forever() {
      for (;;) yield chunk();
    }
    const abort = new AbortController();
    const aborted = (async () => {
      for await (const response of bidiCall(client.animate.bind(client), forever(), { signal: abort.signal })) {
        if (response.message?.$case === "cleared" && response.message.value.frameIndex === 2) abort.abort();
      }
    })();
    await expect(aborted).rejects.toBeInstanceOf(CancelledError);
    await eventually(() => expect(calls[0]?.cancelled).toBe(true));

    for await (const _response of bidiCall(client.animate.bind(client), forever())) break;
    await eventually(() => expect(calls[1]?.cancelled).toBe(true));
    client.close();
  });
});

async function drain(responses: AsyncIterable<unknown>): Promise<void> {
  for await (const _response of responses);
}
