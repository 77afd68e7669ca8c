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
    const withPrevious = this.#previous === undefined ? 0 : 1;
    const length = input.length + withPrevious;
    const at = (i: number) => (withPrevious ? (i === 0 ? this.#previous! : input[i - 1]!) : input[i]!);
    const out: number[] = [];
    let p = this.#position;
    while (p < length - 1 || (final && p < length)) {
      const i = Math.floor(p);
      const frac = p - i;
      const a = at(i);
      const b = i + 1 < length ? at(i + 1) : a;
      out.push(Math.round(a + (b - a) * frac));
      p += this.#step;
    }
    if (length > 0) {
      this.#previous = at(length - 1);
      this.#position = p - (length - 1);
    }
    return Int16Array.from(out);
  }
}
