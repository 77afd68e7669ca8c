// One utterance's lip-sync stream (LipSyncService.Animate, pull-based through bidiCall): its audio goes to a lip-sync
// worker no faster than the worker takes it, and the frames that come back go to the media graph. A worker that fails
// is replaced by another, which is sent the utterance's audio so far; frames already delivered are skipped.
import {
  PixelFormat,
  Renderer,
  animateAudio,
  animateFlush,
  animateOpen,
  type AnimateRequest,
  type AnimateResponse,
  type AnimationFrame,
  type LipSyncServiceClient,
} from "../proto/index.js";
import { InvalidArgumentError } from "../errors/index.js";
import type { MouthFrameInput } from "../media/index.js";
import type { Logger } from "../observability/index.js";
import { bidiCall } from "../transport/index.js";
import { aheadSpareStreams, type KnownWorker, type WorkerDirectory } from "./workers.js";
import type { Tier } from "../trust/index.js";

export interface LipStreamOptions {
  workers: WorkerDirectory;
  /** The (shared) client for a worker's address. */
  client: (worker: KnownWorker) => LipSyncServiceClient;
  utterance: {
    utteranceId: string;
    roomId: string;
    avatarId: string;
    fps: number;
    tier?: Tier;
    /** Drawn by a talking-face generator where a worker serves one (AVATAR_RENDERER_NEURAL), else the viseme path. */
    neural?: boolean;
    /** Rendered ahead: only a worker that keeps a stream to spare after it takes it (see Utterance.ahead). */
    ahead?: boolean;
  };
  /** Each frame once, in order, indexed from the utterance's first sample. */
  mouth: (frame: MouthFrameInput) => void;
  log: Logger;
  /** Aborting cancels the stream. */
  signal: AbortSignal;
}

const maxAttempts = 3;

export class LipStream {
  /** The workers tried, in order. */
  readonly workers: string[] = [];
  /** Why a neural utterance went (part of the way) on the viseme path: no worker served it, or it was refused. */
  fellBack?: string;
  /** Why the stream gave up (no worker took it, or every one tried failed): frames from then on are missing. */
  gaveUp?: string;
  /** How the current worker draws: neural while one serves it and has not refused the avatar. */
  #renderer = Renderer.RENDERER_VISEME;
  readonly #options: LipStreamOptions;
  /** Every chunk so far, for a worker that takes over. */
  readonly #audio: Int16Array[] = [];
  readonly #failed = new Set<string>();
  readonly #flushed: Promise<void>;
  readonly #resolveFlushed: () => void;
  /** The current worker's requests; none before the first audio. */
  #requests?: Outbox<AnimateRequest>;
  #rate = 0;
  #delivered = 0;
  #flushing = false;
  #closed = false;

  constructor(options: LipStreamOptions) {
    this.#options = options;
    let resolve!: () => void;
    this.#flushed = new Promise<void>((r) => (resolve = r));
    this.#resolveFlushed = resolve;
  }

