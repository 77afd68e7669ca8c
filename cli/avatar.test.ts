import { describe, expect, it } from "vitest";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runCli, writeTalkingVideo } from "../testing/index.js";

describe("livehost avatar build", () => {
  it("builds a pack from a video, showing progress, and refuses one without sound with the reason", async () => {
    const dir = await mkdtemp(join(tmpdir(), "livehost-cli-avatar-"));
    try {
      const video = join(dir, "host.mp4");
      await writeTalkingVideo(video, { width: 360, height: 640 });
      await using ok = runCli([
        "avatar",
        "build",
        video,
        "--id",
        "host-1",
        "--out",
        join(dir, "host-1"),
        "--size",
        "360x640",
        "--json",
      ]);
      expect(await ok.exited()).toEqual({ code: 0, signal: null });
      expect(JSON.parse(ok.stdout())).toMatchObject({ id: "host-1", width: 360, height: 640, visemes: 10 });
      expect(ok.stderr()).toMatch(/finding the mouth 100%/);
      expect(ok.stderr()).toMatch(/writing the pack 100%/);

      const silent = join(dir, "silent.mp4");
      await writeTalkingVideo(silent, { width: 360, height: 640, withoutAudio: true });
      await using refused = runCli(["avatar", "build", silent, "--id", "host-2", "--out", join(dir, "host-2")]);
      expect(await refused.exited()).toEqual({ code: 2, signal: null });
      expect(refused.stderr()).toMatch(/livehost: video: no-audio: the video has no audio track/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
