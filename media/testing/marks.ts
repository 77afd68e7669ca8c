// Content marks for A/V sync tests: an utterance whose audio is silent but for a 1 kHz beep, and the bright mouth
// frames that flash on exactly the frames of the beep. The output is then checked with measureAvMarks.
import type { MouthFrameInput, SpeechChunk } from "../index.js";

export function beepUtterance(options: {
  utteranceId: string;
  sampleRateHz: number;
  seconds: number;
  beepAtSeconds: number;
  beepSeconds?: number;
}): SpeechChunk {
  const { sampleRateHz: rate } = options;
  const pcm = new Int16Array(Math.round(options.seconds * rate));
  const from = Math.round(options.beepAtSeconds * rate);
  const to = Math.min(pcm.length, from + Math.round((options.beepSeconds ?? 0.1) * rate));
  for (let i = from; i < to; i++) pcm[i] = Math.round(20_000 * Math.sin((2 * Math.PI * 1000 * (i - from)) / rate));
  return { utteranceId: options.utteranceId, pcm, sampleRateHz: rate, final: true };
}

/** White mouth frames covering a large part of the frame, for utterance frames [from, to). */
export function flashFrames(utteranceId: string, from: number, to: number): MouthFrameInput[] {
  const width = 400;
  const height = 400;
  const rgba = new Uint8Array(width * height * 4).fill(255);
  const frames: MouthFrameInput[] = [];
  for (let index = from; index < to; index++)
    frames.push({ utteranceId, index, patch: { x: 160, y: 300, width, height, rgba } });
  return frames;
}
