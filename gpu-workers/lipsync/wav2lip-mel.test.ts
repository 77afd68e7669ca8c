import { describe, expect, it } from "vitest";
import {
  Wav2LipMel,
  melBands,
  melCentresHz,
  melStep,
  melWindow,
  silentMel,
  wav2lipRate,
  windowReady,
  windowStart,
} from "./wav2lip-mel.js";

const tone = (hz: number, seconds: number, amplitude = 0.5) =>
  Float32Array.from(
    { length: Math.round(seconds * wav2lipRate) },
    (_, i) => amplitude * Math.sin((2 * Math.PI * hz * i) / wav2lipRate),
  );

function whole(samples: Float32Array): Wav2LipMel {
  const mel = new Wav2LipMel();
  mel.push(samples);
  mel.finish();
  return mel;
}

const loudestBand = (column: Float32Array) => column.indexOf(Math.max(...column));

describe("wav2lip's mel spectrogram", () => {
  it("has 1 + floor(samples / 200) columns of 80 bands: 80 columns a second", () => {
    expect(whole(new Float32Array(wav2lipRate)).columns).toBe(81);
    expect(whole(new Float32Array(wav2lipRate / 2 + 150)).columns).toBe(41);
    expect(whole(new Float32Array(0)).columns).toBe(0);
  });

  it("maps silence to -4 in every band", () => {
    const mel = whole(new Float32Array(wav2lipRate));
    for (let j = 0; j < mel.columns; j++) expect([...mel.column(j)].every((v) => v === silentMel)).toBe(true);
  });

  it("puts a pure tone's energy in the band whose centre is nearest its frequency", () => {
    for (const hz of [200, 1000, 3000, 6000]) {
      const mel = whole(tone(hz, 0.5));
      const band = loudestBand(mel.column(20));
      const nearest = melCentresHz.reduce(
        (best, c, i) => (Math.abs(c - hz) < Math.abs(melCentresHz[best]! - hz) ? i : best),
        0,
      );
      expect(Math.abs(band - nearest)).toBeLessThanOrEqual(1);
      // The band holding the tone is far above the floor; bands far from it are near silence.
      expect(mel.column(20)[band]!).toBeGreaterThan(0);
      expect(mel.column(20)[band > 40 ? 0 : melBands - 1]!).toBeLessThan(-2);
    }
  });

  it("stays within [-4, 4] and gets louder with the signal", () => {
    const quiet = whole(tone(1000, 0.5, 0.01)).column(20);
    const loud = whole(tone(1000, 0.5, 0.9)).column(20);
    const band = loudestBand(loud);
    expect(loud[band]!).toBeGreaterThan(quiet[band]!);
    // 0.01 → 0.9 is +39 dB, 8 units per 100 dB: about +3.1 after normalisation (unless clipped at 4).
    expect(Math.min(4, quiet[band]! + (8 * 20 * Math.log10(90)) / 100) - loud[band]!).toBeCloseTo(0, 1);
    for (const v of [...loud, ...quiet]) expect(Math.abs(v)).toBeLessThanOrEqual(4);
  });

  it("computes the same columns whether the audio comes at once or in 100 ms chunks", () => {
    const samples = tone(440, 1.3);
    const all = whole(samples);
    const streamed = new Wav2LipMel();
    const seen: Float32Array[] = [];
    for (let at = 0; at < samples.length; at += 1600) {
      streamed.push(samples.subarray(at, at + 1600));
      // Before the end, only columns whose whole window has arrived exist.
      expect((streamed.columns - 1) * 200 + 400).toBeLessThanOrEqual(Math.min(samples.length, at + 1600));
      while (seen.length < streamed.columns) seen.push(streamed.column(seen.length));
      streamed.dropBefore(seen.length);
    }
    streamed.finish();
    while (seen.length < streamed.columns) seen.push(streamed.column(seen.length));
    expect(seen.length).toBe(all.columns);
    for (let j = 0; j < all.columns; j++) expect([...seen[j]!]).toEqual([...all.column(j)]);
  });
});

describe("a video frame's mel window", () => {
  it("starts at int(80 * i / fps): 0, 3, 6, 9, 12, 16 at 25 fps", () => {
    expect([0, 1, 2, 3, 4, 5].map((i) => windowStart(i, 25))).toEqual([0, 3, 6, 9, 12, 16]);
    expect([0, 1, 2, 3].map((i) => windowStart(i, 30))).toEqual([0, 2, 5, 8]);
  });

  it("is [80, 16] band-major: mel[:, start:start + 16]", () => {
    const mel = whole(tone(1000, 1));
    const window = melWindow(mel, 2, 25);
    expect(window.length).toBe(melBands * melStep);
    for (const [b, c] of [
      [0, 0],
      [40, 5],
      [79, 15],
    ] as const) {
      expect(window[b * melStep + c]).toBe(mel.column(6 + c)[b]);
    }
  });

  it("takes the last 16 columns past the end, as wav2lip's loop does, and waits for audio before it", () => {
    const mel = new Wav2LipMel();
    mel.push(tone(1000, 0.4));
    // 0.4 s: columns up to (6400 - 400) / 200 = 30 are complete; frame 4 (12..27) is ready, frame 5 (16..31) not yet.
    expect(windowReady(mel, 4, 25)).toBe(true);
    expect(windowReady(mel, 5, 25)).toBe(false);
    mel.finish();
    expect(mel.columns).toBe(33);
    const last = melWindow(mel, 9, 25);
    expect(last[melStep - 1]).toBe(mel.column(32)[0]);
    expect(last[0]).toBe(mel.column(17)[0]);
  });

  it("pads an utterance shorter than 16 columns with silence", () => {
    const mel = whole(tone(1000, 0.04));
    expect(mel.columns).toBe(4);
    const window = melWindow(mel, 0, 25);
    expect(window[3]).toBe(mel.column(3)[0]);
    expect(window[4]).toBe(silentMel);
  });
});
