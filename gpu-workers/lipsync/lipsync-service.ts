// LipSyncService.Animate over gRPC: the client opens with the avatar and fps, streams speech, and gets exactly one
// frame per video frame interval of that audio, each with mouth parameters and the rendered mouth patch. Requests
// are validated (INVALID_ARGUMENT names the field and ends only that stream); the stream cap answers
// RESOURCE_EXHAUSTED at once; a slow reader pauses the audio it sends (backpressure).
import { once } from "node:events";
import type { ServerDuplexStream } from "@grpc/grpc-js";
import {
  AnimateRequest,
  AnimateResponse,
  AudioEncoding,
  LipSyncServiceService,
  PixelFormat,
  type AnimateOpen,
  type LipSyncServiceServer,
} from "../../proto/index.js";
import { Counter, Histogram, latencyBuckets, rootLogger, type Registry } from "../../observability/index.js";
import {
  InvalidArgumentError,
  LivehostError,
  serverCallSpan,
  toStatus,
  type GrpcServiceRegistration,
} from "../../transport/index.js";
import type { StreamSlots } from "../slots.js";
import { supportedSampleRates } from "../tts/voices.js";
import { MouthAnimator, type MouthFrame, type VisemeClassifier } from "./animator.js";
import { defaultMouthBox } from "./avatar-pack.js";
import { renderMouth } from "./render.js";
import type { VisemeId } from "./visemes.js";

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
}

/**
 * The default avatar's mouth box on a 720x1280 portrait frame. Avatar packs built from video bring their own.
 */
export const defaultAvatar: AvatarMouth = { id: "default", ...defaultMouthBox(720, 1280) };

export interface LipSyncDeps {
  classify: VisemeClassifier;
  slots: StreamSlots;
  registry: Registry;
  avatars?: AvatarMouth[];
}

/** The message that opens an Animate stream: avatar, fps and the 16-bit mono PCM rate that will follow. */
export function animateOpen(options: {
  avatarId?: string;
  fps?: number;
  sampleRateHz: number;
  roomId?: string;
}): AnimateRequest {
  return AnimateRequest.fromPartial({
    message: {
      $case: "open",
      value: {
        avatarId: options.avatarId ?? "default",
        fps: options.fps ?? 25,
        audioFormat: {
          sampleRateHz: options.sampleRateHz,
          channels: 1,
          encoding: AudioEncoding.AUDIO_ENCODING_PCM_S16LE,
        },
        roomId: options.roomId ?? "",
      },
    },
  });
}

