// Blur without a reference: at edges, the energy of one-pixel differences over that of two-pixel differences. A crisp
// step edge puts its whole rise into one pixel step, so both differences see it once or twice and the ratio is 1/2; a
// blurred edge is a ramp over several pixels, where a two-pixel difference is twice a one-pixel one, and the ratio
// falls to 1/4. Texture and noise (unrelated neighbours) sit near 1. The ratio does not depend on contrast or on how
// much of the picture is edge, so one floor serves any host; it does depend on the size the picture is read at (an
// upscaled picture is soft, and reads so).

/** Where the differences are taken: only where the two-pixel difference reaches this (an edge, not flat noise). */
const edgeLuma = 8;

export interface EdgeEnergy {
  /** Sum of squared one-pixel differences at the edges read. */
  fine: number;
  /** Sum of squared two-pixel differences there. */
  coarse: number;
  /** Edge points read. */
  points: number;
}

/**
 * Reads horizontal and vertical differences at full resolution, at one point in four of the analyzers' grid (every
 * `step`-th pixel of every `step`-th row): `phase` picks which of the four, so four calls with phases in a row cover
 * the whole grid. The analyzer calls it every other frame.
 */
export function edgeEnergy(
  luma: Uint8Array,
  width: number,
  height: number,
  stride: number,
  step: number,
  phase: number,
): EdgeEnergy {
  let fine = 0;
  let coarse = 0;
  let points = 0;
  const half = step >> 1;
  const every = 2 * step;
  for (let y = half + (phase & 1) * step; y < height - 2; y += every) {
    const row = y * stride;
    for (let x = half + ((phase >> 1) & 1) * step; x < width - 2; x += every) {
      const at = row + x;
      const v = luma[at]!;
      const h2 = luma[at + 2]! - v;
      if (h2 >= edgeLuma || h2 <= -edgeLuma) {
        const h1 = luma[at + 1]! - v;
        fine += h1 * h1;
        coarse += h2 * h2;
        points++;
      }
      const v2 = luma[at + 2 * stride]! - v;
      if (v2 >= edgeLuma || v2 <= -edgeLuma) {
        const v1 = luma[at + stride]! - v;
        fine += v1 * v1;
        coarse += v2 * v2;
        points++;
      }
    }
  }
  return { fine, coarse, points };
}

/**
 * Below this ratio a stretch is blurred. The drawn default host reads 0.47 at 360x640 (x264), 0.42 at its own
 * 720x1280; a Gaussian blur of σ 0.7 px at 360x640 brings it to 0.35, σ 1 to 0.31, σ 3 to 0.26 (an ideal ramp: 0.25).
 */
export const blurFloor = 0.37;

/** Edge points a stretch needs before its sharpness is judged (a plain or black picture says nothing). */
export const minEdgePoints = 200;
