// Pictures in the frame format the encoder takes: I420 (planar Y, then U and V at half resolution), BT.709 limited
// range. Overlays and mouth patches arrive as RGBA; they are converted once to YUVA (with alpha at both resolutions)
// and alpha-blended into the frame here, on the thread that makes the room's frames (a compose worker for a live
// room), so every frame is composed exactly on the audio clock.
// The blend runs in a small native kernel (native/compose.c, vectorized by the compiler) when it is built, else in
// JavaScript: the same integer arithmetic, bit for bit.
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { repoPath } from "../avatars/index.js";
import { ComposeKernelMissingError } from "./errors.js";
import { aligned } from "./bytes.js";
export interface Yuva {
  width: number;
  height: number;
  y: Uint8Array;
  u: Uint8Array;
  v: Uint8Array;
  /** Alpha at full resolution, and averaged over each 2x2 block (for the chroma planes). */
  a: Uint8Array;
  ac: Uint8Array;
}

export const i420Size = (width: number, height: number) => width * height + 2 * (width / 2) * (height / 2);

/** RGBA (row-major, no padding) to YUVA, BT.709 limited range. */
export function rgbaToYuva(rgba: Uint8Array, width: number, height: number): Yuva {
  const cw = Math.ceil(width / 2);
  const ch = Math.ceil(height / 2);
  const y = new Uint8Array(width * height);
  const a = new Uint8Array(width * height);
  const u = new Uint8Array(cw * ch);
  const v = new Uint8Array(cw * ch);
  const ac = new Uint8Array(cw * ch);
  for (let row = 0; row < height; row++) {
    for (let col = 0; col < width; col++) {
      const o = (row * width + col) * 4;
      y[row * width + col] =
        (16 + (46.559 * rgba[o]! + 156.629 * rgba[o + 1]! + 15.812 * rgba[o + 2]!) / 255 + 0.5) | 0;
      a[row * width + col] = rgba[o + 3]!;
    }
  }
  for (let crow = 0; crow < ch; crow++) {
    for (let ccol = 0; ccol < cw; ccol++) {
      let r = 0;
      let g = 0;
      let b = 0;
      let alpha = 0;
      let n = 0;
      for (let dy = 0; dy < 2; dy++) {
        for (let dx = 0; dx < 2; dx++) {
          const row = crow * 2 + dy;
          const col = ccol * 2 + dx;
          if (row >= height || col >= width) continue;
          const o = (row * width + col) * 4;
          const w = rgba[o + 3]! + 1; // alpha-weighted, so transparent pixels do not tint the edge
          r += rgba[o]! * w;
          g += rgba[o + 1]! * w;
          b += rgba[o + 2]! * w;
          alpha += w;
          n++;
        }
      }
      r /= alpha;
      g /= alpha;
      b /= alpha;
      const i = crow * cw + ccol;
      u[i] = Math.min(255, Math.max(0, (128 + (-25.664 * r - 86.336 * g + 112 * b) / 255 + 0.5) | 0));
      v[i] = Math.min(255, Math.max(0, (128 + (112 * r - 101.73 * g - 10.27 * b) / 255 + 0.5) | 0));
      ac[i] = Math.round((alpha - n) / n);
    }
  }
  return { width, height, y, u, v, a, ac };
}

/** Nearest-neighbour resize of an RGBA image (mouth patches when the output size differs from the avatar's). */
export function resizeRgba(rgba: Uint8Array, width: number, height: number, toWidth: number, toHeight: number) {
  const out = new Uint8Array(toWidth * toHeight * 4);
  const view = new Uint32Array(out.buffer);
  const pixels = aligned(rgba, 4);
  const src = new Uint32Array(pixels.buffer, pixels.byteOffset, width * height);
  for (let row = 0; row < toHeight; row++) {
    const srow = Math.min(height - 1, Math.floor(((row + 0.5) * height) / toHeight));
    for (let col = 0; col < toWidth; col++) {
      view[row * toWidth + col] = src[srow * width + Math.min(width - 1, Math.floor(((col + 0.5) * width) / toWidth))]!;
    }
  }
  return out;
}

/**
 * Blends `image` into an I420 frame with its top-left corner at (x, y) (rounded down to even, so chroma lines up),
 * scaled by `opacity` (0 to 1). Parts outside the frame are clipped.
 */
