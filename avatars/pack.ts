// Avatar packs: what a room needs to show a host. A pack is a directory:
//   pack.json    id, frame size, fps, the mouth box (and, in packs built from a video, the face box) on the frame, and
//                the files below
//   base.png     the host's idle frame; base.mp4, the idle loop made from it (H.264, the room's base video)
//   atlas.rgba   one RGBA mouth image per viseme (visemeCount images of the mouth box size, in viseme order)
// gpu-workers write packs (the drawn default host, packs built from a merchant's video); media reads them.
import { readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { UnavailableError } from "../errors/index.js";
import { visemeCount, type VisemeId } from "./visemes.js";

export interface AvatarPackManifest {
  id: string;
  width: number;
  height: number;
  fps: number;
  mouth: { x: number; y: number; width: number; height: number };
  /** The host's face on the frame (packs built from a video, from face landmarks); absent in older packs. */
  face?: { x: number; y: number; width: number; height: number };
  base: { image: string; video: string; loopSeconds: number };
  atlas: string;
  visemes: number;
  madeBy: string;
  /** Packs built from a video: what the build found (see gpu-workers/lipsync/avatar-build.ts). */
  build?: {
    source: string;
    durationS: number;
    visemesSeen: string[];
    /** Mouth shapes the host never held, and the shape whose image stands in for each. */
    substituted: Record<string, string>;
    /** How well the mouth box's brightness follows the speech (|r|, 0 to 1). */
    mouthCorrelation: number;
  };
}

export interface AvatarPack {
  dir: string;
  manifest: AvatarPackManifest;
  /** The mouth image for a viseme, RGBA of the mouth box size. */
  mouthImage: (viseme: VisemeId) => Uint8Array;
}

/** Loads and checks a pack; a corrupt one is refused with what is wrong. */
export async function loadAvatarPack(dir: string): Promise<AvatarPack> {
  let manifest: AvatarPackManifest;
  try {
    manifest = JSON.parse(await readFile(join(dir, "pack.json"), "utf8")) as AvatarPackManifest;
  } catch (err) {
    throw new UnavailableError(`avatar pack ${dir}: pack.json is missing or not JSON`, { cause: err });
  }
  const problem = (what: string) => new UnavailableError(`avatar pack ${dir}: ${what}`);
  if (typeof manifest.id !== "string" || !/^[a-z0-9][a-z0-9-]{0,62}$/.test(manifest.id))
    throw problem("id is missing or invalid");
  const m = manifest.mouth;
  if (!m || ![m.x, m.y, m.width, m.height].every((n) => Number.isInteger(n) && n >= 0))
    throw problem("mouth box is invalid");
  if (m.x + m.width > manifest.width || m.y + m.height > manifest.height)
    throw problem("mouth box lies outside the frame");
  const f = manifest.face;
  if (f !== undefined) {
    if (![f.x, f.y, f.width, f.height].every((n) => Number.isInteger(n) && n >= 0) || f.width === 0 || f.height === 0)
      throw problem("face box is invalid");
    if (f.x + f.width > manifest.width || f.y + f.height > manifest.height)
      throw problem("face box lies outside the frame");
  }
  if (manifest.visemes !== visemeCount) throw problem(`atlas must hold ${visemeCount} visemes`);
  const atlas = await readFile(join(dir, manifest.atlas)).catch(() => undefined);
  const imageBytes = m.width * m.height * 4;
  if (!atlas || atlas.length !== visemeCount * imageBytes) {
    throw problem(`${manifest.atlas} is missing or not ${visemeCount} images of ${m.width}x${m.height} RGBA`);
  }
  const video = await stat(join(dir, manifest.base.video)).catch(() => undefined);
  if (!video || video.size === 0) throw problem(`${manifest.base.video} is missing`);
  return {
    dir,
    manifest,
    mouthImage: (viseme) => atlas.subarray(viseme * imageBytes, (viseme + 1) * imageBytes),
  };
}
