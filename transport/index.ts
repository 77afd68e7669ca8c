// transport: how livehost processes talk — NATS connections, gRPC servers and clients with health, trace
// context and the one mapping between typed errors (errors/) and gRPC status codes.
export { fromServiceError } from "./status.js";
export {
  startGrpcServer,
  unary,
  serverStream,
  bidiStream,
  clientStream,
  type GrpcServer,
  type GrpcServiceRegistration,
} from "./grpc-server.js";
export { callUnary, bidiCall, bearerToken, channelCredentials, mediaChannelOptions } from "./grpc-client.js";
export { connectNats, type NatsConnection } from "./nats.js";
export {
  compileNatsOptions,
  checkNatsFiles,
  parseNatsServers,
  parsePort,
  type NatsOptions,
  type NatsConnectSettings,
} from "./options.js";
export { NatsServerProcess } from "./nats-server.js";
export { configureGrpcTls, type GrpcTlsFiles } from "./tls.js";
