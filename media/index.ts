// media: each live room's GStreamer graph. One clock (audio is the master; video at exactly the room's fps), frames
// composed from the avatar's idle loop, lip-sync mouth frames and overlays cued on word timings, encoded to H.264 +
// AAC and muxed to HLS, segmented MP4 and RTMP pushes (which reconnect on their own). See media/README.md.
export { RoomMediaGraph, type X264Preset } from "./graph.js";
export { type SpeechChunk, type MouthFrameInput } from "./clock.js";
export { type LabelCorner, type OverlayContent } from "./overlays.js";
export { type UtteranceReport } from "./frames.js";
export { type QualitySnapshot } from "./quality-monitor.js";
export { compileOutputConfig } from "./config.js";
export { cueAtSource } from "./cues.js";
export { Resampler } from "./resample.js";
export { PipelineError } from "./gst.js";
export { decodeAudio, decodeVideo, Mp4Writer, writeMp4, writePng } from "./gst-files.js";
export { probeMedia } from "./probe.js";
export { scoreMedia } from "./quality-file.js";
export { type QualityReport } from "./quality.js";
export { type QualityPart } from "./quality-score.js";
