// A TTS worker process: the shared worker core (gRPC server, stream cap, NATS announcements, drain) around the
// speech engine. If the engine cannot start, the worker still comes up, NOT_SERVING, and says why.
import type { NatsConnection } from "@nats-io/transport-node";
import { rootLogger, type Logger, type Registry } from "../../observability/index.js";
import { startWorker, type Worker } from "../worker.js";
import { EspeakEngine } from "./espeak.js";
import { speechService } from "./speech-service.js";
import { embeddedVoices } from "./voices.js";

export interface SpeechWorkerOptions {
  nats: NatsConnection;
  registry: Registry;
  workerId?: string;
  grpcHost?: string;
  grpcPort?: number;
  advertiseAddress?: string;
  /** Concurrent Synthesize streams before RESOURCE_EXHAUSTED. Default 32: the embedded voice is ~500x real time. */
  maxStreams?: number;
  labels?: Record<string, string>;
  logger?: Logger;
}

export interface SpeechWorker extends AsyncDisposable {
  readonly worker: Worker;
  close(graceMs?: number): Promise<void>;
}

export async function startSpeechWorker(options: SpeechWorkerOptions): Promise<SpeechWorker> {
  const log = (options.logger ?? rootLogger()).child({ role: "tts-worker" });
  let engine: EspeakEngine | undefined;
  let failure: string | undefined;
  try {
    engine = await EspeakEngine.start();
  } catch (err) {
    failure = err instanceof Error ? err.message : String(err);
  }
  const worker = await startWorker({
    kind: "tts",
    nats: options.nats,
    registry: options.registry,
    services: (slots) => (engine ? [speechService({ engine, slots, registry: options.registry })] : []),
    capabilities: engine ? embeddedVoices.map((v) => v.id) : [],
    workerId: options.workerId,
    grpcHost: options.grpcHost,
    grpcPort: options.grpcPort,
    advertiseAddress: options.advertiseAddress,
    maxStreams: options.maxStreams ?? 32,
    executionProvider: "cpu",
    labels: options.labels,
    logger: log,
  });
  if (failure) worker.setNotReady(`speech engine unavailable: ${failure}`);
  const close = async (graceMs?: number) => {
    await worker.close(graceMs);
    await engine?.close();
  };
  return { worker, close, [Symbol.asyncDispose]: () => close() };
}
