// observability: the logger, metrics registries with their /metrics endpoint, and tracing with trace context
// carried across NATS and gRPC. Every role builds its metrics and spans on this.
export { createLogger, rootLogger, type Logger, type LoggerSettings } from "./logger.js";
export {
  createRegistry,
  startMetricsServer,
  latencyBuckets,
  Counter,
  Gauge,
  Histogram,
  Summary,
  Registry,
  type MetricsServer,
  type MetricsServerOptions,
} from "./metrics.js";
export {
  startTracing,
  tracer,
  InMemorySpanExporter,
  SimpleSpanProcessor,
  type Tracing,
  type TracingSettings,
  type SpanProcessor,
  type ReadableSpan,
} from "./tracing.js";
export { injectNatsHeaders, extractNatsContext, injectGrpcMetadata, extractGrpcContext } from "./propagation.js";
export { parseDuration, type Duration, type DurationRule } from "./duration.js";
export { AsyncDisposableStack } from "./disposable.js";
