// LipSyncService.Animate over gRPC: the client opens with the avatar and fps, streams speech, and gets exactly one
// frame per video frame interval of that audio, each with mouth parameters and the rendered mouth patch. Requests
// are validated (INVALID_ARGUMENT names the field and ends only that stream); the stream cap answers
// RESOURCE_EXHAUSTED at once. A stream draws its frames on the viseme path (every worker) or, when it asks for
// RENDERER_NEURAL, with the worker's talking-face generator (a wav2lip-shaped model, shared by every stream). The
// stream is pull-based (bidiStream): a request is read once the frames of the one before it have been taken by the
// client, so a slow model or a slow reader slows the audio sent, not a queue.
import {
  AnimateResponse,
  AudioEncoding,
  LipSyncServiceService,
  PixelFormat,
  Renderer,
  type AnimateAudio,
  type AnimateFlush,
  type AnimateOpen,
  type AnimateRequest,
  type LipSyncServiceServer,
} from "../../proto/index.js";
import { Counter, Histogram, latencyBuckets, type Registry } from "../../observability/index.js";
import { FailedPreconditionError, InvalidArgumentError } from "../../errors/index.js";
import { bidiStream, type GrpcServiceRegistration } from "../../transport/index.js";
import type { StreamSlots } from "../slots.js";
import { measureCost, type StreamCapacity } from "../capacity.js";
import { supportedSampleRates } from "../tts/voices.js";
import { batchedClassifier, MouthAnimator, type MouthFrame, type VisemeClassifier } from "./animator.js";
import { defaultMouthBox } from "./default-avatar.js";
import { NeuralAnimator, type NeuralFrame } from "./neural-animator.js";
import { renderMouth, type MouthPatch } from "./render.js";
import {
  batchedGenerator,
  facePatch,
  transparentPatch,
  type FaceGenerator,
  type NeuralFace,
  type TalkingFaceContract,
} from "./talking-face.js";
import type { VisemeId } from "./visemes.js";
import type * as ort from "onnxruntime-node";

export const supportedFps = [15, 24, 25, 30, 50, 60];
const maxChunkBytes = 64 * 1024;

/** What the worker knows of an avatar: where its mouth patch goes on the base video, and its mouth images. */
export interface AvatarMouth {
  id: string;
  x: number;
  y: number;
  width: number;
  height: number;
  /** The pack's mouth image for a viseme; the parametric mouth is drawn when absent. */
  mouthImage?: (viseme: VisemeId) => Uint8Array;
  /** Its face for the talking-face generator: packs with a face box, on a worker that has a generator. */
  face?: NeuralFace;
}

/** A loaded wav2lip-shaped generator (see talking-face.ts), with the Tensor class of the runtime it was loaded by. */
export interface TalkingFaceModel {
  session: ort.InferenceSession;
  Tensor: typeof ort.Tensor;
  contract: TalkingFaceContract;
}

/**
 * The default avatar's mouth box on a 720x1280 portrait frame. Avatar packs built from video bring their own.
 */
export const defaultAvatar: AvatarMouth = { id: "default", ...defaultMouthBox(720, 1280) };

export interface LipSyncDeps {
  classify: VisemeClassifier;
  /** The talking-face generator, for streams that open with RENDERER_NEURAL; such streams are refused without it. */
  generator?: TalkingFaceModel;
  slots: StreamSlots;
  registry: Registry;
  /** The avatars it animates; a Map is read live (packs published while the worker runs are added to it). */
  avatars?: AvatarMouth[] | Map<string, AvatarMouth>;
  /** Told of every second of audio served, for the capacity the worker measures under load. */
  capacity?: StreamCapacity;
  /**
   * What a second of a RENDERER_NEURAL stream costs against one of the viseme path, as measured at start (default 1):
   * the capacity counts viseme streams, and a neural stream's seconds count this many times.
   */
  neuralWeight?: number;
}

/**
 * CPU seconds one stream costs per second of audio on this machine, measured on `seconds` of a synthetic voiced
 * stream through the path a real one takes (features, the model, the mouth frame and its encoding), at start.
 */
