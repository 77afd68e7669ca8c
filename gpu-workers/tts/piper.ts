// Piper/VITS voices: `<name>.onnx` with its `<name>.onnx.json` (phoneme id map, sample rate, inference scales) from
// a model directory, run with onnxruntime-node (CUDA when the runtime has it and configuration allows, CPU
// otherwise). Phonemes come from espeak-ng's phonemizer, as Piper voices are trained on. Standard Piper exports give
// audio but no durations, so word and phoneme timings are espeak-ng's own for the same sentence, scaled to the
// length of the Piper audio: close enough for subtitles, cues and lip-sync labels.
import { readdir, readFile } from "node:fs/promises";
import { basename, join } from "node:path";
import * as ort from "onnxruntime-node";
import { UnavailableError } from "../../errors/index.js";
import { Resampler } from "../../media/index.js";
import { createSession } from "../onnx/runtime.js";
import { synthesizeEmbedded, type SynthesisChunk, type SynthesisOptions } from "./embedded.js";
import type { EspeakEngine } from "./espeak.js";
import { normalize, type Language } from "./normalize.js";
import type { PiperConfig } from "./piper-synthetic.js";
import type { EmbeddedVoice } from "./voices.js";

export interface PiperBatching {
  /**
   * Sentences run together when they wait for the model at the same time. Default 1 (off): with the project's
   * voice, batches of up to 8 were slower than one sentence a run on CPU and on CUDA (`npm run bench -- tts`, `cuda`).
   */
  maxBatch?: number;
  /** Called with each batch's size (metrics). */
  onBatch?: (size: number) => void;
}

export class PiperVoice {
  readonly id: string;
  readonly language: string;
  readonly lang: Language;
  readonly displayName: string;
  readonly family = "piper";
  readonly sampleRate: number;
  readonly #session: ort.InferenceSession;
  readonly #config: PiperConfig;
  readonly #engine: EspeakEngine;
  /** The espeak-ng voice that phonemizes, also used for the timing reference. */
  readonly #reference: EmbeddedVoice;
  readonly #maxBatch: number;
  readonly #onBatch: ((size: number) => void) | undefined;

