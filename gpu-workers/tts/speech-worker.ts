// A TTS worker process: the shared worker core (gRPC server, stream cap, NATS announcements, drain) around the
// speech engine. If the engine cannot start, the worker still comes up, NOT_SERVING, and says why.
import { Histogram, rootLogger } from "../../observability/index.js";
import { startWorker, type Worker, type WorkerHosting } from "../worker.js";
import { EspeakEngine } from "./espeak.js";
import { executionProviders, type ExecutionProviderChoice } from "../onnx/runtime.js";
import { loadPiperVoices } from "./piper.js";
import { speechService } from "./speech-service.js";
import { embeddedSpeechVoices, type SpeechVoice } from "./voices.js";

export interface SpeechWorkerOptions extends WorkerHosting {
  /** Directory of Piper voices (`<name>.onnx` + `<name>.onnx.json`); none when absent. */
  modelDir?: string;
  /** onnxruntime execution provider for model voices. Default "auto": CUDA when the runtime has it. */
  executionProvider?: ExecutionProviderChoice;
  /** Sentences of concurrent streams run together on a batch-capable model voice; 1 (the default) turns it off. */
  maxBatch?: number;
}

export interface SpeechWorker extends AsyncDisposable {
  readonly worker: Worker;
  close(graceMs?: number): Promise<void>;
}

export async function startSpeechWorker(options: SpeechWorkerOptions): Promise<SpeechWorker> {
  const log = (options.logger ?? rootLogger()).child({ role: "tts-worker" });
  let engine: EspeakEngine | undefined;
  const problems: string[] = [];
  const voices: SpeechVoice[] = [];
  let provider = "cpu";
  try {
    engine = await EspeakEngine.start();
    voices.push(...embeddedSpeechVoices(engine));
    if (options.modelDir) {
      const eps = await executionProviders(options.executionProvider ?? "auto");
      if (eps.reason) log.info({ reason: eps.reason }, "model voices run on CPU");
      provider = eps.reported;
      const batchSize = new Histogram({
        name: "livehost_tts_batch_size",
        help: "Sentences per model run on batch-capable model voices.",
        buckets: [1, 2, 3, 4, 6, 8, 12, 16],
        registers: [options.registry],
      });
      const piper = await loadPiperVoices(options.modelDir, engine, eps.providers, {
        maxBatch: options.maxBatch,
        onBatch: (size) => batchSize.observe(size),
      });
      voices.push(...piper.voices);
      problems.push(...piper.errors);
    }
  } catch (err) {
    problems.push(err instanceof Error ? err.message : String(err));
  }
  const worker = await startWorker({
    kind: "tts",
    nats: options.nats,
    registry: options.registry,
    services: (slots) => (voices.length > 0 ? [speechService({ voices, slots, registry: options.registry })] : []),
    capabilities: voices.map((v) => v.id),
    workerId: options.workerId,
    grpcHost: options.grpcHost,
    grpcPort: options.grpcPort,
    advertiseAddress: options.advertiseAddress,
    maxStreams: options.maxStreams ?? 32,
    executionProvider: provider,
    labels: options.labels,
    logger: log,
  });
  // A missing or corrupt model is not papered over: the worker says it is not ready, and why.
  if (problems.length > 0) worker.setNotReady(problems.join("; "));
  const close = async (graceMs?: number) => {
    await worker.close(graceMs);
    await engine?.close();
  };
  return { worker, close, [Symbol.asyncDispose]: () => close() };
}
