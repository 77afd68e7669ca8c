// The room's output configuration (proto OutputConfig) checked and compiled into what the media graph runs: every
// bad field is refused with an InvalidArgumentError naming it (e.g. "output.outputs[1].rtmp.url"), before any
// pipeline exists. The rest of media/ sees only CompiledOutput.
import { isAbsolute, normalize } from "node:path";
import type { OutputConfig } from "../proto/index.js";
import { InvalidArgumentError } from "../errors/index.js";

export const supportedFps = [15, 24, 25, 30, 50, 60] as const;
/** The audio clock's rate: every supported fps divides it, so each video frame spans a whole number of samples. */
export const outputSampleRate = 48_000;
export const supportedSpeechRates = [16_000, 22_050, 24_000, 44_100, 48_000] as const;

export interface CompiledRtmp {
  /** The configured URL, without the stream key (safe to log). */
  url: string;
  streamKeySecret: string;
}

export interface CompiledOutput {
  width: number;
  height: number;
  fps: number;
  videoKbps: number;
  audioKbps: number;
  /** Samples of the 48 kHz audio clock per video frame. */
  samplesPerFrame: number;
  /** Key frame interval in frames: HLS segments start on key frames. */
  keyframeInterval: number;
  hls?: { segmentSeconds: number; playlistLength: number };
  rtmp: CompiledRtmp[];
  recording?: { path: string; segmentSeconds: number };
}

const maxRtmpOutputs = 4;

function integerIn(field: string, value: number, min: number, max: number, unit = ""): number {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new InvalidArgumentError(field, `must be an integer from ${min} to ${max}${unit}, got ${value}`);
  }
  return value;
}

/** Checks an rtmp:// or rtmps:// ingest URL (without the stream key); returns it normalized. */
export function checkRtmpUrl(field: string, url: string): string {
  const length = [...url].length;
  if (length > 2048) throw new InvalidArgumentError(field, `must be at most 2048 characters (got ${length})`);
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new InvalidArgumentError(field, `not a URL: ${JSON.stringify(url.slice(0, 200))}`);
  }
  if (parsed.protocol !== "rtmp:" && parsed.protocol !== "rtmps:") {
    throw new InvalidArgumentError(field, `must be rtmp:// or rtmps://, got ${parsed.protocol}//`);
  }
  if (!parsed.hostname) throw new InvalidArgumentError(field, "has no host");
  if (parsed.username || parsed.password) throw new InvalidArgumentError(field, "must not carry credentials");
  if (parsed.search || parsed.hash) throw new InvalidArgumentError(field, "must not have a query or fragment");
  const app = parsed.pathname.replace(/^\/+|\/+$/g, "");
  if (!app) throw new InvalidArgumentError(field, "has no application path (e.g. rtmp://host/live)");
  return `${parsed.protocol}//${parsed.host}/${app}`;
}

