// A room's voice: one utterance spoken through the worker pools. The text goes to a TTS worker (Synthesize, a
// stream of PCM with word timings); every chunk goes on to the media graph and to a lip-sync worker (Animate), whose
// frames go to the media graph too, indexed from the utterance's first sample.
//
// Workers fail. A TTS worker that fails or refuses is replaced by another (excluding it), which speaks the same
// text again; what was already delivered is skipped by sample count, so the audience hears no repeat, only a short
// gap the media clock fills with silence and idle video. A lip-sync worker that fails is replaced the same way
// (lip-stream.ts): the new one is sent the utterance's audio so far, and frames already delivered are skipped.
// Without any lip-sync worker the utterance is still spoken; the avatar stays idle.
import { Metadata, type ClientReadableStream } from "@grpc/grpc-js";
import {
  LipSyncServiceClient,
  SpeechServiceClient,
  SynthesisPriority,
  SynthesizeRequest,
  type SynthesizeResponse,
  type WordTiming,
} from "../proto/index.js";
import type { MouthFrameInput, SpeechChunk } from "../media/index.js";
import { injectGrpcMetadata, type Logger } from "../observability/index.js";
import { channelCredentials, fromServiceError, mediaChannelOptions } from "../transport/index.js";
import { LipStream } from "./lip-stream.js";
import { aheadSpareStreams, type KnownWorker, type WorkerDirectory } from "./workers.js";
import type { Tier } from "../trust/index.js";

export interface Utterance {
  utteranceId: string;
  roomId: string;
  text: string;
  voiceId: string;
  /** 0 means 1.0. */
  speed: number;
  avatarId: string;
  /** The face drawn by a talking-face generator where a lip-sync worker serves one (AVATAR_RENDERER_NEURAL). */
  neural?: boolean;
  fps: number;
  /** The room's tenant's tier, for the worker choice when capacity is short. */
  tier?: Tier;
  /** An answer (or an operator's line) a viewer waits for: the worker synthesizes it before the show's lines waiting. */
  interactive?: boolean;
  /**
   * Rendered ahead of its turn (ShowSettings.render_ahead): only workers that keep a stream to spare after it take it,
   * so answers to viewers always find one.
   */
  ahead?: boolean;
}

/** Where an utterance's sound, mouth and timings go (the media graph, the room's events). */
export interface VoiceOutput {
  speech(chunk: SpeechChunk): void;
  mouth(frame: MouthFrameInput): void;
  /** Words as they are learnt, on the utterance clock; each word once. */
  words?(words: WordTiming[]): void;
}

export interface Spoken {
  durationMs: number;
  words: WordTiming[];
  /** From the request to the first audio chunk. */
  firstChunkMs: number;
  ttsWorkers: string[];
  lipsyncWorkers: string[];
  /** Why a neural utterance was (partly) drawn on the viseme path. */
  lipsyncFallback?: string;
  /** Why (part of) the utterance has no mouth frames: no lip-sync worker took it, or every one tried failed. */
  mouthless?: string;
  /** Played from what was rendered ahead (no worker was asked). */
  prerendered?: boolean;
}

const maxAttempts = 3;

export class Voice implements Disposable {
  readonly #workers: WorkerDirectory;
  readonly #log: Logger;
  readonly #speechClients = new Map<string, SpeechServiceClient>();
  readonly #lipsyncClients = new Map<string, LipSyncServiceClient>();

  constructor(workers: WorkerDirectory, log: Logger) {
    this.#workers = workers;
    this.#log = log;
  }

