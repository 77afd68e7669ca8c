// Looking at what a room actually produced, with Debian's ffmpeg: stream facts from ffprobe (codecs, size, fps,
// start times, duration) and content marks for A/V sync, i.e. the onsets of loud beeps in the audio and of bright
// flashes in the video, so their offset can be measured on the output itself (tests, the media benchmark, checks).
import { execFile, spawn } from "node:child_process";
import { promisify } from "node:util";
import { InvalidArgumentError } from "../errors/index.js";
import { FfmpegError } from "./errors.js";

const run = promisify(execFile);

export interface StreamFacts {
  codec: string;
  startTime: number;
  duration: number | undefined;
}

export interface MediaProbe {
  durationSeconds: number;
  video?: StreamFacts & { width: number; height: number; fps: number; frames: number | undefined };
  audio?: StreamFacts & { sampleRate: number; channels: number };
}

interface FfprobeStream {
  codec_type: string;
  codec_name: string;
  width?: number;
  height?: number;
  r_frame_rate?: string;
  avg_frame_rate?: string;
  start_time?: string;
  duration?: string;
  nb_frames?: string;
  sample_rate?: string;
  channels?: number;
}

const ratio = (text: string | undefined) => {
  const [n, d] = (text ?? "0/1").split("/").map(Number);
  return d ? n! / d : 0;
};

/** ffprobe of a file or playlist (HLS index.m3u8, MP4, FLV, rtmp:// URL). */
export async function probeMedia(input: string): Promise<MediaProbe> {
  const { stdout } = await run("ffprobe", ["-v", "error", "-show_streams", "-show_format", "-of", "json", input], {
    maxBuffer: 16 * 1024 * 1024,
    timeout: 60_000,
  });
  const parsed = JSON.parse(stdout) as { streams: FfprobeStream[]; format: { duration?: string } };
  const facts = (s: FfprobeStream): StreamFacts => ({
    codec: s.codec_name,
    startTime: Number(s.start_time ?? 0),
    duration: s.duration === undefined ? undefined : Number(s.duration),
  });
  const video = parsed.streams.find((s) => s.codec_type === "video");
  const audio = parsed.streams.find((s) => s.codec_type === "audio");
  return {
    durationSeconds: Number(parsed.format.duration ?? 0),
    ...(video
      ? {
          video: {
            ...facts(video),
            width: video.width ?? 0,
            height: video.height ?? 0,
            fps: ratio(video.avg_frame_rate) || ratio(video.r_frame_rate),
            frames: video.nb_frames === undefined ? undefined : Number(video.nb_frames),
          },
        }
      : {}),
    ...(audio
      ? { audio: { ...facts(audio), sampleRate: Number(audio.sample_rate ?? 0), channels: audio.channels ?? 0 } }
      : {}),
  };
}

/** Decodes one stream of `input` to raw bytes with ffmpeg, handing them over in pieces. */
function decode(input: string, args: string[], onData: (chunk: Buffer) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const ffmpeg = spawn("ffmpeg", ["-v", "error", "-nostdin", "-i", input, ...args, "-"], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stderr = "";
    ffmpeg.stdout.on("data", onData);
    ffmpeg.stderr.on("data", (d: Buffer) => (stderr = (stderr + d.toString()).slice(-2000)));
    ffmpeg.on("error", reject);
    ffmpeg.on("close", (code) =>
      code === 0 ? resolve() : reject(new FfmpegError(`ffmpeg exited ${code}: ${stderr}`)),
    );
  });
}

export interface AvMarks {
  /** Onsets of beeps in the audio, in s on the file's timeline. */
  beeps: number[];
  /** Onsets of flashes (frames much brighter than usual) in the video, in s on the file's timeline. */
  flashes: number[];
}

/**
 * Finds beep and flash onsets. A beep: 5 ms of audio whose peak goes above half the loudest peak after at least
 * `quietSeconds` below it. A flash: a frame whose mean brightness rises above the midpoint between the usual (median)
 * and the brightest frame, after a frame below it.
 */
export async function measureAvMarks(input: string, options: { quietSeconds?: number } = {}): Promise<AvMarks> {
  const probe = await probeMedia(input);
  if (!probe.video || !probe.audio) throw new InvalidArgumentError("input", `${input} needs both audio and video`);
  const rate = 8000;
  const window = rate / 200;
  const peaks: number[] = [];
  let carry: Buffer = Buffer.alloc(0);
  let windowPeak = 0;
  let inWindow = 0;
  await decode(input, ["-map", "0:a:0", "-ac", "1", "-ar", String(rate), "-f", "s16le"], (chunk) => {
    const data = carry.length ? Buffer.concat([carry, chunk]) : chunk;
    const whole = data.length - (data.length % 2);
    for (let i = 0; i < whole; i += 2) {
      windowPeak = Math.max(windowPeak, Math.abs(data.readInt16LE(i)));
      if (++inWindow === window) {
        peaks.push(windowPeak);
        windowPeak = 0;
        inWindow = 0;
      }
    }
    carry = data.subarray(whole);
  });
  const side = 16;
  const brightness: number[] = [];
  let pending: Buffer = Buffer.alloc(0);
  await decode(
    input,
    ["-map", "0:v:0", "-fps_mode", "passthrough", "-vf", `scale=${side}:${side},format=gray`, "-f", "rawvideo"],
    (chunk) => {
      pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
      while (pending.length >= side * side) {
        let sum = 0;
        for (let i = 0; i < side * side; i++) sum += pending[i]!;
        brightness.push(sum / (side * side));
        pending = pending.subarray(side * side);
      }
    },
  );

  const loudest = peaks.reduce((max, peak) => Math.max(max, peak), 0);
  const quietWindows = Math.round((options.quietSeconds ?? 0.2) * 200);
  const beeps: number[] = [];
  let quietRun = quietWindows;
  peaks.forEach((peak, i) => {
    if (peak > loudest / 2) {
      if (quietRun >= quietWindows) {
        // Refine to the first sample window above the threshold: windows are 5 ms; count from the window's start.
        beeps.push(probe.audio!.startTime + i / 200);
      }
      quietRun = 0;
    } else quietRun++;
  });
  const sorted = [...brightness].sort((a, b) => a - b);
  const usual = sorted[Math.floor(sorted.length / 2)] ?? 0;
  const threshold = (usual + (sorted.at(-1) ?? 0)) / 2;
  const flashes: number[] = [];
  brightness.forEach((b, i) => {
    if (b > threshold && b - usual > 8 && (i === 0 || brightness[i - 1]! <= threshold)) {
      flashes.push(probe.video!.startTime + i / probe.video!.fps);
    }
  });
  return { beeps, flashes };
}
