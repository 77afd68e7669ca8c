// media: the face for tests and benchmarks — the public face (index.ts) and the internals only they use. Production
// code in other folders imports index.ts (lint checks it).
export * from "./index.js";
export {
  detectVideoEncoder,
  injectFrameFault,
  type RoomMediaGraphOptions,
  type MediaEvent,
  type LoadedAvatar,
  type MediaStatus,
  type VideoEncoderChoice,
} from "./graph.js";
export { type MouthPatch, type Cue } from "./clock.js";
export { type OverlaySpec, type OverlayAnimation } from "./overlays.js";
export { checkRtmpUrl, supportedFps, outputSampleRate, type CompiledOutput } from "./config.js";
export { probeMedia, measureAvMarks, type MediaProbe, type AvMarks } from "./probe.js";
export { blendImplementation } from "./picture.js";
export { configureComposePool, composeWorkers, composesOnWorkers, killComposeWorkers } from "./compose-pool.js";
export { createPipeline, findAppSrc, runToEnd, watchBus } from "./gst.js";
export { retainAppSrc, appsrcAddonPath } from "./appsrc.js";
export { type Mp4Options } from "./gst-files.js";
export { renderOverlay } from "./overlays.js";
export { webrtcElementNames } from "./graph.js";
export { webrtcAvailable } from "./webrtc.js";
export { readViewerOffer } from "./webrtc-sdp.js";
export { compileWebRtcSettings, type WebRtcOptions } from "./config.js";
export { ViewersFullError } from "./errors.js";
export { NginxRtmp } from "./testing/nginx-rtmp.js";
export { QualityAnalyzer, type QualityReport, type DefectKind } from "./quality.js";
export { LoudnessMeter } from "./quality-loudness.js";
export { QualityMonitor, qualityMetrics, type QualitySnapshot } from "./quality-monitor.js";
export { calibrationClip, degradations, degrade, renderTalkingClip, type Degradation } from "./testing/calibration.js";
export { calibrate, spearman, type Calibration, type CalibrationRow } from "./testing/calibration.js";
export { chromiumOffer } from "./testing/whep-offer.js";
export { connectViewer, launchTestChromium, type ReceivedMedia } from "./testing/webrtc-browser.js";
