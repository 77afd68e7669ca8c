// SpeechService over gRPC: validates the request (INVALID_ARGUMENT names the field), takes a stream slot
// (RESOURCE_EXHAUSTED at the cap, at once), streams audio with timings, and stops synthesis the moment the client
// cancels. Metrics: first-chunk latency and real-time factor per voice family.
import { BinaryWriter } from "@bufbuild/protobuf/wire";
import {
  AudioEncoding,
  ListVoicesResponse,
  SpeechServiceService,
  SynthesisPriority,
  SynthesizeResponse,
  type ListVoicesRequest,
  type SpeechServiceServer,
  type SynthesizeRequest,
} from "../../proto/index.js";
import { Counter, Histogram, latencyBuckets, type Registry } from "../../observability/index.js";
import { InvalidArgumentError } from "../../errors/index.js";
import { serverStream, unary, type GrpcServiceRegistration } from "../../transport/index.js";
import { UnknownVoiceError } from "../errors.js";
import type { StreamSlots } from "../slots.js";
import type { StreamCapacity } from "../capacity.js";
import type { SynthesisChunk } from "./embedded.js";
import { supportedSampleRates, type SpeechVoice } from "./voices.js";

/** A BCP 47 language tag or a prefix of one on subtag boundaries ("zh", "zh-hans", "en-us"). */
const languageRange = /^[a-z]{2,8}(?:-[a-z0-9]{1,8})*$/;
export const maxTextLength = 2_000;
/** gRPC messages stay well under 4 MiB; the contract promises at most 64 KiB of PCM per chunk. */
const maxChunkBytes = 64 * 1024;
// eslint-disable-next-line no-control-regex
const controlCharacters = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/u;

export interface SpeechServiceDeps {
  voices: SpeechVoice[];
  slots: StreamSlots;
  registry: Registry;
  /** Told of every second of speech synthesized, for the capacity the worker measures under load. */
  capacity?: StreamCapacity;
}

export function speechService(deps: SpeechServiceDeps): GrpcServiceRegistration {
  const voices = new Map(deps.voices.map((v) => [v.id, v]));
  const firstChunk = new Histogram({
    name: "livehost_tts_first_chunk_seconds",
    help: "Time from a Synthesize request to its first audio chunk leaving the worker, by priority (interactive: answers viewers wait for, served first). Budget 100 ms p95 (embedded voice, CPU).",
    labelNames: ["family", "priority"],
    buckets: latencyBuckets,
    registers: [deps.registry],
  });
  const realtimeFactor = new Histogram({
    name: "livehost_tts_realtime_factor",
    help: "Synthesis time per second of audio produced, per request (below 1 is faster than real time).",
    labelNames: ["family"],
    buckets: [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2],
    registers: [deps.registry],
  });
  const audioSeconds = new Counter({
    name: "livehost_tts_audio_seconds_total",
    help: "Seconds of speech synthesized.",
    labelNames: ["family"],
    registers: [deps.registry],
  });
  const cancelled = new Counter({
    name: "livehost_tts_cancelled_total",
    help: "Synthesize streams the client cancelled before the end (interruptions, vanished clients).",
    registers: [deps.registry],
  });

  const implementation: SpeechServiceServer = {
    synthesize: serverStream("Synthesize", async function* (request: SynthesizeRequest, signal: AbortSignal) {
      const { voice, sampleRate, speed } = validate(request, voices);
      const release = deps.slots.acquire();
      const started = performance.now();
      let audioMs = 0;
      let first = true;
      try {
        const priority =
          request.priority === SynthesisPriority.SYNTHESIS_PRIORITY_INTERACTIVE ? "interactive" : "normal";
        for await (const chunk of voice.synthesize(request.text, { speed, sampleRate, signal, priority })) {
          if (first) firstChunk.observe({ family: voice.family, priority }, (performance.now() - started) / 1_000);
          first = false;
          audioMs += chunk.durationMs;
          yield* split(chunk);
        }
        realtimeFactor.observe({ family: voice.family }, (performance.now() - started) / Math.max(1, audioMs));
        audioSeconds.inc({ family: voice.family }, audioMs / 1_000);
        deps.capacity?.served(audioMs / 1_000);
      } finally {
        if (signal.aborted) cancelled.inc();
        release();
      }
    }),
    listVoices: unary("ListVoices", (request: ListVoicesRequest) => {
      const wanted = request.language.toLowerCase();
      if (wanted !== "" && !languageRange.test(wanted)) {
        throw new InvalidArgumentError(
          "language",
          'must be a BCP 47 language tag or its prefix, such as "zh" or "en-US"',
        );
      }
      // RFC 4647 basic filtering: "zh" matches "zh" and "zh-CN", never "zha"; a tag matches itself in any case.
      const matches = (language: string) => {
        const tag = language.toLowerCase();
        return wanted === "" || tag === wanted || tag.startsWith(`${wanted}-`);
      };
      return Promise.resolve(
        ListVoicesResponse.fromPartial({
          voices: deps.voices
            .filter((v) => matches(v.language))
            .map((v) => ({
              id: v.id,
              language: v.language,
              displayName: v.displayName,
              family: v.family,
              nativeSampleRateHz: v.sampleRate,
              sampleRatesHz: ratesOf(v),
            })),
        }),
      );
    }),
  };
  return { name: "livehost.v1.SpeechService", definition, implementation };
}

