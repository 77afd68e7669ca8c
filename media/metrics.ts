// The media graph's metrics, on the registry the caller passes (one set per registry; labels are bounded, no room
// ids). Counters add up over the rooms sharing a registry; the gauges (fps, offset, CPU, bitrate) are the last room
// to report, so give each room a registry with its own default labels when they must be told apart. The frame
// counters of rooms composing on a worker are kept there (a shared status block) and brought in here by each
// graph's `frameSources` entry: once a second, and whenever the registry is read.
import { Counter, Gauge, Histogram, type Registry } from "../observability/index.js";
import { gstreamerLog } from "./taps.js";

export interface MediaMetrics {
  frames: Counter<"kind">;
  outputFps: Gauge;
  idleFrames: Counter<"reason">;
  droppedFrames: Counter<"reason">;
  avOffset: Gauge;
  composeSeconds: Histogram;
  encodeSeconds: Histogram;
  cpuPerFrame: Gauge;
  bitrate: Gauge;
  rtmpReconnects: Counter;
  rtmpConnected: Gauge;
  rebuilds: Counter;
  frameErrors: Counter;
  avatarSwitches: Counter;
  lateFrames: Counter;
  gstreamerWarnings: Counter<"level">;
  /** Brings each live graph's frame counters up to date (see RoomMediaGraph); run before the metrics are read. */
  frameSources: Set<() => void>;
}

const byRegistry = new WeakMap<Registry, MediaMetrics>();

export function mediaMetrics(registry: Registry): MediaMetrics {
  const existing = byRegistry.get(registry);
  if (existing) return existing;
  const registers = [registry];
  const frameSources = new Set<() => void>();
  const collect = () => {
    for (const source of frameSources) source();
  };
  const metrics: MediaMetrics = {
    frameSources,
    frames: new Counter({
      name: "livehost_media_video_frames_total",
      help: "Video frames sent to the encoder, by what they show (speech: a lip-sync mouth frame; idle: the avatar at rest).",
      labelNames: ["kind"],
      registers,
      collect,
    }),
    outputFps: new Gauge({
      name: "livehost_media_output_fps",
      help: "Video frames per second sent to the encoder, over the last second of wall time.",
      registers,
    }),
    idleFrames: new Counter({
      name: "livehost_media_idle_frames_total",
      help: "Frames showing the idle avatar: silence, speech audio late, or the mouth frame late.",
      labelNames: ["reason"],
      registers,
      collect,
    }),
    droppedFrames: new Counter({
      name: "livehost_media_dropped_frames_total",
      help: "Frames dropped: mouth frames arriving after their slot, video frames skipped because the encoder is behind, or withheld because the host may no longer hold the room (not_held).",
      labelNames: ["reason"],
      registers,
      collect,
    }),
    avOffset: new Gauge({
      name: "livehost_media_av_offset_seconds",
      help: "End of the audio minus end of the video handed to the encoders (audio clock); the outputs carry the same offset.",
      registers,
    }),
    composeSeconds: new Histogram({
      name: "livehost_media_compose_seconds",
      help: "Time to compose one video frame (avatar, mouth, overlays) before encoding.",
      buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.04, 0.1],
      registers,
      collect,
    }),
    encodeSeconds: new Histogram({
      name: "livehost_media_encode_seconds",
      help: "Time a video frame spends in the encoder: from its input pad to its encoded picture on the output pad (wall clock, on the streaming threads).",
      buckets: [0.005, 0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28],
      registers,
    }),
    cpuPerFrame: new Gauge({
      name: "livehost_media_cpu_seconds_per_frame",
      help: "Process CPU seconds per output frame over the last second (encoding dominates).",
      registers,
    }),
    bitrate: new Gauge({
      name: "livehost_media_encoded_bitrate_bps",
      help: "Bits per second of the encoded audio and video (the FLV relay when RTMP is on, else HLS segments).",
      registers,
    }),
    rtmpReconnects: new Counter({
      name: "livehost_media_rtmp_reconnects_total",
      help: "RTMP pushes restarted after the ingest failed.",
      registers,
    }),
    rtmpConnected: new Gauge({
      name: "livehost_media_rtmp_connected",
      help: "RTMP pushes currently connected (or connecting), over the rooms on this registry.",
      registers,
    }),
    rebuilds: new Counter({
      name: "livehost_media_pipeline_rebuilds_total",
      help: "Main pipelines rebuilt after a GStreamer error.",
      registers,
    }),
    frameErrors: new Counter({
      name: "livehost_media_frame_errors_total",
      help: "Frames the graph failed to make (an error in composing or pushing one room's frame): the room goes on with the next frame, and its output stops after a second of failures in a row.",
      registers,
    }),
    avatarSwitches: new Counter({
      name: "livehost_media_avatar_switches_total",
      help: "Avatars switched on air without restarting the stream (see RoomMediaGraph.switchAvatar).",
      registers,
    }),
    lateFrames: new Counter({
      name: "livehost_media_late_frames_total",
      help: "Video frames handed to the encoder after their own frame interval had passed on the wall clock (the room's pacing fell behind).",
      registers,
      collect,
    }),
    gstreamerWarnings: new Counter({
      name: "livehost_media_gstreamer_warnings_total",
      help: "Warnings and criticals GStreamer (or GLib) printed in this process: in normal operation there are none, each is a bug (the last ones are in the process's stderr).",
      labelNames: ["level"],
      registers,
      collect(this: Counter<"level">) {
        const log = gstreamerLog();
        this.reset();
        this.inc({ level: "warning" }, log.warnings);
        this.inc({ level: "critical" }, log.criticals);
      },
    }),
  };
  byRegistry.set(registry, metrics);
  return metrics;
}
