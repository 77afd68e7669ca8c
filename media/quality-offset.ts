// The audio–video offset of a talking host without a model: the mouth region's brightness (an open mouth is darker
// or lighter than a closed one, whichever the avatar draws) cross-correlated with the speech energy (dB per 10 ms,
// averaged over each frame's interval), over lags of ±400 ms in 10 ms steps, the peak refined by a parabola through
// its neighbours. Sign: positive = audio ahead of video (the sound comes before the picture that goes with it), as
// ITU-R BT.1359 writes "+" for audio early.

/** Speech energy in dB per 10 ms, from `startSeconds` on. */
export interface EnergyTrack {
  startSeconds: number;
  /** One value per 10 ms. */
  db: ArrayLike<number>;
}

export interface OffsetEstimate {
  /** Positive: audio ahead of video. */
  offsetMs: number;
  /** Peak |r| of the correlation, 0 to 1. */
  correlation: number;
  /** How much the peak stands out: peak |r| minus the median |r| over all lags, 0 to 1. */
  confidence: number;
}

const stepSeconds = 0.01;
const maxLagSeconds = 0.4;

/**
 * The track's running integral (dB·s) at the ends of its 10 ms values, so that the mean energy over any interval
 * costs two look-ups: the mean of [a, b) is (C(b) − C(a)) / (b − a), with C linear inside each 10 ms.
 */
function integral(track: EnergyTrack): (t: number) => number {
  const sums = new Float64Array(track.db.length + 1);
  for (let i = 0; i < track.db.length; i++) sums[i + 1] = sums[i]! + track.db[i]! * stepSeconds;
  return (t) => {
    const k = (t - track.startSeconds) / stepSeconds;
    const i = Math.floor(k);
    if (i < 0 || i >= track.db.length) return Number.NaN;
    return sums[i]! + (sums[i + 1]! - sums[i]!) * (k - i);
  };
}

/** Pearson r over the pairs where both are numbers. */
function pearson(x: ArrayLike<number>, y: ArrayLike<number>): number {
  let n = 0;
  let sx = 0;
  let sy = 0;
  for (let i = 0; i < x.length; i++) {
    if (Number.isNaN(y[i]!)) continue;
    n++;
    sx += x[i]!;
    sy += y[i]!;
  }
  if (n < 10) return 0;
  const mx = sx / n;
  const my = sy / n;
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  for (let i = 0; i < x.length; i++) {
    if (Number.isNaN(y[i]!)) continue;
    sxy += (x[i]! - mx) * (y[i]! - my);
    sxx += (x[i]! - mx) ** 2;
    syy += (y[i]! - my) ** 2;
  }
  return sxx > 0 && syy > 0 ? sxy / Math.sqrt(sxx * syy) : 0;
}

/**
 * Estimates the offset between each of `series` (one value per video frame, frame i shown from `times[i]` for
 * `frameSeconds`) and the speech energy: one estimate per series (candidate mouth regions share the energy's work).
 * Undefined for a series that does not change at all.
 */
export function estimateOffsets(
  times: ArrayLike<number>,
  series: ArrayLike<number>[],
  frameSeconds: number,
  energy: EnergyTrack,
): (OffsetEstimate | undefined)[] {
  const lags = Math.round(maxLagSeconds / stepSeconds);
  const at = integral(energy);
  // The energy over each frame's interval, at each lag.
  const shifted = Array.from({ length: 2 * lags + 1 }, (_, k) => {
    const lag = (k - lags) * stepSeconds;
    const values = new Float64Array(times.length);
    for (let i = 0; i < times.length; i++) {
      const from = times[i]! + lag;
      values[i] = (at(from + frameSeconds) - at(from)) / frameSeconds;
    }
    return values;
  });
  return series.map((mouth) => {
    let min = Number.POSITIVE_INFINITY;
    let max = Number.NEGATIVE_INFINITY;
    for (let i = 0; i < mouth.length; i++) {
      min = Math.min(min, mouth[i]!);
      max = Math.max(max, mouth[i]!);
    }
    if (!(max - min > 0.5)) return undefined;
    const r = shifted.map((values) => pearson(mouth, values));
    let best = 0;
    for (let k = 1; k < r.length; k++) if (Math.abs(r[k]!) > Math.abs(r[best]!)) best = k;
    let peak = best;
    if (best > 0 && best < r.length - 1) {
      const [a, b, c] = [Math.abs(r[best - 1]!), Math.abs(r[best]!), Math.abs(r[best + 1]!)];
      const curve = a - 2 * b + c;
      if (curve < 0) peak += (0.5 * (a - c)) / curve;
    }
    const magnitudes = r.map(Math.abs).sort((x, y) => x - y);
    const correlation = Math.abs(r[best]!);
    // The mouth shows at t what the sound plays at t + lag: a sound ahead of its picture peaks at a negative lag.
    return {
      offsetMs: -(peak - lags) * stepSeconds * 1000,
      correlation,
      confidence: Math.max(0, correlation - magnitudes[lags]!),
    };
  });
}
