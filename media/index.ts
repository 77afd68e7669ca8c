// media: each live room's GStreamer graph. One clock (audio is the master; video at exactly the room's fps), frames
// composed from the avatar's idle loop, lip-sync mouth frames and overlays cued on word timings, encoded to H.264 +
// AAC and muxed to HLS, segmented MP4 and RTMP pushes (which reconnect on their own). See media/README.md.
export {
  RoomMediaGraph,
  detectVideoEncoder,
  type RoomMediaGraphOptions,
  type MediaEvent,
  type LoadedAvatar,
  type MediaStatus,
  type X264Preset,
  type VideoEncoderChoice,
} from "./graph.js";
export { type SpeechChunk, type MouthFrameInput, type MouthPatch, type Cue } from "./clock.js";
export { type OverlaySpec, type OverlayContent, type OverlayAnimation } from "./overlays.js";
export { compileOutputConfig, checkRtmpUrl, supportedFps, outputSampleRate, type CompiledOutput } from "./config.js";
export { cueAtSource } from "./cues.js";
export { probeMedia, measureAvMarks, type MediaProbe, type AvMarks } from "./probe.js";
export { blendImplementation } from "./picture.js";
export { Resampler } from "./resample.js";
export { PipelineError } from "./gst.js";
export { decodeAudio, decodeVideo, Mp4Writer, writeMp4, writePng, type Mp4Options } from "./gst-files.js";
