// Streaming sample-rate conversion of 16-bit mono PCM (linear interpolation with a one-pole low-pass when
// downsampling). Good enough for speech monitoring and lip-sync features; production voices run at their native rate.

export class Resampler {
  readonly #ratio: number;
  #position = 0;
  #previous = 0;
  #filtered = 0;
  readonly #alpha: number;

  constructor(
    readonly fromRate: number,
    readonly toRate: number,
  ) {
    this.#ratio = fromRate / toRate;
    // Cut-off near the new Nyquist frequency when downsampling; pass-through otherwise.
    const cutoff = Math.min(fromRate, toRate) / 2;
    this.#alpha = toRate < fromRate ? 1 - Math.exp((-2 * Math.PI * cutoff) / fromRate) : 1;
  }

  /** Converts the next block; state carries over so blocks join without clicks. */
  push(input: Int16Array): Int16Array {
    if (this.fromRate === this.toRate) return input;
    const source = new Float32Array(input.length + 1);
    source[0] = this.#previous;
    for (let i = 0; i < input.length; i++) {
      this.#filtered += this.#alpha * (input[i]! - this.#filtered);
      source[i + 1] = this.#filtered;
    }
    const out: number[] = [];
    while (this.#position + 1 <= input.length) {
      const i = Math.floor(this.#position);
      const frac = this.#position - i;
      out.push(source[i]! + (source[i + 1]! - source[i]!) * frac);
      this.#position += this.#ratio;
    }
    this.#position -= input.length;
    this.#previous = source[input.length]!;
    return Int16Array.from(out, (x) => Math.max(-32768, Math.min(32767, Math.round(x))));
  }
}
