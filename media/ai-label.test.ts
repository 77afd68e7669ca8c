// The implicit AI-content label, as a platform or player reading the outputs finds it: the label's JSON as H.264 SEI
// user data on key frames (HLS segments, recordings, the RTMP push as nginx-rtmp recorded it and as a player of the
// ingest receives it), in the RTMP stream's onMetaData (read by that player), and in the HLS multivariant playlist.
import { execFile } from "node:child_process";
import { mkdtemp, readFile, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createRegistry } from "../observability/index.js";
import { RoomMediaGraph } from "./internal.js";
import { aiLabelText } from "./ai-label.js";
import { NginxRtmp } from "./testing/nginx-rtmp.js";
import { hls, landscape, outputConfig, recording, rtmp } from "./testing/output.js";

const run = promisify(execFile);
const avatarDir = new URL("../models/avatars/default", import.meta.url).pathname;
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "livehost-ai-label-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** The SEI user data ffprobe finds on the file's first frames, and its format tags. */
async function probeLabel(file: string) {
  const { stdout } = await run("ffprobe", [
    ...["-v", "error", "-select_streams", "v", "-read_intervals", "%+#3"],
    ...["-show_entries", "frame=key_frame:frame_side_data=side_data_type:format_tags", "-of", "json", file],
  ]);
  const probe = JSON.parse(stdout) as {
    frames: { key_frame: number; side_data_list?: { side_data_type: string }[] }[];
    format: { tags?: Record<string, string> };
  };
  const keyFrame = probe.frames.find((f) => f.key_frame === 1);
  return {
    sei: keyFrame?.side_data_list?.map((s) => s.side_data_type) ?? [],
    tags: probe.format.tags ?? {},
    bytes: file.startsWith("rtmp:") || (await readFile(file)).includes(aiLabelText("r-label")),
  };
}

describe("the AI-content label in every output", () => {
  it("is in the H.264 of HLS, recordings and the RTMP push, in RTMP metadata and in the HLS playlist", async () => {
    await using ingest = await NginxRtmp.start();
    const graph = new RoomMediaGraph({
      roomId: "r-label",
      output: outputConfig(landscape, [hls(1), recording("rec"), rtmp(ingest.url)]),
      avatarDir,
      outputDir: dir,
      registry: createRegistry(),
      x264Preset: "ultrafast",
      streamKey: () => "label-1",
    });
    await graph.start();
    await sleep(2_000);
    // A player of the push, from the ingest (nginx passes the publisher's onMetaData on to players).
    const played = await probeLabel(`${ingest.url}/label-1`);
    await sleep(1_000);
    await graph.stop();

    const label = aiLabelText("r-label");
    expect(JSON.parse(label)).toMatchObject({
      AIGC: { Label: "1", ContentProducer: "livehost", ProduceID: "r-label" },
    });
    const sei = "H.26[45] User Data Unregistered SEI message";
    const segment = (await readdir(join(dir, "hls"))).find((f) => f.endsWith(".ts"))!;
    const recorded = (await readdir(join(dir, "rec"))).find((f) => f.endsWith(".mp4"))!;
    const [pushed] = await ingest.recordings();
    for (const file of [join(dir, "hls", segment), join(dir, "rec", recorded), pushed!]) {
      const found = await probeLabel(file);
      // The file is named in the failure: which output lost the label.
      expect({ file, sei: found.sei.includes(sei), bytes: found.bytes }).toEqual({ file, sei: true, bytes: true });
    }
    expect(played.tags.metadatacreator).toBe(label);
    expect(played.sei).toContain(sei);
    const master = await readFile(join(dir, "hls", "master.m3u8"), "utf8");
    expect(master).toContain(`#EXT-X-SESSION-DATA:DATA-ID="cn.gb45438.aigc",URI="aigc.json"`);
    // The session data's resource is the label's JSON, as HLS asks of it.
    expect(JSON.parse(await readFile(join(dir, "hls", "aigc.json"), "utf8"))).toEqual(JSON.parse(label));
    expect(master).toMatch(/#EXT-X-STREAM-INF:BANDWIDTH=\d+,RESOLUTION=640x360,.*\nindex\.m3u8\n/);
  });
});
