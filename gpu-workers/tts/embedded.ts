// Text to audio chunks with word and phoneme timings, for the embedded voices: normalize → split into sentences →
// split into language runs → (Mandarin: hanzi to tone-numbered pinyin) → espeak-ng, whose own events give the
// timings. The first chunk leaves as soon as the library has produced audio; later ones are grouped to 0.5–1.4 s
// (synthesis runs far ahead of real time, so larger later chunks cost no latency and fewer messages).
import { pinyin } from "pinyin-pro";
import type { PhonemeTiming, WordTiming } from "../../proto/index.js";
import { Resampler } from "../../media/index.js";
import { EspeakEventType, type EspeakEngine, type EspeakPriority } from "./espeak.js";
import { normalize, type Segment } from "./normalize.js";
import type { EmbeddedVoice } from "./voices.js";

export interface SynthesisChunk {
  pcm: Int16Array;
  sampleRate: number;
  /** Position of the chunk's first sample on the utterance clock, ms. */
  offsetMs: number;
  durationMs: number;
  /** Words and phonemes whose timings became known with this chunk (offsets on the utterance clock). */
  words: WordTiming[];
  phonemes: PhonemeTiming[];
  sentenceIndex: number;
  final: boolean;
}

export interface SynthesisOptions {
  /** Rate multiplier, 0.5 to 2. */
  speed: number;
  /** Output rate in Hz. */
  sampleRate: number;
  signal?: AbortSignal;
  /** An answer a viewer waits for goes before the show's lines waiting for the same engine (default normal). */
  priority?: EspeakPriority;
}

/** One run of text in one language as espeak-ng gets it, with where each input character came from. */
interface Run {
  lang: "zh" | "en";
  input: string;
  /** Per input code point: the segment it came from, and the word text to report (a hanzi for pinyin input). */
  origin: { segment: Segment; word?: string }[];
}

const groupMs = 500;
const maxGroupMs = 1_400;
/** 64 KiB of 16-bit PCM: a chunk never holds more, so it travels as one SynthesizeResponse. */
const maxChunkSamples = 32_768;
const sentenceEnd = /[.!?]\s*$/;

export async function* synthesizeEmbedded(
  engine: EspeakEngine,
  voice: EmbeddedVoice,
  text: string,
  options: SynthesisOptions,
): AsyncGenerator<SynthesisChunk> {
  const nativeRate = engine.sampleRate;
  const resampler = new Resampler(nativeRate, options.sampleRate);
  const sentences = splitSentences(normalize(text, voice.lang));
  let nativeSamples = 0; // samples of the utterance so far, at the native rate: the utterance clock
  let pending: Int16Array[] = [];
  let pendingSamples = 0;
  let pendingStartMs = 0;
  let words: WordTiming[] = [];
  let phonemes: PhonemeTiming[] = [];
  let emitted = 0;

  const flush = (sentenceIndex: number, final: boolean): SynthesisChunk => {
    const pcm = concat(pending);
    const endMs = (nativeSamples / nativeRate) * 1000;
    const chunk: SynthesisChunk = {
      pcm,
      sampleRate: options.sampleRate,
      offsetMs: Math.round(pendingStartMs),
      durationMs: Math.round(endMs - pendingStartMs),
      words,
      phonemes,
      sentenceIndex,
      final,
    };
    pending = [];
    pendingSamples = 0;
    pendingStartMs = endMs;
    words = [];
    phonemes = [];
    emitted++;
    return chunk;
  };

  // Every run of every sentence, in order; the next run is queued on the engine while this one's audio is still
  // being consumed (sent over gRPC), so the synthesis thread never waits for the network.
  const runs = sentences.flatMap((sentence, sentenceIndex) => toRuns(sentence).map((run) => ({ run, sentenceIndex })));
  const rateWpm = Math.round(voice.rateWpm * options.speed);
  const start = (i: number) => {
    const run = runs[i]?.run;
    return run && engine.synthesize(run.input, voice.espeak[run.lang], rateWpm, options.signal, options.priority);
  };
  let next = start(0);
  try {
    for (const [i, { run, sentenceIndex }] of runs.entries()) {
      const job = next!;
      next = start(i + 1);
      const runStartMs = (nativeSamples / nativeRate) * 1000;
      let openWord: WordTiming | undefined;
      let openPhoneme: PhonemeTiming | undefined;
      const close = (atMs: number) => {
        if (openWord) words.push({ ...openWord, endMs: Math.max(openWord.startMs, Math.round(atMs)) });
        if (openPhoneme) phonemes.push({ ...openPhoneme, endMs: Math.max(openPhoneme.startMs, Math.round(atMs)) });
        openWord = undefined;
        openPhoneme = undefined;
      };
      for await (const chunk of job) {
        // What is pending goes first if this audio would make the chunk too large (its events are still to come).
        const incoming = Math.ceil((chunk.samples.length * options.sampleRate) / nativeRate);
        if (pendingSamples > 0 && pendingSamples + incoming > maxChunkSamples) yield flush(sentenceIndex, false);
        for (const event of chunk.events) {
          const atMs = runStartMs + event.audioPositionMs;
          if (event.type === EspeakEventType.word && event.length > 0) {
            close(atMs);
            const origin = run.origin[event.textPosition - 1];
            if (!origin) continue;
            const spoken = origin.word ?? wordAt([...run.input], event.textPosition - 1, event.length);
            openWord = {
              text: spoken,
              startMs: Math.round(atMs),
              endMs: 0,
              sourceStart: origin.segment.sourceStart,
              sourceEnd: origin.segment.sourceEnd,
            };
          } else if (event.type === EspeakEventType.phoneme) {
            if (openPhoneme) phonemes.push({ ...openPhoneme, endMs: Math.round(atMs) });
            openPhoneme = event.phoneme ? { phoneme: event.phoneme, startMs: Math.round(atMs), endMs: 0 } : undefined;
          } else if (event.type === EspeakEventType.end || event.type === EspeakEventType.msgTerminated) {
            close(atMs);
          }
        }
        if (chunk.samples.length > 0) {
          const samples = resampler.push(chunk.samples);
          pending.push(samples);
          pendingSamples += samples.length;
          nativeSamples += chunk.samples.length;
        }
        const bufferedMs = (nativeSamples / nativeRate) * 1000 - pendingStartMs;
        // The first chunk goes at once (latency); the rest in groups of ~0.5, 1, then 1.4 s: synthesis runs far
        // ahead of real time, so larger later chunks cost the listener nothing and make fewer, larger messages.
        const groupLimitMs = Math.min(groupMs * 2 ** Math.max(0, emitted - 1), maxGroupMs);
        if ((emitted === 0 && pending.length > 0) || bufferedMs >= groupLimitMs) yield flush(sentenceIndex, false);
      }
      close((nativeSamples / nativeRate) * 1000);
      const last = i === runs.length - 1;
      if (last || pending.length > 0) yield flush(sentenceIndex, last);
    }
  } finally {
    next?.cancel();
  }
  if (emitted === 0) yield flush(0, true);
}

