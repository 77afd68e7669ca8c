// A TTS worker process: the shared worker core (gRPC server, stream cap, NATS announcements, drain) around the
// speech engine. If the engine cannot start, the worker still comes up, NOT_SERVING, and says why.
import { Histogram, rootLogger } from "../../observability/index.js";
import { startWorker, type Worker, type WorkerHosting } from "../worker.js";
import { measureCostOf, StreamCapacity } from "../capacity.js";
import { EspeakEngine } from "./espeak.js";
import { executionProviders, type ExecutionProviderChoice } from "../onnx/runtime.js";
import { loadPiperVoices } from "./piper.js";
import { speechService } from "./speech-service.js";
import { embeddedSpeechVoices, type SpeechVoice } from "./voices.js";

export interface SpeechWorkerOptions extends WorkerHosting {
  /**
   * Measure the capacity at start and then under load every this many ms, for a process that is the worker alone
   * (the CLI role): in a process shared with rooms and media their CPU would be taken for the streams'. Default: the
   * cap (maxStreams) stands.
   */
  capacityWindowMs?: number;
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
  // What one stream of speech costs here: a sentence through the first voice, CPU per second of speech.
  const capacity = new StreamCapacity({ cap: options.maxStreams ?? 32 });
  if (voices.length > 0 && options.capacityWindowMs !== undefined) {
    try {
      const cost = await measureCostOf(async () => {
        let ms = 0;
        const text = "Capacity probe: twelve words of ordinary speech, to time this worker's voice.";
        for await (const chunk of voices[0]!.synthesize(text, { speed: 1, sampleRate: voices[0]!.sampleRate }))
          ms += chunk.durationMs;
        return ms / 1000;
      });
      capacity.measured(cost, "start");
      log.info({ costPerStreamSecond: cost, streams: capacity.streams, cap: capacity.cap }, "measured capacity");
    } catch (err) {
      log.warn({ err }, "capacity not measured at start; the cap stands");
    }
  }
  const worker = await startWorker({
    kind: "tts",
    nats: options.nats,
    registry: options.registry,
    services: (slots) =>
      voices.length > 0 ? [speechService({ voices, slots, registry: options.registry, capacity })] : [],
    capabilities: voices.map((v) => v.id),
    workerId: options.workerId,
    grpcHost: options.grpcHost,
    grpcPort: options.grpcPort,
    advertiseAddress: options.advertiseAddress,
    maxStreams: options.maxStreams ?? 32,
    capacity,
    capacityWindowMs: options.capacityWindowMs,
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
