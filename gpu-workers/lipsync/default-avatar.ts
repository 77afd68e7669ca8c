// The project's default avatar pack, made here with no downloads: a drawn host (face, hair, eyes that blink) on a
// studio backdrop, its idle loop encoded with GStreamer and a mouth atlas rendered per viseme. The pack format is
// avatars/'s; packs built from a merchant's video (avatar-build.ts) share it.
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { visemeCount, type AvatarPackManifest, type VisemeId } from "../../avatars/index.js";
import { writeMp4, writePng } from "../../media/index.js";
import { renderMouth } from "./render.js";
import { visemeParams } from "./visemes.js";

/** Where the drawn host's mouth is: on the lower face, scaled with the frame (96x64 at 720x1280). */
export function defaultMouthBox(width: number, height: number) {
  const mouthWidth = Math.round((width * 0.1333) / 2) * 2;
  const mouthHeight = Math.round((mouthWidth * 2) / 3 / 2) * 2;
  const centreY = height * 0.42 + height * 0.13 * 0.45;
  return {
    x: Math.round(width / 2 - mouthWidth / 2),
    y: Math.round(centreY - mouthHeight / 2),
    width: mouthWidth,
    height: mouthHeight,
  };
}

/**
 * Where the drawn host's face is: the bounding box of the face drawn by drawDefaultHost (what a face detector
 * would find), for the talking-face generator. The mouth box lies in its lower half.
 */
export function defaultFaceBox(width: number, height: number) {
  const rx = width * 0.2;
  const ry = height * 0.13;
  const even = (n: number) => Math.round(n / 2) * 2;
  return { x: even(width / 2 - rx), y: even(height * 0.42 - ry), width: even(2 * rx), height: even(2 * ry) };
}

/** The default host, drawn: a face with hair, eyes and a neutral mouth area, on a studio backdrop. */
export function drawDefaultHost(width: number, height: number, eyes: "open" | "closed" = "open"): Uint8Array {
  const rgba = new Uint8Array(width * height * 4);
  const cx = width / 2;
  const faceY = height * 0.42;
  const faceRx = width * 0.2;
  const faceRy = height * 0.13;
  const inEllipse = (x: number, y: number, ex: number, ey: number, rx: number, ry: number) =>
    ((x - ex) / rx) ** 2 + ((y - ey) / ry) ** 2 <= 1;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      // Backdrop: a soft vertical gradient.
      let colour = [40 + (y / height) * 50, 60 + (y / height) * 40, 110 - (y / height) * 30];
      if (y > faceY + faceRy * 0.8 && Math.abs(x - cx) < width * (0.18 + (y - faceY) / height)) colour = [200, 60, 80]; // top
      if (inEllipse(x, y, cx, faceY + faceRy * 0.95, faceRx * 0.35, faceRy * 0.4)) colour = [226, 180, 150]; // neck
      if (inEllipse(x, y, cx, faceY - faceRy * 0.25, faceRx * 1.15, faceRy * 1.05)) colour = [50, 30, 25]; // hair
      if (inEllipse(x, y, cx, faceY, faceRx, faceRy)) colour = [236, 192, 160]; // face
      for (const side of [-1, 1]) {
        const eyeX = cx + side * faceRx * 0.38;
        const eyeY = faceY - faceRy * 0.15;
        if (eyes === "closed") {
          if (inEllipse(x, y, eyeX, eyeY, faceRx * 0.16, faceRy * 0.012)) colour = [60, 40, 35]; // lid line
        } else {
          if (inEllipse(x, y, eyeX, eyeY, faceRx * 0.16, faceRy * 0.08)) colour = [250, 250, 250];
          if (inEllipse(x, y, eyeX, eyeY, faceRx * 0.07, faceRy * 0.07)) colour = [40, 30, 30];
        }
      }
      const o = (y * width + x) * 4;
      rgba[o] = colour[0]!;
      rgba[o + 1] = colour[1]!;
      rgba[o + 2] = colour[2]!;
      rgba[o + 3] = 255;
    }
  }
  return rgba;
}

/**
 * Writes the project's default avatar pack into `dir`: the drawn host as base.png, a base.mp4 idle loop encoded
 * with GStreamer (x264), the mouth atlas rendered per viseme, and pack.json.
 */
export async function writeDefaultAvatarPack(
  dir: string,
  options: { width?: number; height?: number; fps?: number } = {},
) {
  const width = options.width ?? 720;
  const height = options.height ?? 1280;
  const fps = options.fps ?? 25;
  const mouth = defaultMouthBox(width, height);
  await mkdir(dir, { recursive: true });

  const face = drawDefaultHost(width, height);
  await writePng(join(dir, "base.png"), face, width, height);
  // The idle loop: the host at rest, blinking once (eyes closed for 120 ms) in each loop.
  const loopSeconds = 4;
  const blinking = drawDefaultHost(width, height, "closed");
  const blinkAt = Math.round(fps * 2.5);
  const blinkFrames = Math.max(1, Math.round(fps * 0.12));
  const loop = Array.from({ length: loopSeconds * fps }, (_, i) =>
    i >= blinkAt && i < blinkAt + blinkFrames ? blinking : face,
  );
  await writeMp4(join(dir, "base.mp4"), loop, { width, height, fps });

  const atlas = new Uint8Array(visemeCount * mouth.width * mouth.height * 4);
  for (let v = 0; v < visemeCount; v++) {
    atlas.set(
      renderMouth(visemeParams[v as VisemeId], mouth.width, mouth.height).data,
      v * mouth.width * mouth.height * 4,
    );
  }
  await writeFile(join(dir, "atlas.rgba"), atlas);
  const manifest: AvatarPackManifest = {
    id: "default",
    width,
    height,
    fps,
    mouth,
    face: defaultFaceBox(width, height),
    base: { image: "base.png", video: "base.mp4", loopSeconds },
    atlas: "atlas.rgba",
    visemes: visemeCount,
    madeBy: "gpu-workers/lipsync/default-avatar.ts (drawn, no downloads)",
  };
  await writeFile(join(dir, "pack.json"), `${JSON.stringify(manifest, null, 2)}\n`);
  return manifest;
}
