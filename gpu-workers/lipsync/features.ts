// Audio features for the lip-sync model: log-mel energies on 25 ms windows every 10 ms (100 frames per second),
// from 16-bit PCM at any rate, computed in plain TypeScript (an iterative radix-2 FFT) so the worker and the training
// script share one definition.

export interface MelSettings {
  sampleRate: number;
  /** Window length and hop in ms. Default 25 and 10. */
  windowMs?: number;
  hopMs?: number;
  /** Mel bands. Default 40. */
  bands?: number;
  /** Band edges in Hz. Default 60 and 7600 (capped at Nyquist). */
  minHz?: number;
  maxHz?: number;
}

const hzToMel = (hz: number) => 2595 * Math.log10(1 + hz / 700);
const melToHz = (mel: number) => 700 * (10 ** (mel / 2595) - 1);

/** In-place FFT of a power-of-two length; `re` and `im` hold the input and receive the spectrum. */
export function fft(re: Float64Array, im: Float64Array): void {
  const n = re.length;
  if ((n & (n - 1)) !== 0) throw new RangeError(`FFT length must be a power of two, got ${n}`);
  for (let i = 1, j = 0; i < n; i++) {
    let bit = n >> 1;
    for (; j & bit; bit >>= 1) j ^= bit;
    j ^= bit;
    if (i < j) {
      [re[i], re[j]] = [re[j]!, re[i]!];
      [im[i], im[j]] = [im[j]!, im[i]!];
    }
  }
  for (let size = 2; size <= n; size <<= 1) {
    const angle = (-2 * Math.PI) / size;
    const wRe = Math.cos(angle);
    const wIm = Math.sin(angle);
    for (let start = 0; start < n; start += size) {
      let curRe = 1;
      let curIm = 0;
      for (let k = 0; k < size / 2; k++) {
        const a = start + k;
        const b = a + size / 2;
        const tRe = re[b]! * curRe - im[b]! * curIm;
        const tIm = re[b]! * curIm + im[b]! * curRe;
        re[b] = re[a]! - tRe;
        im[b] = im[a]! - tIm;
        re[a] = re[a]! + tRe;
        im[a] = im[a]! + tIm;
        [curRe, curIm] = [curRe * wRe - curIm * wIm, curRe * wIm + curIm * wRe];
      }
    }
  }
}

export class LogMel {
  readonly frameRate: number;
  readonly bands: number;
  readonly #window: Float64Array;
  readonly #hop: number;
  readonly #fftSize: number;
  /** Per band: the FFT bins it covers and their triangular weights. */
  readonly #filters: { first: number; weights: Float64Array }[];

  constructor(settings: MelSettings) {
    const { sampleRate } = settings;
    const windowLength = Math.round((sampleRate * (settings.windowMs ?? 25)) / 1000);
    this.#hop = Math.round((sampleRate * (settings.hopMs ?? 10)) / 1000);
    this.frameRate = sampleRate / this.#hop;
    this.bands = settings.bands ?? 40;
    this.#fftSize = 2 ** Math.ceil(Math.log2(windowLength));
    this.#window = Float64Array.from(
      { length: windowLength },
      (_, i) => 0.5 - 0.5 * Math.cos((2 * Math.PI * i) / (windowLength - 1)),
    );
    const maxHz = Math.min(settings.maxHz ?? 7600, sampleRate / 2);
    const minMel = hzToMel(settings.minHz ?? 60);
    const maxMel = hzToMel(maxHz);
    const edges = Array.from({ length: this.bands + 2 }, (_, i) =>
      melToHz(minMel + ((maxMel - minMel) * i) / (this.bands + 1)),
    );
    const binOf = (hz: number) => (hz * this.#fftSize) / sampleRate;
    this.#filters = Array.from({ length: this.bands }, (_, b) => {
      const [lo, mid, hi] = [binOf(edges[b]!), binOf(edges[b + 1]!), binOf(edges[b + 2]!)];
      const first = Math.ceil(lo);
      const last = Math.floor(hi);
      const weights = Float64Array.from({ length: Math.max(0, last - first + 1) }, (_, i) => {
        const bin = first + i;
        return bin <= mid ? (bin - lo) / (mid - lo) : (hi - bin) / (hi - mid);
      });
      return { first, weights };
    });
  }

  /** Frames of `bands` log energies (natural log, floored at 1e-6), one every hop, for 16-bit PCM. */
  compute(pcm: Int16Array): Float32Array[] {
    const frames: Float32Array[] = [];
    const re = new Float64Array(this.#fftSize);
    const im = new Float64Array(this.#fftSize);
    for (let start = 0; start + this.#window.length <= pcm.length; start += this.#hop) {
      re.fill(0);
      im.fill(0);
      for (let i = 0; i < this.#window.length; i++) re[i] = (pcm[start + i]! / 32768) * this.#window[i]!;
      fft(re, im);
      const frame = new Float32Array(this.bands);
      for (const [band, filter] of this.#filters.entries()) {
        let energy = 0;
        for (let i = 0; i < filter.weights.length; i++) {
          const bin = filter.first + i;
          energy += filter.weights[i]! * (re[bin]! * re[bin]! + im[bin]! * im[bin]!);
        }
        frame[band] = Math.log(Math.max(energy, 1e-6));
      }
      frames.push(frame);
    }
    return frames;
  }
}

/** A model input: frame `index` with `before` frames before and `after` frames after it (edges repeat), flattened. */
export function withContext(frames: Float32Array[], index: number, before: number, after = before): Float32Array {
  const bands = frames[0]?.length ?? 0;
  const out = new Float32Array((before + 1 + after) * bands);
  for (let k = -before; k <= after; k++) {
    const source = frames[Math.min(frames.length - 1, Math.max(0, index + k))];
    if (source) out.set(source, (k + before) * bands);
  }
  return out;
}