export async function lipSyncStreamCost(classify: VisemeClassifier, avatar: AvatarMouth, seconds = 2): Promise<number> {
  const rate = 16_000;
  const pcm = probeSpeech(seconds, rate);
  return measureCost(seconds, async () => {
    const animator = new MouthAnimator({ fps: 25, inputRate: rate, classify });
    const encode = (frames: MouthFrame[]) => {
      for (const frame of frames) AnimateResponse.encode(frameResponse(frame, avatar, "capacity-probe")).finish();
    };
    for (let at = 0; at < pcm.length; at += rate / 10) encode(await animator.push(pcm.subarray(at, at + rate / 10)));
    encode(await animator.flush());
  });
}

/**
 * The same for a RENDERER_NEURAL stream: the synthetic speech through wav2lip's mel, the generator (this stream
 * alone, unbatched) and the face patch with its encoding, for an avatar with a face.
 */
export async function neuralStreamCost(
  generator: TalkingFaceModel,
  avatar: AvatarMouth & { face: NeuralFace },
  seconds = 2,
): Promise<number> {
  const rate = 16_000;
  const pcm = probeSpeech(seconds, rate);
  const generate = batchedGenerator(generator.session, generator.Tensor, generator.contract);
  const { face } = avatar;
  return measureCost(seconds, async () => {
    const animator = new NeuralAnimator({
      fps: 25,
      inputRate: rate,
      render: async (mels) => (await generate(mels, face.input)).map((out) => facePatch(out, face.box)),
      rest: () => transparentPatch(face.box),
    });
    const encode = (frames: NeuralFrame[]) => {
      for (const frame of frames) AnimateResponse.encode(frameResponse(frame, avatar, "capacity-probe")).finish();
    };
    for (let at = 0; at < pcm.length; at += rate / 10) encode(await animator.push(pcm.subarray(at, at + rate / 10)));
    encode(await animator.flush());
  });
}

/** Syllables of a voiced tone with harmonics, four a second: speech enough for the models' cost. */
function probeSpeech(seconds: number, rate: number): Int16Array {
  const pcm = new Int16Array(seconds * rate);
  for (let i = 0; i < pcm.length; i++) {
    const t = i / rate;
    const envelope = Math.max(0, Math.sin(Math.PI * 4 * t));
    pcm[i] = Math.round(8000 * envelope * (Math.sin(2 * Math.PI * 140 * t) + 0.5 * Math.sin(2 * Math.PI * 280 * t)));
  }
  return pcm;
}

export function lipSyncService(deps: LipSyncDeps): GrpcServiceRegistration {
  const avatars =
    deps.avatars instanceof Map ? deps.avatars : new Map((deps.avatars ?? [defaultAvatar]).map((a) => [a.id, a]));
  const metrics = lipSyncMetrics(deps.registry);
  // One model for every stream: the frames of streams whose chunks arrive together run as one batch.
  const classify = batchedClassifier(deps.classify, {
    onBatch: ({ requests, rows }) => {
      metrics.batchStreams.observe(requests);
      metrics.batchFrames.observe(rows);
    },
  });
  // One generator for every neural stream, batched the same way: a row is one video frame.
  const generate =
    deps.generator &&
    batchedGenerator(deps.generator.session, deps.generator.Tensor, deps.generator.contract, {
      onBatch: ({ requests, rows }) => {
        metrics.neuralBatchStreams.observe(requests);
        metrics.neuralBatchFrames.observe(rows);
      },
    });
  const implementation: LipSyncServiceServer = {
    animate: bidiStream("Animate", (requests: AsyncIterable<AnimateRequest>, signal) =>
      animate(requests, { ...deps, classify, generate, avatars, metrics, signal }),
    ),
  };
  return { name: "livehost.v1.LipSyncService", definition: LipSyncServiceService, implementation };
}

type LipSyncMetrics = ReturnType<typeof lipSyncMetrics>;

