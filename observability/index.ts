// observability: the logger, metrics registries with their /metrics endpoint, and tracing with trace context
// carried across NATS and gRPC. Every role builds its metrics and spans on this.
export { createLogger, parseLogLevel, rootLogger, type Logger } from "./logger.js";
export { createRegistry, startMetricsServer, latencyBuckets, Counter, Gauge, Histogram, Registry } from "./metrics.js";
export { startTracing, tracer } from "./tracing.js";
export { injectNatsHeaders, extractNatsContext, injectGrpcMetadata, extractGrpcContext } from "./propagation.js";
export { parseDuration, type Duration } from "./duration.js";
export { AsyncDisposableStack } from "./disposable.js";