  private constructor(
    id: string,
    session: ort.InferenceSession,
    config: PiperConfig,
    engine: EspeakEngine,
    batching: PiperBatching,
  ) {
    this.id = id;
    this.#maxBatch = batching.maxBatch ?? 1;
    this.#onBatch = batching.onBatch;
    this.#session = session;
    this.#config = config;
    this.#engine = engine;
    const code = config.language?.code ?? "en_US";
    this.language = code.replace("_", "-");
    this.lang = code.startsWith("zh") || code.startsWith("cmn") ? "zh" : "en";
    this.displayName = `${this.language} Piper voice ${id}${config.livehost?.synthetic ? " (synthetic weights)" : ""}`;
    this.sampleRate = config.audio.sample_rate;
    const espeakVoice = this.lang === "zh" ? "cmn-latn-pinyin" : config.espeak.voice;
    this.#reference = {
      id: `${id}-reference`,
      language: this.language,
      lang: this.lang,
      displayName: "timing reference",
      family: "espeak-ng",
      espeak: {
        zh: this.lang === "zh" ? espeakVoice : "cmn-latn-pinyin",
        en: this.lang === "en" ? espeakVoice : "en-us",
      },
      rateWpm: 175,
    };
  }

  /** Loads and checks one voice; throws an error that says what is wrong with which file. */
  static async load(
    onnxPath: string,
    engine: EspeakEngine,
    providers: string[],
    batching: PiperBatching = {},
  ): Promise<PiperVoice> {
    let config: PiperConfig;
    try {
      config = JSON.parse(await readFile(`${onnxPath}.json`, "utf8")) as PiperConfig;
    } catch (err) {
      throw new UnavailableError(`${basename(onnxPath)}.json is missing or not JSON: ${(err as Error).message}`, {
        cause: err,
      });
    }
    for (const [field, ok] of [
      ["audio.sample_rate", Number.isInteger(config.audio?.sample_rate) && config.audio.sample_rate > 0],
      ["espeak.voice", typeof config.espeak?.voice === "string"],
      ["phoneme_id_map", typeof config.phoneme_id_map === "object" && config.phoneme_id_map !== null],
      ["inference", typeof config.inference?.length_scale === "number"],
    ] as const) {
      if (!ok) throw new UnavailableError(`${basename(onnxPath)}.json: ${field} is missing or invalid`);
    }
    let session: ort.InferenceSession;
    try {
      session = await createSession(onnxPath, providers);
    } catch (err) {
      throw new UnavailableError(`${basename(onnxPath)} is not a loadable ONNX model: ${(err as Error).message}`, {
        cause: err,
      });
    }
    for (const input of ["input", "input_lengths", "scales"]) {
      if (!session.inputNames.includes(input)) {
        throw new UnavailableError(`${basename(onnxPath)} has no "${input}" input: not a Piper voice`);
      }
    }
    const id = config.livehost?.id ?? basename(onnxPath, ".onnx");
    return new PiperVoice(id, session, config, engine, batching);
  }

  /** Piper's id sequence: ^ then each phoneme followed by the pad _, then $. Unknown symbols are skipped. */
  phonemeIds(phonemes: string): number[] {
    const map = this.#config.phoneme_id_map;
    const ids = [...(map["^"] ?? [])];
    for (const symbol of phonemes) {
      const mapped = map[symbol];
      if (!mapped) continue;
      ids.push(...mapped, ...(map._ ?? []));
    }
    ids.push(...(map.$ ?? []));
    return ids;
  }

  /** One sentence at a time: phonemize, infer, then stream the sentence in ~250 ms chunks with scaled timings. */
  async *synthesize(text: string, options: SynthesisOptions): AsyncGenerator<SynthesisChunk> {
    const resampler = new Resampler(this.sampleRate, options.sampleRate);
    const sentences = splitIntoSentences(text);
    let clockMs = 0;
    for (const [sentenceIndex, sentence] of sentences.entries()) {
      options.signal?.throwIfAborted();
      const spoken = normalize(sentence.text, this.lang)
        .map((s) => s.spoken)
        .join("");
      const phonemes = (await this.#engine.phonemize(spoken, this.#reference.espeak[this.lang])).join(" ");
      const audio = await this.#infer(this.phonemeIds(phonemes), options.speed);
      options.signal?.throwIfAborted();

      // Timings: espeak-ng's for the same sentence, stretched to the Piper audio.
      const reference = { words: [] as SynthesisChunk["words"], phonemes: [] as SynthesisChunk["phonemes"], ms: 0 };
      for await (const chunk of synthesizeEmbedded(this.#engine, this.#reference, sentence.text, {
        speed: 1,
        sampleRate: 22_050,
        signal: options.signal,
        priority: options.priority,
      })) {
        reference.words.push(...chunk.words);
        reference.phonemes.push(...chunk.phonemes);
        reference.ms += chunk.durationMs;
      }
      const sentenceMs = (audio.length / this.sampleRate) * 1000;
      const scale = reference.ms > 0 ? sentenceMs / reference.ms : 1;
      const at = (ms: number) => Math.round(clockMs + ms * scale);
      const words = reference.words.map((w) => ({
        ...w,
        startMs: at(w.startMs),
        endMs: at(w.endMs),
        sourceStart: w.sourceStart + sentence.offset,
        sourceEnd: w.sourceEnd + sentence.offset,
      }));
      const phones = reference.phonemes.map((p) => ({ ...p, startMs: at(p.startMs), endMs: at(p.endMs) }));

      const step = Math.round(this.sampleRate / 4);
      let nextWord = 0;
      let nextPhoneme = 0;
      for (let start = 0; ; start += step) {
        const part = audio.subarray(start, Math.min(audio.length, start + step));
        const offsetMs = clockMs + (start / this.sampleRate) * 1000;
        const endMs = offsetMs + (part.length / this.sampleRate) * 1000;
        const last = start + step >= audio.length;
        // Each timing rides on the chunk in which it ends (the last chunk takes what is left).
        const wordsEnd = last ? words.length : words.findIndex((w, i) => i >= nextWord && w.endMs > endMs);
        const phonesEnd = last ? phones.length : phones.findIndex((p, i) => i >= nextPhoneme && p.endMs > endMs);
        const takeWords = words.slice(nextWord, wordsEnd < 0 ? words.length : wordsEnd);
        const takePhones = phones.slice(nextPhoneme, phonesEnd < 0 ? phones.length : phonesEnd);
        nextWord += takeWords.length;
        nextPhoneme += takePhones.length;
        yield {
          pcm: resampler.push(part),
          sampleRate: options.sampleRate,
          offsetMs: Math.round(offsetMs),
          durationMs: Math.round(endMs - offsetMs),
          words: takeWords,
          phonemes: takePhones,
          sentenceIndex,
          final: last && sentenceIndex === sentences.length - 1,
        };
        if (last) break;
      }
      clockMs += sentenceMs;
    }
  }

  /** Sentences waiting for the model while a batch runs (continuous batching: no added latency when idle). */
  readonly #waiting: {
    ids: number[];
    speed: number;
    resolve: (pcm: Int16Array) => void;
    reject: (err: Error) => void;
  }[] = [];
  #running = false;

  /** Whether the model reports per-item output lengths, so several sentences can share one run. */
  get batchable(): boolean {
    return this.#session.outputNames.includes("output_lengths");
  }

  #infer(ids: number[], speed: number): Promise<Int16Array> {
    if (this.#maxBatch <= 1 || !this.batchable) return this.#run([ids], speed).then((out) => out[0]!);
    return new Promise((resolve, reject) => {
      this.#waiting.push({ ids, speed, resolve, reject });
      if (!this.#running) void this.#drain();
    });
  }

  async #drain(): Promise<void> {
    this.#running = true;
    while (this.#waiting.length > 0) {
      // One batch shares the scales: take the first request's speed and the others with the same speed.
      const speed = this.#waiting[0]!.speed;
      const batch = this.#waiting.filter((w) => w.speed === speed).slice(0, this.#maxBatch);
      for (const item of batch) this.#waiting.splice(this.#waiting.indexOf(item), 1);
      this.#onBatch?.(batch.length);
      try {
        const outputs = await this.#run(
          batch.map((b) => b.ids),
          speed,
        );
        batch.forEach((b, i) => b.resolve(outputs[i]!));
      } catch (err) {
        for (const b of batch) b.reject(err instanceof Error ? err : new Error(String(err)));
      }
    }
    this.#running = false;
  }

  /** One session run over padded sequences; returns each item's audio, cut to its own length. */
  async #run(sequences: number[][], speed: number): Promise<Int16Array[]> {
    const { noise_scale, length_scale, noise_w } = this.#config.inference;
    const width = Math.max(...sequences.map((s) => s.length));
    const padded = new BigInt64Array(sequences.length * width);
    sequences.forEach((seq, row) => seq.forEach((id, col) => (padded[row * width + col] = BigInt(id))));
    const feeds: Record<string, ort.Tensor> = {
      input: new ort.Tensor("int64", padded, [sequences.length, width]),
      input_lengths: new ort.Tensor("int64", BigInt64Array.from(sequences.map((s) => BigInt(s.length))), [
        sequences.length,
      ]),
      scales: new ort.Tensor("float32", Float32Array.from([noise_scale, length_scale / speed, noise_w]), [3]),
    };
    if (this.#session.inputNames.includes("sid")) {
      feeds.sid = new ort.Tensor("int64", new BigInt64Array(sequences.length), [sequences.length]);
    }
    const result = await this.#session.run(feeds);
    const output = result.output ?? result[this.#session.outputNames[0]!]!;
    const samples = output.data as Float32Array;
    const stride = samples.length / sequences.length;
    const lengths = result.output_lengths?.data as BigInt64Array | undefined;
    return sequences.map((_, row) => {
      const length = lengths ? Number(lengths[row]) : stride;
      const audio = samples.subarray(row * stride, row * stride + length);
      return Int16Array.from(audio, (x) => Math.max(-32768, Math.min(32767, Math.round(x * 32767))));
    });
  }
}

