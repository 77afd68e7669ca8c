import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { HlsPlaylist, parseMediaPlaylist } from "./hls-playlist.js";

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "livehost-hls-"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** What hlssink2 would have written for pipeline `generation` with segments `first`..`last` (its own window). */
async function pipelineWrote(playlist: HlsPlaylist, generation: number, first: number, last: number) {
  const lines = ["#EXTM3U", "#EXT-X-VERSION:3", "#EXT-X-TARGETDURATION:2", `#EXT-X-MEDIA-SEQUENCE:${first}`];
  for (let i = first; i <= last; i++) {
    const file = `segment-g${generation}-${String(i).padStart(5, "0")}.ts`;
    await writeFile(join(dir, file), "ts");
    lines.push("#EXTINF:2.000,", file);
  }
  await writeFile(playlist.sourceOf(generation), `${lines.join("\n")}\n`);
  await playlist.update(generation);
}

const header = (text: string, tag: string) => Number(new RegExp(`#${tag}:(\\d+)`).exec(text)?.[1]);

describe("the room's HLS playlist across pipeline rebuilds", () => {
  it("keeps one media sequence, marks where a new pipeline starts, and slides its window", async () => {
    const playlist = new HlsPlaylist(dir, { window: 3, targetSeconds: 2 });
    await pipelineWrote(playlist, 1, 0, 1);
    let text = await readFile(playlist.path, "utf8");
    expect(header(text, "EXT-X-MEDIA-SEQUENCE")).toBe(0);
    expect(text).not.toContain("#EXT-X-DISCONTINUITY\n");

    // The pipeline is rebuilt: its segments count from 0 again, the public playlist goes on.
    await pipelineWrote(playlist, 2, 0, 0);
    text = await readFile(playlist.path, "utf8");
    expect(parseMediaPlaylist(text).map((s) => s.file)).toEqual([
      "segment-g1-00000.ts",
      "segment-g1-00001.ts",
      "segment-g2-00000.ts",
    ]);
    expect(text).toContain("segment-g1-00001.ts\n#EXT-X-DISCONTINUITY\n#EXTINF:2.000,\nsegment-g2-00000.ts");

    // The window moves past the old pipeline: the sequence counts every segment that left, the discontinuity that
    // left is counted, and the old pipeline's files and playlist are deleted.
    await pipelineWrote(playlist, 2, 0, 2);
    text = await readFile(playlist.path, "utf8");
    expect(parseMediaPlaylist(text).map((s) => s.file)).toEqual([
      "segment-g2-00000.ts",
      "segment-g2-00001.ts",
      "segment-g2-00002.ts",
    ]);
    expect(header(text, "EXT-X-MEDIA-SEQUENCE")).toBe(2);
    // The first listed segment still starts a pipeline: its tag stays until it leaves.
    expect(header(text, "EXT-X-DISCONTINUITY-SEQUENCE")).toBe(0);
    expect(text).toMatch(/#EXT-X-DISCONTINUITY\n#EXTINF:2.000,\nsegment-g2-00000.ts/);
    expect(existsSync(join(dir, "segment-g1-00000.ts"))).toBe(false);
    expect(existsSync(playlist.sourceOf(1))).toBe(false);

    await pipelineWrote(playlist, 2, 1, 3);
    text = await readFile(playlist.path, "utf8");
    expect(header(text, "EXT-X-MEDIA-SEQUENCE")).toBe(3);
    expect(header(text, "EXT-X-DISCONTINUITY-SEQUENCE")).toBe(1);
    expect(text).not.toContain("#EXT-X-DISCONTINUITY\n");

    await playlist.end(2);
    expect((await readFile(playlist.path, "utf8")).trimEnd().endsWith("#EXT-X-ENDLIST")).toBe(true);
  });
});
