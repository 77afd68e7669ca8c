// What the encoder settings chosen for interaction cost: the same talking-host clip (rendered by the room's own media
// graph, decoded once to raw I420 before timing) encoded at constant quality (x264 CRF 23, preset veryfast) with
// the shipped settings (tune=zerolatency: no B-frames, no look-ahead; a key frame every second, as 1 s HLS segments
// need) against zerolatency with a key frame every 2 s (the default HLS segment), and against x264's defaults for
// the preset (B-frames and look-ahead, which hold frames back), key frame every 2 s. Bitrate is the output's size
// over the clip's length; CPU is this process's CPU time per second of stream for the encode alone (the encode runs
// in-process; the same pipeline without the encoder, start-up and file reading, is measured each round and taken off).
// Rounds alternate the variants; medians.
import { mkdtemp, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { calibrationClip, createPipeline, renderTalkingClip, runToEnd } from "../media/internal.js";
import { round } from "./stats.js";
import type { BenchContext } from "./main.js";

interface Variant {
  name: string;
  settings: string;
  /** Frames the encoder holds before a frame comes out (x264's documented delay for these settings). */
  heldFrames: number;
}

const variants: Variant[] = [
  { name: "zerolatency_keyint_1s", settings: "tune=zerolatency key-int-max=25", heldFrames: 0 },
  { name: "zerolatency_keyint_2s", settings: "tune=zerolatency key-int-max=50", heldFrames: 0 },
  // veryfast: 3 B-frames and a 10-frame rate-control look-ahead.
  { name: "default_keyint_2s", settings: "key-int-max=50", heldFrames: 13 },
];

export async function run({ log, quick }: BenchContext): Promise<Record<string, unknown>> {
  const dir = await mkdtemp(join(tmpdir(), "livehost-bench-encoder-"));
  try {
    const { width, height, fps } = calibrationClip;
    const clip = await renderTalkingClip(dir);
    const raw = join(dir, "clip.yuv");
    await runToEnd(
      createPipeline(
        `filesrc location=${clip} ! qtdemux ! h264parse ! avdec_h264 ! videoconvert ! ` +
          `video/x-raw,format=I420 ! filesink location=${raw}`,
      ),
    );
    const frames = (await stat(raw)).size / ((width * height * 3) / 2);
    const seconds = frames / fps;
    log(`${frames} frames of ${width}x${height}@${fps} (${seconds} s), x264 veryfast CRF 23`);
    const cpu: Record<string, number[]> = Object.fromEntries(variants.map((v) => [v.name, []]));
    const kbps: Record<string, number> = {};
    const source = `filesrc location=${raw} ! rawvideoparse format=i420 width=${width} height=${height} framerate=${fps}/1`;
    /** CPU seconds a pipeline takes to run to its end. */
    const cpuOf = async (description: string) => {
      const before = process.cpuUsage();
      await runToEnd(createPipeline(description));
      const used = process.cpuUsage(before);
      return (used.user + used.system) / 1e6;
    };
    for (let roundIndex = 0; roundIndex < (quick ? 1 : 5); roundIndex++) {
      // The same pipeline without the encoder: starting it and reading the raw frames, taken off every variant.
      const reading = await cpuOf(`${source} ! fakesink`);
      for (const variant of variants) {
        const out = join(dir, `${variant.name}.h264`);
        const used = await cpuOf(
          `${source} ! x264enc speed-preset=veryfast pass=qual quantizer=23 ${variant.settings} ! ` +
            `video/x-h264,profile=main ! filesink location=${out}`,
        );
        cpu[variant.name]!.push(Math.max(0, used - reading) / seconds);
        kbps[variant.name] = ((await stat(out)).size * 8) / seconds / 1000;
      }
    }
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    const base = variants[1]!.name;
    const figures = Object.fromEntries(
      variants.map((v) => [
        v.name,
        {
          kbps: round(kbps[v.name]!, 1),
          cpu_seconds_per_stream_second: round(median(cpu[v.name]!), 4),
          kbps_ratio_to_zerolatency_2s: round(kbps[v.name]! / kbps[base]!, 3),
          cpu_ratio_to_zerolatency_2s: round(median(cpu[v.name]!) / median(cpu[base]!), 3),
          held_frames: v.heldFrames,
          held_ms: round((v.heldFrames * 1000) / fps, 0),
        },
      ]),
    );
    for (const [name, f] of Object.entries(figures)) log(`  ${name}: ${JSON.stringify(f)}`);
    return { clip: `${width}x${height}@${fps}, ${round(seconds, 1)} s of the default avatar talking`, ...figures };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