export function lipSyncService(deps: LipSyncDeps): GrpcServiceRegistration {
  const avatars = new Map((deps.avatars ?? [defaultAvatar]).map((a) => [a.id, a]));
  const framesSent = new Counter({
    name: "livehost_lipsync_frames_total",
    help: "Animation frames sent.",
    registers: [deps.registry],
  });
  const realtime = new Histogram({
    name: "livehost_lipsync_realtime_factor",
    help: "Compute time per second of audio, per stream and second; above 1 a stream is behind real time.",
    buckets: [0.001, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2],
    registers: [deps.registry],
  });
  const inferenceSeconds = new Histogram({
    name: "livehost_lipsync_chunk_seconds",
    help: "Time to turn one audio chunk into its frames (features, model, rendering).",
    buckets: latencyBuckets,
    registers: [deps.registry],
  });

  const animate = (call: ServerDuplexStream<AnimateRequest, AnimateResponse>) => {
    let animator: MouthAnimator | undefined;
    let avatar: AvatarMouth | undefined;
    let release: (() => void) | undefined;
    let utteranceId = "";
    /** Frame index where the current utterance began (its first audio after open, flush or clear). */
    let utteranceStart: number | undefined;
    let ended = false;
    const queue: AnimateRequest[] = [];
    let wake: (() => void) | undefined;
    const span = serverCallSpan("Animate", call.metadata);

    const fail = (err: unknown) => {
      if (ended) return;
      ended = true;
      span.end(err);
      release?.();
      if (!(err instanceof LivehostError)) rootLogger().error({ err }, "unexpected error in lip-sync stream");
      call.emit("error", toStatus(err));
    };
    // Real time, always: compute per second of audio over the last second; above 1 the worker cannot keep up, and
    // says so (metric and a status message) so the room shows idle frames rather than late ones.
    let inputRate = 16_000;
    let windowCompute = 0;
    let windowAudio = 0;
    let behind = false;
    const reportPace = async (computeMs: number, audioMs: number) => {
      windowCompute += computeMs;
      windowAudio += audioMs;
      if (windowAudio < 1_000) return;
      const factor = windowCompute / windowAudio;
      realtime.observe(factor);
      const nowBehind = factor > 1;
      if (nowBehind || nowBehind !== behind) {
        await send(
          AnimateResponse.fromPartial({
            message: {
              $case: "status",
              value: {
                realtimeFactor: factor,
                behind: nowBehind,
                framesSent: animator?.framesSent ?? 0,
                framesDropped: 0,
              },
            },
          }),
        );
      }
      behind = nowBehind;
      windowCompute = 0;
      windowAudio = 0;
    };
    const send = async (message: AnimateResponse) => {
      if (!call.write(message)) {
        // The client is not keeping up: stop reading its audio until it does.
        call.pause();
        await once(call, "drain");
        call.resume();
      }
    };
    const sendFrames = async (frames: MouthFrame[]) => {
      for (const frame of frames) {
        const patch = avatar!.mouthImage
          ? { width: avatar!.width, height: avatar!.height, data: avatar!.mouthImage(frame.viseme) }
          : renderMouth(frame.mouth, avatar!.width, avatar!.height);
        framesSent.inc();
        await send(
          AnimateResponse.fromPartial({
            message: {
              $case: "frame",
              value: {
                frameIndex: frame.index,
                ptsMs: frame.ptsMs,
                utteranceId,
                mouth: { viseme: frame.viseme, ...frame.mouth },
                patch: {
                  xPx: avatar!.x,
                  yPx: avatar!.y,
                  widthPx: patch.width,
                  heightPx: patch.height,
                  format: PixelFormat.PIXEL_FORMAT_RGBA,
                  data: Buffer.from(patch.data.buffer, patch.data.byteOffset, patch.data.byteLength),
                },
              },
            },
          }),
        );
      }
    };

    const handle = async (request: AnimateRequest) => {
      const message = request.message;
      if (message?.$case === "open") {
        if (animator) throw new InvalidArgumentError("open", "the stream is already open");
        avatar = validateOpen(message.value, avatars);
        release = deps.slots.acquire();
        inputRate = message.value.audioFormat!.sampleRateHz;
        animator = new MouthAnimator({
          fps: message.value.fps,
          inputRate: message.value.audioFormat!.sampleRateHz,
          classify: deps.classify,
        });
        return;
      }
      if (!animator) throw new InvalidArgumentError("open", "must be the first message of the stream");
      if (message?.$case === "audio") {
        if (message.value.pcm.length > maxChunkBytes) {
          throw new InvalidArgumentError("audio.pcm", `must be at most ${maxChunkBytes} bytes`);
        }
        if (message.value.pcm.length % 2 !== 0)
          throw new InvalidArgumentError("audio.pcm", "must hold whole 16-bit samples");
        utteranceId = message.value.utteranceId;
        utteranceStart ??= animator.framesSent;
        const pcm = new Int16Array(
          message.value.pcm.buffer.slice(
            message.value.pcm.byteOffset,
            message.value.pcm.byteOffset + message.value.pcm.length,
          ),
        );
        const started = performance.now();
        const frames = await animator.push(pcm);
        const computeMs = performance.now() - started;
        inferenceSeconds.observe(computeMs / 1_000);
        await sendFrames(frames);
        await reportPace(computeMs, (pcm.length / inputRate) * 1000);
      } else if (message?.$case === "clear") {
        const frame = animator.clear();
        utteranceStart = undefined;
        await send(AnimateResponse.fromPartial({ message: { $case: "cleared", value: { frameIndex: frame.index } } }));
        await sendFrames([frame]);
      } else if (message?.$case === "flush") {
        const start = utteranceStart ?? animator.framesSent;
        await sendFrames(await animator.flush());
        utteranceStart = undefined;
        await send(
          AnimateResponse.fromPartial({
            message: {
              $case: "flushed",
              value: { utteranceId: message.value.utteranceId, frames: animator.framesSent - start },
            },
          }),
        );
      } else {
        throw new InvalidArgumentError("message", "must be one of open, audio, clear, flush");
      }
    };

    // One message at a time, in order: a chunk's frames leave before the next chunk is read.
    void (async () => {
      try {
        for (;;) {
          const request = queue.shift();
          if (request) {
            await handle(request);
            continue;
          }
          if (ended) break;
          await new Promise<void>((resolve) => (wake = resolve));
          wake = undefined;
        }
        release?.();
        span.end();
        call.end();
      } catch (err) {
        fail(err);
      }
    })();

    call.on("data", (request: AnimateRequest) => {
      queue.push(request);
      wake?.();
    });
    call.on("end", () => {
      ended = true;
      wake?.();
    });
    call.on("cancelled", () => {
      ended = true;
      span.end();
      queue.length = 0;
      release?.();
      wake?.();
    });
  };

  const implementation: LipSyncServiceServer = { animate };
  return { name: "livehost.v1.LipSyncService", definition: LipSyncServiceService, implementation };
}

function validateOpen(open: AnimateOpen, avatars: Map<string, AvatarMouth>): AvatarMouth {
  const avatar = avatars.get(open.avatarId);
  if (!avatar) throw new InvalidArgumentError("open.avatar_id", `unknown avatar "${open.avatarId}"`);
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
