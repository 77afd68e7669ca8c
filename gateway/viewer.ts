// The viewer page the gateway serves in local mode: a room's HLS stream (played with hls.js), a comment box, and the
// room's events as they happen. Routes:
//   GET  /                          the rooms, with links
//   GET  /rooms/<id>                the viewer page
//   GET  /rooms/<id>/events         the room's events (server-sent events, protobuf JSON)
//   POST /rooms/<id>/comments       {"text": "...", "viewer": "<display name>"} -> PostComment
//   GET  /media/<id>/hls/<file>     the room's HLS playlist and segments, from the media directory
//   GET  /assets/hls.min.js         hls.js
// It listens on loopback unless told otherwise: it is a preview, not a CDN origin.
//
// The page is a danmaku ingest that browsers reach directly, so it answers for its viewers' ids: the viewer id a room's
// flood control keys on comes from a cookie the page signs (HMAC, a key per gateway process), never from the body
// (whose "viewer" is only a display name), and each client address may post a few comments a second (429 beyond),
// so that minting new cookies does not get around flood control either.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";
import { createRequire } from "node:module";
import { createHmac, randomBytes, randomUUID, timingSafeEqual } from "node:crypto";
import { join, normalize } from "node:path";
import type { NatsConnection } from "@nats-io/transport-node";
import { Comment, RoomEvent, subjects } from "../proto/index.js";
import { LivehostError, MalformedMessageError, ResourceExhaustedError } from "../errors/index.js";
import type { RoomDirectory } from "../rooms/index.js";
import type { Registry } from "../observability/index.js";
import { postComment } from "./room-service.js";
import { TokenBucket } from "./token-bucket.js";

export interface ViewerOptions {
  nats: NatsConnection;
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
};
const maxBodyBytes = 4_096;
/** Comments one client address may post: a burst, then this many a second. */
const commentBurst = 5;
const commentsPerSecond = 1;

/** Signed viewer ids (cookie `livehost_viewer=<id>.<mac>`), and the comment rate per client address. */
class ViewerIdentity {
  readonly #key = randomBytes(32);
  readonly #addresses = new Map<string, TokenBucket>();

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
    let bucket = this.#addresses.get(address);
    if (!bucket) {
      // Forgetting every address at once is rare and errs on the side of letting comments through.
      if (this.#addresses.size > 10_000) this.#addresses.clear();
      bucket = new TokenBucket(commentBurst, commentsPerSecond);
      this.#addresses.set(address, bucket);
    }
    if (!bucket.take()) throw new ResourceExhaustedError("too many comments from this address; slow down");
  }

  #mac(id: string): string {
    return createHmac("sha256", this.#key).update(id).digest("base64url");
  }
}

