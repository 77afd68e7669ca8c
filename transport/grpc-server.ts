// Starting and stopping a livehost gRPC server: health on every server, one trace span per call continuing the
// caller's trace, errors mapped to status codes in one place, graceful shutdown with a deadline.
import { once } from "node:events";
import type { ServerCredentials } from "@grpc/grpc-js";
import {
  Server,
  type ServiceDefinition,
  type UntypedServiceImplementation,
  type handleUnaryCall,
  type handleServerStreamingCall,
  type handleBidiStreamingCall,
  type handleClientStreamingCall,
  type ServerReadableStream,
  type ServerUnaryCall,
  type ServerWritableStream,
  type ServerDuplexStream,
  type ChannelOptions,
  type Metadata,
  type ServerInterceptor,
  ServerInterceptingCall,
  status as GrpcStatus,
} from "@grpc/grpc-js";
import { SpanKind, SpanStatusCode, context, trace, type Context, type Span } from "@opentelemetry/api";
import {
  Counter,
  Histogram,
  extractGrpcContext,
  latencyBuckets,
  rootLogger,
  tracer,
  type Logger,
  type Registry,
} from "../observability/index.js";
import { HealthService } from "../proto/index.js";
import { CancelledError, InternalError, LivehostError } from "../errors/index.js";
import { toStatus } from "./status.js";
import { HealthRegistry, ServingStatus } from "./health.js";
import { defaultServerCredentials } from "./tls.js";
import { firstOf } from "./events.js";
import { decodedRequest, withCheckedDecoding } from "./decoding.js";

export interface GrpcServiceRegistration {
  /** Fully qualified name for health checks, e.g. "livehost.v1.SpeechService". */
  name: string;
  definition: ServiceDefinition;
  /**
   * Made with unary, serverStream and bidiStream: a request that does not decode reaches them as a stand-in, which
   * they answer INVALID_ARGUMENT naming what is wrong (decoding.ts) before the handler runs.
   */
  implementation: UntypedServiceImplementation;
}

export interface GrpcServerOptions {
  services: GrpcServiceRegistration[];
  /** Default 127.0.0.1. */
  host?: string;
  /** 0 (default) picks a free port. */
  port?: number;
  /** Default: the process's TLS (configureGrpcTls), plaintext when none is configured (loopback and tests). */
  credentials?: ServerCredentials;
  channelOptions?: ChannelOptions;
  /** Where the per-method call counts and latencies go; none are recorded without one. */
  registry?: Registry;
  logger?: Logger;
}

export interface GrpcServer extends AsyncDisposable {
  /** host:port clients dial. */
  readonly address: string;
  readonly port: number;
  readonly health: HealthRegistry;
  /**
   * Marks the server NOT_SERVING, lets calls in flight finish for up to graceMs, then cancels what is left.
   */
  close(graceMs?: number): Promise<void>;
}

export async function startGrpcServer(options: GrpcServerOptions): Promise<GrpcServer> {
  const log = (options.logger ?? rootLogger()).child({ component: "grpc-server" });
  const server = new Server({
    "grpc.keepalive_time_ms": 30_000,
    "grpc.keepalive_timeout_ms": 10_000,
    "grpc.max_receive_message_length": 4 * 1024 * 1024,
    // channelz stays on: without it grpc-js's forceShutdown cannot close open connections (a drain would hang).
    ...options.channelOptions,
    interceptors: options.registry ? [metricsInterceptor(options.registry)] : [],
  });
  const health = new HealthRegistry(ServingStatus.SERVING);
  server.addService(HealthService, health.implementation);
  for (const service of options.services) {
    server.addService(withCheckedDecoding(service.definition), service.implementation);
    health.set(service.name, ServingStatus.SERVING);
  }

  const host = options.host ?? "127.0.0.1";
  const bindHost = host.includes(":") ? `[${host}]` : host;
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(
      `${bindHost}:${options.port ?? 0}`,
      options.credentials ?? defaultServerCredentials(),
      (err, boundPort) => (err ? reject(err) : resolve(boundPort)),
    );
  });
  const address = `${bindHost}:${port}`;
  log.debug({ address }, "grpc server listening");

  let closing: Promise<void> | undefined;
  const close = (graceMs = 10_000) =>
    (closing ??= (async () => {
      health.shutdown();
      health.endWatches();
      const graceful = new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
      const timer = setTimeout(() => server.forceShutdown(), graceMs);
      await graceful;
      clearTimeout(timer);
      log.debug({ address }, "grpc server stopped");
    })());

  return { address, port, health, close, [Symbol.asyncDispose]: () => close() };
}

