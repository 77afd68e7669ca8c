// A room's show rendered ahead (ShowSettings.render_ahead). The show is known before it is spoken: while the
// workers have streams to spare (and the room is not answering a viewer), its upcoming sentences are rendered in
// batches — speech with word timings, and mouth frames — and kept in the room host's memory, bounded per room; a
// show sentence streamed live is kept the same way. When a show sentence comes up and is kept, it is played from
// there (no worker asked); else it is streamed live, as without rendering ahead. A 24/7 room loops its show, so what
// is kept is played again loop after loop.
//
// What makes a render is its text, voice, speed, avatar, renderer and fps (RenderKey): a room that changes any of
// them finds nothing kept for the new one and never plays a stale render. The bound is kept by dropping first what
// the show will need last: renders the walk ahead no longer meets, then those furthest ahead of where the show is
// (for a loop that does not fit, the sentence just said is the one needed last). Mouth patches of the viseme path
// repeat (one image per viseme): each distinct patch is kept once. Neural patches are all different and kept
// compressed (deflate).
//
// Answers cannot be rendered ahead, but they repeat: the embedded brain says the same few sentences for the same
// question about the same product (its wordings rotate). An answer sentence streamed live is kept too, while there is
// room (the show's renders come first: an answer is never met on the walk ahead, so it is the first dropped), and a
// viewer who asks again hears it from what was kept, at once and with no worker asked. An answer whose text differs in
// any way (another price, another stock count, an LLM's wording) is another render.
import { createHash } from "node:crypto";
import { promisify } from "node:util";
import { deflateRaw, inflateRaw } from "node:zlib";
import { SpanStatusCode } from "@opentelemetry/api";
import { InvalidArgumentError, UnavailableError } from "../errors/index.js";
import type { MouthFrameInput, SpeechChunk } from "../media/index.js";
import { tracer, type Logger } from "../observability/index.js";
import type { WordTiming } from "../proto/index.js";
import type { Tier } from "../trust/index.js";
import type { RoomMetrics } from "./metrics.js";
import type { Spoken, Voice, VoiceOutput } from "./voice.js";
import { aheadSpareStreams } from "./workers.js";

const spans = tracer("rooms");
const deflate = promisify(deflateRaw);
const inflate = promisify(inflateRaw);

/** The room host's setting (RoomHostOptions.live.renderAhead), human-friendly. */
export interface RenderAheadOptions {
  /** The most one room keeps rendered ahead, in bytes. Default 64 MiB. */
  maxBytesPerRoom?: number;
}

export interface RenderAheadSettings {
  maxBytesPerRoom: number;
}

/** 64 MiB: about 23 minutes of show on the viseme path (22.05 kHz speech); neural frames need far more (README). */
export const defaultRenderAheadBytes = 64 * 1024 * 1024;

/** Fills the default and checks the bound; an InvalidArgumentError names the bad field. */
export function compileRenderAhead(options: RenderAheadOptions = {}): RenderAheadSettings {
  const max = options.maxBytesPerRoom ?? defaultRenderAheadBytes;
  if (!Number.isSafeInteger(max) || max < 0) {
    throw new InvalidArgumentError("renderAhead.maxBytesPerRoom", "must be a whole number of bytes, 0 or more");
  }
  return { maxBytesPerRoom: max };
}

/** What a sentence is rendered for: the same text for another voice, speed, avatar, renderer or fps is another render. */
export interface RenderKey {
  text: string;
  voiceId: string;
  /** 0 means 1.0. */
  speed: number;
  avatarId: string;
  neural: boolean;
  fps: number;
}

const keyOf = (k: RenderKey) => JSON.stringify([k.text, k.voiceId, k.speed || 1, k.avatarId, k.neural, k.fps]);

/** A distinct mouth patch, kept once however many frames show it. */
interface KeptPatch {
  hash: string;
  width: number;
  height: number;
  /** Its RGBA bytes, deflated when `deflated`. */
  bytes: Uint8Array;
  deflated: boolean;
  /** Frames that show it (of kept renders, and of renders being made). */
  refs: number;
  /** Whether its bytes count against the bound: from the first render kept that shows it. */
  counted: boolean;
}

