import { execFile } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli } from "../testing/index.js";

let dir: string;
let slow: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "livehost-cli-quality-"));
  // 3 s of moving pictures at 10 fps with a tone: fine but for its frame rate.
  slow = join(dir, "slow.mp4");
  await promisify(execFile)("ffmpeg", [
    ...["-v", "error", "-f", "lavfi", "-i", "testsrc=size=320x240:rate=10:duration=3"],
    ...["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=3", "-shortest"],
    ...["-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", slow],
  ]);
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("livehost quality", () => {
  it("scores a file and says why, failing it below --min-score, as text or one JSON object", async () => {
    await using text = runCli(["quality", slow]);
    expect(await text.exited()).toEqual({ code: 1, signal: null });
    expect(text.stdout()).toMatch(/score [\d.]+\/100, FAILS/);
    expect(text.stdout()).toMatch(/low_fps: 10 fps, below the 25 fps rule/);

    await using json = runCli(["quality", slow, "--json", "--min-score", "0", "--mouth", "10,10,40,20"]);
    expect(await json.exited()).toEqual({ code: 0, signal: null });
    const report = JSON.parse(json.stdout()) as {
      passed: boolean;
      video: { fps: number };
      defects: { kind: string }[];
    };
    expect(report).toMatchObject({ passed: true, video: { fps: 10 } });
    expect(report.defects.map((d) => d.kind)).toContain("low_fps");
  });

  it("exits 2 naming an input it cannot read, or a bad flag", async () => {
    const missing = join(dir, "missing.mp4");
    await using unreadable = runCli(["quality", missing]);
    expect(await unreadable.exited()).toEqual({ code: 2, signal: null });
    expect(unreadable.stderr()).toContain(`livehost: ${missing}: cannot be read as media`);

    await using badMouth = runCli(["quality", slow, "--mouth", "1,2,3"]);
    expect(await badMouth.exited()).toEqual({ code: 2, signal: null });
    expect(badMouth.stderr()).toMatch(/--mouth: "1,2,3" is not x,y,w,h/);

    await using badAvatar = runCli(["quality", slow, "--avatar", join(dir, "no-such-pack")]);
    expect(await badAvatar.exited()).toEqual({ code: 2, signal: null });
    expect(badAvatar.stderr()).toMatch(/^livehost: --avatar: /);
  });
});
