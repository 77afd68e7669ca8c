// Streaming linear-interpolation resampler for speech (TTS rates to the 48 kHz output clock). Linear interpolation
// is enough for speech going up in rate; the state carries across chunks so chunk boundaries leave no clicks.
export class LinearResampler {
  readonly #step: number;
  /** Position of the next output sample, in input samples, relative to `#previous`. */
  #position = 0;
  #previous: number | undefined;

  constructor(fromRate: number, toRate: number) {
    this.#step = fromRate / toRate;
  }

  push(input: Int16Array, final = false): Int16Array {
    // Work on [previous, ...input]: output at position p interpolates between samples floor(p) and floor(p) + 1.
    const previous = this.#previous ?? 0;
    const shift = this.#previous === undefined ? 0 : 1;
    const length = input.length + shift;
    const limit = final ? length : length - 1;
    const sample = (i: number) => (i < shift ? previous : input[i - shift]!);
    let p = this.#position;
    const out = new Int16Array(Math.max(0, Math.ceil((limit - p) / this.#step) + 1));
    let n = 0;
    while (p < limit) {
      const i = Math.floor(p);
      const a = sample(i);
      const b = i + 1 < length ? sample(i + 1) : a;
      out[n++] = Math.round(a + (b - a) * (p - i));
      p += this.#step;
    }
    if (length > 0) {
      this.#previous = sample(length - 1);
      this.#position = p - (length - 1);
    }
    return out.subarray(0, n);
  }
}
