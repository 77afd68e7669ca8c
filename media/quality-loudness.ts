// Loudness as EBU R128 measures it (ITU-R BS.1770-4): K-weighted mean square over 400 ms blocks every 100 ms,
// integrated with the absolute (−70 LUFS) and relative (−10 LU) gates, short-term over 3 s, and the loudness range
// (EBU Tech 3342: short-term values gated at −70 LUFS and −20 LU, 10th to 95th percentile). Streaming and bounded:
// gated blocks go into histograms of 0.01 LU bins holding their summed power, so the integrated figure is exact to
// the bin and a 24/7 stream costs the same memory as a minute. 48 kHz mono only (the output's format).

/** The K-weighting filter of BS.1770-4 at 48 kHz: a high shelf (head) then a high pass (RLB), as two biquads. */
const shelf = { b: [1.53512485958697, -2.69169618940638, 1.19839281085285], a: [-1.69065929318241, 0.73248077421585] };
const highPass = { b: [1.0, -2.0, 1.0], a: [-1.99004745483398, 0.99007225036621] };

/** 100 ms at 48 kHz: the hop of momentary blocks (400 ms blocks, 75 % overlap). */
const subBlockSamples = 4800;
const binsPerLu = 100;
const floorLufs = -70;
const topLufs = 10;
const binCount = (topLufs - floorLufs) * binsPerLu;

/** LUFS of a K-weighted mean square (BS.1770-4 eq. 2, one channel of weight 1). */
export const lufsOf = (meanSquare: number) => -0.691 + 10 * Math.log10(meanSquare);

/** Gated blocks by loudness, 0.01 LU bins from −70 to +10 LUFS: how many, and the sum of their mean squares. */
class BlockHistogram {
  readonly counts = new Uint32Array(binCount);
  readonly power = new Float64Array(binCount);
  total = 0;

  add(meanSquare: number): void {
    const lufs = lufsOf(meanSquare);
    if (!(lufs > floorLufs)) return; // the absolute gate
    const bin = Math.min(binCount - 1, Math.floor((lufs - floorLufs) * binsPerLu));
    this.counts[bin]!++;
    this.power[bin]! += meanSquare;
    this.total++;
  }

  /** Integrated loudness: the mean power of blocks above the absolute gate, and above that minus `relativeLu`. */
  gatedMean(relativeLu: number): number | undefined {
    if (this.total === 0) return undefined;
    let sum = 0;
    for (let i = 0; i < binCount; i++) sum += this.power[i]!;
    const gate = lufsOf(sum / this.total) - relativeLu;
    let gatedSum = 0;
    let gatedCount = 0;
    for (let i = Math.max(0, Math.floor((gate - floorLufs) * binsPerLu)); i < binCount; i++) {
      gatedSum += this.power[i]!;
      gatedCount += this.counts[i]!;
    }
    return gatedCount ? lufsOf(gatedSum / gatedCount) : undefined;
  }

  /** Loudness range: 10th to 95th percentile of the blocks above the relative gate (−20 LU). */
  range(): number | undefined {
    const integrated = this.gatedMean(20);
    if (integrated === undefined) return undefined;
    const from = Math.max(0, Math.floor((integrated - floorLufs) * binsPerLu));
    let count = 0;
    for (let i = from; i < binCount; i++) count += this.counts[i]!;
    const percentile = (p: number) => {
      const rank = p * (count - 1);
      let seen = 0;
      for (let i = from; i < binCount; i++) {
        seen += this.counts[i]!;
        if (seen > rank) return floorLufs + (i + 0.5) / binsPerLu;
      }
      return topLufs;
    };
    return count ? percentile(0.95) - percentile(0.1) : undefined;
  }
}

export interface LoudnessFigures {
  /** Integrated loudness (LUFS), gated; undefined before any block passed the gates. */
  integratedLufs: number | undefined;
  /** The last 400 ms block (LUFS; silence reads −70). */
  momentaryLufs: number | undefined;
  /** The last 3 s (LUFS; silence reads −70). */
  shortTermLufs: number | undefined;
  /** Loudness range (LU), EBU Tech 3342. */
  rangeLu: number | undefined;
}