function lipSyncMetrics(registry: Registry) {
  return {
    framesSent: new Counter({
      name: "livehost_lipsync_frames_total",
      help: "Animation frames sent.",
      registers: [registry],
    }),
    realtime: new Histogram({
      name: "livehost_lipsync_realtime_factor",
      help: "Compute time per second of audio, per stream and second; above 1 a stream is behind real time.",
      buckets: [0.001, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2],
      registers: [registry],
    }),
    batchStreams: new Histogram({
      name: "livehost_lipsync_batch_streams",
      help: "Streams whose frames ran in one model batch (1: the model was idle when the chunk came).",
      buckets: [1, 2, 4, 8, 16, 32, 64],
      registers: [registry],
    }),
    batchFrames: new Histogram({
      name: "livehost_lipsync_batch_frames",
      help: "Feature frames in one model batch.",
      buckets: [1, 5, 10, 25, 50, 100, 200, 512],
      registers: [registry],
    }),
    neuralBatchStreams: new Histogram({
      name: "livehost_lipsync_neural_batch_streams",
      help: "Streams whose frames ran in one talking-face generator batch.",
      buckets: [1, 2, 4, 8, 16, 32],
      registers: [registry],
    }),
    neuralBatchFrames: new Histogram({
      name: "livehost_lipsync_neural_batch_frames",
      help: "Video frames in one talking-face generator batch.",
      buckets: [1, 2, 4, 8, 16, 32],
      registers: [registry],
    }),
    inferenceSeconds: new Histogram({
      name: "livehost_lipsync_chunk_seconds",
      help: "Time to turn one audio chunk into its frames (features, model, rendering).",
      buckets: latencyBuckets,
      registers: [registry],
    }),
  };
}

interface StreamDeps {
  capacity?: StreamCapacity;
  neuralWeight?: number;
  classify: VisemeClassifier;
  generate?: FaceGenerator;
  /** Aborted when the call ends: a closed stream's frames still queued for the generator leave the queue. */
  signal: AbortSignal;
  slots: StreamSlots;
  avatars: Map<string, AvatarMouth>;
  metrics: LipSyncMetrics;
}

/**
 * One Animate stream: an open, then audio, clear and flush, answered one request at a time and in order (a chunk's
 * frames leave before the next chunk is read). The stream's slot is held from its open to its end, however it ends.
 */
async function* animate(requests: AsyncIterable<AnimateRequest>, deps: StreamDeps): AsyncGenerator<AnimateResponse> {
  let stream: MouthStream | undefined;
  try {
    for await (const { message } of requests) {
      if (message?.$case === "open") {
        if (stream) throw new InvalidArgumentError("open", "the stream is already open");
        stream = MouthStream.open(message.value, deps);
      } else if (!stream) {
        throw new InvalidArgumentError("open", "must be the first message of the stream");
      } else if (message?.$case === "audio") {
        yield* stream.audio(message.value);
      } else if (message?.$case === "clear") {
        yield* stream.clear();
      } else if (message?.$case === "flush") {
        yield* stream.flush(message.value);
      } else {
        throw new InvalidArgumentError("message", "must be one of open, audio, clear, flush");
      }
    }
  } finally {
    stream?.[Symbol.dispose]();
  }
}

/** An open stream's mouth: its avatar, its animator on the stream's frame clock, and the utterance being animated. */
class MouthStream implements Disposable {
  readonly #avatar: AvatarMouth;
  readonly #animator: MouthAnimator | NeuralAnimator;
  readonly #inputRate: number;
  readonly #pace: RealtimePace;
  readonly #framesSent: Counter;
  readonly #inferenceSeconds: Histogram;
  readonly #release: () => void;
  readonly #capacity: StreamCapacity | undefined;
  /** What one second of this stream counts for in the worker's capacity. */
  readonly #weight: number;
  #utteranceId = "";
  /** Frame index where the current utterance began (its first audio after open, flush or clear). */
  #utteranceStart: number | undefined;

  /** Validates the open, then takes a slot (RESOURCE_EXHAUSTED at the cap). */
  static open(open: AnimateOpen, deps: StreamDeps): MouthStream {
    const avatar = validateOpen(open, deps.avatars, deps.generate !== undefined);
    const release = deps.slots.acquire();
    try {
      return new MouthStream(open, avatar, deps, release);
    } catch (err) {
      release();
      throw err;
    }
  }

