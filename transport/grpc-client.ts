// Calling livehost gRPC services: promise-returning unary calls with an AbortSignal and a deadline, trace context
// in the metadata, and failures as typed errors (retryable decided by the error, not by the caller).
import {
  Metadata,
  credentials as grpcCredentials,
  type CallOptions,
  type ChannelCredentials,
  type ChannelOptions,
  type ClientUnaryCall,
  type ServiceError,
} from "@grpc/grpc-js";
import { injectGrpcMetadata } from "../observability/index.js";
import { LivehostError, fromServiceError } from "./errors.js";
import { defaultChannelCredentials, defaultTlsServerName } from "./tls.js";

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
        reject(
          signal?.aborted
            ? new LivehostError("cancelled", "call aborted", { cause: signal.reason })
            : fromServiceError(err),
        );
      } else {
        resolve(response);
      }
    });
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/**
 * Options for channels that carry media (PCM, frames): a 4 MiB HTTP/2 window instead of 64 KiB, so a stream of
 * audio is not held up waiting for window updates every few chunks; no channelz bookkeeping and no grpc-js retries
 * per call (a media stream that fails is moved to another worker by its room, not replayed by the channel).
 * They include the process's TLS server name (defaultChannelOptions), read when a channel is made, so a channel to
 * a worker's pod IP checks the name the shared certificate carries.
 */
export const mediaChannelOptions: ChannelOptions = {
  "grpc-node.flow_control_window": 4 * 1024 * 1024,
  "grpc.max_receive_message_length": 8 * 1024 * 1024,
  "grpc.enable_channelz": 0,
  "grpc.enable_retries": 0,
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