export function compileOutputConfig(config: OutputConfig | undefined, field = "output"): CompiledOutput {
  if (!config) throw new InvalidArgumentError(field, "is required");
  const video = config.video;
  if (!video) throw new InvalidArgumentError(`${field}.video`, "is required");
  const width = integerIn(`${field}.video.width_px`, video.widthPx, 240, 3840, " px");
  const height = integerIn(`${field}.video.height_px`, video.heightPx, 240, 3840, " px");
  if (width % 2 || height % 2) {
    throw new InvalidArgumentError(`${field}.video`, `frame size must be even, got ${width}x${height}`);
  }
  if (!(supportedFps as readonly number[]).includes(video.fps)) {
    throw new InvalidArgumentError(`${field}.video.fps`, `must be one of ${supportedFps.join(", ")}, got ${video.fps}`);
  }
  const fps = video.fps;
  const videoKbps = integerIn(`${field}.video.bitrate_kbps`, video.bitrateKbps, 300, 20_000, " kbit/s");
  const audioKbps =
    config.audioBitrateKbps === 0
      ? 128
      : integerIn(`${field}.audio_bitrate_kbps`, config.audioBitrateKbps, 32, 320, " kbit/s");
  if (config.outputs.length === 0) throw new InvalidArgumentError(`${field}.outputs`, "needs at least one output");

  const compiled: CompiledOutput = {
    width,
    height,
    fps,
    videoKbps,
    audioKbps,
    samplesPerFrame: outputSampleRate / fps,
    keyframeInterval: 2 * fps,
    rtmp: [],
  };
  config.outputs.forEach((output, i) => {
    const at = `${field}.outputs[${i}]`;
    const kind = output.kind;
    if (!kind) throw new InvalidArgumentError(at, "must be one of hls, rtmp, recording");
    if (kind.$case === "hls") {
      if (compiled.hls) throw new InvalidArgumentError(`${at}.hls`, "only one HLS output per room");
      compiled.hls = {
        segmentSeconds:
          kind.value.segmentDurationS === 0
            ? 2
            : integerIn(`${at}.hls.segment_duration_s`, kind.value.segmentDurationS, 1, 10, " s"),
        playlistLength:
          kind.value.playlistLength === 0
            ? 6
            : integerIn(`${at}.hls.playlist_length`, kind.value.playlistLength, 3, 30),
      };
      compiled.keyframeInterval = compiled.hls.segmentSeconds * fps;
    } else if (kind.$case === "rtmp") {
      if (compiled.rtmp.length === maxRtmpOutputs) {
        throw new InvalidArgumentError(`${at}.rtmp`, `at most ${maxRtmpOutputs} RTMP outputs per room`);
      }
      const url = checkRtmpUrl(`${at}.rtmp.url`, kind.value.url);
      const secret = kind.value.streamKeySecret;
      // A name the stream key is looked up by (perhaps a file under a secrets directory): never a path out of it.
      if (!/^[A-Za-z0-9._/-]{1,253}$/.test(secret) || secret.startsWith("/") || secret.split("/").includes("..")) {
        throw new InvalidArgumentError(
          `${at}.rtmp.stream_key_secret`,
          "must name a secret ([A-Za-z0-9._/-], 1 to 253, not starting with '/', no '..' segment)",
        );
      }
      compiled.rtmp.push({ url, streamKeySecret: secret });
    } else {
      if (compiled.recording) throw new InvalidArgumentError(`${at}.recording`, "only one recording per room");
      const path = kind.value.path;
      // eslint-disable-next-line no-control-regex -- NUL and other controls are what this refuses
      const unsafe = [...path].length > 255 || /[\u0000-\u001f\u007f\\]/.test(path);
      if (!path || unsafe || isAbsolute(path) || normalize(path).split("/").includes("..")) {
        throw new InvalidArgumentError(
          `${at}.recording.path`,
          "must be a relative directory inside the recording volume: at most 255 characters, no '..', '\\' or " +
            "control characters",
        );
      }
      compiled.recording = {
        path: normalize(path),
        segmentSeconds:
          kind.value.segmentDurationS === 0
            ? 3600
            : integerIn(`${at}.recording.segment_duration_s`, kind.value.segmentDurationS, 60, 86_400, " s"),
      };
    }
  });
  return compiled;
}

/** WebRTC (WHEP) viewers of a room's graph: options in (or the environment), checked settings out. */
export interface WebRtcOptions {
  /** Viewers one room takes at once (negotiating or connected); `LIVEHOST_WEBRTC_MAX_VIEWERS`, default 50. */
  maxViewers?: number;
  /** UDP ports ICE may use, "min-max"; `LIVEHOST_WEBRTC_PORTS`, default any (the Helm chart sets a fixed range). */
  ports?: string;
  /** A viewer answered but not connected after this is let go; default 15 s. */
  connectTimeoutMs?: number;
  /** A viewer disconnected (ICE lost) this long is let go; default 5 s. */
  disconnectedMs?: number;
  /**
   * STUN server for a server-reflexive candidate ("stun://host:port"; `LIVEHOST_WEBRTC_STUN_SERVER`): room hosts behind
   * NAT tell viewers the address they are reached at. Default none (host candidates only).
   */
  stunServer?: string;
  /**
   * TURN relay for viewers no direct path reaches ("turn://user:password@host:port" or "turns://…";
   * `LIVEHOST_WEBRTC_TURN_SERVER`, from a secret: it carries a credential and is never logged). Default none.
   */
  turnServer?: string;
}

