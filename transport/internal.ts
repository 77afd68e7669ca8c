// transport: the face for tests and benchmarks — the public face (index.ts) and the internals only they use. Production
// code in other folders imports index.ts (lint checks it).
export * from "./index.js";
export { toStatus } from "./status.js";
export { HealthRegistry, ServingStatus } from "./health.js";
export { type GrpcServerOptions } from "./grpc-server.js";
export { type CallSettings } from "./grpc-client.js";
export { type NatsSettings } from "./nats.js";
export { type NatsServerProcessOptions } from "./nats-server.js";
export {
  loadGrpcTls,
  serverCredentialsFrom,
  channelCredentialsFrom,
  defaultServerCredentials,
  defaultChannelCredentials,
  type GrpcTlsMaterial,
} from "./tls.js";
