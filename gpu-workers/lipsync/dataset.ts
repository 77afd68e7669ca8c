// Training and evaluation data for the lip-sync model, made without any download: the embedded voices speak
// sentences, their phoneme timings give per-frame viseme labels, and the audio gives log-mel features.
import { UnknownVoiceError } from "../errors.js";
import type { EspeakEngine } from "../tts/espeak.js";
import { synthesizeToPcm } from "../tts/embedded.js";
import { embeddedVoices } from "../tts/voices.js";
import { LogMel, withContext } from "./features.js";
import { visemeTrack, type VisemeId } from "./visemes.js";

export const featureRate = 16_000;
/**
 * Log-mel frames of context: 5 before (50 ms) and 3 after (30 ms). The frames after are look-ahead the worker must
 * wait for, so they are fewer: chunk -> frame latency is bounded by them.
 */
export const contextBefore = 5;
export const contextAfter = 3;
export const melBands = 40;
/** Inputs per example: the frame and its context, 9 frames of 40 bands. */
export const featureSize = (contextBefore + 1 + contextAfter) * melBands;

export interface Example {
  x: Float32Array;
  y: VisemeId;
}

export interface Utterance {
  voiceId: string;
  text: string;
}

/** Speaks each utterance (at several speeds, for variety) and cuts it into labelled frames. */
export async function buildExamples(
  engine: EspeakEngine,
  utterances: Utterance[],
  speeds: number[] = [1],
): Promise<Example[]> {
  const mel = new LogMel({ sampleRate: featureRate, bands: melBands });
  const examples: Example[] = [];
  for (const { voiceId, text } of utterances) {
    const voice = embeddedVoices.find((v) => v.id === voiceId);
    if (!voice) throw new UnknownVoiceError(voiceId);
    for (const speed of speeds) {
      const { pcm, phonemes } = await synthesizeToPcm(engine, voice, text, { speed, sampleRate: featureRate });
      const frames = mel.compute(pcm);
      const labels = visemeTrack(phonemes, (pcm.length / featureRate) * 1000, mel.frameRate);
      const n = Math.min(frames.length, labels.length);
      for (let i = 0; i < n; i++)
        examples.push({ x: withContext(frames, i, contextBefore, contextAfter), y: labels[i]! });
    }
  }
  return examples;
}
