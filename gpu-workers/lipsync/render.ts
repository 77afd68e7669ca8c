// A parametric mouth: the patch composited onto the avatar's base video, drawn from the mouth parameters (opening,
// width, rounding) as lips around a dark mouth opening, with a transparent background. The default avatar uses it;
// avatar packs built from video replace it with an atlas of real mouth images.
import type { MouthParams } from "./visemes.js";

export interface MouthPatch {
  width: number;
  height: number;
  /** RGBA, row-major, no padding. */
  data: Uint8Array;
}

const lip = [176, 72, 90];
const inside = [58, 18, 24];
const teeth = [236, 232, 225];

export function renderMouth(mouth: MouthParams, width = 96, height = 64): MouthPatch {
  const data = new Uint8Array(width * height * 4);
  const cx = width / 2;
  const cy = height / 2;
  // Outer lips: wider when spread, narrower when rounded; taller when open.
  const outerX = (width / 2) * (0.55 + 0.4 * mouth.width - 0.25 * mouth.round);
  const outerY = (height / 2) * (0.28 + 0.62 * mouth.open);
  // The opening inside the lips, and a band of upper teeth when the mouth is open enough to show them.
  const innerX = outerX * (0.78 - 0.2 * mouth.round);
  const innerY = Math.max(0, outerY - height * 0.09);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const dx = (x + 0.5 - cx) / outerX;
      const dy = (y + 0.5 - cy) / outerY;
      const outer = dx * dx + dy * dy;
      if (outer > 1) continue;
      const ix = (x + 0.5 - cx) / innerX;
      const iy = innerY > 0 ? (y + 0.5 - cy) / innerY : Infinity;
      const inner = ix * ix + iy * iy;
      const teethBand = inner <= 1 && y + 0.5 < cy - innerY * 0.45;
      const colour = inner <= 1 ? (teethBand ? teeth : inside) : lip;
      const o = (y * width + x) * 4;
      data[o] = colour[0]!;
      data[o + 1] = colour[1]!;
      data[o + 2] = colour[2]!;
      // Soft edge so the patch blends into the face.
      data[o + 3] = Math.round(255 * Math.min(1, (1 - outer) * 6));
    }
  }
  return { width, height, data };
}