export interface WebRtcSettings {
  maxViewers: number;
  ports?: { min: number; max: number };
  connectTimeoutMs: number;
  disconnectedMs: number;
  stunServer?: string;
  turnServer?: string;
}

/** A STUN or TURN server URL as webrtcbin takes it; InvalidArgumentError naming `field` (the credential never shown). */
function iceServer(field: string, text: string, kind: "stun" | "turn"): string {
  const pattern =
    kind === "stun" ? /^stun:\/\/[A-Za-z0-9.-]+:\d{1,5}$/ : /^turns?:\/\/[^:@/\s]+:[^@/\s]+@[A-Za-z0-9.-]+:\d{1,5}$/;
  if (!pattern.test(text)) {
    const shape = kind === "stun" ? "stun://host:port" : "turn://user:password@host:port (or turns://)";
    throw new InvalidArgumentError(field, `must be ${shape}`);
  }
  const port = Number(/:(\d+)$/.exec(text)![1]);
  if (port < 1 || port > 65535) throw new InvalidArgumentError(field, "port must be 1-65535");
  return text;
}

/** Fills defaults from the environment and checks; InvalidArgumentError names the option (or variable). */
export function compileWebRtcSettings(options: WebRtcOptions = {}, env = process.env): WebRtcSettings {
  const fromEnv = (name: string) => (env[name] === undefined || env[name] === "" ? undefined : env[name]);
  const viewersField = options.maxViewers === undefined ? "LIVEHOST_WEBRTC_MAX_VIEWERS" : "webrtc.maxViewers";
  const maxViewers = integerIn(
    viewersField,
    options.maxViewers ?? Number(fromEnv("LIVEHOST_WEBRTC_MAX_VIEWERS") ?? 50),
    1,
    1000,
  );
  const portsField = options.ports === undefined ? "LIVEHOST_WEBRTC_PORTS" : "webrtc.ports";
  const portsText = options.ports ?? fromEnv("LIVEHOST_WEBRTC_PORTS");
  let ports: WebRtcSettings["ports"];
  if (portsText !== undefined) {
    const match = /^(\d{1,5})-(\d{1,5})$/.exec(portsText);
    const min = Number(match?.[1]);
    const max = Number(match?.[2]);
    if (!match || min < 1024 || max > 65535 || min > max) {
      throw new InvalidArgumentError(
        portsField,
        `must be "min-max" within 1024-65535, got ${JSON.stringify(portsText)}`,
      );
    }
    ports = { min, max };
  }
  const stunField = options.stunServer === undefined ? "LIVEHOST_WEBRTC_STUN_SERVER" : "webrtc.stunServer";
  const stunText = options.stunServer ?? fromEnv("LIVEHOST_WEBRTC_STUN_SERVER");
  const turnField = options.turnServer === undefined ? "LIVEHOST_WEBRTC_TURN_SERVER" : "webrtc.turnServer";
  const turnText = options.turnServer ?? fromEnv("LIVEHOST_WEBRTC_TURN_SERVER");
  return {
    maxViewers,
    ...(ports ? { ports } : {}),
    ...(stunText ? { stunServer: iceServer(stunField, stunText, "stun") } : {}),
    ...(turnText ? { turnServer: iceServer(turnField, turnText, "turn") } : {}),
    connectTimeoutMs: integerIn("webrtc.connectTimeoutMs", options.connectTimeoutMs ?? 15_000, 100, 120_000, " ms"),
    disconnectedMs: integerIn("webrtc.disconnectedMs", options.disconnectedMs ?? 5_000, 0, 120_000, " ms"),
  };
}
