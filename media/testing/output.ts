// Output configurations and file helpers for media tests.
import { readFile } from "node:fs/promises";
import { OutputConfig, type Output } from "../../proto/index.js";

export const portrait = { widthPx: 720, heightPx: 1280, fps: 25, bitrateKbps: 2500 };
export const landscape = { widthPx: 640, heightPx: 360, fps: 30, bitrateKbps: 800 };

export const hls = (segmentDurationS = 1): Output => ({
  kind: { $case: "hls", value: { segmentDurationS, playlistLength: 30 } },
});
export const recording = (path = "recordings"): Output => ({
  kind: { $case: "recording", value: { path, segmentDurationS: 0 } },
});
export const rtmp = (url: string): Output => ({ kind: { $case: "rtmp", value: { url, streamKeySecret: "room-key" } } });

export function outputConfig(video: typeof portrait, outputs: Output[]): OutputConfig {
  return OutputConfig.fromPartial({ video, audioBitrateKbps: 96, outputs });
}

/** Segment durations listed in an HLS media playlist. */
export async function playlistSegments(path: string): Promise<{ file: string; seconds: number }[]> {
  const lines = (await readFile(path, "utf8")).split("\n");
  const segments: { file: string; seconds: number }[] = [];
  lines.forEach((line, i) => {
    if (line.startsWith("#EXTINF:"))
      segments.push({ seconds: Number(line.slice(8).split(",")[0]), file: lines[i + 1]!.trim() });
  });
  return segments;
}
