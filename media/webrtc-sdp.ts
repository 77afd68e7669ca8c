// Reads a WHEP offer (SDP) before any of it reaches GStreamer: what a viewer asks for (its video and audio m-lines,
// the H.264 and Opus formats in them that our shared encodes can be sent as) or an InvalidArgumentError on "offer"
// saying what is wrong. What is picked here is spliced into the viewer's bin description, so every value is checked
// against a strict pattern. webrtcbin 1.22 asserts (aborts the process) on an audio or video m-line without a mid:
// such offers are refused here.
import { InvalidArgumentError } from "../errors/index.js";

/** One m-line of the offer we will send on, with the payload format chosen in it. */
export interface OfferedFormat {
  /** The m-line's index in the offer. */
  mline: number;
  /** The offer's payload type for the chosen format. */
  payloadType: number;
  /** H.264 only: the offer's profile-level-id for that payload type (what our answer declares). */
  profileLevelId?: string;
}

export interface ViewerOffer {
  video?: OfferedFormat;
  audio?: OfferedFormat;
}

/** Offers larger than this are refused (a browser's offer is a few kB). */
export const maxOfferBytes = 64 * 1024;

interface Section {
  kind: string;
  index: number;
  port: number;
  formats: string[];
  attributes: string[];
}

/**
 * The video and audio we will send to the viewer who made `sdp`. Throws InvalidArgumentError("offer", ...) when it is
 * not SDP, has neither a video nor an audio m-line, an m-line we cannot answer (no H.264 with packetization-mode=1 /
 * no Opus, or one that does not receive), or lacks what webrtcbin requires (mid, ICE credentials, a DTLS fingerprint).
 */
export function readViewerOffer(sdp: string): ViewerOffer {
  if (Buffer.byteLength(sdp) > maxOfferBytes)
    throw new InvalidArgumentError("offer", `larger than ${maxOfferBytes} bytes`);
  const lines = sdp.split(/\r?\n/).filter((line) => line !== "");
  if (lines[0] !== "v=0" || !lines.every((line) => /^[a-z]=/.test(line))) {
    throw new InvalidArgumentError(
      "offer",
      "not an SDP session description (must start with v=0, one <type>=<value> per line)",
    );
  }
  const session: string[] = [];
  const sections: Section[] = [];
  for (const line of lines) {
    if (line.startsWith("m=")) {
      const [kind = "", port = "", , ...formats] = line.slice(2).split(" ");
      sections.push({ kind, index: sections.length, port: Number(port), formats, attributes: [] });
    } else if (line.startsWith("a=")) {
      (sections.at(-1)?.attributes ?? session).push(line.slice(2));
    }
  }
  const video = sections.filter((s) => s.kind === "video" && s.port !== 0);
  const audio = sections.filter((s) => s.kind === "audio" && s.port !== 0);
  if (video.length === 0 && audio.length === 0) throw new InvalidArgumentError("offer", "has no video or audio m-line");
  if (video.length > 1 || audio.length > 1) {
    throw new InvalidArgumentError("offer", "has more than one video or audio m-line (one of each is sent)");
  }
  const offer: ViewerOffer = {};
  if (video[0]) offer.video = pickFormat(video[0], session, h264Score);
  if (audio[0]) offer.audio = pickFormat(audio[0], session, opusScore);
  return offer;
}

type Score = (rtpmap: string, fmtp: Map<string, string>) => number | undefined;

/** H.264 that can carry our main-profile stream: packetization-mode=1, main or high preferred (any profile decodes). */
const h264Score: Score = (rtpmap, fmtp) => {
  if (!/^H264\/90000$/i.test(rtpmap) || fmtp.get("packetization-mode") !== "1") return undefined;
  const profile = fmtp.get("profile-level-id") ?? "42e01f";
  if (!/^[0-9a-fA-F]{6}$/.test(profile)) return undefined;
  const idc = profile.slice(0, 2).toLowerCase();
  return idc === "4d" ? 3 : idc === "64" ? 2 : 1;
};

const opusScore: Score = (rtpmap) => (/^opus\/48000(\/2)?$/i.test(rtpmap) ? 1 : undefined);

function pickFormat(section: Section, session: string[], score: Score): OfferedFormat {
  const what = `${section.kind} m-line ${section.index}`;
  const attribute = (name: string) =>
    section.attributes.find((a) => a === name || a.startsWith(`${name}:`))?.slice(name.length + 1) ??
    session.find((a) => a === name || a.startsWith(`${name}:`))?.slice(name.length + 1);
  if (!/^[A-Za-z0-9_.-]{1,32}$/.test(attribute("mid") ?? ""))
    throw new InvalidArgumentError("offer", `${what} has no a=mid`);
  if (!attribute("ice-ufrag") || !attribute("ice-pwd")) {
    throw new InvalidArgumentError("offer", `${what} has no ICE credentials (a=ice-ufrag, a=ice-pwd)`);
  }
  if (!attribute("fingerprint")) throw new InvalidArgumentError("offer", `${what} has no DTLS fingerprint`);
  const direction = ["sendrecv", "recvonly", "sendonly", "inactive"].find((d) => section.attributes.includes(d));
  if (direction === "sendonly" || direction === "inactive") {
    throw new InvalidArgumentError("offer", `${what} is ${direction}: a WHEP viewer receives (recvonly)`);
  }
  let best: OfferedFormat | undefined;
  let bestScore = 0;
  for (const format of section.formats) {
    if (!/^\d{1,3}$/.test(format) || Number(format) > 127) continue;
    const rtpmap = section.attributes.find((a) => a.startsWith(`rtpmap:${format} `))?.split(" ")[1] ?? "";
    const fmtp = new Map<string, string>();
    const params = section.attributes.find((a) => a.startsWith(`fmtp:${format} `))?.split(" ")[1] ?? "";
    for (const pair of params.split(";")) {
      const [key, value] = pair.split("=");
      if (key && value !== undefined) fmtp.set(key.trim().toLowerCase(), value.trim());
    }
    const points = score(rtpmap, fmtp);
    if (points !== undefined && points > bestScore) {
      bestScore = points;
      const profileLevelId = section.kind === "video" ? (fmtp.get("profile-level-id") ?? "42e01f") : undefined;
      best = { mline: section.index, payloadType: Number(format), ...(profileLevelId ? { profileLevelId } : {}) };
    }
  }
  if (!best) {
    const codec = section.kind === "video" ? "H.264 (packetization-mode=1)" : "Opus (opus/48000/2)";
    throw new InvalidArgumentError("offer", `${what} offers no ${codec}, the only ${section.kind} this room sends`);
  }
  return best;
}
