// gRPC servers on port 0 for tests, with the same health, tracing and error mapping as production servers.
import { credentials } from "@grpc/grpc-js";
import { RoomServiceClient } from "../proto/index.js";
import { findToken } from "../trust/index.js";
import { bearerToken, startGrpcServer, type GrpcServer, type GrpcServiceRegistration } from "../transport/index.js";

/** `await using server = await startTestGrpcServer([{ name, definition, implementation }]);` */
export function startTestGrpcServer(services: GrpcServiceRegistration[] = []): Promise<GrpcServer> {
  return startGrpcServer({ services, host: "127.0.0.1", port: 0 });
}

/**
 * A RoomService client calling as local mode's development identity (an admin): the token a gateway started with
 * `auth: { development: true }` wrote to LIVEHOST_HOME (vitest points it at a temporary directory).
 */
export async function roomServiceClient(address: string): Promise<RoomServiceClient> {
  const token = await findToken();
  if (!token)
    throw new Error(`no development token in ${process.env.LIVEHOST_HOME ?? "~/.livehost"}: start a gateway first`);
  return new RoomServiceClient(address, credentials.createInsecure(), { interceptors: [bearerToken(token)] });
}
