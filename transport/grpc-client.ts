// Calling livehost gRPC services: promise-returning unary calls with an AbortSignal and a deadline, pull-based
// bidirectional calls, trace context in the metadata, and failures as typed errors (retryable decided by the error,
// not by the caller).
import {
  Metadata,
  InterceptingCall,
  credentials as grpcCredentials,
  type Interceptor,
  type CallOptions,
  type ChannelCredentials,
  type ChannelOptions,
  type ClientDuplexStream,
  type ClientUnaryCall,
  type ServiceError,
} from "@grpc/grpc-js";
import { injectGrpcMetadata } from "../observability/index.js";
import { CancelledError } from "../errors/index.js";
import { fromServiceError } from "./status.js";
import { defaultChannelCredentials, defaultTlsServerName } from "./tls.js";
import { firstOf } from "./events.js";

export interface CallSettings {
  signal?: AbortSignal;
  /** Deadline for the whole call, in ms. Default 10 s. */
  timeoutMs?: number;
  metadata?: Metadata;
}

type UnaryMethod<Req, Res> = (
  request: Req,
  metadata: Metadata,
  options: Partial<CallOptions>,
  callback: (err: ServiceError | null, response: Res) => void,
) => ClientUnaryCall;

/** `await callUnary(client.getRoom.bind(client), { roomId }, { signal })` */
export function callUnary<Req, Res>(method: UnaryMethod<Req, Res>, request: Req, settings: CallSettings = {}) {
  const { signal, timeoutMs = 10_000 } = settings;
  signal?.throwIfAborted();
  const metadata = injectGrpcMetadata(settings.metadata ?? new Metadata());
  return new Promise<Res>((resolve, reject) => {
    const onAbort = () => call.cancel();
    const call = method(request, metadata, { deadline: Date.now() + timeoutMs }, (err, response) => {
      signal?.removeEventListener("abort", onAbort);
      if (err) {
        reject(signal?.aborted ? new CancelledError("call aborted", { cause: signal.reason }) : fromServiceError(err));
      } else {
        resolve(response);
      }
    });
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

type BidiMethod<Req, Res> = (metadata: Metadata, options?: Partial<CallOptions>) => ClientDuplexStream<Req, Res>;

/**
 * A bidirectional call, pull-based both ways (`requests` may be a plain iterable, e.g. an array):
 * `for await (const response of bidiCall(client.animate.bind(client), requests, { signal }))`.
 * A request is taken from `requests` only when the call's last write was accepted (write() returned true, or
 * 'drain'), so a slow server slows the requests' producer; when `requests` ends the call is half-closed. Responses
 * are read as they are asked for. The call is cancelled when the signal aborts or the caller stops reading; its
 * failure is thrown as a typed error (as callUnary's), and a failure of `requests` is thrown as it is.
 */
export async function* bidiCall<Req, Res>(
  method: BidiMethod<Req, Res>,
  requests: AsyncIterable<Req> | Iterable<Req>,
  settings: Omit<CallSettings, "timeoutMs"> = {},
): AsyncGenerator<Res> {
  const { signal } = settings;
  signal?.throwIfAborted();
  const call = method(injectGrpcMetadata(settings.metadata ?? new Metadata()));
  const cancel = () => call.cancel();
  signal?.addEventListener("abort", cancel, { once: true });
  const source = Symbol.asyncIterator in requests ? requests[Symbol.asyncIterator]() : requests[Symbol.iterator]();
  const stopWriting = new AbortController();
  let sourceFailed: { err: unknown } | undefined;
  void writeAll(call, source, stopWriting.signal).catch((err: unknown) => {
    sourceFailed = { err };
    call.cancel();
  });
  try {
    for await (const response of call as AsyncIterable<Res>) yield response;
    if (sourceFailed) throw sourceFailed.err;
  } catch (err) {
    if (sourceFailed) throw sourceFailed.err;
    if (signal?.aborted) throw new CancelledError("call aborted", { cause: signal.reason });
    throw isServiceError(err) ? fromServiceError(err) : err;
  } finally {
    signal?.removeEventListener("abort", cancel);
    stopWriting.abort();
    // Tells the producer the call is over, even while it is waiting for its next request.
    void Promise.resolve(source.return?.()).catch(() => undefined);
    // The status of a call the caller left is of no interest (and must not be an unhandled 'error').
    call.on("error", () => undefined);
    call.cancel();
  }
}

/** Writes each request once the last one was accepted; half-closes after the last. */
async function writeAll<Req>(
  call: ClientDuplexStream<Req, unknown>,
  source: AsyncIterator<Req> | Iterator<Req>,
  stop: AbortSignal,
): Promise<void> {
  for (;;) {
    const next = await source.next();
    if (stop.aborted) return;
    if (next.done) break;
    // Wait for 'drain', or for the call's status (it takes no more writes then).
    if (!call.write(next.value)) await firstOf(call, ["drain", "status"], stop);
  }
  call.end();
}

function isServiceError(err: unknown): err is ServiceError {
  return err instanceof Error && typeof (err as { code?: unknown }).code === "number";
}

/**
 * Options for channels that carry media (PCM, frames): a 4 MiB HTTP/2 window instead of 64 KiB, so a stream of
 * audio is not held up waiting for window updates every few chunks; no channelz bookkeeping and no grpc-js retries
 * per call (a media stream that fails is moved to another worker by its room, not replayed by the channel). With
 * retries off, grpc-js's per-call retry buffer (1 MiB by default) would only accept writes ahead of HTTP/2 flow
 * control, letting a sender run a second of audio or more ahead of a slow worker; 64 KiB keeps the sender's writes
 * waiting on the worker's pace (bidiCall).
 * They include the process's TLS server name (defaultChannelOptions), read when a channel is made, so a channel to
 * a worker's pod IP checks the name the shared certificate carries.
 */
export const mediaChannelOptions: ChannelOptions = {
  "grpc-node.flow_control_window": 4 * 1024 * 1024,
  "grpc.max_receive_message_length": 8 * 1024 * 1024,
  "grpc.enable_channelz": 0,
  "grpc.enable_retries": 0,
  "grpc.per_rpc_retry_buffer_size": 64 * 1024,
  get "grpc.ssl_target_name_override"() {
    return defaultTlsServerName();
  },
  get "grpc.default_authority"() {
    return defaultTlsServerName();
  },
};

/**
 * Channel credentials: from the TLS material given, else the process's TLS (configureGrpcTls), else plaintext
 * (loopback). Channels to workers and the gateway use `channelCredentials()`; with the process's TLS server name
 * they check it whatever address they dial (pass defaultChannelOptions() or mediaChannelOptions as well, so TLS
 * also asks for that name).
 */
export function channelCredentials(tls?: { ca?: Buffer; key?: Buffer; cert?: Buffer }): ChannelCredentials {
  return tls ? grpcCredentials.createSsl(tls.ca, tls.key, tls.cert) : defaultChannelCredentials();
}

/**
 * Sends `authorization: Bearer <token>` on every call of a client: `new RoomServiceClient(address, credentials,
 * { interceptors: [bearerToken(token)] })`. (grpc-js refuses call credentials on a plaintext channel; loopback in
 * local mode is plaintext, so the token travels as metadata instead.)
 */
export function bearerToken(token: string): Interceptor {
  return (options, nextCall) =>
    new InterceptingCall(nextCall(options), {
      start(metadata, listener, next) {
        metadata.set("authorization", `Bearer ${token}`);
        next(metadata, listener);
      },
    });
}