/**
 * Counts every call by method and status code and times it to its status (for a server stream: to its end),
 * the server-side half of every latency budget.
 */
function metricsInterceptor(registry: Registry): ServerInterceptor {
  const handled = new Counter({
    name: "livehost_grpc_server_handled_total",
    help: "gRPC calls completed, by method and status code.",
    labelNames: ["method", "code"],
    registers: [registry],
  });
  const seconds = new Histogram({
    name: "livehost_grpc_server_handling_seconds",
    help: "Time from a call's start to its status, by method.",
    labelNames: ["method"],
    buckets: latencyBuckets,
    registers: [registry],
  });
  return (descriptor, call) => {
    const started = performance.now();
    return new ServerInterceptingCall(call, {
      sendStatus: (status, next) => {
        const method = descriptor.path;
        handled.inc({ method, code: GrpcStatus[status.code] ?? String(status.code) });
        seconds.observe({ method }, (performance.now() - started) / 1_000);
        next(status);
      },
    });
  };
}

/** A server span continuing the caller's trace, and the context handlers run in (so their spans nest). */
function startServerSpan(method: string, metadata: Metadata): { span: Span; ctx: Context } {
  const parent = extractGrpcContext(metadata);
  const span = tracer("transport").startSpan(
    method,
    { kind: SpanKind.SERVER, attributes: { "rpc.system": "grpc", "rpc.method": method } },
    parent,
  );
  return { span, ctx: trace.setSpan(parent, span) };
}

/** A bug rather than a refusal: logged in full, since the caller sees only its status. */
function unexpected(err: unknown): boolean {
  return !(err instanceof LivehostError) || err instanceof InternalError;
}

function endSpan(span: Span, err?: unknown): void {
  if (err !== undefined) {
    span.recordException(err instanceof Error ? err : new Error("non-error thrown", { cause: err }));
    span.setStatus({ code: SpanStatusCode.ERROR, message: err instanceof LivehostError ? err.code : "internal" });
  }
  span.end();
}

/** Adapts an async handler to grpc-js: thrown errors become statuses, the span continues the caller's trace. */
export function unary<Req, Res>(
  method: string,
  handler: (request: Req, call: ServerUnaryCall<Req, Res>) => Promise<Res>,
): handleUnaryCall<Req, Res> {
  return (call, callback) => {
    const { span, ctx } = startServerSpan(method, call.metadata);
    void context.with(ctx, async () => {
      try {
        const response = await handler(decodedRequest(call.request), call);
        endSpan(span);
        callback(null, response);
      } catch (err) {
        endSpan(span, err);
        if (unexpected(err)) rootLogger().error({ err, method }, "unexpected error in grpc handler");
        callback(toStatus(err));
      }
    });
  };
}

/**
 * Adapts an async generator to a server stream with backpressure: the generator is not resumed until the
 * client has taken the last message (write() returned true, or 'drain'). The signal aborts when the client
 * cancels or goes away.
 */
export function serverStream<Req, Res>(
  method: string,
  handler: (request: Req, signal: AbortSignal, call: ServerWritableStream<Req, Res>) => AsyncIterable<Res>,
): handleServerStreamingCall<Req, Res> {
  return (call) => respond(method, call, (signal) => handler(decodedRequest(call.request), signal, call));
}

/**
 * A client-streaming call: the handler reads the client's requests one at a time as it needs them (pulled as in
 * bidiStream, so a slow handler slows its client) and resolves to the one response. The signal aborts when the
 * client cancels or goes away.
 */
