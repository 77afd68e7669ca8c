// transport: how livehost processes talk — NATS connections, gRPC servers and clients with health, trace
// context and the one mapping between typed errors (errors/) and gRPC status codes.
export { toStatus, fromServiceError } from "./status.js";
export { HealthRegistry, ServingStatus } from "./health.js";
export {
  startGrpcServer,
  unary,
  serverStream,
  bidiStream,
  type GrpcServer,
  type GrpcServerOptions,
  type GrpcServiceRegistration,
} from "./grpc-server.js";
export { callUnary, bidiCall, channelCredentials, mediaChannelOptions, type CallSettings } from "./grpc-client.js";
export { connectNats, type NatsConnection, type NatsSettings } from "./nats.js";
export {
  compileNatsOptions,
  checkNatsFiles,
  parseNatsServers,
  parsePort,
  type NatsOptions,
  type NatsConnectSettings,
} from "./options.js";
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
