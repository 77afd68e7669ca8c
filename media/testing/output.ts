// Output configurations and file helpers for media tests.
import { readFile } from "node:fs/promises";
import { OutputConfig, WordTiming, type Output } from "../../proto/index.js";

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

/** A short Mandarin line with the word timings TTS gives it: "¥79" (read 七十九元) is spoken from 1000 to 1500 ms. */
export const kettleLine = {
  text: "这款保温壶只要¥79",
  words: [
    WordTiming.fromPartial({ text: "这款", startMs: 0, endMs: 400, sourceStart: 0, sourceEnd: 2 }),
    WordTiming.fromPartial({ text: "保温壶", startMs: 400, endMs: 1000, sourceStart: 2, sourceEnd: 5 }),
    WordTiming.fromPartial({ text: "七十九元", startMs: 1000, endMs: 1500, sourceStart: 7, sourceEnd: 10 }),
  ],
};
