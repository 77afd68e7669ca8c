import { execFile } from "node:child_process";
import { cp, mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createRegistry } from "../observability/index.js";
import { InvalidArgumentError } from "../errors/index.js";
import { RoomMediaGraph, type MediaEvent } from "./internal.js";
import { beepUtterance } from "./testing/marks.js";
import { landscape, outputConfig, recording } from "./testing/output.js";

const exec = promisify(execFile);
const defaultAvatar = new URL("../models/avatars/default", import.meta.url).pathname;
let dir: string;
let redAvatar: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "livehost-avatar-switch-"));
  // A second pack: the default one with a plain red idle loop.
  redAvatar = join(dir, "red");
  await cp(defaultAvatar, redAvatar, { recursive: true });
  await exec("gst-launch-1.0", [
    "-q",
    ..."videotestsrc num-buffers=100 pattern=solid-color foreground-color=0xffff0000 !".split(" "),
    ..."video/x-raw,width=720,height=1280,framerate=25/1 ! videoconvert ! x264enc ! mp4mux !".split(" "),
    "filesink",
    `location=${join(redAvatar, "base.mp4")}`,
  ]);
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Mean red and green of a patch at the top of the picture (above the host's head, inside the letterboxed pack). */
async function cornerColours(file: string, frames: number) {
  const { stdout } = await exec(
    "ffmpeg",
    [
      "-v",
      "error",
      "-i",
      file,
      "-vf",
      "crop=32:32:304:8",
      "-frames:v",
      String(frames),
      "-f",
      "rawvideo",
      "-pix_fmt",
      "rgb24",
      "-",
    ],
    { encoding: "buffer", maxBuffer: 64 << 20 },
  );
  const size = 32 * 32 * 3;
  return Array.from({ length: stdout.length / size }, (_, f) => {
    let r = 0;
    let g = 0;
    for (let i = f * size; i < (f + 1) * size; i += 3) {
      r += stdout[i]!;
      g += stdout[i + 1]!;
    }
    return { r: r / 1024, g: g / 1024 };
  });
}

/** A room on the default avatar rendering `seconds` of 640x360 into an MP4 under `dir/name`. */
function graphOf(name: string, seconds: number, onEvent?: (event: MediaEvent) => void) {
  return new RoomMediaGraph({
    roomId: `r-${name}`,
    output: outputConfig(landscape, [recording()]),
    avatarDir: defaultAvatar,
    outputDir: join(dir, name),
    registry: createRegistry(),
    x264Preset: "ultrafast",
    pace: { renderSeconds: seconds },
    onEvent,
  });
}

describe("switching the avatar without restarting the stream", () => {
  it("takes over after the speech animated for the old avatar has played, in the same continuous file", async () => {
    const out = join(dir, "switch");
    const events: MediaEvent[] = [];
    const graph = graphOf("switch", 3, (event) => events.push(event));
    // One second of speech animated for the default avatar is queued when the switch is asked for.
    graph.pushSpeech(beepUtterance({ utteranceId: "old", sampleRateHz: 24_000, seconds: 1, beepAtSeconds: 0.5 }));
    graph.switchAvatar(await graph.loadAvatar(redAvatar));
    await graph.start();
    await graph.done;

    const switched = events.find((e) => e.type === "avatar");
    expect(switched).toMatchObject({ type: "avatar", avatarDir: redAvatar });
    const ended = events.find((e) => e.type === "utterance" && e.utteranceId === "old" && e.state === "ended");
    expect(ended).toBeDefined();
    const at = (switched as { frame: number }).frame;
    // The frame after the old speech's last one, not before.
    expect(at).toBeGreaterThan((ended as { frame: number }).frame);
    expect(at).toBeLessThanOrEqual((ended as { frame: number }).frame + 1);
    expect(graph.avatarDir).toBe(redAvatar);

    const [file] = await readdir(join(out, "recordings"));
    const colours = await cornerColours(join(out, "recordings", file!), 90);
    expect(colours).toHaveLength(90);
    const red = (c: { r: number; g: number }) => c.r > 180 && c.g < 60;
    expect(colours.slice(0, at - 1).some(red)).toBe(false);
    expect(colours.slice(at + 1).every(red)).toBe(true);
  });

  it("refuses a pack that cannot be loaded, naming avatarDir, and keeps streaming the current avatar", async () => {
    const graph = graphOf("bad", 1);
    await graph.start();
    const refused = graph.loadAvatar(join(dir, "no-such-pack"));
    await expect(refused).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(refused).rejects.toMatchObject({ field: "avatarDir" });
    await graph.done;
    expect(graph.avatarDir).toBe(defaultAvatar);
    expect(graph.status().frame).toBe(30);
  });
});
