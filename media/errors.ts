// Errors of the media graph that are not about a field of its input (those are InvalidArgumentErrors naming the
// field): parts this machine lacks, a graph used out of order, and pipelines of ours that do not hold what we said.
import { FailedPreconditionError, InternalError, UnavailableError } from "../errors/index.js";

/** nvh264enc was asked for, but GStreamer has no usable NVENC here (no CUDA device, or the plugin is missing). */
export class EncoderUnavailableError extends FailedPreconditionError {
  override name = "EncoderUnavailableError";
  readonly encoder: string;

  constructor(encoder: string) {
    super(`${encoder} is not available on this machine`);
    this.encoder = encoder;
  }
}

/** The native compose kernel was asked for by name, and it is not built (npm run setup builds it). */
export class ComposeKernelMissingError extends FailedPreconditionError {
  override name = "ComposeKernelMissingError";
}

/** start() on a media graph that was started already: a graph runs once. */
export class GraphStartedError extends FailedPreconditionError {
  override name = "GraphStartedError";

  constructor() {
    super("the media graph was already started");
  }
}

/** A pipeline description of ours lacks the element our code looks up by name: a bug in the description. */
export class MissingElementError extends InternalError {
  override name = "MissingElementError";
  readonly element: string;

  constructor(element: string) {
    super(`pipeline has no element named ${element}`);
    this.element = element;
  }
}

/** ffmpeg (which probes and decodes what a room produced) exited with a failure; the message ends with its stderr. */
export class FfmpegError extends InternalError {
  override name = "FfmpegError";
}

/** A WHEP viewer asked this host for WebRTC, and it has no WebRTC addon (npm run setup builds it). */
export class WebRtcUnavailableError extends UnavailableError {
  override name = "WebRtcUnavailableError";

  constructor() {
    super("WebRTC not available on this host");
  }
}

/** The room has as many WebRTC viewers as it takes; one may leave. `retryAfterSeconds` is what to tell the caller. */
export class ViewersFullError extends UnavailableError {
  override name = "ViewersFullError";
  readonly retryAfterSeconds: number;

  constructor(maxViewers: number, retryAfterSeconds: number) {
    super(`the room has ${maxViewers} WebRTC viewers, the most it takes; try again later or watch HLS`);
    this.retryAfterSeconds = retryAfterSeconds;
  }
}