  /** Sends a chunk; resolves once the worker's stream has taken it (so a worker that is behind slows the voice). */
  async push(pcm: Int16Array, rate: number): Promise<void> {
    if (pcm.length === 0) return;
    this.#rate = rate;
    if (!this.#requests && this.gaveUp === undefined) void this.#run();
    this.#audio.push(pcm);
    await this.#requests?.send(animateAudio(pcm, this.#options.utterance.utteranceId));
  }

  /** Frames for the rest of the audio; resolves when the worker says the utterance is done (or the stream ends). */
  async flush(): Promise<void> {
    if (this.gaveUp !== undefined || !this.#requests) return;
    this.#flushing = true;
    await this.#requests.send(animateFlush(this.#options.utterance.utteranceId));
    await this.#flushed;
  }

  /** No more requests: the worker finishes what it has and ends the stream. */
  close(): void {
    this.#closed = true;
    this.#requests?.end();
  }

  /** Streams on one worker after another until one ends well, or none is left to try. Never rejects. */
  async #run(): Promise<void> {
    try {
      for (;;) {
        const worker = this.#pick();
        if (!worker) return;
        const requests = this.#startRequests();
        try {
          const client = this.#options.client(worker);
          for await (const response of bidiCall(client.animate.bind(client), requests, {
            signal: this.#options.signal,
          })) {
            this.#receive(response);
          }
          return;
        } catch (err) {
          if (this.#options.signal.aborted || this.#closed) return;
          // A generator that cannot draw this avatar (its pack has no face box): the viseme path draws it instead.
          if (
            this.#renderer === Renderer.RENDERER_NEURAL &&
            (err as { code?: string }).code === "failed_precondition"
          ) {
            this.fellBack = (err as Error).message;
            this.workers.pop();
            continue;
          }
          this.#failed.add(worker.id);
          this.#options.log.warn(
            { err, worker: worker.id, utteranceId: this.#options.utterance.utteranceId },
            "lip-sync worker failed",
          );
          if (this.workers.length >= maxAttempts) return this.#giveUp(err);
        } finally {
          requests.close();
        }
      }
    } finally {
      this.#resolveFlushed();
    }
  }

  /**
   * The least loaded lip-sync worker not yet tried (serving the neural renderer when the utterance asks for it and
   * one does); none (and the avatar stays idle) without one.
   */
  #pick(): KnownWorker | undefined {
    const { avatarId, tier, neural, ahead } = this.#options.utterance;
    const spare = ahead ? aheadSpareStreams : 0;
    const pick = (renderer?: string) =>
      this.#options.workers.pick("lipsync", { capability: avatarId, renderer, exclude: this.#failed, tier, spare });
    try {
      let worker: KnownWorker | undefined;
      if (neural && this.fellBack === undefined) {
        try {
          worker = pick("neural");
          this.#renderer = Renderer.RENDERER_NEURAL;
        } catch (err) {
          this.fellBack = (err as Error).message;
        }
      }
      if (!worker) {
        worker = pick();
        this.#renderer = Renderer.RENDERER_VISEME;
      }
      this.workers.push(worker.id);
      return worker;
    } catch (err) {
      this.#giveUp(err);
      return undefined;
    }
  }

  /** A new stream hears the utterance from its start: the open, the audio so far, and the flush if it was asked. */
  #startRequests(): Outbox<AnimateRequest> {
    const { utteranceId, avatarId, fps, roomId } = this.#options.utterance;
    const requests = new Outbox<AnimateRequest>([
      animateOpen({ avatarId, fps, sampleRateHz: this.#rate, roomId, renderer: this.#renderer }),
      ...this.#audio.map((pcm) => animateAudio(pcm, utteranceId)),
      ...(this.#flushing ? [animateFlush(utteranceId)] : []),
    ]);
    this.#requests = requests;
    if (this.#closed) requests.end();
    return requests;
  }

  #receive(response: AnimateResponse): void {
    const m = response.message;
    if (m?.$case === "frame" && m.value.frameIndex >= this.#delivered) {
      this.#options.mouth(mouthFrameFromAnimation(m.value, 0));
      this.#delivered = m.value.frameIndex + 1;
    } else if (m?.$case === "flushed") {
      this.#resolveFlushed();
    }
  }

  #giveUp(err: unknown): void {
    this.gaveUp = (err as Error).message ?? String(err);
    this.#resolveFlushed();
    // Rendering ahead without a worker to spare is not rendered (nor kept): nothing an operator needs to hear of.
    const log = this.#options.utterance.ahead ? this.#options.log.debug : this.#options.log.warn;
    log.call(
      this.#options.log,
      { err, utteranceId: this.#options.utterance.utteranceId },
      "no lip-sync worker: the avatar stays idle",
    );
  }
}

/**
 * A stream's requests, handed over one at a time: send() resolves when the call has taken the request, which
 * bidiCall does only once its last write was accepted. Items given to the constructor go first, with no one waiting.
 */
class Outbox<T> implements AsyncIterableIterator<T> {
  readonly #queue: { item: T; taken: () => void }[];
  #waiter?: (result: IteratorResult<T>) => void;
  #ended = false;

  constructor(first: T[]) {
    this.#queue = first.map((item) => ({ item, taken: () => undefined }));
  }

  send(item: T): Promise<void> {
    if (this.#ended) return Promise.resolve();
    return new Promise((taken) => {
      this.#queue.push({ item, taken });
      this.#deliver();
    });
  }

  /** No more requests: the iteration ends once those sent are taken. */
  end(): void {
    this.#ended = true;
    this.#deliver();
  }

  /** The call is over: what it did not take is dropped, and its senders stop waiting. */
  close(): void {
    this.#ended = true;
    for (const { taken } of this.#queue.splice(0)) taken();
    this.#deliver();
  }

  next(): Promise<IteratorResult<T>> {
    return new Promise((resolve) => {
      this.#waiter = resolve;
      this.#deliver();
    });
  }

  return(): Promise<IteratorResult<T>> {
    this.close();
    return Promise.resolve({ done: true, value: undefined });
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  #deliver(): void {
    const waiter = this.#waiter;
    if (!waiter) return;
    const next = this.#queue.shift();
    if (next) {
      this.#waiter = undefined;
      next.taken();
      waiter({ done: false, value: next.item });
    } else if (this.#ended) {
      this.#waiter = undefined;
      waiter({ done: true, value: undefined });
    }
  }
}

/**
 * A lip-sync frame as a mouth frame of its utterance. `utteranceFirstFrame` is the stream frame_index of the
 * utterance's first frame (the lip-sync stream's clock counts across utterances; the media clock counts per utterance).
 */
function mouthFrameFromAnimation(frame: AnimationFrame, utteranceFirstFrame: number): MouthFrameInput {
  const patch = frame.patch;
  if (!patch || patch.format !== PixelFormat.PIXEL_FORMAT_RGBA) {
    throw new InvalidArgumentError("frame.patch", "must be an RGBA image patch");
  }
  if (frame.frameIndex < utteranceFirstFrame) {
    throw new InvalidArgumentError("frame.frame_index", "is before the utterance's first frame");
  }
  return {
    utteranceId: frame.utteranceId,
    index: frame.frameIndex - utteranceFirstFrame,
    patch: { x: patch.xPx, y: patch.yPx, width: patch.widthPx, height: patch.heightPx, rgba: patch.data },
  };
}