  private constructor(open: AnimateOpen, avatar: AvatarMouth, deps: StreamDeps, release: () => void) {
    this.#avatar = avatar;
    this.#inputRate = open.audioFormat!.sampleRateHz;
    const { generate, signal } = deps;
    const face = avatar.face;
    this.#animator =
      open.renderer === Renderer.RENDERER_NEURAL && generate && face
        ? new NeuralAnimator({
            fps: open.fps,
            inputRate: this.#inputRate,
            render: async (mels) => (await generate(mels, face.input, signal)).map((out) => facePatch(out, face.box)),
            rest: () => transparentPatch(face.box),
          })
        : new MouthAnimator({ fps: open.fps, inputRate: this.#inputRate, classify: deps.classify });
    this.#pace = new RealtimePace(deps.metrics.realtime);
    this.#framesSent = deps.metrics.framesSent;
    this.#inferenceSeconds = deps.metrics.inferenceSeconds;
    this.#release = release;
    this.#capacity = deps.capacity;
    this.#weight = this.#animator instanceof NeuralAnimator ? (deps.neuralWeight ?? 1) : 1;
  }

  /** The frames of a chunk of audio, then a status when the stream falls behind real time or catches up. */
  async *audio(audio: AnimateAudio): AsyncGenerator<AnimateResponse> {
    const pcm = validatedPcm(audio.pcm);
    this.#utteranceId = validatedUtteranceId(audio.utteranceId, "audio.utterance_id");
    this.#utteranceStart ??= this.#animator.framesSent;
    const started = performance.now();
    const frames = await this.#animator.push(pcm);
    const computeMs = performance.now() - started;
    this.#capacity?.served(pcm.length / this.#inputRate, this.#weight);
    this.#inferenceSeconds.observe(computeMs / 1_000);
    yield* this.#frames(frames);
    const pace = this.#pace.record(computeMs, (pcm.length / this.#inputRate) * 1000);
    if (pace) yield statusResponse(pace, this.#animator.framesSent);
  }

  /** A cut-in: "cleared", then the rest pose at the very next frame index. */
  *clear(): Generator<AnimateResponse> {
    const frame = this.#animator.clear();
    this.#utteranceStart = undefined;
    yield AnimateResponse.fromPartial({ message: { $case: "cleared", value: { frameIndex: frame.index } } });
    yield* this.#frames([frame]);
  }

  /** The frames for the rest of the utterance's audio, then "flushed" with how many frames the utterance had. */
  async *flush(flush: AnimateFlush): AsyncGenerator<AnimateResponse> {
    validatedUtteranceId(flush.utteranceId, "flush.utterance_id");
    const start = this.#utteranceStart ?? this.#animator.framesSent;
    yield* this.#frames(await this.#animator.flush());
    this.#utteranceStart = undefined;
    yield AnimateResponse.fromPartial({
      message: {
        $case: "flushed",
        value: { utteranceId: flush.utteranceId, frames: this.#animator.framesSent - start },
      },
    });
  }

  *#frames(frames: (MouthFrame | NeuralFrame)[]): Generator<AnimateResponse> {
    for (const frame of frames) {
      this.#framesSent.inc();
      yield frameResponse(frame, this.#avatar, this.#utteranceId);
    }
  }

  [Symbol.dispose](): void {
    this.#release();
  }
}

/**
 * Real time, always: compute per second of audio over the last second of audio. Above 1 the worker cannot keep up
 * and says so (the metric, and a status message) so the room shows idle frames rather than late ones; it says so
 * again when it catches up.
 */
class RealtimePace {
  readonly #histogram: Histogram;
  #computeMs = 0;
  #audioMs = 0;
  #behind = false;

  constructor(histogram: Histogram) {
    this.#histogram = histogram;
  }

  /** The window's factor when a status is due (behind, or no longer behind), else undefined. */
  record(computeMs: number, audioMs: number): { factor: number; behind: boolean } | undefined {
    this.#computeMs += computeMs;
    this.#audioMs += audioMs;
    if (this.#audioMs < 1_000) return undefined;
    const factor = this.#computeMs / this.#audioMs;
    this.#histogram.observe(factor);
    const behind = factor > 1;
    const due = behind || behind !== this.#behind;
    this.#behind = behind;
    this.#computeMs = 0;
    this.#audioMs = 0;
    return due ? { factor, behind } : undefined;
  }
}

function statusResponse(pace: { factor: number; behind: boolean }, framesSent: number): AnimateResponse {
  return AnimateResponse.fromPartial({
    message: {
      $case: "status",
      value: { realtimeFactor: pace.factor, behind: pace.behind, framesSent, framesDropped: 0 },
    },
  });
}

/**
 * A frame with its patch: the generated face over the face box (neural frames), else the pack's mouth image for its
 * viseme, or the parametric mouth drawn, over the mouth box.
 */
/** An utterance id echoed on every frame: at most 64 characters, as the speech worker's. */
function validatedUtteranceId(id: string, field: string): string {
  if (id.length > 64) throw new InvalidArgumentError(field, "must be at most 64 characters");
  return id;
}

function frameResponse(frame: MouthFrame | NeuralFrame, avatar: AvatarMouth, utteranceId: string): AnimateResponse {
  const neural = "patch" in frame && avatar.face;
  const at = neural ? avatar.face!.box : avatar;
  const patch: MouthPatch =
    "patch" in frame
      ? frame.patch
      : avatar.mouthImage
        ? { width: avatar.width, height: avatar.height, data: avatar.mouthImage(frame.viseme) }
        : renderMouth(frame.mouth, avatar.width, avatar.height);
  return AnimateResponse.fromPartial({
    message: {
      $case: "frame",
      value: {
        frameIndex: frame.index,
        ptsMs: frame.ptsMs,
        utteranceId,
        mouth: { viseme: frame.viseme, ...frame.mouth },
        patch: {
          xPx: at.x,
          yPx: at.y,
          widthPx: patch.width,
          heightPx: patch.height,
          format: PixelFormat.PIXEL_FORMAT_RGBA,
          data: Buffer.from(patch.data.buffer, patch.data.byteOffset, patch.data.byteLength),
        },
      },
    },
  });
}

/** The chunk's samples (copied: the message's buffer may be shared and unaligned). */
function validatedPcm(bytes: Uint8Array): Int16Array {
  if (bytes.length > maxChunkBytes)
    throw new InvalidArgumentError("audio.pcm", `must be at most ${maxChunkBytes} bytes`);
  if (bytes.length % 2 !== 0) throw new InvalidArgumentError("audio.pcm", "must hold whole 16-bit samples");
  return new Int16Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length));
}

function validateOpen(open: AnimateOpen, avatars: Map<string, AvatarMouth>, hasGenerator: boolean): AvatarMouth {
  const avatar = avatars.get(open.avatarId);
  if (!avatar) throw new InvalidArgumentError("open.avatar_id", `unknown avatar "${open.avatarId}"`);
  if (open.renderer !== Renderer.RENDERER_VISEME && open.renderer !== Renderer.RENDERER_NEURAL) {
    throw new InvalidArgumentError("open.renderer", "must be RENDERER_VISEME or RENDERER_NEURAL");
  }
  if (open.renderer === Renderer.RENDERER_NEURAL) {
    if (!hasGenerator) {
      throw new FailedPreconditionError(
        "open.renderer: RENDERER_NEURAL needs a talking-face generator and this worker has none (its --model is a viseme model); use RENDERER_VISEME or a worker with a wav2lip-shaped --model",
      );
    }
    if (!avatar.face) {
      throw new FailedPreconditionError(
        `open.renderer: avatar "${avatar.id}" has no face box in its pack (packs built before face boxes); RENDERER_VISEME still animates it`,
      );
    }
  }
  if (!supportedFps.includes(open.fps))
    throw new InvalidArgumentError("open.fps", `must be one of ${supportedFps.join(", ")}`);
  const format = open.audioFormat;
  if (!format) throw new InvalidArgumentError("open.audio_format", "is required");
  if (format.encoding !== AudioEncoding.AUDIO_ENCODING_PCM_S16LE) {
    throw new InvalidArgumentError("open.audio_format.encoding", "must be PCM_S16LE");
  }
  if (format.channels !== 1) throw new InvalidArgumentError("open.audio_format.channels", "must be 1 (mono)");
  if (!supportedSampleRates.includes(format.sampleRateHz)) {
    throw new InvalidArgumentError(
      "open.audio_format.sample_rate_hz",
      `must be one of ${supportedSampleRates.join(", ")} Hz`,
    );
  }
  if (open.roomId.length > 64) throw new InvalidArgumentError("open.room_id", "must be at most 64 characters");
  return avatar;
}
