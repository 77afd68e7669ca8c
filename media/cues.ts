// Glue from the contracts to the media clock: where on an utterance a piece of the original text is spoken (to cue a
// product card on the word that names the product).
import type { WordTiming } from "../proto/index.js";
import type { Cue } from "./clock.js";

/**
 * The cue for the word spoken for `sourceOffset` (a UTF-16 offset into the text given to TTS, e.g. where "¥79" or a
 * product's name starts): the first word whose source span covers it, else the first word after it.
 */
export function cueAtSource(utteranceId: string, words: readonly WordTiming[], sourceOffset: number): Cue | undefined {
  const word =
    words.find((w) => w.sourceStart <= sourceOffset && sourceOffset < w.sourceEnd) ??
    words.find((w) => w.sourceStart >= sourceOffset);
  return word ? { utteranceId, atMs: word.startMs } : undefined;
}
