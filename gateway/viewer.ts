// The viewer page the gateway serves in local mode, as a shopper sees a live room: the stream (WebRTC through WHEP,
// HLS played with hls.js when WebRTC does not come up), the chat of questions and the host's answers, the product on
// screen, the comment box, and for operators the room's raw events (the page itself is viewer-page.ts). Routes:
//   GET  /                          the rooms, with links
//   GET  /rooms/<id>                the viewer page (?transport=hls: HLS only; #events: the raw events shown)
//   GET  /rooms/<id>/room.json      what the page shows of the room: title, state, host's name, catalog
//   GET  /rooms/<id>/events         the room's events (server-sent events, protobuf JSON), and the text of each
//                                   comment the room answers (`event: comment`, just before its CommentAnswered)
//   POST /rooms/<id>/comments       {"text": "...", "viewer": "<display name>"} -> PostComment
//   POST /rooms/<id>/whep           WHEP: an SDP offer (application/sdp) -> 201, Location, the SDP answer
//   DELETE /rooms/<id>/whep/<s>     WHEP: the viewer's session ends (PATCH, trickle ICE: 405, candidates are all in
//                                   the offer and the answer)
//   GET  /media/<id>/hls/<file>     the room's HLS playlist and segments, from the media directory
//   GET  /assets/hls.min.js         hls.js; /assets/viewer.js and /assets/viewer.css, the page's own
// It listens on loopback unless told otherwise: it is a preview, not a CDN origin. A refused request gets the status
// its error's code maps to (httpError) and a plain-text body naming what is wrong; a room id in the path that is not
// a room id is 400 before anything looks it up.
//
// The page is a danmaku ingest that browsers reach directly, so it answers for its viewers' ids: the viewer id a room's
// flood control keys on comes from a cookie the page signs (HMAC, a key per gateway process), never from the body
// (whose "viewer" is only a display name), and each client address may post a few comments a second (429 beyond),
// so that minting new cookies does not get around flood control either. WHEP offers are signalled to the room host
// that has the room on air (NATS request-reply on subjects.roomWhep, which only that host answers); the media then
// flows between that host and the browser. They are limited per client address too, and get the same viewer cookie.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createReadStream } from "node:fs";
import { readFile, stat } from "node:fs/promises";
import { createRequire } from "node:module";
import { createHmac, randomBytes, randomUUID, timingSafeEqual } from "node:crypto";
import { join } from "node:path";
import type { NatsConnection } from "@nats-io/transport-node";
import { Comment, RoomEvent, RoomState, subjects } from "../proto/index.js";
import {
  InvalidArgumentError,
  LivehostError,
  MalformedMessageError,
  NotFoundError,
  ResourceExhaustedError,
  UnavailableError,
  errorFromCode,
  type ErrorCode,
} from "../errors/index.js";
import { validateRoomId, type RoomDirectory } from "../rooms/index.js";
import type { Registry } from "../observability/index.js";
import { postComment } from "./room-service.js";
import {
  contentSecurityPolicy,
  listPageHtml,
  publicRoom,
  roomPageHtml,
  viewerCss,
  viewerScript,
} from "./viewer-page.js";
import { TokenBucket } from "./token-bucket.js";

export interface ViewerOptions {
  nats: NatsConnection;
  /**
   * Only the WHEP routes (POST /rooms/<id>/whep, DELETE and 405s on sessions), everything else 404: what a gateway in
   * a cluster serves to viewers' players (the page, HLS and comments are local mode's).
   */
  whepOnly?: boolean;
  directory: RoomDirectory;
  /** Where comments the inbox refuses are counted. */
  registry?: Registry;
  /** Where room hosts write each room's output (<mediaDir>/<roomId>/hls). */
  mediaDir: string;
  host?: string;
  port?: number;
}

export interface Viewer extends AsyncDisposable {
  /** http://host:port */
  readonly url: string;
  close(): Promise<void>;
}

