// Streaming sample-rate conversion of 16-bit mono speech: TTS rates to the 48 kHz output clock, a voice's native rate
// to the rate a client asked for, speech to the lip-sync features' 16 kHz. Linear interpolation, with a one-pole
// low-pass near the new Nyquist frequency when going down in rate; enough for speech (production voices run at their
// native rate). The state carries across blocks so block boundaries leave no clicks.
export class Resampler {
  readonly #step: number;
  /** The low-pass filter's coefficient; 1 passes the input through untouched (going up in rate). */
  readonly #alpha: number;
  #filtered = 0;
  /** Position of the next output sample, in input samples, relative to `#previous`. */
  #position = 0;
  #previous: number | undefined;

  constructor(
    readonly fromRate: number,
    readonly toRate: number,
  ) {
    this.#step = fromRate / toRate;
    const cutoff = Math.min(fromRate, toRate) / 2;
    this.#alpha = toRate < fromRate ? 1 - Math.exp((-2 * Math.PI * cutoff) / fromRate) : 1;
  }

  /**
   * Converts the next block. The last input sample is held back until the next block (the output between it and
   * the next one needs both); `final` converts it too, ending the stream.
   */
  push(input: Int16Array, final = false): Int16Array {
    if (this.fromRate === this.toRate) return input;
    const source = this.#alpha === 1 ? input : this.#lowPass(input);
    // Work on [previous, ...source]: output at position p interpolates between samples floor(p) and floor(p) + 1.
    const previous = this.#previous ?? 0;
    const shift = this.#previous === undefined ? 0 : 1;
    const length = source.length + shift;
    const limit = final ? length : length - 1;
    const sample = (i: number) => (i < shift ? previous : source[i - shift]!);
    let p = this.#position;
    const out = new Int16Array(Math.max(0, Math.ceil((limit - p) / this.#step) + 1));
    let n = 0;
    while (p < limit) {
      const i = Math.floor(p);
      const a = sample(i);
      const b = i + 1 < length ? sample(i + 1) : a;
      out[n++] = Math.max(-32768, Math.min(32767, Math.round(a + (b - a) * (p - i))));
      p += this.#step;
    }
    if (length > 0) {
      this.#previous = sample(length - 1);
      this.#position = p - (length - 1);
    }
    return out.subarray(0, n);
  }

  #lowPass(input: Int16Array): Float32Array {
    const filtered = new Float32Array(input.length);
    for (let i = 0; i < input.length; i++) {
      this.#filtered += this.#alpha * (input[i]! - this.#filtered);
      filtered[i] = this.#filtered;
    }
    return filtered;
  }
}