  /** Speaks `u` to `out`; resolves when its audio and frames have all been delivered. */
  async speak(u: Utterance, out: VoiceOutput, signal: AbortSignal): Promise<Spoken> {
    const started = performance.now();
    const lips = new LipStream({
      workers: this.#workers,
      client: (worker) => this.#lipsyncClient(worker),
      utterance: u,
      mouth: (frame) => out.mouth(frame),
      log: this.#log,
      signal,
    });
    const spoken: Spoken = { durationMs: 0, words: [], firstChunkMs: -1, ttsWorkers: [], lipsyncWorkers: [] };
    let delivered = 0;
    let rate = 0;
    const failed = new Set<string>();
    // Once the final chunk is out the sentence is whole: a worker failing after it (before its stream closed) is not
    // a reason to synthesize again, and the media clock would refuse a second end.
    let complete = false;
    try {
      for (let attempt = 1; ; attempt++) {
        const worker = this.#workers.pick("tts", {
          capability: u.voiceId,
          exclude: failed,
          tier: u.tier,
          spare: u.ahead ? aheadSpareStreams : 0,
        });
        spoken.ttsWorkers.push(worker.id);
        try {
          let skip = delivered;
          let final = false;
          for await (const response of this.#synthesize(worker, u, signal)) {
            rate = response.format?.sampleRateHz ?? rate;
            const all = pcmOf(response);
            const pcm = all.subarray(Math.min(skip, all.length));
            skip -= all.length - pcm.length;
            const fresh = response.words.filter((w) => !spoken.words.some((s) => s.startMs === w.startMs));
            if (fresh.length > 0) {
              spoken.words.push(...fresh);
              out.words?.(fresh);
            }
            final = response.final;
            if (pcm.length === 0 && !final) continue;
            if (spoken.firstChunkMs < 0) spoken.firstChunkMs = performance.now() - started;
            out.speech({ utteranceId: u.utteranceId, pcm, sampleRateHz: rate, final });
            complete = final;
            delivered += pcm.length;
            await lips.push(pcm, rate);
          }
          if (!final)
            out.speech({ utteranceId: u.utteranceId, pcm: new Int16Array(0), sampleRateHz: rate, final: true });
          break;
        } catch (err) {
          if (complete && !signal.aborted) break;
          if (signal.aborted || attempt >= maxAttempts) throw err;
          failed.add(worker.id);
          this.#log.warn({ err, worker: worker.id, utteranceId: u.utteranceId }, "tts worker failed; moving on");
        }
      }
      spoken.durationMs = rate > 0 ? Math.round((delivered / rate) * 1000) : 0;
      await lips.flush();
      spoken.lipsyncWorkers = lips.workers;
      spoken.lipsyncFallback = lips.fellBack;
      spoken.mouthless = lips.gaveUp;
      return spoken;
    } finally {
      lips.close();
    }
  }

  async *#synthesize(worker: KnownWorker, u: Utterance, signal: AbortSignal): AsyncGenerator<SynthesizeResponse> {
    // The worker's span joins the utterance's trace.
    const call: ClientReadableStream<SynthesizeResponse> = this.#speechClient(worker).synthesize(
      SynthesizeRequest.fromPartial({
        text: u.text,
        voiceId: u.voiceId,
        speed: u.speed,
        utteranceId: u.utteranceId,
        priority: u.interactive
          ? SynthesisPriority.SYNTHESIS_PRIORITY_INTERACTIVE
          : SynthesisPriority.SYNTHESIS_PRIORITY_UNSPECIFIED,
      }),
      injectGrpcMetadata(new Metadata()),
    );
    const cancel = () => call.cancel();
    signal.addEventListener("abort", cancel, { once: true });
    try {
      for await (const response of call as AsyncIterable<SynthesizeResponse>) yield response;
    } catch (err) {
      throw isServiceError(err) ? fromServiceError(err) : err;
    } finally {
      signal.removeEventListener("abort", cancel);
      call.cancel();
    }
  }

  #speechClient(worker: KnownWorker): SpeechServiceClient {
    let client = this.#speechClients.get(worker.address);
    if (!client) {
      client = new SpeechServiceClient(worker.address, channelCredentials(), mediaChannelOptions);
      this.#speechClients.set(worker.address, client);
    }
    return client;
  }

  #lipsyncClient(worker: KnownWorker): LipSyncServiceClient {
    let client = this.#lipsyncClients.get(worker.address);
    if (!client) {
      client = new LipSyncServiceClient(worker.address, channelCredentials(), mediaChannelOptions);
      this.#lipsyncClients.set(worker.address, client);
    }
    return client;
  }

  get directory(): WorkerDirectory {
    return this.#workers;
  }

  [Symbol.dispose](): void {
    for (const client of [...this.#speechClients.values(), ...this.#lipsyncClients.values()]) client.close();
    this.#speechClients.clear();
    this.#lipsyncClients.clear();
  }
}

function pcmOf(response: SynthesizeResponse): Int16Array {
  const bytes = response.pcm;
  return new Int16Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + (bytes.byteLength & ~1)));
}

function isServiceError(err: unknown): err is Parameters<typeof fromServiceError>[0] {
  return err instanceof Error && typeof (err as { code?: unknown }).code === "number";
}