/** Resolved when first asked for, so that importing the gateway (tests, benchmarks) does not need hls.js. */
const hlsJs = () => createRequire(import.meta.url).resolve("hls.js/dist/hls.min.js");
const contentTypes: Record<string, string> = {
  ".m3u8": "application/vnd.apple.mpegurl",
  ".ts": "video/mp2t",
  ".m4s": "video/iso.segment",
  ".mp4": "video/mp4",
  // The AI-content label the multivariant playlist names (EXT-X-SESSION-DATA URI).
  ".json": "application/json",
};
const maxBodyBytes = 4_096;
/** A playlist or segment in a room's hls directory: a plain file name, never "." or "..". */
const hlsFileName = /^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,127}$/;
/** Comments an events stream remembers the text of until the room answers them. */
const maxAskedComments = 500;
/** Comments one client address may post: a burst, then this many a second. */
const commentBurst = 5;
const commentsPerSecond = 1;
/** WHEP offers one client address may post: a burst (a page and its reconnects), then this many a second. */
const offerBurst = 10;
const offersPerSecond = 2;
/** What a WHEP offer may be, and how long its room host may take to answer it (ICE gathering included). */
const maxOfferBytes = 64 * 1024;
const whepTimeoutMs = 15_000;
/** Retry-After (s) for a room that cannot take a WebRTC viewer now and says nothing more precise. */
const whepRetryAfterSeconds = 5;

/** Signed viewer ids (cookie `livehost_viewer=<id>.<mac>`), and the comment rate per client address. */
class ViewerIdentity {
  readonly #key = randomBytes(32);
  readonly #addresses = new Map<string, TokenBucket>();
  readonly #offers = new Map<string, TokenBucket>();

