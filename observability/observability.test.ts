import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { execFile } from "node:child_process";
import { Writable } from "node:stream";
import { promisify } from "node:util";
import { Metadata, credentials } from "@grpc/grpc-js";
import { context, trace } from "@opentelemetry/api";
import { headers } from "@nats-io/transport-node";
import {
  Counter,
  InMemorySpanExporter,
  SimpleSpanProcessor,
  createLogger,
  createRegistry,
  extractGrpcContext,
  extractNatsContext,
  injectGrpcMetadata,
  injectNatsHeaders,
  startMetricsServer,
  startTracing,
  tracer,
  type Tracing,
} from "./internal.js";
import { Room, RoomServiceClient } from "../proto/index.js";
import { callUnary, connectNats, unary } from "../transport/index.js";
import { fakeRoomService, startNatsServer, startTestGrpcServer } from "../testing/index.js";

const exporter = new InMemorySpanExporter();
let tracing: Tracing;
beforeAll(async () => {
  tracing = await startTracing({ serviceName: "test", spanProcessors: [new SimpleSpanProcessor(exporter)] });
});
afterAll(() => tracing.shutdown());

describe("logger", () => {
  it("writes structured lines and redacts personal data unless asked to keep it", () => {
    const lines: string[] = [];
    const destination = new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(chunk.toString());
        done();
      },
    });
    const log = createLogger({ level: "info", destination, keepPii: false });
    log.info({ roomId: "r1", pii: { text: "my phone is 13812345678" } }, "comment received");
    const line = JSON.parse(lines[0]!) as Record<string, unknown>;
    expect(line).toMatchObject({ level: "info", roomId: "r1", msg: "comment received", pii: "[redacted]" });
    expect(lines[0]).not.toContain("13812345678");
  });
});

describe("metrics endpoint", () => {
  it("serves the registry in Prometheus text format, with liveness and readiness", async () => {
    const registry = createRegistry({ role: "test" });
    new Counter({ name: "livehost_test_total", help: "test", registers: [registry] }).inc(3);
    let ready = false;
    await using server = await startMetricsServer({ registry, ready: () => ready });
    const metrics = await fetch(`${server.url}/metrics`);
    expect(metrics.headers.get("content-type")).toContain("text/plain");
    const text = await metrics.text();
    expect(text).toContain('livehost_test_total{role="test"} 3');
    expect(text).toContain("livehost_process_cpu_seconds_total");
    expect((await fetch(`${server.url}/livez`)).status).toBe(200);
    expect((await fetch(`${server.url}/readyz`)).status).toBe(503);
    ready = true;
    expect((await fetch(`${server.url}/readyz`)).status).toBe(200);
  });
});

describe("trace context", () => {
  it("crosses a NATS request and a gRPC call as one trace", async () => {
    await using nats = await startNatsServer({ jetstream: false });
    await using grpc = await startTestGrpcServer([
      fakeRoomService({
        getRoom: unary("GetRoom", (request: { roomId: string }) =>
          Promise.resolve(Room.fromPartial({ id: request.roomId, revision: 1 })),
        ),
      }),
    ]);
    const nc = await connectNats({ servers: nats.url, name: "test" });
    const client = new RoomServiceClient(grpc.address, credentials.createInsecure());
    try {
      // The responder continues the trace from the NATS headers, then calls gRPC inside it.
      nc.subscribe("work", {
        callback: (_err, msg) => {
          const parent = extractNatsContext(msg.headers);
          const span = tracer("test").startSpan("handle work", {}, parent);
          void context.with(trace.setSpan(parent, span), async () => {
            await callUnary(client.getRoom.bind(client), { roomId: "r1" });
            span.end();
            msg.respond("done");
          });
        },
      });
      const root = tracer("test").startSpan("comment");
      await context.with(trace.setSpan(context.active(), root), () =>
        nc.request("work", "", { timeout: 5_000, headers: injectNatsHeaders(headers()) }),
      );
      root.end();

      const spans = exporter.getFinishedSpans();
      const traceId = root.spanContext().traceId;
      const names = spans.filter((s) => s.spanContext().traceId === traceId).map((s) => s.name);
      expect(names).toEqual(expect.arrayContaining(["comment", "handle work", "GetRoom"]));
    } finally {
      client.close();
      await nc.close();
    }
  });

  it("round-trips through gRPC metadata", () => {
    const span = tracer("test").startSpan("outer");
    const metadata = injectGrpcMetadata(new Metadata(), trace.setSpan(context.active(), span));
    expect(metadata.get("traceparent")[0]).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$/);
    const extracted = trace.getSpanContext(extractGrpcContext(metadata));
    expect(extracted?.traceId).toBe(span.spanContext().traceId);
    span.end();
  });
});

describe("exporting spans", () => {
  it("exports through the OTEL_* variables when they ask for it, with the service's name", async () => {
    // A process of its own, as a role is: tracing is set up once per process.
    const script = `
      const { startTracing, tracer } = await import(${JSON.stringify(new URL("../dist/observability/index.js", import.meta.url).href)});
      const tracing = await startTracing({ serviceName: "livehost-probe" });
      tracer("probe").startSpan("probe-span").end();
      await tracing.shutdown();`;
    const { stdout: out } = await promisify(execFile)(process.execPath, ["--input-type=module", "-e", script], {
      env: { ...process.env, OTEL_TRACES_EXPORTER: "console" },
    });
    expect(out).toContain("probe-span");
    expect(out).toContain("livehost-probe");
  });
});
