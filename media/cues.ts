// Glue from the contracts to the media clock: where on an utterance a piece of the original text is spoken (to cue a
// product card on the word that names the product), and a lip-sync AnimationFrame as a mouth frame of its utterance.
import { PixelFormat, type AnimationFrame, type WordTiming } from "../proto/index.js";
import { InvalidArgumentError } from "../transport/index.js";
import type { Cue, MouthFrameInput } from "./clock.js";

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

/**
 * A lip-sync frame as a mouth frame of its utterance. `utteranceFirstFrame` is the stream frame_index of the
 * utterance's first frame (the lip-sync stream's clock counts across utterances; the media clock counts per utterance).
 */
export function mouthFrameFromAnimation(frame: AnimationFrame, utteranceFirstFrame: number): MouthFrameInput {
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
