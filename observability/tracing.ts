// OpenTelemetry set-up for a livehost process. Spans are always created (so trace context crosses NATS and gRPC);
// they are exported only when configured: by the standard OTEL_* variables (OTEL_EXPORTER_OTLP_ENDPOINT,
// OTEL_TRACES_EXPORTER) or by span processors passed in (tests use an in-memory exporter). Exporting goes through
// the SDK (@opentelemetry/sdk-node, which reads every OTEL_* variable), loaded only then: with its exporters it takes
// longer to load than the rest of a role process's libraries, and every process (each CLI command too) starts here.
import { trace, propagation, type Tracer } from "@opentelemetry/api";
import { W3CTraceContextPropagator } from "@opentelemetry/core";
import { resourceFromAttributes } from "@opentelemetry/resources";
import { NoopSpanProcessor, type SpanProcessor } from "@opentelemetry/sdk-trace-base";
import { NodeTracerProvider } from "@opentelemetry/sdk-trace-node";

export {
  InMemorySpanExporter,
  SimpleSpanProcessor,
  type ReadableSpan,
  type SpanProcessor,
} from "@opentelemetry/sdk-trace-base";

export interface TracingSettings {
  /** service.name of every span, e.g. "livehost-gateway". */
  serviceName: string;
  /** Extra resource attributes, e.g. { "livehost.role": "room-host" }. */
  attributes?: Record<string, string>;
  /** Overrides the OTEL_* configuration; an empty list creates spans but exports nothing. */
  spanProcessors?: SpanProcessor[];
}

export interface Tracing extends AsyncDisposable {
  shutdown(): Promise<void>;
}

function exportConfigured(): boolean {
  const exporter = process.env.OTEL_TRACES_EXPORTER;
  if (exporter !== undefined && exporter !== "" && exporter !== "none") return true;
  return Boolean(process.env.OTEL_EXPORTER_OTLP_ENDPOINT || process.env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT);
}

/** Starts tracing once per process; call shutdown() (or dispose) on exit to flush spans. */
export async function startTracing(settings: TracingSettings): Promise<Tracing> {
  const resource = resourceFromAttributes({ "service.name": settings.serviceName, ...settings.attributes });
  const propagator = new W3CTraceContextPropagator();
  let shutdown: () => Promise<void>;
  if (settings.spanProcessors === undefined && exportConfigured()) {
    const { NodeSDK } = await import("@opentelemetry/sdk-node");
    const sdk = new NodeSDK({
      serviceName: settings.serviceName,
      resource,
      autoDetectResources: false,
      instrumentations: [],
      textMapPropagator: propagator,
    });
    sdk.start();
    shutdown = () => sdk.shutdown();
  } else {
    // Real trace and span ids even when nothing is exported: a processor that drops every span stands in.
    const processors = settings.spanProcessors?.length ? settings.spanProcessors : [new NoopSpanProcessor()];
    const provider = new NodeTracerProvider({ resource, spanProcessors: processors });
    provider.register({ propagator });
    shutdown = () => provider.shutdown();
  }
  let done: Promise<void> | undefined;
  const once = () => (done ??= shutdown());
  return { shutdown: once, [Symbol.asyncDispose]: once };
}

/** Tracers are named by folder: tracer("actors"), tracer("gpu-workers"). */
export function tracer(name: string): Tracer {
  return trace.getTracer(`livehost/${name}`);
}

// Make propagation work even before (or without) startTracing, e.g. in a short-lived CLI command.
propagation.setGlobalPropagator(new W3CTraceContextPropagator());
