// The gateway process: RoomService over gRPC for internal services, backed by NATS.
import type { NatsConnection } from "@nats-io/transport-node";
import { rootLogger, type Logger, type Registry } from "../observability/index.js";
import { startGrpcServer, type GrpcServer } from "../transport/index.js";
import { RoomDirectory } from "../rooms/index.js";
import { roomService } from "./room-service.js";

export interface GatewayOptions {
  nats: NatsConnection;
  registry: Registry;
  /** Default 127.0.0.1 and a free port. */
  grpcHost?: string;
  grpcPort?: number;
  logger?: Logger;
}

export interface Gateway extends AsyncDisposable {
  readonly grpc: GrpcServer;
  close(graceMs?: number): Promise<void>;
}

export async function startGateway(options: GatewayOptions): Promise<Gateway> {
  const log = (options.logger ?? rootLogger()).child({ role: "gateway" });
  const directory = await RoomDirectory.open(options.nats);
  const grpc = await startGrpcServer({
    services: [roomService({ nats: options.nats, directory })],
    host: options.grpcHost ?? "127.0.0.1",
    port: options.grpcPort ?? 0,
    registry: options.registry,
    logger: log,
  });
  log.info({ address: grpc.address }, "gateway ready");
  const close = async (graceMs = 10_000) => {
    await grpc.close(graceMs);
    log.info("gateway stopped");
  };
  return { grpc, close, [Symbol.asyncDispose]: () => close() };
}