export function clientStream<Req, Res>(
  method: string,
  handler: (requests: AsyncIterable<Req>, signal: AbortSignal, call: ServerReadableStream<Req, Res>) => Promise<Res>,
): handleClientStreamingCall<Req, Res> {
  return (call, callback) => {
    const { span, ctx } = startServerSpan(method, call.metadata);
    const abort = new AbortController();
    let ended = false;
    call.on("cancelled", () => {
      if (!ended) abort.abort(new CancelledError("client cancelled the call"));
    });
    void context.with(ctx, async () => {
      try {
        const response = await handler(
          pullRequests(call as unknown as ServerDuplexStream<Req, unknown>, abort.signal),
          abort.signal,
          call,
        );
        ended = true;
        endSpan(span);
        callback(null, response);
      } catch (err) {
        ended = true;
        endSpan(span, err);
        if (unexpected(err)) rootLogger().error({ err, method }, "unexpected error in grpc client stream");
        callback(toStatus(err));
      }
    });
  };
}

/**
 * Adapts an async generator over the client's requests to a bidirectional stream, pull-based both ways: a request
 * is read only when the handler asks for the next one, and the handler is not resumed until the client has taken
 * its last response. A slow handler therefore slows its client (its writes wait on HTTP/2 flow control) instead
 * of growing a queue. The requests end when the client half-closes; when the client cancels, the signal aborts and
 * the next request throws its reason. (A cancel that finds the handler waiting for a request may first end the
 * requests as a half-close would: grpc-js reports the HTTP/2 stream's end before its reset.)
 */
export function bidiStream<Req, Res>(
  method: string,
  handler: (
    requests: AsyncIterable<Req>,
    signal: AbortSignal,
    call: ServerDuplexStream<Req, Res>,
  ) => AsyncIterable<Res>,
): handleBidiStreamingCall<Req, Res> {
  return (call) => respond(method, call, (signal) => handler(pullRequests(call, signal), signal, call));
}

/**
 * What serverStream and bidiStream share: the span, the abort on cancellation, writes that wait for 'drain', and
 * the handler's error as the call's status (mapped once, by toStatus). Calls and latencies are counted by the
 * server's metrics interceptor, for every kind of call alike.
 */
function respond<Res>(
  method: string,
  call: ServerWritableStream<unknown, Res> | ServerDuplexStream<unknown, Res>,
  produce: (signal: AbortSignal) => AsyncIterable<Res>,
): void {
  const { span, ctx } = startServerSpan(method, call.metadata);
  const abort = new AbortController();
  let ended = false;
  // grpc-js reports every closed stream as "cancelled", even after our end(): only a real cancellation aborts.
  call.on("cancelled", () => {
    if (!ended) abort.abort(new CancelledError("client cancelled the call"));
  });
  void context.with(ctx, async () => {
    try {
      for await (const message of produce(abort.signal)) {
        if (abort.signal.aborted) break;
        if (!call.write(message)) await once(call, "drain", { signal: abort.signal });
      }
      endSpan(span);
      ended = true;
      if (!abort.signal.aborted) call.end();
    } catch (err) {
      if (abort.signal.aborted) {
        endSpan(span);
        return;
      }
      endSpan(span, err);
      ended = true;
      if (unexpected(err)) rootLogger().error({ err, method }, "unexpected error in grpc stream");
      call.emit("error", toStatus(err));
    }
  });
}

/**
 * The requests of a bidirectional call, read one at a time. grpc-js's ServerDuplexStream is a Node Duplex whose
 * _read() asks HTTP/2 for exactly one message (startRead) and pauses the HTTP/2 stream when it arrives; Node's
 * Readable reads ahead up to its highWaterMark (16 messages in object mode), so at most that many requests wait in
 * memory, and the client's writes beyond them wait on the HTTP/2 window.
 */
async function* pullRequests<Req>(call: ServerDuplexStream<Req, unknown>, signal: AbortSignal): AsyncGenerator<Req> {
  for (;;) {
    signal.throwIfAborted();
    const request = call.read() as Req | null;
    if (request !== null) {
      yield decodedRequest(request);
    } else if (call.readableEnded) {
      return;
    } else {
      // A message or the stream's end to give.
      await firstOf(call, ["readable", "end"], signal);
    }
  }
}
