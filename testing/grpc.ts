// gRPC servers on port 0 for tests, with the same health, tracing and error mapping as production servers.
import { startGrpcServer, type GrpcServer, type GrpcServiceRegistration } from "../transport/index.js";

/** `await using server = await startTestGrpcServer([{ name, definition, implementation }]);` */
export function startTestGrpcServer(services: GrpcServiceRegistration[] = []): Promise<GrpcServer> {
  return startGrpcServer({ services, host: "127.0.0.1", port: 0 });
}