interface KeptFrame {
  index: number;
  x: number;
  y: number;
  patch: KeptPatch;
}

/** A sentence rendered: what the voice gave for it, ready to be played again under another utterance id. */
export interface Rendering {
  readonly key: string;
  /** Characters of its text (for estimates of the size of renders not made yet). */
  readonly chars: number;
  readonly rateHz: number;
  readonly pcm: Int16Array[];
  readonly words: WordTiming[];
  readonly frames: KeptFrame[];
  readonly durationMs: number;
  readonly lipsyncFallback?: string;
  /** Its own bytes (its patches are counted by the store, once each). */
  readonly bytes: number;
}

/** Bytes counted per frame and per word besides their content (index, position, references). */
const frameOverhead = 32;
const wordOverhead = 48;

/**
 * Collects what the voice gives for one sentence (a render ahead, or a live sentence also sent on to the media graph)
 * into a Rendering; patches are shared with the store's (deduplicated as they come).
 */
class RenderCollector {
  readonly #store: KeptRenders;
  readonly #neural: boolean;
  readonly pcm: Int16Array[] = [];
  readonly words: WordTiming[] = [];
  readonly frames: KeptFrame[] = [];
  /** Patches compressing (neural): the frames are complete once these are done. */
  readonly #compressing: Promise<void>[] = [];
  rateHz = 0;
  #bytes = 0;

  constructor(store: KeptRenders, neural: boolean) {
    this.#store = store;
    this.#neural = neural;
  }

  speech(chunk: SpeechChunk): void {
    const pcm =
      chunk.pcm instanceof Int16Array
        ? chunk.pcm.slice()
        : new Int16Array(chunk.pcm.buffer.slice(chunk.pcm.byteOffset, chunk.pcm.byteOffset + chunk.pcm.byteLength));
    this.rateHz = chunk.sampleRateHz;
    if (pcm.length === 0) return;
    this.pcm.push(pcm);
    this.#bytes += pcm.byteLength;
  }