/** Sentences end at ., !, ? (the normalizer turned 。！？ into those). */
function splitSentences(segments: Segment[]): Segment[][] {
  const sentences: Segment[][] = [];
  let current: Segment[] = [];
  for (const segment of segments) {
    current.push(segment);
    if (sentenceEnd.test(segment.spoken)) {
      sentences.push(current);
      current = [];
    }
  }
  if (current.some((s) => s.spoken.trim() !== "")) sentences.push(current);
  return sentences;
}

/** Consecutive segments of one language become one espeak-ng input; Mandarin becomes tone-numbered pinyin. */
function toRuns(sentence: Segment[]): Run[] {
  const runs: Run[] = [];
  for (const segment of sentence) {
    const lang = segment.spoken.trim() === "" || /^[\s,.!?;:-]+$/.test(segment.spoken) ? undefined : segment.lang;
    let run = runs.at(-1);
    if (!run || (lang !== undefined && run.lang !== lang)) {
      run = { lang: lang ?? run?.lang ?? segment.lang, input: "", origin: [] };
      runs.push(run);
    }
    if (run.lang === "zh") appendPinyin(run, segment);
    else append(run, segment.spoken, { segment });
  }
  return runs.filter((r) => r.input.trim() !== "");
}

/**
 * The word espeak-ng reports at `start` (code points) of `length`, through a hyphenated compound: it reports
 * "forty-nine" as one word event of the length of "forty" (and none for "nine"), though it says both.
 */
function wordAt(input: string[], start: number, length: number): string {
  let end = start + length;
  while (input[end] === "-" && /\p{L}/u.test(input[end + 1] ?? "")) {
    end++;
    while (/\p{L}/u.test(input[end] ?? "")) end++;
  }
  return input.slice(start, end).join("");
}

function append(run: Run, text: string, origin: Run["origin"][number]): void {
  for (const ch of text) {
    run.input += ch;
    run.origin.push(origin);
  }
}

function appendPinyin(run: Run, segment: Segment): void {
  for (const part of segment.spoken.match(/\p{Script=Han}+|[^\p{Script=Han}]+/gu) ?? []) {
    if (!/\p{Script=Han}/u.test(part)) {
      append(run, part, { segment });
      continue;
    }
    // Whole runs of hanzi at once, so polyphones are read in context (银行 háng, 行走 xíng).
    const syllables = pinyin(part, { toneType: "num", type: "array" });
    const chars = [...part];
    syllables.forEach((syllable, i) => {
      // espeak's pinyin voice wants ü as v and the neutral tone as 5.
      const spoken = syllable
        .replace(/ü/g, "v")
        .replace(/0$/, "5")
        .replace(/^([a-z]+)$/, "$15");
      append(run, `${spoken} `, { segment, word: chars[i] });
    });
  }
}

function concat(parts: Int16Array[]): Int16Array {
  const out = new Int16Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/** The whole utterance as one PCM buffer with its phoneme timings (training data, tests, benchmarks). */
export async function synthesizeToPcm(
  engine: EspeakEngine,
  voice: EmbeddedVoice,
  text: string,
  options: SynthesisOptions,
): Promise<{ pcm: Int16Array; phonemes: PhonemeTiming[] }> {
  const parts: Int16Array[] = [];
  const phonemes: PhonemeTiming[] = [];
  for await (const chunk of synthesizeEmbedded(engine, voice, text, options)) {
    parts.push(chunk.pcm);
    phonemes.push(...chunk.phonemes);
  }
  return { pcm: concat(parts), phonemes };
}
