// The gateway process: RoomService over gRPC for internal services, backed by NATS.
import type { NatsConnection } from "@nats-io/transport-node";
import { rootLogger, type Logger, type Registry } from "../observability/index.js";
import { startGrpcServer, type GrpcServer } from "../transport/index.js";
import { RoomDirectory } from "../rooms/index.js";
import { roomService } from "./room-service.js";
import { startViewer } from "./viewer.js";

export interface GatewayOptions {
  nats: NatsConnection;
  registry: Registry;
  /** Default 127.0.0.1 and a free port. */
  grpcHost?: string;
  grpcPort?: number;
  logger?: Logger;
  /** Serve the viewer page (local mode): rooms' HLS from `mediaDir`, comments, events. */
  viewer?: { mediaDir: string; host?: string; port?: number };
}

export interface Gateway extends AsyncDisposable {
  readonly grpc: GrpcServer;
  /** The viewer page's base URL, when it is served. */
  readonly viewerUrl?: string;
  close(graceMs?: number): Promise<void>;
}

export async function startGateway(options: GatewayOptions): Promise<Gateway> {
  const log = (options.logger ?? rootLogger()).child({ role: "gateway" });
  const directory = await RoomDirectory.open(options.nats);
  // Ends the room watches as the gateway stops, so their callers resume on another gateway at once.
  const closing = new AbortController();
  const grpc = await startGrpcServer({
    services: [
      roomService({ nats: options.nats, directory, registry: options.registry, logger: log, closing: closing.signal }),
    ],
    host: options.grpcHost ?? "127.0.0.1",
    port: options.grpcPort ?? 0,
    registry: options.registry,
    logger: log,
  });
  const viewer = options.viewer
    ? await startViewer({ nats: options.nats, directory, registry: options.registry, ...options.viewer })
    : undefined;
  log.info({ address: grpc.address, viewer: viewer?.url }, "gateway ready");
  const close = async (graceMs = 10_000) => {
    closing.abort();
    await viewer?.close();
    await grpc.close(graceMs);
    log.info("gateway stopped");
  };
  return { grpc, viewerUrl: viewer?.url, close, [Symbol.asyncDispose]: () => close() };
}
