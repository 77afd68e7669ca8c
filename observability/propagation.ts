// Trace context across process boundaries: W3C traceparent/tracestate in NATS message headers and gRPC metadata.
import { context, propagation, type Context, type TextMapGetter, type TextMapSetter } from "@opentelemetry/api";
import type { MsgHdrs } from "@nats-io/transport-node";
import type { Metadata } from "@grpc/grpc-js";

const natsSetter: TextMapSetter<MsgHdrs> = { set: (carrier, key, value) => carrier.set(key, value) };
const natsGetter: TextMapGetter<MsgHdrs | undefined> = {
  keys: (carrier) => (carrier ? carrier.keys() : []),
  get: (carrier, key) => (carrier?.has(key) ? carrier.get(key) : undefined),
};

const grpcSetter: TextMapSetter<Metadata> = { set: (carrier, key, value) => carrier.set(key, value) };
const grpcGetter: TextMapGetter<Metadata> = {
  keys: (carrier) => Object.keys(carrier.getMap()),
  get: (carrier, key) => {
    const values = carrier.get(key).map(String);
    return values.length === 0 ? undefined : values;
  },
};

/** Writes the active (or given) trace context into NATS headers before publish/request. */
export function injectNatsHeaders(headers: MsgHdrs, ctx: Context = context.active()): MsgHdrs {
  propagation.inject(ctx, headers, natsSetter);
  return headers;
}

/** The trace context a NATS message carried, to continue its trace in the handler. */
export function extractNatsContext(headers: MsgHdrs | undefined, base: Context = context.active()): Context {
  return propagation.extract(base, headers, natsGetter);
}

/** Writes the active (or given) trace context into gRPC metadata before a call. */
export function injectGrpcMetadata(metadata: Metadata, ctx: Context = context.active()): Metadata {
  propagation.inject(ctx, metadata, grpcSetter);
  return metadata;
}

/** The trace context a gRPC call carried, to continue its trace in the handler. */
export function extractGrpcContext(metadata: Metadata, base: Context = context.active()): Context {
  return propagation.extract(base, metadata, grpcGetter);
}