/** Every Piper voice in a directory; a voice that cannot be loaded is reported, not skipped silently. */
export async function loadPiperVoices(
  dir: string,
  engine: EspeakEngine,
  providers: string[],
  batching: PiperBatching = {},
): Promise<{ voices: PiperVoice[]; errors: string[] }> {
  let files: string[];
  try {
    files = await readdir(dir);
  } catch (err) {
    return { voices: [], errors: [`model directory ${dir} cannot be read: ${(err as Error).message}`] };
  }
  const voices: PiperVoice[] = [];
  const errors: string[] = [];
  for (const file of files.filter((f) => f.endsWith(".onnx")).sort()) {
    try {
      voices.push(await PiperVoice.load(join(dir, file), engine, providers, batching));
    } catch (err) {
      errors.push((err as Error).message);
    }
  }
  return { voices, errors };
}

/** Sentences with their offset in the text, so word timings can point back at the original. */
function splitIntoSentences(text: string): { text: string; offset: number }[] {
  const out: { text: string; offset: number }[] = [];
  // A "." inside a number ($49.99) does not end a sentence: only one followed by a space or the end does.
  const pattern = /(?:[^.!?。！？]|[.!?](?![\s]|$))+(?:[.!?。！？]+|$)\s*/gu;
  for (const match of text.matchAll(pattern)) {
    if (match[0].trim() !== "") out.push({ text: match[0], offset: match.index });
  }
  return out.length > 0 ? out : [{ text, offset: 0 }];
}
