// observability: the face for tests and benchmarks — the public face (index.ts) and the internals only they use. Production
// code in other folders imports index.ts (lint checks it).
export * from "./index.js";
export { type LoggerSettings } from "./logger.js";
export { Summary, type MetricsServer, type MetricsServerOptions } from "./metrics.js";
export {
  InMemorySpanExporter,
  SimpleSpanProcessor,
  type Tracing,
  type TracingSettings,
  type SpanProcessor,
  type ReadableSpan,
} from "./tracing.js";
export { type DurationRule } from "./duration.js";