  /** The viewer id the request's cookie proves, or a new one (to be set as the cookie) when it proves none. */
  viewerOf(req: IncomingMessage): { viewerId: string; cookie?: string } {
    const cookie = /(?:^|;\s*)livehost_viewer=([A-Za-z0-9_-]{16})\.([A-Za-z0-9_-]{43})/.exec(req.headers.cookie ?? "");
    if (cookie && timingSafeEqual(Buffer.from(this.#mac(cookie[1]!)), Buffer.from(cookie[2]!))) {
      return { viewerId: `web-${cookie[1]}` };
    }
    const id = randomBytes(12).toString("base64url");
    const value = `${id}.${this.#mac(id)}`;
    return {
      viewerId: `web-${id}`,
      cookie: `livehost_viewer=${value}; Path=/; HttpOnly; SameSite=Strict; Max-Age=86400`,
    };
  }

  /** Takes one comment from the client address's allowance; ResourceExhaustedError (429) when it has none. */
  takeComment(address: string): void {
    if (!take(this.#addresses, address, commentBurst, commentsPerSecond)) {
      throw Object.assign(new ResourceExhaustedError("too many comments from this address; slow down"), {
        retryAfterSeconds: Math.ceil(1 / commentsPerSecond),
      });
    }
  }

  /** Takes one WHEP offer from the client address's allowance; ResourceExhaustedError (429) when it has none. */
  takeOffer(address: string): void {
    if (!take(this.#offers, address, offerBurst, offersPerSecond)) {
      throw Object.assign(new ResourceExhaustedError("too many WebRTC offers from this address; slow down"), {
        retryAfterSeconds: Math.ceil(1 / offersPerSecond),
      });
    }
  }

  #mac(id: string): string {
    return createHmac("sha256", this.#key).update(id).digest("base64url");
  }
}

export async function startViewer(options: ViewerOptions): Promise<Viewer> {
  const identity = new ViewerIdentity();
  const server = createServer((req, res) => {
    route(options, identity, req, res).catch((err: unknown) => {
      const { status, body, retryAfterSeconds } = httpError(err);
      if (!res.headersSent) {
        res.writeHead(status, {
          "content-type": "text/plain; charset=utf-8",
          ...(retryAfterSeconds !== undefined ? { "retry-after": String(retryAfterSeconds) } : {}),
        });
      }
      res.end(body);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, options.host ?? "127.0.0.1", resolve);
  });
  const address = server.address() as { address: string; port: number };
  const close = () => closeServer(server);
  return { url: `http://${address.address}:${address.port}`, close, [Symbol.asyncDispose]: close };
}

function take(buckets: Map<string, TokenBucket>, address: string, burst: number, perSecond: number): boolean {
  let bucket = buckets.get(address);
  if (!bucket) {
    // Forgetting every address at once is rare and errs on the side of letting requests through.
    if (buckets.size > 10_000) buckets.clear();
    bucket = new TokenBucket(burst, perSecond);
    buckets.set(address, bucket);
  }
  return bucket.take();
}

async function route(
  options: ViewerOptions,
  identity: ViewerIdentity,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const parts = pathSegments(req.url ?? "/");
  if (options.whepOnly && !(parts[0] === "rooms" && parts[2] === "whep")) return notFound(res);
  // HEAD is GET without the body (Node sends none); the event stream is GET only (HEAD would hold it open).
  const events$ = parts[0] === "rooms" && parts[2] === "events" && parts.length === 3;
  const method = req.method === "HEAD" && !events$ ? "GET" : req.method;
  const allowed = methodsOf(parts);
  if (allowed && !allowed.includes(method ?? "")) {
    const allow = allowed.includes("GET") && !events$ ? [...allowed, "HEAD"] : allowed;
    res.writeHead(405, { allow: allow.join(", "), "content-type": "text/plain" });
    res.end(`${req.method} is not served here (${allow.join(", ")})`);
    return;
  }
  if (method === "GET" && parts.length === 0) return listPage(options, res);
  if (method === "GET" && parts[0] === "assets" && parts.length === 2) {
    if (parts[1] === "hls.min.js") return sendFile(res, hlsJs(), "text/javascript");
    if (parts[1] === "viewer.js") return sendText(res, viewerScript, "text/javascript");
    if (parts[1] === "viewer.css") return sendText(res, viewerCss, "text/css");
  }
  if (parts[0] === "rooms" && parts[1]) {
    const roomId = parts[1];
    // Before the directory sees it: a KV key that is not a room id fails there with an error of its own.
    validateRoomId(roomId);
    if (method === "GET" && parts.length === 2) return roomPage(options, roomId, res);
    if (method === "GET" && parts[2] === "room.json" && parts.length === 3) return roomJson(options, roomId, res);
    if (method === "GET" && events$) return events(options, roomId, res);
    if (req.method === "POST" && parts[2] === "comments" && parts.length === 3) {
      return comment(options, identity, roomId, req, res);
    }
    if (parts[2] === "whep" && (parts.length === 3 || parts.length === 4)) {
      // A player on another origin (a shop's page) plays WHEP too: any origin may, as it may fetch HLS from a CDN.
      // No credentials ride on it (the viewer cookie stays on this origin); the rate limits are per client address.
      res.setHeader("access-control-allow-origin", "*");
      res.setHeader("access-control-expose-headers", "location");
      if (req.method === "OPTIONS") {
        const methods = parts.length === 3 ? "POST" : "DELETE";
        res.writeHead(204, {
          allow: `${methods}, OPTIONS`,
          "access-control-allow-methods": methods,
          "access-control-allow-headers": "content-type",
          "access-control-max-age": "600",
        });
        res.end();
        return;
      }
    }
    if (parts[2] === "whep" && parts.length === 3 && req.method === "POST") {
      return whepOffer(options, identity, roomId, req, res);
    }
    if (parts[2] === "whep" && parts.length === 4) {
      if (req.method === "DELETE") return whepDelete(options, roomId, parts[3]!, res);
      res.writeHead(405, { allow: "DELETE", "content-type": "text/plain" });
      res.end("a WHEP session takes DELETE only (no trickle ICE: every candidate is in the offer and the answer)");
      return;
    }
    if (parts[2] === "whep" && parts.length === 3) {
      res.writeHead(405, { allow: "POST", "content-type": "text/plain" });
      res.end("POST an SDP offer (application/sdp)");
      return;
    }
  }
  if (method === "GET" && parts[0] === "media" && parts[1] && parts[2] === "hls" && parts.length === 4) {
    validateRoomId(parts[1]);
    // A playlist or segment is a plain file name: nothing here may step out of the room's hls directory.
    if (!hlsFileName.test(parts[3]!)) return notFound(res);
    const type = contentTypes[parts[3]!.slice(parts[3]!.lastIndexOf("."))];
    if (!type) return notFound(res);
    // Playlists change every segment; a segment never changes once listed (its name holds the graph's generation),
    // so players and a CDN pulling from this origin keep it. One not listed yet is still being written: not served.
    const dir = join(options.mediaDir, parts[1], "hls");
    const segment = !parts[3]!.endsWith(".m3u8") && !parts[3]!.endsWith(".json");
    if (segment && !(await segmentComplete(dir, parts[3]!))) return notFound(res);
    const caching = segment ? "public, max-age=86400, immutable" : "no-cache";
    return sendFile(res, join(dir, parts[3]!), type, { "cache-control": caching });
  }
  notFound(res);
}

/**
 * The request path's segments, percent-decoded, as the client sent them. "." and ".." stay segments: a WHATWG URL
 * would resolve them (and "%2e%2e" too), so that "/rooms/%2e%2e" became "/" instead of a room id to refuse.
 */
function pathSegments(target: string): string[] {
  // The absolute form ("http://host/path"), which a client talking to a proxy sends, has the path after the host.
  const path = target.replace(/^[A-Za-z][A-Za-z0-9+.-]*:\/\/[^/?#]*/, "").split(/[?#]/, 1)[0]!;
  return path
    .split("/")
    .filter(Boolean)
    .map((segment) => {
      try {
        return decodeURIComponent(segment);
      } catch (err) {
        throw new MalformedMessageError("the path is not valid percent-encoded UTF-8", { cause: err });
      }
    });
}

async function listPage(options: ViewerOptions, res: ServerResponse) {
  const { rooms } = await options.directory.list({ pageSize: 500, pageToken: "", state: 0, labels: {} });
  html(res, listPageHtml(rooms.map(publicRoom)));
}

async function roomPage(options: ViewerOptions, roomId: string, res: ServerResponse) {
  const room = await options.directory.get(roomId);
  if (!room) return notFound(res);
  html(res, roomPageHtml(publicRoom(room)));
}

/** What the page shows of the room (its catalog for the product panel), as JSON. */
async function roomJson(options: ViewerOptions, roomId: string, res: ServerResponse) {
  const room = await options.directory.get(roomId);
  if (!room) return notFound(res);
  res.writeHead(200, {
    "content-type": "application/json; charset=utf-8",
    "cache-control": "no-cache",
    "x-content-type-options": "nosniff",
  });
  res.end(JSON.stringify(publicRoom(room)));
}

/**
 * The room's events as server-sent events until the viewer leaves. A comment the room answers is shown to every viewer
 * of the page: its text comes first, as a named event (`event: comment`, {commentId, viewerName, text}) just before
 * its CommentAnswered. Only answered comments, so that nothing the room's moderation turns away is shown; the text is
 * the inbox's, masked by whoever posted it; the viewer id is not sent.
 */
async function events(options: ViewerOptions, roomId: string, res: ServerResponse) {
  if (!(await options.directory.get(roomId))) return notFound(res);
  const asked = new Map<string, { viewerName: string; text: string }>();
  const inbox = options.nats.subscribe(subjects.roomComments(roomId), {
    callback: (_err, msg) => {
      let comment: Comment;
      try {
        comment = Comment.decode(msg.data);
      } catch {
        return;
      }
      asked.set(comment.commentId, { viewerName: comment.viewerName, text: comment.text });
      // Comments the room never answers are forgotten, oldest first.
      if (asked.size > maxAskedComments) asked.delete(asked.keys().next().value!);
    },
  });
  res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache", connection: "keep-alive" });
  res.write(": connected\n\n");
  const subscription = options.nats.subscribe(subjects.roomEvents(roomId), {
    callback: (_err, msg) => {
      // A viewer that cannot keep up misses events rather than holding them in memory.
      if (res.writableLength > 1_000_000) return;
      let event: RoomEvent;
      try {
        event = RoomEvent.decode(msg.data);
      } catch {
        return; // Not an event (a hostile or broken publisher): the page skips it.
      }
      if (event.event?.$case === "commentAnswered") {
        const { commentId } = event.event.value;
        const comment = asked.get(commentId);
        asked.delete(commentId);
        if (comment) res.write(`event: comment\ndata: ${JSON.stringify({ commentId, ...comment })}\n\n`);
      }
      res.write(`data: ${JSON.stringify(RoomEvent.toJSON(event))}\n\n`);
    },
  });
  // The viewer left (or the server closes its connections).
  res.on("close", () => {
    subscription.unsubscribe();
    inbox.unsubscribe();
  });
}

async function comment(
  options: ViewerOptions,
  identity: ViewerIdentity,
  roomId: string,
  req: IncomingMessage,
  res: ServerResponse,
) {
  // JSON only: a page on another site can post a form or text/plain across origins without asking, not JSON.
  const type = (req.headers["content-type"] ?? "").split(";")[0]!.trim().toLowerCase();
  if (type !== "application/json") {
    res.writeHead(415, { "content-type": "text/plain", accept: "application/json" });
    res.end(`a comment is application/json: {"text": "..."}, not ${type ? `"${type}"` : "a body without a type"}`);
    return;
  }
  identity.takeComment(req.socket.remoteAddress ?? "unknown");
  const { viewerId, cookie } = identity.viewerOf(req);
  let body = "";
  for await (const chunk of req as AsyncIterable<Buffer>) {
    body += chunk.toString("utf8");
    if (body.length > maxBodyBytes) throw new BodyTooLargeError(`a comment body is at most ${maxBodyBytes} bytes`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch (err) {
    throw new MalformedMessageError('body must be JSON: {"text": "..."}', { cause: err });
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new MalformedMessageError(`body must be a JSON object: {"text": "..."}, not ${jsonType(parsed)}`);
  }
  const { text, viewer } = parsed as { text?: unknown; viewer?: unknown };
  // The same field names as PostComment's, which the blank or overlong text's refusal uses too.
  if (text === undefined) throw new InvalidArgumentError("comment.text", "is required");
  if (typeof text !== "string") {
    throw new InvalidArgumentError("comment.text", `must be a string, not ${jsonType(text)}`);
  }
  if (viewer !== undefined && typeof viewer !== "string") {
    throw new InvalidArgumentError("comment.viewer_name", `must be a string, not ${jsonType(viewer)}`);
  }
  if (viewer !== undefined && [...viewer].length > 64) {
    throw new InvalidArgumentError("comment.viewer_name", `must be at most 64 characters (got ${[...viewer].length})`);
  }
  const reply = await postComment(options, {
    roomId,
    comment: Comment.fromPartial({
      commentId: `web-${randomUUID()}`,
      viewerId,
      viewerName: viewer ?? "",
      text,
      source: "viewer-page",
    }),
  });
  res.writeHead(202, { "content-type": "application/json", ...(cookie ? { "set-cookie": cookie } : {}) });
  res.end(JSON.stringify({ ...reply, viewerId }));
}

/** Where a room's WHEP session is (the Location of a 201, what DELETE takes). */
const sessionPath = (roomId: string, session: string) =>
  `/rooms/${encodeURIComponent(roomId)}/whep/${encodeURIComponent(session)}`;

/**
 * A WHEP offer: 201 with the answer and the session's Location. 415 for another content type, 400 for an offer that
 * cannot be answered (the message says why), 404 for an unknown room, 503 with Retry-After when the room is not on
 * air, is full or its host has no WebRTC, 429 when the address posts too many offers.
 */
async function whepOffer(
  options: ViewerOptions,
  identity: ViewerIdentity,
  roomId: string,
  req: IncomingMessage,
  res: ServerResponse,
) {
  const type = (req.headers["content-type"] ?? "").split(";")[0]!.trim().toLowerCase();
  if (type !== "application/sdp") {
    req.resume();
    res.writeHead(415, { "content-type": "text/plain", accept: "application/sdp" });
    res.end(`a WHEP offer is application/sdp, not ${type || "a body without a content type"}`);
    return;
  }
  identity.takeOffer(req.socket.remoteAddress ?? "unknown");
  const { cookie } = identity.viewerOf(req);
  let offer = "";
  for await (const chunk of req as AsyncIterable<Buffer>) {
    offer += chunk.toString("utf8");
    if (offer.length > maxOfferBytes) throw new MalformedMessageError(`offer: larger than ${maxOfferBytes} bytes`);
  }
  const room = await options.directory.get(roomId);
  if (!room) throw new NotFoundError(`no room ${roomId}`);
  if (room.status?.state !== RoomState.ROOM_STATE_LIVE) {
    throw Object.assign(new UnavailableError(`room ${roomId} is not on air`), {
      retryAfterSeconds: whepRetryAfterSeconds,
    });
  }
  const reply = await askRoomHost(options, roomId, { op: "offer", sdp: offer });
  if (typeof reply.session !== "string" || typeof reply.answer !== "string") {
    throw new UnavailableError("the room's host gave no answer");
  }
  res.writeHead(201, {
    "content-type": "application/sdp",
    location: sessionPath(roomId, reply.session),
    ...(cookie ? { "set-cookie": cookie } : {}),
  });
  res.end(reply.answer);
}

/** WHEP DELETE: 200 when the session ended, 404 when the room has no such session (ended already). */
async function whepDelete(options: ViewerOptions, roomId: string, session: string, res: ServerResponse) {
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(session)) throw new NotFoundError("no such WebRTC session");
  if (!(await options.directory.get(roomId))) throw new NotFoundError(`no room ${roomId}`);
  await askRoomHost(options, roomId, { op: "delete", session });
  res.writeHead(200, { "content-type": "text/plain" });
  res.end("session ended");
}

/** Asks the room host that has `roomId` on air; its refusal comes back as the error it was there. */
async function askRoomHost(
  options: ViewerOptions,
  roomId: string,
  request: { op: "offer"; sdp: string } | { op: "delete"; session: string },
): Promise<{ session?: unknown; answer?: unknown }> {
  let text: string;
  try {
    const msg = await options.nats.request(subjects.roomWhep(roomId), JSON.stringify(request), {
      timeout: whepTimeoutMs,
    });
    text = msg.string();
  } catch (err) {
    // No room host listens, or none has the room on air (only its owner answers).
    throw Object.assign(new UnavailableError(`no room host is streaming room ${roomId} now`, { cause: err }), {
      retryAfterSeconds: whepRetryAfterSeconds,
    });
  }
  let reply: {
    session?: unknown;
    answer?: unknown;
    error?: { code?: unknown; message?: unknown; retryAfterSeconds?: unknown };
  };
  try {
    reply = JSON.parse(text) as typeof reply;
  } catch (err) {
    throw new UnavailableError("the room's host answered something else than JSON", { cause: err });
  }
  if (reply.error) {
    const error = errorFromCode(
      String(reply.error.code),
      typeof reply.error.message === "string" ? reply.error.message : "refused",
    );
    const retryAfter = reply.error.retryAfterSeconds;
    if (error.code === "unavailable") {
      Object.assign(error, { retryAfterSeconds: typeof retryAfter === "number" ? retryAfter : whepRetryAfterSeconds });
    }
    throw error;
  }
  return reply;
}

async function sendFile(res: ServerResponse, path: string, type: string, headers: Record<string, string> = {}) {
  const info = await stat(path).catch(() => undefined);
  if (!info?.isFile()) return notFound(res);
  res.writeHead(200, { "content-type": type, "content-length": info.size, ...headers });
  createReadStream(path).pipe(res);
}

function html(res: ServerResponse, page: string) {
  res.writeHead(200, { "content-type": "text/html; charset=utf-8", "content-security-policy": contentSecurityPolicy });
  res.end(page);
}

function sendText(res: ServerResponse, text: string, type: string) {
  res.writeHead(200, { "content-type": `${type}; charset=utf-8`, "cache-control": "no-cache" });
  res.end(text);
}

/**
 * The methods a path of the viewer's takes (405 with Allow for another one), or undefined for a path that is not
 * one of its resources (404). WHEP's own paths answer their 405s themselves.
 */
function methodsOf(parts: string[]): string[] | undefined {
  if (parts.length === 0) return ["GET"];
  if (parts[0] === "assets" && parts.length === 2) return ["GET"];
  if (parts[0] === "media" && parts[2] === "hls" && parts.length === 4) return ["GET"];
  if (parts[0] !== "rooms" || !parts[1]) return undefined;
  if (parts.length === 2) return ["GET"];
  if (parts.length === 3 && (parts[2] === "room.json" || parts[2] === "events")) return ["GET"];
  if (parts.length === 3 && parts[2] === "comments") return ["POST"];
  return undefined;
}

const segmentName = /^segment-g(\d+)-(\d+)\.ts$/;

/**
 * Whether a segment is complete: the room's playlist lists it, or a segment after it (one that left the live window
 * since). A segment the muxer still writes is listed only once it is closed.
 */
async function segmentComplete(dir: string, name: string): Promise<boolean> {
  const text = await readFile(join(dir, "index.m3u8"), "utf8").catch(() => "");
  const asked = segmentName.exec(name);
  if (!asked) return text.split("\n").some((line) => line.trim() === name);
  const order = (m: RegExpExecArray) => Number(m[1]) * 1e9 + Number(m[2]);
  let last = -1;
  for (const line of text.split("\n")) {
    const listed = segmentName.exec(line.trim());
    if (listed) last = Math.max(last, order(listed));
  }
  return order(asked) <= last;
}

/** A request body over what the endpoint takes: 413 Content Too Large. */
class BodyTooLargeError extends MalformedMessageError {
  override name = "BodyTooLargeError";
}

function notFound(res: ServerResponse) {
  res.writeHead(404, { "content-type": "text/plain" });
  res.end("not found");
}

/** What a JSON value is, for a refusal that names what came instead of what was wanted. */
function jsonType(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  return typeof value === "object" ? "an object" : `a ${typeof value}`;
}

/**
 * The HTTP status of each kind of failure: the viewer's one mapping, as transport/status.ts is gRPC's. Every code is
 * listed, so that a new one cannot fall through unmapped.
 */
const httpStatuses: Record<ErrorCode, number> = {
  invalid_argument: 400,
  unauthenticated: 401,
  permission_denied: 403,
  not_found: 404,
  already_exists: 409,
  failed_precondition: 409,
  aborted: 409,
  resource_exhausted: 429,
  // Nothing the client did; its message may name internals.
  cancelled: 500,
  internal: 500,
  unimplemented: 501,
  unavailable: 503,
  deadline_exceeded: 504,
};

/**
 * What a client gets for a failed request: the status its code maps to, and our message as the body. A 500 (an
 * internal failure, or one we did not raise on purpose) gets a generic body: its message may name internals.
 */
export function httpError(err: unknown): { status: number; body: string; retryAfterSeconds?: number } {
  if (err instanceof BodyTooLargeError) return { status: 413, body: err.message };
  const status = err instanceof LivehostError ? httpStatuses[err.code] : 500;
  if (!(err instanceof LivehostError) || status === 500) return { status: 500, body: "internal error" };
  const retryAfter = (err as { retryAfterSeconds?: unknown }).retryAfterSeconds;
  return { status, body: err.message, ...(typeof retryAfter === "number" ? { retryAfterSeconds: retryAfter } : {}) };
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}
