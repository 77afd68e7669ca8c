import { describe, expect, it } from "vitest";
import { credentials, status as GrpcStatus, type ServiceError } from "@grpc/grpc-js";
import {
  HealthClient,
  HealthCheckResponse_ServingStatus as Serving,
  RoomServiceClient,
  type HealthCheckResponse,
} from "../proto/index.js";
import { createRegistry } from "../observability/index.js";
import {
  InvalidArgumentError,
  callUnary,
  startGrpcServer,
  unary,
  serverStream,
  type GrpcServiceRegistration,
} from "./index.js";
import { fakeRoomService, startTestGrpcServer } from "../testing/index.js";

/** A RoomService whose GetRoom fails the way handlers fail (bad input, or a bug) and whose WatchRoom never ends. */
function testRoomService(): GrpcServiceRegistration {
  return fakeRoomService({
    getRoom: unary("GetRoom", (request: { roomId: string }) => {
      if (request.roomId === "") return Promise.reject(new InvalidArgumentError("room_id", "is required"));
      return Promise.reject(new Error("database password is hunter2"));
    }),
    watchRoom: serverStream("WatchRoom", async function* (_request, signal) {
      for (let sequence = 1; !signal.aborted; sequence++) {
        yield { roomId: "r1", sequence, event: undefined, time: new Date() };
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
