// The voices a TTS worker can speak. The embedded ones need nothing downloaded: espeak-ng with a Mandarin
// (cmn-latn-pinyin: the plain cmn voice reads Chinese wrongly on Debian's 1.51) and an English voice, each also
// reading the other language's words in a mixed sentence.
import type { Language } from "./normalize.js";
import { synthesizeEmbedded, type SynthesisChunk, type SynthesisOptions } from "./embedded.js";
import type { EspeakEngine } from "./espeak.js";

/** What SpeechService needs of a voice, whatever its model family. */
export interface SpeechVoice {
  id: string;
  /** BCP 47. */
  language: string;
  displayName: string;
  family: string;
  /** The model's own rate in Hz. */
  sampleRate: number;
  synthesize(text: string, options: SynthesisOptions): AsyncGenerator<SynthesisChunk>;
}

export interface EmbeddedVoice {
  id: string;
  /** BCP 47. */
  language: string;
  lang: Language;
  displayName: string;
  family: "espeak-ng";
  /** espeak-ng voice for each language run. */
  espeak: Record<Language, string>;
  /** Speaking rate at speed 1.0, words per minute. */
  rateWpm: number;
}

export const embeddedVoices: EmbeddedVoice[] = [
  {
    id: "zh-female-warm",
    language: "zh-CN",
    lang: "zh",
    displayName: "Mandarin, female, warm (embedded)",
    family: "espeak-ng",
    espeak: { zh: "cmn-latn-pinyin+f3", en: "en-us+f3" },
    rateWpm: 190,
  },
  {
    id: "zh-male-calm",
    language: "zh-CN",
    lang: "zh",
    displayName: "Mandarin, male, calm (embedded)",
    family: "espeak-ng",
    espeak: { zh: "cmn-latn-pinyin+m3", en: "en-us+m3" },
    rateWpm: 170,
  },
  {
    id: "en-male-bright",
    language: "en-US",
    lang: "en",
    displayName: "English, male, bright (embedded)",
    family: "espeak-ng",
    espeak: { en: "en-us+m3", zh: "cmn-latn-pinyin+m3" },
    rateWpm: 180,
  },
  {
    id: "en-female-clear",
    language: "en-US",
    lang: "en",
    displayName: "English, female, clear (embedded)",
    family: "espeak-ng",
    espeak: { en: "en-us+f3", zh: "cmn-latn-pinyin+f3" },
    rateWpm: 175,
  },
];

/** Output rates a client may ask for; audio is resampled from the voice's native rate. */
export const supportedSampleRates = [16_000, 22_050, 24_000, 44_100, 48_000];

/** The embedded voices as SpeechVoices on one espeak-ng engine. */
export function embeddedSpeechVoices(engine: EspeakEngine): SpeechVoice[] {
  return embeddedVoices.map((voice) => ({
    id: voice.id,
    language: voice.language,
    displayName: voice.displayName,
    family: voice.family,
    sampleRate: engine.sampleRate,
    synthesize: (text, options) => synthesizeEmbedded(engine, voice, text, options),
  }));
}
