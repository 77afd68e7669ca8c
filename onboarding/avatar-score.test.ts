// The onboarding quality step on real renders: the default avatar, driven by the embedded TTS and the lip-sync model,
// scores well and passes; the same pack degraded on purpose (its pictures blurred, or one mouth image for every
// viseme) scores lower with the reason named; temporary files go whatever happens, and an abort stops it.
import { execFile } from "node:child_process";
import { cp, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { repoPath } from "../avatars/index.js";
import { scoreAvatar, type AvatarScore } from "./avatar-score.js";

const exec = promisify(execFile);
const defaultPack = repoPath("models/avatars/default");
let dir: string;
let work: string;
const scores = new Map<string, AvatarScore>();

/** A copy of the default pack, `change`d in place. */
async function degradedPack(name: string, change: (pack: string) => Promise<void>): Promise<string> {
  const pack = join(dir, name);
  await cp(defaultPack, pack, { recursive: true });
  await change(pack);
  return pack;
}

const ffmpeg = (args: string[]) => exec("ffmpeg", ["-v", "error", "-y", ...args], { timeout: 60_000 });

/** Every picture of the pack blurred (σ 4 px at its 720x1280): the idle loop, the still, the mouth images. */
async function blur(pack: string): Promise<void> {
  const filter = "gblur=sigma=4";
  await ffmpeg([
    "-i",
    join(pack, "base.mp4"),
    "-vf",
    filter,
    "-c:v",
    "libx264",
    "-pix_fmt",
    "yuv420p",
    join(dir, "b.mp4"),
  ]);
  await cp(join(dir, "b.mp4"), join(pack, "base.mp4"));
  await ffmpeg(["-i", join(pack, "base.png"), "-vf", filter, join(dir, "b.png")]);
  await cp(join(dir, "b.png"), join(pack, "base.png"));
  const { mouth } = JSON.parse(await readFile(join(pack, "pack.json"), "utf8")) as {
    mouth: { width: number; height: number };
  };
  const raw = ["-f", "rawvideo", "-pix_fmt", "rgba", "-s", `${mouth.width}x${mouth.height}`];
  await ffmpeg([...raw, "-i", join(pack, "atlas.rgba"), "-vf", filter, ...raw.slice(0, 4), join(dir, "b.rgba")]);
  await cp(join(dir, "b.rgba"), join(pack, "atlas.rgba"));
}

/** The rest mouth for every viseme: the lips never move. */
async function stillMouth(pack: string): Promise<void> {
  const atlas = await readFile(join(pack, "atlas.rgba"));
  const image = atlas.length / 10;
  for (let v = 1; v < 10; v++) atlas.copy(atlas, v * image, 0, image);
  await writeFile(join(pack, "atlas.rgba"), atlas);
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "livehost-avatar-score-test-"));
  work = join(dir, "work");
  await mkdir(work);
  const [blurred, still] = await Promise.all([degradedPack("blurred", blur), degradedPack("still-mouth", stillMouth)]);
  // One after the other: each render and decode uses the cores it finds.
  for (const [name, avatarDir, language] of [
    ["default en", defaultPack, "en"],
    ["default zh", defaultPack, "zh"],
    ["blurred", blurred, "en"],
    ["still mouth", still, "en"],
  ] as const) {
    scores.set(name, await scoreAvatar({ avatarDir, language, threshold: 60, workDir: work }));
  }
}, 180_000);
afterAll(() => rm(dir, { recursive: true, force: true }));

describe("scoring an avatar pack", () => {
  it.each(["default en", "default zh"])(
    "passes the default avatar (%s): nothing found, every part graded 5",
    (name) => {
      const score = scores.get(name)!;
      expect(score.passed).toBe(true);
      expect(score.reasons).toEqual([]);
      expect(score.score).toBeGreaterThanOrEqual(90);
      expect(score.mos).toBeGreaterThanOrEqual(4.6);
      expect(score.seconds).toBeGreaterThan(8);
      expect(score.parts.map((p) => p.name)).toEqual(
        expect.arrayContaining(["av_offset", "lip_sync", "frozen", "blur", "loudness", "clipping", "fps"]),
      );
      expect(score.report.lipSync!.correlation).toBeGreaterThan(0.2);
      expect(score.file).toBeUndefined();
    },
  );

  it("scores a blurred pack lower and says it is blurred", () => {
    const score = scores.get("blurred")!;
    expect(score.score).toBeLessThan(scores.get("default en")!.score - 20);
    expect(score.passed).toBe(false);
    expect(score.reasons.some((r) => /blurred/.test(r))).toBe(true);
    expect(score.parts.find((p) => p.name === "blur")!.mos).toBeLessThan(4);
  });

  it("scores a pack whose lips never move lower and says the mouth does not follow the voice", () => {
    const score = scores.get("still mouth")!;
    expect(score.score).toBeLessThan(scores.get("default en")!.score - 20);
    expect(score.passed).toBe(false);
    expect(score.reasons.some((r) => /mouth does not follow the voice/.test(r))).toBe(true);
    expect(score.report.lipSync!.correlation).toBeLessThan(0.1);
  });

  it("leaves no temporary files, keeps the recording only when asked, and stops on abort", async () => {
    expect(await readdir(work)).toEqual([]);
    const keep = join(dir, "kept");
    const controller = new AbortController();
    const stopped = scoreAvatar({
      avatarDir: defaultPack,
      language: "en",
      threshold: 60,
      workDir: work,
      signal: controller.signal,
      onProgress: (fraction) => {
        if (fraction >= 0.45) setTimeout(() => controller.abort(new Error("job cancelled")), 100);
      },
    });
    await expect(stopped).rejects.toThrow("job cancelled");
    expect(await readdir(work)).toEqual([]);
    const kept = await scoreAvatar({
      avatarDir: defaultPack,
      language: "en",
      sentences: ["Thanks for watching."],
      threshold: 0,
      workDir: work,
      keepDir: keep,
    });
    expect(kept.file).toBe(join(keep, "default-quality.mp4"));
    expect(await readdir(keep)).toEqual(["default-quality.mp4"]);
    expect(await readdir(work)).toEqual([]);
  });

  it("refuses a threshold off the 0 to 100 scale and an unknown language, naming the field", async () => {
    await expect(scoreAvatar({ avatarDir: defaultPack, language: "en", threshold: 3.5e3 })).rejects.toMatchObject({
      field: "threshold",
    });
    await expect(scoreAvatar({ avatarDir: defaultPack, language: "fr" as "en", threshold: 60 })).rejects.toMatchObject({
      field: "language",
    });
  });
});
