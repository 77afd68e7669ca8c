// The speech features of wav2lip-shaped generators, computed as wav2lip's audio.py does (its hparams): 16 kHz audio,
// preemphasis 0.97, a centred STFT (n_fft 800, hop 200, hann window 800, reflect padding, as librosa 0.7 which
// wav2lip pins), 80 slaney mel bands from 55 to 7600 Hz, dB relative to 20 dB with a -100 dB floor, scaled
// symmetrically to [-4, 4]. A user's export was trained on exactly these numbers, so they are reproduced, not
// approximated; each video frame then takes the 16 mel columns from int(80 * i / fps) (wav2lip's inference loop).

export const wav2lipRate = 16_000;
export const melBands = 80;
/** Mel columns per video frame's window (wav2lip's mel_step_size). */
export const melStep = 16;
const nFft = 800;
const hop = 200;
const bins = nFft / 2 + 1;
/** Mel columns per second of audio. */
export const melColumnsPerSecond = wav2lipRate / hop;
const minLevelDb = -100;
const refLevelDb = 20;
const maxAbs = 4;
const preemphasis = 0.97;
const minLevel = 10 ** (minLevelDb / 20);

/** The normalised value of silence (and of anything under the -100 dB floor). */
export const silentMel = -maxAbs;

// Periodic hann (scipy's get_window("hann", 800), which librosa uses).
const hann = Float64Array.from({ length: nFft }, (_, n) => 0.5 - 0.5 * Math.cos((2 * Math.PI * n) / nFft));
const twiddleRe = Float64Array.from({ length: nFft }, (_, m) => Math.cos((-2 * Math.PI * m) / nFft));
const twiddleIm = Float64Array.from({ length: nFft }, (_, m) => Math.sin((-2 * Math.PI * m) / nFft));

/**
 * DFT of length n (a divisor of 800) of input[start + m * stride] into out[at..at+n): radix 2 while n is even, then
 * direct on the odd rest (25), so 800 points cost a few thousand multiplications rather than 640,000.
 */
function dft(
  input: Float64Array,
  start: number,
  stride: number,
  n: number,
  outRe: Float64Array,
  outIm: Float64Array,
  at: number,
): void {
  const step = nFft / n;
  if (n % 2 === 0) {
    const half = n / 2;
    dft(input, start, stride * 2, half, outRe, outIm, at);
    dft(input, start + stride, stride * 2, half, outRe, outIm, at + half);
    for (let k = 0; k < half; k++) {
      const wr = twiddleRe[k * step]!;
      const wi = twiddleIm[k * step]!;
      const oRe = outRe[at + half + k]!;
      const oIm = outIm[at + half + k]!;
      const tRe = wr * oRe - wi * oIm;
      const tIm = wr * oIm + wi * oRe;
      const eRe = outRe[at + k]!;
      const eIm = outIm[at + k]!;
      outRe[at + k] = eRe + tRe;
      outIm[at + k] = eIm + tIm;
      outRe[at + half + k] = eRe - tRe;
      outIm[at + half + k] = eIm - tIm;
    }
    return;
  }
  for (let k = 0; k < n; k++) {
    let re = 0;
    let im = 0;
    for (let m = 0; m < n; m++) {
      const x = input[start + m * stride]!;
      const t = ((k * m) % n) * step;
      re += x * twiddleRe[t]!;
      im += x * twiddleIm[t]!;
    }
    outRe[at + k] = re;
    outIm[at + k] = im;
  }
}

// librosa's slaney mel scale: linear below 1 kHz, logarithmic above.
const fSp = 200 / 3;
const minLogHz = 1000;
const minLogMel = minLogHz / fSp;
const logStep = Math.log(6.4) / 27;
const hzToMel = (hz: number) => (hz >= minLogHz ? minLogMel + Math.log(hz / minLogHz) / logStep : hz / fSp);
const melToHz = (mel: number) => (mel >= minLogMel ? minLogHz * Math.exp(logStep * (mel - minLogMel)) : fSp * mel);

/** The centre frequency of each mel band, in Hz (librosa's mel_frequencies, without the two edges). */
export const melCentresHz = melEdges().slice(1, -1);

function melEdges(): number[] {
  const lo = hzToMel(55);
  const hi = hzToMel(7600);
  return Array.from({ length: melBands + 2 }, (_, i) => melToHz(lo + ((hi - lo) * i) / (melBands + 1)));
}

/** librosa.filters.mel(sr=16000, n_fft=800, n_mels=80, fmin=55, fmax=7600): triangles, slaney area-normalised. */
const melFilters: { first: number; weights: Float64Array }[] = (() => {
  const edges = melEdges();
  return Array.from({ length: melBands }, (_, i) => {
    const [lower, centre, upper] = [edges[i]!, edges[i + 1]!, edges[i + 2]!];
    const norm = 2 / (upper - lower);
    const weights = new Float64Array(bins);
    for (let k = 0; k < bins; k++) {
      const f = (k * wav2lipRate) / nFft;
      weights[k] = Math.max(0, Math.min((f - lower) / (centre - lower), (upper - f) / (upper - centre))) * norm;
    }
    const first = weights.findIndex((w) => w > 0);
    const last = bins - 1 - [...weights].reverse().findIndex((w) => w > 0);
    return { first, weights: weights.slice(first, last + 1) };
  });
})();

/**
 * One utterance's mel spectrogram, fed as its audio arrives: a column is computed once all the audio its window
 * covers is there (its window is centred, so column j needs 400 samples past j * 200); `finish` computes the rest
 * with the end reflected, as librosa pads a whole file. Columns are [80] values, normalised to [-4, 4].
 */
