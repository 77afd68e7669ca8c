// transport: how livehost processes talk — NATS connections, gRPC servers and clients with health, trace
// context and one mapping from typed errors to gRPC status codes.
export * from "./errors.js";
export { HealthRegistry, ServingStatus } from "./health.js";
export {
  startGrpcServer,
  unary,
  serverStream,
  serverCallSpan,
  type GrpcServer,
  type GrpcServerOptions,
  type GrpcServiceRegistration,
} from "./grpc-server.js";
export { callUnary, channelCredentials, mediaChannelOptions, type CallSettings } from "./grpc-client.js";
export { connectNats, type NatsConnection, type NatsSettings } from "./nats.js";
export { NatsServerProcess, type NatsServerProcessOptions } from "./nats-server.js";
export {
  configureGrpcTls,
  loadGrpcTls,
  serverCredentialsFrom,
  channelCredentialsFrom,
  defaultServerCredentials,
  defaultChannelCredentials,
  type GrpcTlsFiles,
  type GrpcTlsMaterial,
} from "./tls.js";