export async function startViewer(options: ViewerOptions): Promise<Viewer> {
  const identity = new ViewerIdentity();
  const server = createServer((req, res) => {
    route(options, identity, req, res).catch((err: unknown) => {
      const status = err instanceof LivehostError ? httpStatus(err) : 500;
      if (!res.headersSent) res.writeHead(status, { "content-type": "text/plain; charset=utf-8" });
      res.end(err instanceof LivehostError ? err.message : "internal error");
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

async function route(
  options: ViewerOptions,
  identity: ViewerIdentity,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const url = new URL(req.url ?? "/", "http://viewer");
  const parts = url.pathname.split("/").filter(Boolean).map(decodeURIComponent);
  if (req.method === "GET" && parts.length === 0) return listPage(options, res);
  if (req.method === "GET" && parts[0] === "assets" && parts[1] === "hls.min.js") {
    return sendFile(res, hlsJs(), "text/javascript");
  }
  if (parts[0] === "rooms" && parts[1]) {
    const roomId = parts[1];
    if (req.method === "GET" && parts.length === 2) return roomPage(options, roomId, res);
    if (req.method === "GET" && parts[2] === "events") return events(options, roomId, req, res);
    if (req.method === "POST" && parts[2] === "comments") return comment(options, identity, roomId, req, res);
  }
  if (req.method === "GET" && parts[0] === "media" && parts[1] && parts[2] === "hls" && parts[3]) {
    const file = normalize(join(options.mediaDir, parts[1], "hls", parts[3]));
    if (!file.startsWith(normalize(join(options.mediaDir, parts[1], "hls")))) return notFound(res);
    const type = contentTypes[file.slice(file.lastIndexOf("."))];
    if (!type) return notFound(res);
    return sendFile(res, file, type, { "cache-control": "no-cache" });
  }
  notFound(res);
}

async function listPage(options: ViewerOptions, res: ServerResponse) {
  const { rooms } = await options.directory.list({ pageSize: 500, pageToken: "", state: 0, labels: {} });
  const items = rooms
    .map((r) => `<li><a href="/rooms/${escape(r.id)}">${escape(r.spec?.displayName || r.id)}</a></li>`)
    .join("");
  html(res, `<h1>livehost rooms</h1><ul>${items || "<li>no rooms yet</li>"}</ul>`);
}

async function roomPage(options: ViewerOptions, roomId: string, res: ServerResponse) {
  const room = await options.directory.get(roomId);
  if (!room) return notFound(res);
  const title = escape(room.spec?.displayName || room.id);
  html(
    res,
    `<h1>${title}</h1>
<div class="stage"><video id="video" controls autoplay muted playsinline></video>
<aside><form id="comment"><input name="text" maxlength="200" placeholder="Ask the host…" autocomplete="off">
<button>Send</button></form><ol id="events"></ol></aside></div>
<script src="/assets/hls.min.js"></script>
<script>
const roomId = ${JSON.stringify(roomId)};
const src = "/media/" + encodeURIComponent(roomId) + "/hls/index.m3u8";
const video = document.getElementById("video");
function play() {
  if (window.Hls && Hls.isSupported()) {
    const hls = new Hls({ liveSyncDurationCount: 2 });
    hls.loadSource(src);
    hls.attachMedia(video);
    hls.on(Hls.Events.ERROR, (_e, data) => { if (data.fatal) setTimeout(() => { hls.destroy(); play(); }, 1000); });
  } else {
    video.src = src;
  }
}
play();
const list = document.getElementById("events");
const stream = new EventSource("/rooms/" + encodeURIComponent(roomId) + "/events");
stream.onmessage = (m) => {
  const e = JSON.parse(m.data);
  const [kind, body] = Object.entries(e).find(([k]) => !["roomId", "sequence", "time"].includes(k)) || ["", {}];
  const li = document.createElement("li");
  li.className = kind;
  li.textContent = kind === "utteranceStarted" ? body.text : kind + " " + JSON.stringify(body);
  list.prepend(li);
  while (list.children.length > 50) list.lastChild.remove();
};
document.getElementById("comment").onsubmit = async (ev) => {
  ev.preventDefault();
  const input = ev.target.elements.text;
  const res = await fetch("/rooms/" + encodeURIComponent(roomId) + "/comments", {
    method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ text: input.value }),
  });
  if (res.ok) input.value = ""; else alert(await res.text());
};
</script>`,
  );
}

/** The room's events as server-sent events until the viewer leaves. */
async function events(options: ViewerOptions, roomId: string, req: IncomingMessage, res: ServerResponse) {
  if (!(await options.directory.get(roomId))) return notFound(res);
  res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache", connection: "keep-alive" });
  res.write(": connected\n\n");
  const subscription = options.nats.subscribe(subjects.roomEvents(roomId), {
    callback: (_err, msg) => {
      // A viewer that cannot keep up misses events rather than holding them in memory.
      if (res.writableLength > 1_000_000) return;
      let event: unknown;
      try {
        event = RoomEvent.toJSON(RoomEvent.decode(msg.data));
      } catch {
        return; // Not an event (a hostile or broken publisher): the page skips it.
      }
      res.write(`data: ${JSON.stringify(event)}\n\n`);
    },
  });
  req.on("close", () => subscription.unsubscribe());
}

async function comment(
  options: ViewerOptions,
  identity: ViewerIdentity,
  roomId: string,
  req: IncomingMessage,
  res: ServerResponse,
) {
  identity.takeComment(req.socket.remoteAddress ?? "unknown");
  const { viewerId, cookie } = identity.viewerOf(req);
  let body = "";
  for await (const chunk of req as AsyncIterable<Buffer>) {
    body += chunk.toString("utf8");
    if (body.length > maxBodyBytes) throw new MalformedMessageError("comment body is too large");
  }
  let parsed: { text?: unknown; viewer?: unknown };
  try {
    parsed = JSON.parse(body) as typeof parsed;
  } catch {
    throw new MalformedMessageError('body must be JSON: {"text": "..."}');
  }
  const reply = await postComment(options, {
    roomId,
    comment: Comment.fromPartial({
      commentId: `web-${randomUUID()}`,
      viewerId,
      viewerName: typeof parsed.viewer === "string" ? [...parsed.viewer].slice(0, 64).join("") : "",
      text: typeof parsed.text === "string" ? parsed.text : "",
      source: "viewer-page",
    }),
  });
  res.writeHead(202, { "content-type": "application/json", ...(cookie ? { "set-cookie": cookie } : {}) });
  res.end(JSON.stringify({ ...reply, viewerId }));
}

async function sendFile(res: ServerResponse, path: string, type: string, headers: Record<string, string> = {}) {
  const info = await stat(path).catch(() => undefined);
  if (!info?.isFile()) return notFound(res);
  res.writeHead(200, { "content-type": type, "content-length": info.size, ...headers });
  createReadStream(path).pipe(res);
}

function html(res: ServerResponse, body: string) {
  res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
  res.end(`<!doctype html><html><head><meta charset="utf-8"><title>livehost</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{font-family:system-ui,sans-serif;margin:1rem;background:#111;color:#eee}a{color:#8cf}
.stage{display:flex;gap:1rem;flex-wrap:wrap}video{height:80vh;max-width:100%;background:#000}
aside{flex:1;min-width:18rem}#events{font-size:.9rem;max-height:70vh;overflow:auto}
.utteranceStarted{color:#fff}.commentRejected{color:#f88}.commentAnswered{color:#8f8}
input{width:70%;padding:.4rem}button{padding:.4rem}</style></head><body>${body}</body></html>`);
}

function notFound(res: ServerResponse) {
  res.writeHead(404, { "content-type": "text/plain" });
  res.end("not found");
}

function httpStatus(err: LivehostError): number {
  const statuses: Partial<Record<LivehostError["code"], number>> = {
    invalid_argument: 400,
    unauthenticated: 401,
    permission_denied: 403,
    not_found: 404,
    resource_exhausted: 429,
    unavailable: 503,
  };
  return statuses[err.code] ?? 500;
}

function escape(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}
