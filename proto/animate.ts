// Builders for the requests of LipSyncService.Animate: pure functions on the contract's messages, shared by the
// room's client (rooms/), the worker's tests and the lip-sync benchmark.
import { AudioEncoding } from "./gen/livehost/v1/common.js";
import { AnimateRequest, Renderer } from "./gen/livehost/v1/lipsync_service.js";

/** The message that opens an Animate stream: avatar, fps and the 16-bit mono PCM rate that will follow. */
export function animateOpen(options: {
  avatarId?: string;
  fps?: number;
  sampleRateHz: number;
  roomId?: string;
  /** Default the viseme path. */
  renderer?: Renderer;
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
        renderer: options.renderer ?? Renderer.RENDERER_VISEME,
      },
    },
  });
}

/** A chunk of the opened stream's audio; the PCM is sent as it is (no copy). */
export function animateAudio(pcm: Int16Array, utteranceId: string): AnimateRequest {
  return AnimateRequest.fromPartial({
    message: {
      $case: "audio",
      value: { pcm: Buffer.from(pcm.buffer, pcm.byteOffset, pcm.byteLength), utteranceId },
    },
  });
}

/** The utterance's audio is complete: frames for what is left, then AnimateFlushed. */
export function animateFlush(utteranceId: string): AnimateRequest {
  return AnimateRequest.fromPartial({ message: { $case: "flush", value: { utteranceId } } });
}

/** A cut-in: drop pending audio and return to the rest pose within one frame. */
export function animateClear(): AnimateRequest {
  return AnimateRequest.fromPartial({ message: { $case: "clear", value: {} } });
}