/** A BS.1770-4 meter fed 48 kHz mono S16 PCM in any chunking. */
export class LoudnessMeter {
  /** Each biquad's last two inputs and outputs: x1 x2 y1 y2. */
  readonly #s1 = [0, 0, 0, 0];
  readonly #s2 = [0, 0, 0, 0];
  #subSum = 0;
  #subCount = 0;
  /** The last 30 sub-blocks' summed squares (3 s), newest last. */
  readonly #recent: number[] = [];
  readonly #momentary = new BlockHistogram();
  readonly #shortTerm = new BlockHistogram();
  #lastMomentary: number | undefined;
  #lastShortTerm: number | undefined;
  /** Momentary blocks' mean squares, the last `recentBlocks` of them, for a window's integrated loudness. */
  readonly #recentBlocks: Float64Array;
  #blocks = 0;

  /** `windowSeconds`: how far back `integratedOver` can look. */
  constructor(windowSeconds = 60) {
    this.#recentBlocks = new Float64Array(Math.max(1, Math.round(windowSeconds * 10)));
  }

  /** Adds samples (S16, full scale 32768). */
  push(pcm: Int16Array): void {
    const s1 = this.#s1;
    const s2 = this.#s2;
    for (let i = 0; i < pcm.length; i++) {
      const x = pcm[i]! / 32768;
      const y1 =
        shelf.b[0]! * x + shelf.b[1]! * s1[0]! + shelf.b[2]! * s1[1]! - shelf.a[0]! * s1[2]! - shelf.a[1]! * s1[3]!;
      s1[1] = s1[0]!;
      s1[0] = x;
      s1[3] = s1[2]!;
      s1[2] = y1;
      const y2 = y1 - 2 * s2[0]! + s2[1]! - highPass.a[0]! * s2[2]! - highPass.a[1]! * s2[3]!;
      s2[1] = s2[0]!;
      s2[0] = y1;
      s2[3] = s2[2]!;
      s2[2] = y2;
      this.#subSum += y2 * y2;
      if (++this.#subCount === subBlockSamples) this.#endSubBlock();
    }
  }

  #endSubBlock(): void {
    const recent = this.#recent;
    recent.push(this.#subSum);
    if (recent.length > 30) recent.shift();
    this.#subSum = 0;
    this.#subCount = 0;
    if (recent.length >= 4) {
      const meanSquare = (recent.at(-1)! + recent.at(-2)! + recent.at(-3)! + recent.at(-4)!) / (4 * subBlockSamples);
      this.#momentary.add(meanSquare);
      this.#recentBlocks[this.#blocks++ % this.#recentBlocks.length] = meanSquare;
      this.#lastMomentary = Math.max(floorLufs, lufsOf(meanSquare));
    }
    if (recent.length === 30) {
      const meanSquare = recent.reduce((sum, s) => sum + s, 0) / (30 * subBlockSamples);
      this.#shortTerm.add(meanSquare);
      this.#lastShortTerm = Math.max(floorLufs, lufsOf(meanSquare));
    }
  }

  /** Integrated loudness (gated as above) of the blocks of the last `seconds` (at most the constructor's window). */
  integratedOver(seconds: number): number | undefined {
    const ring = this.#recentBlocks;
    const count = Math.min(this.#blocks, ring.length, Math.round(seconds * 10));
    const blocks: number[] = [];
    for (let i = 1; i <= count; i++) {
      const meanSquare = ring[(this.#blocks - i) % ring.length]!;
      if (lufsOf(meanSquare) > floorLufs) blocks.push(meanSquare);
    }
    if (blocks.length === 0) return undefined;
    const gate = lufsOf(blocks.reduce((sum, b) => sum + b, 0) / blocks.length) - 10;
    const gated = blocks.filter((b) => lufsOf(b) > gate);
    return lufsOf(gated.reduce((sum, b) => sum + b, 0) / gated.length);
  }

  /** Figures since the first sample; `windowSeconds` gives the integrated loudness of that last stretch instead. */
  figures(windowSeconds?: number): LoudnessFigures {
    return {
      integratedLufs: windowSeconds === undefined ? this.#momentary.gatedMean(10) : this.integratedOver(windowSeconds),
      momentaryLufs: this.#lastMomentary,
      shortTermLufs: this.#lastShortTerm,
      rangeLu: this.#shortTerm.range(),
    };
  }
}
