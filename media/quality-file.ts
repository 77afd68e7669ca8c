// The quality gate on a recording or a stream (`livehost quality`): the input decoded by GStreamer (uridecodebin, so
// MP4, TS, FLV, HLS playlists, http and rtmp URLs) into gray frames and 48 kHz mono S16, fed to the analyzers.
// The binding hands buffers over without their timestamps: frames are timed by the packet timestamps ffprobe lists
// (files and finished playlists), else by the stream's frame rate; audio by its sample count from its start time.
import { execFile } from "node:child_process";
import { isAbsolute, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { promisify } from "node:util";
import { InvalidArgumentError } from "../errors/index.js";
import { createPipeline, PipelineError, pullAllToEnd } from "./gst.js";
import { probeMedia, type MediaProbe } from "./probe.js";
import { QualityAnalyzer, type QualityReport, type Rect } from "./quality.js";

export interface ScoreMediaOptions {
  /** The mouth box in the input's pixels; without one it is searched for (see QualityOptions.findMouth). */
  mouth?: Rect;
  /** Stop after this much of the input (a live stream has no end). */
  seconds?: number;
  signal?: AbortSignal;
}

/**
 * Decoded frames are at most this wide or tall: the analyzers read a grid of them, but blur is judged on neighbouring
 * pixels, so at about the size a phone shows a portrait stream (a 720x1280 output read at 360x640).
 */
const decodeSide = 640;
const run = promisify(execFile);

/** A file path as a URI; URLs as they are. */
function uriOf(input: string): string {
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(input)
    ? input
    : pathToFileURL(isAbsolute(input) ? input : resolve(input)).href;
}

/** Video packet timestamps in presentation order, for inputs that end (not live streams). */
async function packetTimes(input: string, signal?: AbortSignal): Promise<number[] | undefined> {
  if (/^rtmp/i.test(input)) return undefined;
  try {
    const { stdout } = await run(
      "ffprobe",
      ["-v", "error", "-select_streams", "v:0", "-show_entries", "packet=pts_time", "-of", "csv=p=0", input],
      { maxBuffer: 64 * 1024 * 1024, timeout: 120_000, signal },
    );
    const times = stdout
      .split("\n")
      .map((line) => Number.parseFloat(line))
      .filter(Number.isFinite);
    return times.sort((a, b) => a - b);
  } catch {
    return undefined;
  }
}

/**
 * Decodes `input` and scores it. An input that cannot be read (missing, not media, no video; a stream's URL that does
 * not answer) fails with an InvalidArgumentError naming it: `livehost quality` exits 2 for it, 1 only for a score
 * below the bar.
 */
const unreadable = (input: string, why: string, cause?: unknown) => new InvalidArgumentError(input, why, { cause });

export async function scoreMedia(input: string, options: ScoreMediaOptions = {}): Promise<QualityReport> {
  const { signal } = options;
  let probe: MediaProbe;
  try {
    probe = await probeMedia(input);
  } catch (err) {
    const detail =
      err instanceof Error
        ? (err.message.split("\n").find((l) => l.includes(":") && !l.startsWith("Command")) ?? err.message)
        : String(err);
    throw unreadable(input, `cannot be read as media (${detail.trim()})`, err);
  }
  if (!probe.video) throw unreadable(input, "has no video stream");
  const { width, height } = probe.video;
  const scale = Math.min(1, decodeSide / Math.max(width, height));
  const w = Math.max(2, Math.round((width * scale) / 2) * 2);
  const h = Math.max(2, Math.round((height * scale) / 2) * 2);
  const fps = probe.video.fps || 25;
  const times = options.seconds === undefined ? await packetTimes(input, signal) : undefined;

  const mouth = options.mouth && {
    x: (options.mouth.x * w) / width,
    y: (options.mouth.y * h) / height,
    width: (options.mouth.width * w) / width,
    height: (options.mouth.height * h) / height,
  };
  const analyzer = new QualityAnalyzer({ findMouth: !mouth, historySeconds: 3600 });
  const audio = probe.audio
    ? " src. ! queue max-size-time=5000000000 ! audioconvert ! audioresample ! " +
      "audio/x-raw,format=S16LE,channels=1,rate=48000,layout=interleaved ! appsink name=audio sync=false max-buffers=16"
    : "";
  const pipeline = createPipeline(
    "uridecodebin name=src ! queue max-size-time=5000000000 ! videoconvert ! videoscale ! " +
      `video/x-raw,format=GRAY8,width=${w},height=${h},pixel-aspect-ratio=1/1 ! ` +
      `appsink name=video sync=false max-buffers=8${audio}`,
    { src: { uri: uriOf(input) } },
  );

  const limit = options.seconds ?? Number.POSITIVE_INFINITY;
  const videoStart = probe.video.startTime;
  const audioStart = probe.audio?.startTime ?? 0;
  let frames = 0;
  let samples = 0;
  const onVideo = (buffer: Buffer) => {
    const pts = times?.[frames] ?? videoStart + frames / fps;
    frames++;
    const stride = Math.ceil(w / 4) * 4; // GStreamer pads gray rows to 4 bytes
    analyzer.pushVideo({ ptsSeconds: pts, luma: buffer, width: w, height: h, stride, ...(mouth ? { mouth } : {}) });
    return pts - videoStart >= limit; // enough of it
  };
  const onAudio = (buffer: Buffer) => {
    const pcm = new Int16Array(buffer.buffer, buffer.byteOffset, buffer.length >> 1);
    analyzer.pushAudio({ ptsSeconds: audioStart + samples / 48_000, pcm });
    samples += pcm.length;
    return samples / 48_000 >= limit;
  };
  // To its end, or until both sinks have handed over `limit` s.
  await pullAllToEnd(pipeline, { video: onVideo, ...(probe.audio ? { audio: onAudio } : {}) }, signal).catch(
    (err: unknown) => {
      if (err instanceof PipelineError) throw unreadable(input, err.message, err);
      throw err;
    },
  );
  if (frames === 0) throw unreadable(input, "no video frame could be decoded");
  const report = analyzer.finish();
  if (report.mouthFound) {
    const m = report.mouthFound;
    const [sx, sy] = [width / w, height / h];
    report.mouthFound = {
      x: Math.round(m.x * sx),
      y: Math.round(m.y * sy),
      width: Math.round(m.width * sx),
      height: Math.round(m.height * sy),
    };
  }
  return report;
}
