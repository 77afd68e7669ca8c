// What every GPU worker process shares, whatever its model: a gRPC server with health, the stream cap, NATS
// announcements, metrics, and a drain on shutdown that lets streams in flight finish before the process exits.
import { hostname } from "node:os";
import { randomUUID } from "node:crypto";
import { WorkerState, type WorkerKindName } from "../proto/index.js";
import { Gauge, Counter, rootLogger, type Logger, type Registry } from "../observability/index.js";
import {
  startGrpcServer,
  type GrpcServer,
  type GrpcServiceRegistration,
  type NatsConnection,
} from "../transport/index.js";
import type { StreamCapacity } from "./capacity.js";
import { StreamSlots } from "./slots.js";
import { WorkerAnnouncer } from "./announcer.js";

export interface WorkerOptions {
  kind: WorkerKindName;
  nats: NatsConnection;
  registry: Registry;
  /** Built by the kind-specific worker once it has its model; receives the slots to guard each stream. */
  services: (slots: StreamSlots) => GrpcServiceRegistration[];
  /** Voice ids (TTS) or avatar ids (lip-sync) this worker serves. */
  capabilities: string[];
  /** Default "<hostname>-<random>". */
  workerId?: string;
  /** Default 127.0.0.1 and a free port. */
  grpcHost?: string;
  grpcPort?: number;
  /** The host:port rooms dial; defaults to the bound address (set it to the pod IP in Kubernetes). */
  advertiseAddress?: string;
  /** Concurrent streams before RESOURCE_EXHAUSTED: the cap. Default 8. */
  maxStreams?: number;
  /**
   * What the worker measured it sustains (capacity.ts): its slots and announcements follow it, within the cap, and
   * with `capacityWindowMs` it goes on measuring under load that often.
   */
  capacity?: StreamCapacity;
  capacityWindowMs?: number;
  /** "cpu" or "cuda". */
  executionProvider?: string;
  /** Placement and cost labels, e.g. cloud, region, gpu. */
  labels?: Record<string, string>;
  /** How often to announce, ms. Default 2000. */
  announceIntervalMs?: number;
  logger?: Logger;
}

/** What a kind-specific worker (TTS, lip-sync) passes through to the core: where it serves and how it is known. */
export type WorkerHosting = Pick<
  WorkerOptions,
  "nats" | "registry" | "workerId" | "grpcHost" | "grpcPort" | "advertiseAddress" | "maxStreams" | "labels" | "logger"
>;

export interface Worker extends AsyncDisposable {
  readonly id: string;
  readonly kind: WorkerKindName;
  readonly address: string;
  readonly slots: StreamSlots;
  readonly grpc: GrpcServer;
  /** Marks the worker unable to serve (e.g. a corrupt model) with the reason, in health and announcements. */
  setNotReady(reason: string): void;
  /**
   * Drains: announces DRAINING and NOT_SERVING so no new stream arrives, waits up to graceMs (default 30 s; the
   * process's --drain-seconds) for active streams to finish, then stops the gRPC server and announces GONE.
   */
  close(graceMs?: number): Promise<void>;
}

export async function startWorker(options: WorkerOptions): Promise<Worker> {
  const id = options.workerId ?? `${hostname()}-${randomUUID().slice(0, 8)}`;
  const log = (options.logger ?? rootLogger()).child({ role: `${options.kind}-worker`, workerId: id });
  const labels = { kind: options.kind };

  const activeGauge = new Gauge({
    name: "livehost_worker_streams_active",
    help: "Streams this worker is serving now.",
    labelNames: ["kind"],
    registers: [options.registry],
  });
  const maxGauge = new Gauge({
    name: "livehost_worker_streams_max",
    help: "Streams this worker accepts before RESOURCE_EXHAUSTED.",
    labelNames: ["kind"],
    registers: [options.registry],
  });
  const rejected = new Counter({
    name: "livehost_worker_streams_rejected_total",
    help: "Streams refused because the worker was at its cap or draining.",
    labelNames: ["kind"],
    registers: [options.registry],
  });

  const announcer = new WorkerAnnouncer({
    nats: options.nats,
    kind: options.kind,
    base: {
      workerId: id,
      capabilities: options.capabilities,
      executionProvider: options.executionProvider ?? "cpu",
      labels: options.labels ?? {},
      version: process.env.npm_package_version ?? "",
    },
    intervalMs: options.announceIntervalMs ?? 2_000,
    activeStreams: () => slots.active,
    maxStreams: () => slots.max,
    logger: log,
  });
  const capacity = options.capacity;
  const slots = new StreamSlots(capacity ? Math.min(capacity.streams, capacity.cap) : (options.maxStreams ?? 8), {
    onChange: () => {
      activeGauge.set(labels, slots.active);
      announcer.loadChanged();
    },
    onReject: () => rejected.inc(labels),
  });
  maxGauge.set(labels, slots.max);
  const costGauge = new Gauge({
    name: "livehost_worker_stream_cost_seconds",
    help: "CPU seconds one stream costs per second it serves, as the worker last measured (at start, then under load).",
    labelNames: ["kind", "source"],
    registers: [options.registry],
  });
  if (capacity?.costPerStreamSecond !== undefined) {
    costGauge.set({ ...labels, source: capacity.source }, capacity.costPerStreamSecond);
  }
  // Under load the worker keeps measuring what its streams cost, and announces what it sustains.
  const capacityTimer =
    capacity &&
    options.capacityWindowMs !== undefined &&
    setInterval(() => {
      capacity.endWindow();
      if (capacity.costPerStreamSecond !== undefined) {
        costGauge.set({ ...labels, source: capacity.source }, capacity.costPerStreamSecond);
      }
      if (capacity.streams === slots.max) return;
      log.info({ from: slots.max, to: capacity.streams, source: capacity.source }, "measured capacity changed");
      slots.setMax(capacity.streams);
      maxGauge.set(labels, slots.max);
      announcer.announce();
    }, options.capacityWindowMs);
  if (capacityTimer) capacityTimer.unref();

  const grpc = await startGrpcServer({
    services: options.services(slots),
    host: options.grpcHost ?? "127.0.0.1",
    port: options.grpcPort ?? 0,
    registry: options.registry,
    logger: log,
  });
  const address = options.advertiseAddress ?? grpc.address;

  announcer.start(address);
  log.info({ address, maxStreams: slots.max }, "worker ready");

  let closing: Promise<void> | undefined;
  const close = (graceMs = 30_000) =>
    (closing ??= (async () => {
      if (capacityTimer) clearInterval(capacityTimer);
      announcer.setState(WorkerState.WORKER_STATE_DRAINING, "shutting down");
      // Every service, not just the server's "": probes and clients checking SpeechService by name stop too.
      grpc.health.shutdown();
      log.info({ active: slots.active }, "worker draining");
      await slots.idle(AbortSignal.timeout(graceMs));
      await grpc.close(1_000);
      await announcer.close();
      log.info("worker stopped");
    })());

  return {
    id,
    kind: options.kind,
    address,
    slots,
    grpc,
    setNotReady(reason) {
      grpc.health.shutdown();
      announcer.setState(WorkerState.WORKER_STATE_NOT_READY, reason);
      log.error({ reason }, "worker not ready");
    },
    close,
    [Symbol.asyncDispose]: () => close(),
  };
}
