import { describe, expect, it } from "vitest";
import { execFileSync } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Viseme, loadAvatarPack } from "../../avatars/index.js";
import { decodeVideo } from "../../media/index.js";
import { writeDefaultAvatarPack } from "./default-avatar.js";

async function tempDir() {
  const dir = await mkdtemp(join(tmpdir(), "livehost-avatar-"));
  return { dir, [Symbol.asyncDispose]: () => rm(dir, { recursive: true, force: true }) };
}

describe("the default avatar pack", () => {
  it("is made with GStreamer: a 720x1280 H.264 idle loop, a mouth atlas per viseme, and a manifest", async () => {
    await using tmp = await tempDir();
    await writeDefaultAvatarPack(tmp.dir);
    const pack = await loadAvatarPack(tmp.dir);
    expect(pack.manifest).toMatchObject({ id: "default", width: 720, height: 1280, fps: 25, visemes: 10 });
    const probe = JSON.parse(
      execFileSync(
        "ffprobe",
        ["-v", "error", "-show_streams", "-show_format", "-of", "json", join(tmp.dir, "base.mp4")],
        {
          encoding: "utf8",
        },
      ),
    ) as {
      streams: { codec_name: string; width: number; height: number; r_frame_rate: string }[];
      format: { duration: string };
    };
    expect(probe.streams[0]).toMatchObject({ codec_name: "h264", width: 720, height: 1280, r_frame_rate: "25/1" });
    expect(Number(probe.format.duration)).toBeCloseTo(pack.manifest.base.loopSeconds, 1);
    // The idle loop is alive: the host blinks (a few frames whose eye area differs from the first frame's).
    const eyeRow = Math.round(1280 * (0.42 - 0.13 * 0.15));
    const eyeStrip = (rgba: Buffer) => rgba.subarray(eyeRow * 720 * 4, (eyeRow + 1) * 720 * 4);
    let first: Buffer | undefined;
    const blinking: number[] = [];
    await decodeVideo(join(tmp.dir, "base.mp4"), { width: 720, height: 1280, fps: 25 }, (rgba, index) => {
      const strip = Buffer.from(eyeStrip(rgba));
      first ??= strip;
      let changed = 0;
      for (let i = 0; i < strip.length; i += 4) if (Math.abs(strip[i]! - first[i]!) > 60) changed++;
      if (changed > 20) blinking.push(index);
    });
    expect(blinking.length).toBeGreaterThan(0);
    expect(blinking.length).toBeLessThan(10);
    // An open mouth shows more of the dark inside than a closed one.
    const dark = (image: Uint8Array) => {
      let n = 0;
      for (let i = 0; i < image.length; i += 4) if (image[i + 3]! > 200 && image[i]! < 80) n++;
      return n;
    };
    expect(dark(pack.mouthImage(Viseme.open))).toBeGreaterThan(dark(pack.mouthImage(Viseme.closed)) + 200);
  });

  it("refuses a corrupt pack, saying what is wrong", async () => {
    await using tmp = await tempDir();
    await writeDefaultAvatarPack(tmp.dir, { width: 360, height: 640 });
    await writeFile(join(tmp.dir, "atlas.rgba"), new Uint8Array(100));
    await expect(loadAvatarPack(tmp.dir)).rejects.toThrow(/atlas.rgba is missing or not 10 images of 48x32 RGBA/);
    await writeFile(join(tmp.dir, "pack.json"), "{ nope");
    await expect(loadAvatarPack(tmp.dir)).rejects.toThrow(/pack.json is missing or not JSON/);
  });
});