/**
 * SpeechService as this worker serves it. Audio is most of a worker's bytes, and the generated serializer grows a
 * new writer by doubling for every response, then copies the result once more (Buffer.from of a fresh array): here
 * one writer is reused (serializing is synchronous, so responses never interleave) and its result is wrapped.
 */
const responseWriter = new BinaryWriter();
const definition = {
  ...SpeechServiceService,
  synthesize: {
    ...SpeechServiceService.synthesize,
    responseSerialize: (value: SynthesizeResponse): Buffer => {
      let bytes: Uint8Array;
      try {
        bytes = SynthesizeResponse.encode(value, responseWriter).finish();
      } catch (err) {
        responseWriter.finish(); // nothing half-written is left for the next response
        throw err;
      }
      return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    },
  },
} as const;

function ratesOf(voice: SpeechVoice): number[] {
  return [...new Set([voice.sampleRate, ...supportedSampleRates])].sort((a, b) => a - b);
}

function validate(request: SynthesizeRequest, voices: Map<string, SpeechVoice>) {
  const text = request.text;
  if (text.trim() === "") throw new InvalidArgumentError("text", "must not be empty");
  const length = [...text].length;
  if (length > maxTextLength)
    throw new InvalidArgumentError("text", `must be at most ${maxTextLength} characters (got ${length})`);
  if (text.includes("\uFFFD")) throw new InvalidArgumentError("text", "is not valid UTF-8");
  if (controlCharacters.test(text)) throw new InvalidArgumentError("text", "must not contain control characters");
  const voice = voices.get(request.voiceId);
  if (!voice) {
    throw new UnknownVoiceError(request.voiceId, "; ListVoices lists this worker's voices");
  }
  const sampleRate = request.sampleRateHz === 0 ? voice.sampleRate : request.sampleRateHz;
  const rates = ratesOf(voice);
  if (!rates.includes(sampleRate)) {
    throw new InvalidArgumentError("sample_rate_hz", `must be 0 or one of ${rates.join(", ")} Hz for ${voice.id}`);
  }
  const speed = request.speed === 0 ? 1 : request.speed;
  if (!(speed >= 0.5 && speed <= 2)) throw new InvalidArgumentError("speed", "must be 0 (1.0) or from 0.5 to 2.0");
  if (request.utteranceId.length > 64) throw new InvalidArgumentError("utterance_id", "must be at most 64 characters");
  const priorities: number[] = [
    SynthesisPriority.SYNTHESIS_PRIORITY_UNSPECIFIED,
    SynthesisPriority.SYNTHESIS_PRIORITY_INTERACTIVE,
  ];
  if (!priorities.includes(request.priority)) {
    throw new InvalidArgumentError(
      "priority",
      `${request.priority} is not a SynthesisPriority (0 SYNTHESIS_PRIORITY_UNSPECIFIED, 1 SYNTHESIS_PRIORITY_INTERACTIVE)`,
    );
  }
  return { voice, sampleRate, speed };
}

/** A synthesis chunk as one or more contract messages of at most 64 KiB of PCM; timings ride on the first. */
function* split(chunk: SynthesisChunk) {
  const bytes = Buffer.from(chunk.pcm.buffer, chunk.pcm.byteOffset, chunk.pcm.byteLength);
  const format = { sampleRateHz: chunk.sampleRate, channels: 1, encoding: AudioEncoding.AUDIO_ENCODING_PCM_S16LE };
  const parts = Math.max(1, Math.ceil(bytes.length / maxChunkBytes));
  const msPerByte = chunk.durationMs / Math.max(1, bytes.length);
  for (let i = 0; i < parts; i++) {
    const pcm = bytes.subarray(i * maxChunkBytes, (i + 1) * maxChunkBytes);
    yield SynthesizeResponse.fromPartial({
      format,
      pcm,
      offsetMs: Math.round(chunk.offsetMs + i * maxChunkBytes * msPerByte),
      durationMs: Math.round(pcm.length * msPerByte),
      words: i === 0 ? chunk.words : [],
      phonemes: i === 0 ? chunk.phonemes : [],
      sentenceIndex: chunk.sentenceIndex,
      final: chunk.final && i === parts - 1,
    });
  }
}