export class Wav2LipMel {
  /** Preemphasised audio from sample `#base` of the utterance on. */
  #y = new Float64Array(0);
  #base = 0;
  #length = 0;
  #last = 0;
  #columns: Float32Array[] = [];
  #columnBase = 0;
  #finished = false;
  readonly #frame = new Float64Array(nFft);
  readonly #re = new Float64Array(nFft);
  readonly #im = new Float64Array(nFft);
  readonly #magnitude = new Float64Array(bins);

  /** Columns computed so far (counted from the utterance's start). */
  get columns(): number {
    return this.#columnBase + this.#columns.length;
  }

  get finished(): boolean {
    return this.#finished;
  }

  /** Adds 16 kHz samples (-1..1) and computes the columns they complete. */
  push(samples: Float32Array | Float64Array): void {
    if (this.#finished) throw new Error("the utterance's mel spectrogram is finished");
    const grown = new Float64Array(this.#length - this.#base + samples.length);
    grown.set(this.#y.subarray(0, this.#length - this.#base));
    for (let i = 0; i < samples.length; i++) {
      const x = samples[i]!;
      // scipy.signal.lfilter([1, -0.97], [1], x): the first sample has no predecessor.
      grown[this.#length - this.#base + i] = this.#length + i === 0 ? x : x - preemphasis * this.#last;
      this.#last = x;
    }
    this.#y = grown;
    this.#length += samples.length;
    // Column j needs the samples up to j * 200 + 399.
    while (this.columns * hop + nFft / 2 <= this.#length) this.#columns.push(this.#column(this.columns));
  }

  /** The utterance's audio is complete: the remaining columns (1 + floor(samples / 200) in all). */
  finish(): void {
    if (this.#finished) return;
    this.#finished = true;
    const total = this.#length === 0 ? 0 : 1 + Math.floor(this.#length / hop);
    while (this.columns < total) this.#columns.push(this.#column(this.columns));
  }

  /** Column j (it must not have been dropped). */
  column(j: number): Float32Array {
    const column = this.#columns[j - this.#columnBase];
    if (!column) throw new RangeError(`mel column ${j} is not held (held: ${this.#columnBase}..${this.columns - 1})`);
    return column;
  }

  /** Drops columns before `j` and the audio no future column needs (memory stays flat over a long utterance). */
  dropBefore(j: number): void {
    const drop = Math.min(j, this.columns) - this.#columnBase;
    if (drop > 0) {
      this.#columns = this.#columns.slice(drop);
      this.#columnBase += drop;
    }
    // The next column's window starts 400 samples before its centre; reflection at the start is only needed by
    // columns 0 and 1, which are computed before any audio is dropped.
    const keepFrom = Math.max(0, this.columns * hop - nFft / 2 - 1);
    if (keepFrom > this.#base && !this.#finished) {
      this.#y = this.#y.slice(keepFrom - this.#base, this.#length - this.#base);
      this.#base = keepFrom;
    }
  }

  #sample(index: number): number {
    // numpy's "reflect" padding (the edge sample is not repeated), applied as often as a short signal needs.
    const n = this.#length;
    if (n === 1) return this.#y[0]!;
    const period = 2 * (n - 1);
    let i = Math.abs(index) % period;
    if (i >= n) i = period - i;
    return this.#y[i - this.#base]!;
  }

  #column(j: number): Float32Array {
    const start = j * hop - nFft / 2;
    for (let n = 0; n < nFft; n++) this.#frame[n] = this.#sample(start + n) * hann[n]!;
    dft(this.#frame, 0, 1, nFft, this.#re, this.#im, 0);
    const magnitude = this.#magnitude;
    for (let k = 0; k < bins; k++) magnitude[k] = Math.sqrt(this.#re[k]! ** 2 + this.#im[k]! ** 2);
    const out = new Float32Array(melBands);
    for (let b = 0; b < melBands; b++) {
      const { first, weights } = melFilters[b]!;
      let energy = 0;
      for (let k = 0; k < weights.length; k++) energy += weights[k]! * magnitude[first + k]!;
      const db = 20 * Math.log10(Math.max(minLevel, energy)) - refLevelDb;
      const scaled = 2 * maxAbs * ((db - minLevelDb) / -minLevelDb) - maxAbs;
      out[b] = Math.min(maxAbs, Math.max(-maxAbs, scaled));
    }
    return out;
  }
}

/** The first mel column of video frame `i`'s window at `fps`: int(i * (80 / fps)), in wav2lip's float arithmetic. */
export function windowStart(i: number, fps: number): number {
  return Math.trunc(i * (melColumnsPerSecond / fps));
}

/**
 * Video frame `i`'s generator input [1, 80, 16] (band-major, as mel[:, start:start + 16]). A window past the end of
 * a finished utterance takes its last 16 columns, as wav2lip's loop does; an utterance shorter than 16 columns is
 * padded with silence after its end.
 */
export function melWindow(mel: Wav2LipMel, i: number, fps: number): Float32Array {
  let start = windowStart(i, fps);
  if (mel.finished && start + melStep > mel.columns) start = Math.max(0, mel.columns - melStep);
  const out = new Float32Array(melBands * melStep);
  for (let c = 0; c < melStep; c++) {
    const j = start + c;
    const column = j < mel.columns ? mel.column(j) : undefined;
    for (let b = 0; b < melBands; b++) out[b * melStep + c] = column ? column[b]! : silentMel;
  }
  return out;
}

/** Whether frame `i`'s window is complete without the end of the utterance (its 16 columns all computed). */
export function windowReady(mel: Wav2LipMel, i: number, fps: number): boolean {
  return mel.finished || windowStart(i, fps) + melStep <= mel.columns;
}
