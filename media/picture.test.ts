import { afterEach, describe, expect, it } from "vitest";
import { blendImplementation, blendInto, copyFrame, i420Size, resizeRgba, rgbaToYuva } from "./picture.js";

/** A deterministic pseudo-random byte source, so a failure can be replayed. */
function bytes(seed: number) {
  let state = seed;
  return () => {
    state = (state * 1_103_515_245 + 12_345) >>> 0;
    return state >>> 24;
  };
}

function image(width: number, height: number, seed: number) {
  const next = bytes(seed);
  const rgba = new Uint8Array(width * height * 4).map(next);
  // Fully transparent and fully opaque pixels as well as partial ones.
  for (let i = 3; i < rgba.length; i += 28) rgba[i] = 0;
  for (let i = 15; i < rgba.length; i += 36) rgba[i] = 255;
  return rgbaToYuva(rgba, width, height);
}

describe("blending overlays into I420 frames", () => {
  const original = blendImplementation();
  afterEach(() => void blendImplementation(original));

  it("runs the native kernel when it is built, and it gives the JavaScript reference's frame bit for bit", () => {
    expect(blendImplementation()).toBe("native");
    const [width, height] = [96, 64];
    const frame = new Uint8Array(i420Size(width, height)).map(bytes(1));
    const cases = [
      { w: 30, h: 20, x: 10, y: 8, opacity: 1 },
      { w: 31, h: 17, x: 11, y: 5, opacity: 0.5 }, // odd sizes, odd position (rounded down to even)
      { w: 40, h: 30, x: -13, y: -9, opacity: 0.8 }, // clipped at the top left
      { w: 50, h: 40, x: 70, y: 40, opacity: 1 }, // clipped at the bottom right
      { w: 200, h: 100, x: -50, y: -20, opacity: 0.3 }, // larger than the frame
    ];
    for (const [i, c] of cases.entries()) {
      const overlay = image(c.w, c.h, 100 + i);
      const js = frame.slice();
      const native = frame.slice();
      blendImplementation("js");
      blendInto(js, width, height, overlay, c.x, c.y, c.opacity);
      blendImplementation("native");
      blendInto(native, width, height, overlay, c.x, c.y, c.opacity);
      expect(Buffer.compare(native, js), `case ${i}`).toBe(0);
      expect(Buffer.compare(native, frame), `case ${i} changed the frame`).not.toBe(0);
    }
  });

  it("leaves the frame untouched where the image is transparent or outside it", () => {
    const [width, height] = [64, 32];
    const frame = new Uint8Array(i420Size(width, height)).fill(90);
    const rgba = new Uint8Array(8 * 8 * 4);
    for (let i = 0; i < 64; i++) rgba.set(i < 32 ? [255, 255, 255, 255] : [0, 0, 0, 0], i * 4);
    blendInto(frame, width, height, rgbaToYuva(rgba, 8, 8), 60, 0);
    // White on the top half of the patch, inside the frame (x 60..63); nothing beyond, nothing below.
    expect(frame[0 * width + 60]).toBe(235);
    expect(frame[0 * width + 59]).toBe(90);
    expect(frame[5 * width + 60]).toBe(90);
    expect(frame[1 * width + 0]).toBe(90); // the clipped part does not wrap onto the next row
  });
});

describe("copying a frame of the shared idle loop", () => {
  it("copies a frame held in a SharedArrayBuffer byte for byte, and refuses a destination too short", () => {
    const shared = new Uint8Array(new SharedArrayBuffer(i420Size(64, 32)));
    for (let i = 0; i < shared.length; i++) shared[i] = (i * 31) & 0xff;
    const frame = Buffer.alloc(shared.length);
    copyFrame(shared, frame);
    expect(frame.equals(Buffer.from(shared))).toBe(true);
    expect(() => copyFrame(shared, Buffer.alloc(shared.length - 1))).toThrow(/shorter/);
  });
});

describe("resizing mouth patches", () => {
  it("resizes a patch at any offset of a shared buffer (as decoded from gRPC) as it resizes a copy", () => {
    const [width, height] = [6, 4];
    const rgba = new Uint8Array(width * height * 4).map(bytes(7));
    for (const offset of [1, 2, 3]) {
      const shared = Buffer.alloc(rgba.length + offset);
      shared.set(rgba, offset);
      const view = shared.subarray(offset);
      expect(resizeRgba(view, width, height, 9, 5)).toEqual(resizeRgba(rgba, width, height, 9, 5));
    }
  });
});
