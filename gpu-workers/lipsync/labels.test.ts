import { describe, expect, it } from "vitest";
import { EspeakEngine, embeddedVoices, synthesizeEmbedded } from "../internal.js";
import { LogMel, fft, withContext } from "./features.js";
import { Viseme, visemeOf, visemeTrack, type TimedPhoneme } from "./visemes.js";

describe("visemes from espeak-ng phonemes", () => {
  it.each([
    ["m", Viseme.closed],
    ["b", Viseme.closed],
    ["f", Viseme.labiodental],
    ["ɑː", Viseme.open],
    ["æ", Viseme.open],
    ["iː", Viseme.spread],
    ["ə", Viseme.spread],
    ["ɔːɹ", Viseme.round],
    ["uː", Viseme.pucker],
    ["w", Viseme.pucker],
    ["θ", Viseme.tongue],
    ["ʃ", Viseme.sibilant],
    ["tɕh", Viseme.sibilant],
    ["ts.h", Viseme.sibilant],
    ["ŋ", Viseme.back],
    ["χ", Viseme.back],
    ["ˈ", Viseme.rest],
  ])("%s → %i", (phoneme, viseme) => expect(visemeOf(phoneme)).toBe(viseme));

  it("labels every phoneme the embedded voices speak, in both languages", async () => {
    await using engine = await EspeakEngine.start();
    const phonemes: TimedPhoneme[] = [];
    for (const [id, text] of [
      ["en-male-bright", "The gooseneck kettle keeps water warm for sixty minutes. Grab the five dollar coupon!"],
      ["zh-female-warm", "宝子们，这个保温杯只要七十九元，绿色的库存不多了，谢谢大家！"],
    ] as const) {
      const voice = embeddedVoices.find((v) => v.id === id)!;
      for await (const chunk of synthesizeEmbedded(engine, voice, text, { speed: 1, sampleRate: 22050 })) {
        phonemes.push(...chunk.phonemes);
      }
    }
    const unlabelled = [...new Set(phonemes.map((p) => p.phoneme))].filter((p) => visemeOf(p) === Viseme.rest);
    expect(unlabelled).toEqual([]);
  });

  it("gives one label per video frame on the audio clock, rest where nothing is said", () => {
    const track = visemeTrack(
      [
        { phoneme: "m", startMs: 100, endMs: 180 },
        { phoneme: "ɑː", startMs: 180, endMs: 400 },
      ],
      600,
      25,
    );
    expect(track).toHaveLength(15);
    expect(track.slice(0, 2)).toEqual([Viseme.rest, Viseme.rest]);
    expect(track[3]).toBe(Viseme.closed);
    expect(track.slice(5, 10)).toEqual(Array(5).fill(Viseme.open));
    expect(track.at(-1)).toBe(Viseme.rest);
  });
});

describe("log-mel features", () => {
  it("finds a pure tone in the FFT bin it belongs to", () => {
    const n = 512;
    const re = Float64Array.from({ length: n }, (_, i) => Math.sin((2 * Math.PI * 32 * i) / n));
    const im = new Float64Array(n);
    fft(re, im);
    const magnitude = Array.from({ length: n / 2 }, (_, k) => Math.hypot(re[k]!, im[k]!));
    expect(magnitude.indexOf(Math.max(...magnitude))).toBe(32);
  });

  it("puts a low tone's energy in low bands and a high tone's in high bands, 100 frames a second", () => {
    const mel = new LogMel({ sampleRate: 16000 });
    const tone = (hz: number) =>
      Int16Array.from({ length: 16000 }, (_, i) => Math.round(8000 * Math.sin((2 * Math.PI * hz * i) / 16000)));
    const low = mel.compute(tone(200));
    const high = mel.compute(tone(4000));
    expect(mel.frameRate).toBe(100);
    expect(low.length).toBeGreaterThanOrEqual(97);
    const loudest = (frame: Float32Array) => frame.indexOf(Math.max(...frame));
    expect(loudest(low[50]!)).toBeLessThan(8);
    expect(loudest(high[50]!)).toBeGreaterThan(25);
    expect(withContext(low, 0, 2)).toHaveLength(5 * 40);
  });
});