export function blendInto(
  frame: Uint8Array,
  width: number,
  height: number,
  image: Yuva,
  x: number,
  y: number,
  opacity = 1,
) {
  const op = Math.round(Math.min(1, Math.max(0, opacity)) * 256);
  if (op === 0) return;
  const x0 = Math.floor(x / 2) * 2;
  const y0 = Math.floor(y / 2) * 2;
  const left = Math.max(0, -x0);
  const top = Math.max(0, -y0);
  const right = Math.min(image.width, width - x0);
  const bottom = Math.min(image.height, height - y0);
  if (left >= right || top >= bottom) return;
  const native = implementation === "native" ? kernel() : undefined;
  if (native) {
    native.blend(
      frame,
      width,
      height,
      image.y,
      image.u,
      image.v,
      image.a,
      image.ac,
      image.width,
      image.height,
      x0,
      y0,
      op,
      left,
      top,
      right,
      bottom,
    );
    return;
  }
  for (let row = top; row < bottom; row++) {
    const fo = (y0 + row) * width + x0;
    const io = row * image.width;
    for (let col = left; col < right; col++) {
      const alpha = (image.a[io + col]! * op) >> 8;
      if (alpha === 0) continue;
      const w = alpha + (alpha >> 7);
      const dst = fo + col;
      frame[dst] = (frame[dst]! * (256 - w) + image.y[io + col]! * w) >> 8;
    }
  }
  const cw = width / 2;
  const uBase = width * height;
  const vBase = uBase + cw * (height / 2);
  const icw = Math.ceil(image.width / 2);
  const cx0 = x0 / 2;
  const cy0 = y0 / 2;
  const cleft = Math.ceil(left / 2);
  const ctop = Math.ceil(top / 2);
  const cright = Math.min(icw, cw - cx0);
  const cbottom = Math.min(Math.ceil(image.height / 2), height / 2 - cy0);
  for (let row = ctop; row < cbottom; row++) {
    const fo = (cy0 + row) * cw + cx0;
    const io = row * icw;
    for (let col = cleft; col < cright; col++) {
      const alpha = (image.ac[io + col]! * op) >> 8;
      if (alpha === 0) continue;
      const w = alpha + (alpha >> 7);
      const dst = fo + col;
      frame[uBase + dst] = (frame[uBase + dst]! * (256 - w) + image.u[io + col]! * w) >> 8;
      frame[vBase + dst] = (frame[vBase + dst]! * (256 - w) + image.v[io + col]! * w) >> 8;
    }
  }
}

type NativeCompose = {
  blend(
    frame: Uint8Array,
    width: number,
    height: number,
    y: Uint8Array,
    u: Uint8Array,
    v: Uint8Array,
    a: Uint8Array,
    ac: Uint8Array,
    imageWidth: number,
    imageHeight: number,
    x0: number,
    y0: number,
    op: number,
    left: number,
    top: number,
    right: number,
    bottom: number,
  ): void;
  copy(dst: Uint8Array, src: Uint8Array): void;
};

/**
 * Copies a whole frame `src` into `dst` (at least as long): with memcpy in the kernel when it is built (a frame of the
 * shared idle loop lives in a SharedArrayBuffer, which V8 copies word by word with atomic moves), else Buffer#copy.
 */
export function copyFrame(src: Uint8Array, dst: Uint8Array): void {
  if (dst.length < src.length) throw new RangeError("copy: destination shorter than the source");
  const native = kernel();
  if (native) native.copy(dst, src);
  else dst.set(src);
}

/** Where the kernel is built: media/native/build/Release (npm run setup builds it). */
const nativeRelative = "media/native/build/Release/livehost_compose.node";
/** Loaded on the first blend, so that processes importing media/ without composing (workers) never load it. */
let loaded: { native: NativeCompose | undefined } | undefined;
let implementation: "native" | "js" = "native";

function kernel(): NativeCompose | undefined {
  if (!loaded) {
    const path = repoPath(nativeRelative);
    if (existsSync(path)) {
      loaded = { native: createRequire(import.meta.url)(path) as NativeCompose };
    } else {
      // Loaded only here: compose workers import this file and must not load the whole observability stack for it.
      void import("../observability/index.js").then(({ rootLogger }) =>
        rootLogger().warn({ path }, "compose kernel not built; blending in JavaScript (npm run setup builds it)"),
      );
      loaded = { native: undefined };
      implementation = "js";
    }
  }
  return loaded.native;
}

/** Which blend runs; "js" forces the JavaScript reference (tests compare the two). */
export function blendImplementation(choice?: "native" | "js"): "native" | "js" {
  const native = kernel();
  if (choice === "native" && !native) {
    throw new ComposeKernelMissingError(`compose kernel not built at ${repoPath(nativeRelative)}`);
  }
  if (choice) implementation = choice;
  return native ? implementation : "js";
}
