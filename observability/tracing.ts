// OpenTelemetry set-up for a livehost process. Spans are always created (so trace context crosses NATS and gRPC);
// they are exported only when configured: by the standard OTEL_* variables (OTEL_EXPORTER_OTLP_ENDPOINT,
// OTEL_TRACES_EXPORTER) or by span processors passed in (tests use an in-memory exporter).
import { NodeSDK, core, resources, tracing as sdkTracing } from "@opentelemetry/sdk-node";
import { trace, propagation, type Tracer } from "@opentelemetry/api";

export type SpanProcessor = sdkTracing.SpanProcessor;
export const { InMemorySpanExporter, SimpleSpanProcessor } = sdkTracing;
export type ReadableSpan = sdkTracing.ReadableSpan;

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

/** Starts the SDK once per process; call shutdown() (or dispose) on exit to flush spans. */
export function startTracing(settings: TracingSettings): Tracing {
  const sdk = new NodeSDK({
    serviceName: settings.serviceName,
    resource: resources.resourceFromAttributes({ "service.name": settings.serviceName, ...settings.attributes }),
    autoDetectResources: false,
    instrumentations: [],
    textMapPropagator: new core.W3CTraceContextPropagator(),
    // Without an exporter we still want real trace and span ids (the SDK sets up no tracer provider for an empty
    // list), so a processor that drops every span stands in.
    ...(settings.spanProcessors !== undefined && settings.spanProcessors.length > 0
      ? { spanProcessors: settings.spanProcessors }
      : exportConfigured() && settings.spanProcessors === undefined
        ? {}
        : { spanProcessors: [new sdkTracing.NoopSpanProcessor()] }),
  });
  sdk.start();
  let done: Promise<void> | undefined;
  const shutdown = () => (done ??= sdk.shutdown());
  return { shutdown, [Symbol.asyncDispose]: shutdown };
}

/** Tracers are named by folder: tracer("actors"), tracer("gpu-workers"). */
export function tracer(name: string): Tracer {
  return trace.getTracer(`livehost/${name}`);
}

// Make propagation work even before (or without) startTracing, e.g. in a short-lived CLI command.
propagation.setGlobalPropagator(new core.W3CTraceContextPropagator());
