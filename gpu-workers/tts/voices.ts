// The voices a TTS worker can speak. The embedded ones need nothing downloaded: espeak-ng with a Mandarin
// (cmn-latn-pinyin: the plain cmn voice reads Chinese wrongly on Debian's 1.51) and an English voice, each also
// reading the other language's words in a mixed sentence.
import type { Language } from "./normalize.js";

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
