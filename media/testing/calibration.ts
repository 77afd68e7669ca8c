// The quality gate's calibration: a clean talking output rendered by the room's own media graph (8 s of 360x640@25,
// the default avatar speaking with a mouth frame on every frame), and the same output degraded on purpose with
// ffmpeg, each degradation with the defect it plants. media/quality.test.ts asserts each is found and the scores
// rank them; bench/quality.ts prints the figures.
import { execFile } from "node:child_process";
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { loadAvatarPack, repoPath } from "../../avatars/index.js";
import { createRegistry } from "../../observability/index.js";
import { RoomMediaGraph } from "../graph.js";
import type { DefectKind } from "../quality.js";
import { outputConfig, recording } from "./output.js";
import { talkingLine } from "./talking.js";

const exec = promisify(execFile);
const avatarDir = repoPath("models/avatars/default");

/** The clip's size; the default pack's mouth box (720x1280) at half scale. */
export const calibrationClip = {
  width: 360,
  height: 640,
  fps: 25,
  seconds: 8,
  mouth: { x: 156, y: 290, width: 48, height: 32 },
};

export interface Degradation {
  name: string;
  /** ffmpeg arguments between the input and the output file. */
  args: string[];
  /** What it plants: a defect of this kind starting near `atSeconds`, or an offset (positive: audio ahead). */
  plants: { kind: DefectKind; atSeconds: number[] } | { offsetMs: number };
}

const x264 = ["-c:v", "libx264", "-preset", "ultrafast", "-crf", "20"];

/** Each degradation; the gaps and the freeze sit inside stretches of speech of the clip (its speech is seeded). */
export const degradations: Degradation[] = [
  {
    name: "audio +80 ms",
    args: ["-c:v", "copy", "-af", "atrim=start=0.08,asetpts=PTS-STARTPTS", "-c:a", "aac"],
    plants: { offsetMs: 80 },
  },
  { name: "audio -120 ms", args: ["-c:v", "copy", "-af", "adelay=120", "-c:a", "aac"], plants: { offsetMs: -120 } },
  {
    name: "audio +200 ms",
    args: ["-c:v", "copy", "-af", "atrim=start=0.2,asetpts=PTS-STARTPTS", "-c:a", "aac"],
    plants: { offsetMs: 200 },
  },
  {
    name: "frozen 1 s",
    args: [
      ...["-filter_complex", "[0:v]split[a][b];[a][b]freezeframes=first=75:last=100:replace=75[v]"],
      ...["-map", "[v]", "-map", "0:a", ...x264, "-c:a", "copy"],
    ],
    plants: { kind: "frozen", atSeconds: [3.0] },
  },
  {
    name: "silence gaps",
    args: ["-c:v", "copy", "-af", "volume=enable='between(t,1.15,1.45)+between(t,7.05,7.3)':volume=0", "-c:a", "aac"],
    plants: { kind: "silence_gap", atSeconds: [1.15, 7.05] },
  },
  {
    name: "black 0.5 s",
    args: ["-vf", "drawbox=x=0:y=0:w=iw:h=ih:color=black:t=fill:enable='between(t,4,4.5)'", ...x264, "-c:a", "copy"],
    plants: { kind: "black", atSeconds: [4.0] },
  },
  { name: "15 fps", args: ["-vf", "fps=15", ...x264, "-c:a", "copy"], plants: { kind: "low_fps", atSeconds: [0] } },
];

/** Renders the clean clip into `dir` with the room's media graph; returns the MP4's path. */
export async function renderTalkingClip(dir: string): Promise<string> {
  const { width, height, fps, seconds } = calibrationClip;
  const pack = await loadAvatarPack(avatarDir);
  const graph = new RoomMediaGraph({
    roomId: "quality-calibration",
    output: outputConfig({ widthPx: width, heightPx: height, fps, bitrateKbps: 800 }, [recording()]),
    avatarDir,
    outputDir: dir,
    registry: createRegistry(),
    x264Preset: "ultrafast",
    pace: { renderSeconds: seconds },
  });
  const line = talkingLine(pack, { utteranceId: "u", seconds: seconds - 0.4, fps, seed: 1 });
  graph.pushSpeech(line.speech);
  for (const frame of line.frames) graph.pushMouthFrame(frame);
  await graph.start();
  await graph.done;
  const [file] = await readdir(join(dir, "recordings"));
  return join(dir, "recordings", file!);
}

/** Writes `clean` degraded as `degradation` says into `out`. */
export async function degrade(clean: string, degradation: Degradation, out: string): Promise<void> {
  await exec("ffmpeg", ["-v", "error", "-y", "-i", clean, ...degradation.args, out], { timeout: 120_000 });
}
