// A talking host for quality tests: speech-like sound (voiced syllables of 120 to 280 ms, pauses between words and
// sentences that trail off as speech does) and, for every video frame, the pack's mouth image that fits how loud the
// frame is (closed in pauses, open on loud vowels), as a lip-sync worker would give them. Seeded: the same every run.
import type { AvatarPack, VisemeId } from "../../avatars/index.js";
import { Viseme } from "../../avatars/index.js";
import type { MouthFrameInput, SpeechChunk } from "../index.js";

export interface TalkingLine {
  speech: SpeechChunk;
  frames: MouthFrameInput[];
}

/** `seconds` of speech at 24 kHz, with a mouth frame for every frame at `fps`. */
export function talkingLine(
  pack: AvatarPack,
  options: { utteranceId: string; seconds: number; fps: number; seed?: number },
): TalkingLine {
  const rate = 24_000;
  const { seconds, fps, utteranceId } = options;
  let x = (options.seed ?? 1) >>> 0 || 1;
  const random = () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
  const envelope = new Float32Array(Math.round(seconds * rate));
  let at = Math.round(0.1 * rate);
  let sinceSentence = 0;
  while (at < envelope.length) {
    for (let s = 0, syllables = 2 + Math.floor(random() * 3); s < syllables; s++) {
      const length = Math.round((0.12 + random() * 0.16) * rate);
      const peak = 0.35 + random() * 0.65;
      for (let i = 0; i < length && at + i < envelope.length; i++) {
        envelope[at + i] = peak * Math.sin((Math.PI * i) / length) ** 2;
      }
      at += length;
    }
    sinceSentence += 1;
    const sentenceEnds = sinceSentence >= 3 && random() < 0.5;
    if (sentenceEnds) sinceSentence = 0;
    at += Math.round((sentenceEnds ? 0.45 + random() * 0.2 : 0.08 + random() * 0.12) * rate);
  }
  const pcm = new Int16Array(envelope.length);
  let phase = 0;
  for (let i = 0; i < pcm.length; i++) {
    const f0 = 115 + 20 * Math.sin((2 * Math.PI * i) / (rate * 1.7));
    phase += (2 * Math.PI * f0) / rate;
    let voice = 0;
    for (let k = 1; k <= 20; k++) voice += Math.sin(k * phase) / k;
    pcm[i] = Math.round(envelope[i]! * 9000 * (voice + 0.2 * (random() * 2 - 1)));
  }

  const { mouth } = pack.manifest;
  const shapes: VisemeId[][] = [
    [Viseme.rest, Viseme.closed],
    [Viseme.spread, Viseme.tongue, Viseme.sibilant],
    [Viseme.back, Viseme.round],
    [Viseme.open],
  ];
  const frames: MouthFrameInput[] = [];
  const perFrame = rate / fps;
  for (let index = 0; index * perFrame < envelope.length; index++) {
    let level = 0;
    for (let i = Math.round(index * perFrame); i < Math.min(envelope.length, (index + 1) * perFrame); i++)
      level += envelope[i]! / perFrame;
    const group = shapes[level < 0.08 ? 0 : level < 0.3 ? 1 : level < 0.55 ? 2 : 3]!;
    const viseme = group[index % group.length]!;
    frames.push({ utteranceId, index, patch: { ...mouth, rgba: pack.mouthImage(viseme) } });
  }
  return { speech: { utteranceId, pcm, sampleRateHz: rate, final: true }, frames };
}