  mouth(frame: MouthFrameInput): void {
    const { x, y, width, height, rgba } = frame.patch;
    const kept: KeptFrame = { index: frame.index, x, y, patch: this.#store.patch(rgba, width, height) };
    this.frames.push(kept);
    this.#bytes += frameOverhead;
    if (this.#neural && !kept.patch.deflated && kept.patch.refs === 1) {
      this.#compressing.push(this.#store.compress(kept.patch));
    }
  }

  addWords(words: WordTiming[]): void {
    for (const w of words) this.words.push({ ...w });
    this.#bytes += words.reduce((n, w) => n + wordOverhead + w.text.length * 2, 0);
  }

  /** The output as a VoiceOutput (words included). */
  get output(): VoiceOutput {
    return {
      speech: (chunk) => this.speech(chunk),
      mouth: (frame) => this.mouth(frame),
      words: (words) => this.addWords(words),
    };
  }

  /** The render, once its patches are compressed. */
  async done(key: RenderKey, spoken: Spoken): Promise<Rendering> {
    await Promise.all(this.#compressing);
    return {
      key: keyOf(key),
      chars: key.text.length,
      rateHz: this.rateHz,
      pcm: this.pcm,
      words: this.words,
      frames: this.frames,
      durationMs: spoken.durationMs,
      lipsyncFallback: spoken.lipsyncFallback,
      bytes: this.#bytes,
    };
  }

  /** Not kept after all: its frames give back their patches. */
  discard(): void {
    for (const frame of this.frames.splice(0)) this.#store.release(frame.patch);
  }
}

/**
 * The renders one room keeps, within its bound. Distances come from the renderer's last walk ahead: how many show
 * sentences from now each kept render is next needed at (none: not met on the walk, dropped first).
 */
export class KeptRenders {
  readonly #max: number;
  readonly #metrics: RoomMetrics;
  readonly #renders = new Map<string, Rendering>();
  readonly #patches = new Map<string, KeptPatch>();
  #distance = new Map<string, number>();
  #bytes = 0;

  constructor(maxBytes: number, metrics: RoomMetrics) {
    this.#max = maxBytes;
    this.#metrics = metrics;
  }

  get bytes(): number {
    return this.#bytes;
  }

  get maxBytes(): number {
    return this.#max;
  }

  get size(): number {
    return this.#renders.size;
  }

  has(key: RenderKey): boolean {
    return this.#renders.has(keyOf(key));
  }

  /** The kept render of `key`, now the most recently used (of those off the walk, the last to go). */
  get(key: RenderKey): Rendering | undefined {
    const k = keyOf(key);
    const render = this.#renders.get(k);
    if (render) {
      this.#renders.delete(k);
      this.#renders.set(k, render);
    }
    return render;
  }

  /** The renderer's walk ahead: keys in the order the show will need them, nearest first. */
  plan(keys: RenderKey[]): void {
    const distance = new Map<string, number>();
    keys.forEach((k, i) => {
      const key = keyOf(k);
      if (!distance.has(key)) distance.set(key, i);
    });
    this.#distance = distance;
  }

  /** Bytes a render of `key` could have without dropping anything the show needs before it. */
  room(key: RenderKey): number {
    const at = this.#distance.get(keyOf(key)) ?? Infinity;
    let free = this.#max - this.#bytes;
    for (const [k, r] of this.#renders) if ((this.#distance.get(k) ?? Infinity) > at) free += r.bytes;
    return free;
  }

  /** Average bytes per character of text of what is kept (an estimate of a render's size before it is made). */
  bytesPerChar(): number | undefined {
    let chars = 0;
    let bytes = 0;
    for (const r of this.#renders.values()) {
      chars += r.chars;
      bytes += r.bytes;
    }
    return chars > 0 ? bytes / chars : undefined;
  }

  /**
   * Keeps `render`, dropping what the show needs after it to make room. False (and nothing is dropped) when it does
   * not fit without dropping something needed sooner. A render off the walk (an answer) may take the place of others
   * off the walk, the least recently used first, never of one the show needs.
   */
  keep(render: Rendering): boolean {
    if (this.#renders.has(render.key)) return false;
    const at = this.#distance.get(render.key) ?? Infinity;
    const fresh = new Set(render.frames.map((f) => f.patch).filter((p) => !p.counted));
    let needs = render.bytes;
    for (const patch of fresh) needs += patch.bytes.byteLength;
    // Furthest first; off the walk (Infinity), least recently used first (the map's order; the sort is stable).
    const victims = [...this.#renders.values()]
      .map((r) => ({ r, d: this.#distance.get(r.key) ?? Infinity }))
      .filter(({ d }) => d > at || (d === Infinity && at === Infinity))
      .sort((a, b) => (a.d === b.d ? 0 : a.d < b.d ? 1 : -1));
    let free = this.#max - this.#bytes;
    const drop: Rendering[] = [];
    for (const { r } of victims) {
      if (free >= needs) break;
      drop.push(r);
      free += r.bytes;
    }
    if (free < needs) return false;
    for (const r of drop) this.#evict(r);
    this.#renders.set(render.key, render);
    for (const patch of fresh) patch.counted = true;
    this.#add(needs);
    return true;
  }

  /** Drops every render (the room goes off air, or stops rendering ahead). */
  clear(): void {
    for (const r of [...this.#renders.values()]) this.#evict(r, false);
  }

  /** Drops the renders the last walk ahead did not meet (after a change of script, voice or avatar: stale ones). */
  prune(): void {
    for (const r of [...this.#renders.values()]) if (!this.#distance.has(r.key)) this.#evict(r);
  }

  /** The kept patch with these bytes (deduplicated by content), one more frame showing it. */
  patch(rgba: Uint8Array, width: number, height: number): KeptPatch {
    const hash = createHash("sha1").update(rgba).digest("base64");
    const key = `${width}x${height}:${hash}`;
    let patch = this.#patches.get(key);
    if (!patch) {
      patch = { hash: key, width, height, bytes: new Uint8Array(rgba), deflated: false, refs: 0, counted: false };
      this.#patches.set(key, patch);
    }
    patch.refs++;
    return patch;
  }

  /** Deflates a patch in place (the thread pool does the work); one that cannot be is kept as it is. Never rejects. */
  async compress(patch: KeptPatch): Promise<void> {
    const packed = await deflate(patch.bytes, { level: 1 }).then(
      (bytes) => new Uint8Array(bytes),
      () => patch.bytes,
    );
    if (patch.deflated || !this.#patches.has(patch.hash) || packed.byteLength >= patch.bytes.byteLength) return;
    if (patch.counted) this.#add(packed.byteLength - patch.bytes.byteLength);
    patch.bytes = packed;
    patch.deflated = true;
  }

  /** A frame no longer shows the patch; the last one lets it go. */
  release(patch: KeptPatch): void {
    if (--patch.refs > 0) return;
    if (this.#patches.get(patch.hash) === patch) {
      this.#patches.delete(patch.hash);
      if (patch.counted) this.#add(-patch.bytes.byteLength);
    }
  }

  #evict(render: Rendering, counted = true): void {
    if (this.#renders.get(render.key) !== render) return;
    this.#renders.delete(render.key);
    this.#add(-render.bytes);
    for (const frame of render.frames) this.release(frame.patch);
    if (counted) this.#metrics.prerenderSentences.inc({ outcome: "evicted" });
  }

  #add(bytes: number): void {
    this.#bytes += bytes;
    this.#metrics.prerenderKeptBytes.inc(bytes);
  }
}

export interface RenderAheadDeps {
  roomId: string;
  voice: Voice;
  settings: RenderAheadSettings;
  metrics: RoomMetrics;
  log: Logger;
  /** Whether the room renders ahead now (its spec's show.render_ahead). */
  enabled: () => boolean;
  /** The show's sentences from where it is, in the order it will say them, as far ahead as is worth rendering. */
  upcoming: () => RenderKey[];
  /** True while the room answers a viewer: rendering waits, the workers' streams are the answer's first. */
  busy: () => boolean;
  tier: () => Tier | undefined;
  /** The room's: stopping the room stops rendering. */
  signal: AbortSignal;
}

/** Sentences rendered back to back in one batch before the walk ahead is taken again. */
const batchSentences = 8;
/** How long the renderer rests when there is nothing to render or no worker to spare. */
const restMs = 500;
/** After a render failed. */
const failedRestMs = 2_000;

/** A room's renderer ahead and what it keeps. */
export class RenderAhead {
  readonly kept: KeptRenders;
  readonly #deps: RenderAheadDeps;
  #loop?: Promise<void>;
  #wake?: () => void;
  #renders = 0;

  constructor(deps: RenderAheadDeps) {
    this.#deps = deps;
    this.kept = new KeptRenders(deps.settings.maxBytesPerRoom, deps.metrics);
  }

  start(): void {
    this.#loop ??= this.#run().catch((err: unknown) => {
      if (!this.#deps.signal.aborted) this.#deps.log.error({ err }, "rendering ahead stopped");
    });
  }

  /** Something changed (the show moved, the spec changed): the renderer looks again now. */
  poke(): void {
    this.#wake?.();
  }

  /**
   * The room's script, catalog, voice or avatar changed (or it stopped rendering ahead): what the show no longer
   * needs is dropped now, and the renderer looks again.
   */
  changed(): void {
    if (!this.#deps.enabled()) {
      this.kept.clear();
      return;
    }
    this.kept.plan(this.#deps.upcoming());
    this.kept.prune();
    this.poke();
  }

  /** Waits for the renderer to stop (the room's signal aborted) and lets go of what it kept. */
  async stop(): Promise<void> {
    this.#wake?.();
    await this.#loop;
    this.kept.clear();
  }

  /**
   * The kept render of a show sentence coming up, counted as played; undefined (counted as missed) when there is
   * none and the sentence is to be streamed live.
   */
  take(key: RenderKey): Rendering | undefined {
    const render = this.kept.get(key);
    this.#deps.metrics.prerenderSentences.inc({ outcome: render ? "played" : "missed" });
    return render;
  }

  /** The kept render of an answer sentence said before, counted; undefined (counted as live) when there is none. */
  takeAnswer(key: RenderKey): Rendering | undefined {
    const render = this.kept.get(key);
    this.#deps.metrics.answerSentences.inc({ from: render ? "kept" : "live" });
    return render;
  }

  /**
   * An output that also keeps what it is given: a show sentence streamed live is kept as if rendered ahead, an answer
   * sentence while there is room. Call `keep` once it was spoken whole.
   */
  tee(
    key: RenderKey,
    out: VoiceOutput,
    sentence: "show" | "answer" = "show",
  ): { output: VoiceOutput; keep: (spoken: Spoken) => Promise<void>; discard: () => void } {
    const collector = new RenderCollector(this.kept, key.neural);
    const kept = collector.output;
    return {
      output: {
        speech: (chunk) => {
          out.speech(chunk);
          kept.speech(chunk);
        },
        mouth: (frame) => {
          out.mouth(frame);
          kept.mouth(frame);
        },
        words: (words) => {
          out.words?.(words);
          kept.words?.(words);
        },
      },
      // Resolves once kept (or let go); neural patches are deflated first.
      keep: async (spoken) => {
        if (!complete(spoken)) return collector.discard();
        const render = await collector.done(key, spoken);
        if (!this.kept.keep(render)) collector.discard();
        else if (sentence === "show") this.#deps.metrics.prerenderSentences.inc({ outcome: "kept_live" });
      },
      discard: () => collector.discard(),
    };
  }

  /** Plays a kept render to `out` as the utterance `utteranceId`: the same calls the voice makes, at once. */
  async play(render: Rendering, utteranceId: string, out: VoiceOutput, signal: AbortSignal): Promise<Spoken> {
    // Neural patches are inflated first (off the main thread), so the frames go out together with the speech.
    const patches = await Promise.all(
      render.frames.map((f) => (f.patch.deflated ? inflate(f.patch.bytes) : Promise.resolve(f.patch.bytes))),
    );
    signal.throwIfAborted();
    const words = render.words.map((w) => ({ ...w }));
    out.words?.(words);
    render.pcm.forEach((pcm, i) => {
      out.speech({ utteranceId, pcm, sampleRateHz: render.rateHz, final: i === render.pcm.length - 1 });
    });
    if (render.pcm.length === 0)
      out.speech({ utteranceId, pcm: new Int16Array(0), sampleRateHz: render.rateHz, final: true });
    render.frames.forEach((f, i) => {
      const { width, height } = f.patch;
      out.mouth({ utteranceId, index: f.index, patch: { x: f.x, y: f.y, width, height, rgba: patches[i]! } });
    });
    return {
      durationMs: render.durationMs,
      words,
      firstChunkMs: 0,
      ttsWorkers: [],
      lipsyncWorkers: [],
      ...(render.lipsyncFallback !== undefined ? { lipsyncFallback: render.lipsyncFallback } : {}),
      prerendered: true,
    };
  }

  async #run(): Promise<void> {
    const { signal } = this.#deps;
    while (!signal.aborted) {
      const next = this.#deps.enabled() && !this.#deps.busy() ? this.#work() : [];
      if (next.length === 0) {
        await this.#rest(restMs);
        continue;
      }
      const failed = await this.#batch(next);
      if (failed) await this.#rest(failedRestMs);
    }
  }

  /**
   * What to render next: the nearest sentences ahead not kept, while the workers have streams to spare and what is
   * kept leaves room for them (estimated from what is kept already).
   */
  #work(): RenderKey[] {
    const upcoming = this.#deps.upcoming();
    this.kept.plan(upcoming);
    const perChar = this.kept.bytesPerChar();
    const work: RenderKey[] = [];
    const seen = new Set<string>();
    for (const key of upcoming) {
      if (work.length >= batchSentences) break;
      const k = keyOf(key);
      if (seen.has(k) || this.kept.has(key)) continue;
      seen.add(k);
      // The bound is full of what the show needs sooner: nothing further ahead is worth a worker's time.
      if (perChar !== undefined && perChar * key.text.length > this.kept.room(key)) break;
      if (!this.#workersHaveRoom(key)) break;
      work.push(key);
    }
    return work;
  }

  #workersHaveRoom(key: RenderKey): boolean {
    const workers = this.#deps.voice.directory;
    const spare = aheadSpareStreams;
    return (
      workers.canPick("tts", { capability: key.voiceId, spare }) &&
      workers.canPick("lipsync", { capability: key.avatarId, renderer: key.neural ? "neural" : undefined, spare })
    );
  }

  /** Renders `keys` one after another in one span; true when one failed. */
  async #batch(keys: RenderKey[]): Promise<boolean> {
    const { signal, metrics, log, roomId } = this.#deps;
    const span = spans.startSpan("room.prerender.batch", {
      attributes: { "livehost.room_id": roomId, "livehost.prerender.planned": keys.length },
    });
    const started = performance.now();
    let rendered = 0;
    let bytes = 0;
    try {
      for (const key of keys) {
        if (signal.aborted || !this.#deps.enabled() || this.#deps.busy() || !this.#workersHaveRoom(key)) break;
        if (this.kept.has(key)) continue;
        const render = await this.#render(key);
        if (!render) continue;
        rendered++;
        bytes += render.bytes;
      }
      return false;
    } catch (err) {
      if (signal.aborted) return false;
      metrics.prerenderSentences.inc({ outcome: "failed" });
      span.setStatus({ code: SpanStatusCode.ERROR, message: (err as Error).message });
      // No worker to spare after all (another room took the last stream): not a failure worth a warning.
      if (!(err instanceof UnavailableError)) log.warn({ err, roomId }, "rendering ahead failed; tried again later");
      return true;
    } finally {
      metrics.prerenderWorkerSeconds.inc((performance.now() - started) / 1_000);
      span.setAttributes({ "livehost.prerender.sentences": rendered, "livehost.prerender.bytes": bytes });
      span.end();
    }
  }

  /** One sentence rendered and kept; undefined when it could not be kept (incomplete, or no room after all). */
  async #render(key: RenderKey): Promise<Rendering | undefined> {
    const { voice, roomId, signal, metrics } = this.#deps;
    const collector = new RenderCollector(this.kept, key.neural);
    try {
      const spoken = await voice.speak(
        {
          utteranceId: `ahead-${roomId.slice(0, 40)}-${++this.#renders}`,
          roomId,
          text: key.text,
          voiceId: key.voiceId,
          speed: key.speed,
          avatarId: key.avatarId,
          neural: key.neural,
          fps: key.fps,
          tier: this.#deps.tier(),
          interactive: false,
          ahead: true,
        },
        collector.output,
        signal,
      );
      if (!complete(spoken)) {
        metrics.prerenderSentences.inc({ outcome: "failed" });
        collector.discard();
        return undefined;
      }
      // Its patches were counted as they came (new ones only): keep() finds room for the rest.
      const render = await collector.done(key, spoken);
      if (!this.kept.keep(render)) {
        collector.discard();
        return undefined;
      }
      metrics.prerenderSentences.inc({ outcome: "rendered" });
      return render;
    } catch (err) {
      collector.discard();
      throw err;
    }
  }

  #rest(ms: number): Promise<void> {
    const { signal } = this.#deps;
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        signal.removeEventListener("abort", done);
        if (this.#wake === done) this.#wake = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      signal.addEventListener("abort", done, { once: true });
      this.#wake = done;
    });
  }
}

/** Whether what the voice gave is the whole sentence, mouth included (else it is not kept). */
function complete(spoken: Spoken): boolean {
  return spoken.durationMs > 0 && spoken.mouthless === undefined && spoken.lipsyncFallback === undefined;
}
