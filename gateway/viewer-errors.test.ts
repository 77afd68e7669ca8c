// What a client of the viewer's HTTP side gets when a request is refused: the status its error's code maps to and a
// body naming what is wrong; room ids that are not ids refused before any lookup; nothing internal in a 500.
import { request } from "node:http";
import { describe, expect, it } from "vitest";
import {
  AbortedError,
  AlreadyExistsError,
  CancelledError,
  DeadlineExceededError,
  FailedPreconditionError,
  InternalError,
  InvalidArgumentError,
  NotFoundError,
  PermissionDeniedError,
  ResourceExhaustedError,
  UnauthenticatedError,
  UnavailableError,
  UnimplementedError,
} from "../errors/internal.js";
import { startTestRoomStack } from "../testing/index.js";
import { httpError } from "./viewer.js";

/**
 * Sends `path` exactly as written: fetch() would resolve "%2e%2e" and ".." before sending, as a browser does, but a
 * hostile client need not.
 */
function send(base: string, method: string, path: string, body?: string, type = "application/json") {
  const { hostname, port } = new URL(base);
  return new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = request({ hostname, port, method, path, headers: body === undefined ? {} : { "content-type": type } });
    req.on("error", reject).on("response", (res) => {
      let text = "";
      res.setEncoding("utf8");
      res
        .on("data", (chunk: string) => (text += chunk))
        .on("end", () => resolve({ status: res.statusCode!, body: text }));
    });
    req.end(body);
  });
}

const badRoomId = "room_id: must be 1 to 63 characters of a-z, 0-9 and '-', starting with a letter or digit";

describe("the viewer's refusals", () => {
  it("maps each kind of failure to its HTTP status, and keeps internal messages out of a 500", () => {
    const cases: [Error, number][] = [
      [new InvalidArgumentError("comment.text", "must be a string"), 400],
      [new UnauthenticatedError("no credential"), 401],
      [new PermissionDeniedError("svc:globex does not act for tenant acme"), 403],
      [new NotFoundError("room qa-1 does not exist"), 404],
      [new AlreadyExistsError("room qa-1 exists"), 409],
      [new FailedPreconditionError("room qa-1 has ended; create a new room to go live again"), 409],
      [new AbortedError("revision 3 is stale"), 409],
      [new ResourceExhaustedError("too many comments from this address; slow down"), 429],
      [new UnimplementedError("no trickle ICE"), 501],
      [new UnavailableError("room qa-1 is not on air"), 503],
      [new DeadlineExceededError("the room did not answer in 2 s"), 504],
    ];
    for (const [err, status] of cases) expect(httpError(err)).toEqual({ status, body: err.message });

    for (const err of [
      new InternalError("kv get failed at /var/lib/nats/jetstream"),
      new CancelledError("stream closed by the host"),
      new TypeError("Cannot read properties of null (reading 'text')"),
      "a thrown string",
    ]) {
      expect(httpError(err)).toEqual({ status: 500, body: "internal error" });
    }

    const busy = Object.assign(new UnavailableError("room qa-1 is full"), { retryAfterSeconds: 5 });
    expect(httpError(busy)).toEqual({ status: 503, body: "room qa-1 is full", retryAfterSeconds: 5 });
  });

  it("refuses a room id in the path that is not one with 400 naming room_id, before looking it up", async () => {
    await using stack = await startTestRoomStack({ gateway: { viewer: true } });
    await stack.create("qa-1");
    const base = stack.gateway.viewerUrl!;

    for (const path of [
      "/rooms/x..y",
      "/rooms/a..b/room.json",
      "/rooms/a%20b/room.json",
      "/rooms/qv-16%00",
      "/rooms/ABC",
      "/rooms/%2e%2e",
      "/rooms/..",
      "/rooms/%2e%2e/room.json",
      "/rooms/a.%3E/events",
      "/rooms/..%2F..%2Fetc/room.json",
      "/media/%2e%2e/hls/index.m3u8",
    ]) {
      expect({ path, ...(await send(base, "GET", path)) }).toEqual({ path, status: 400, body: badRoomId });
    }
    expect(await send(base, "POST", "/rooms/a..b/comments", '{"text":"hi"}')).toEqual({ status: 400, body: badRoomId });
    expect(await send(base, "POST", "/rooms/ABC/whep", "v=0\r\n", "application/sdp")).toEqual({
      status: 400,
      body: badRoomId,
    });
    expect(await send(base, "GET", "/rooms/%E0%A4%A")).toEqual({
      status: 400,
      body: "the path is not valid percent-encoded UTF-8",
    });

    // A well-formed id is looked up: a room that does not exist is 404, one that does is its page.
    expect(await send(base, "GET", "/rooms/nobody")).toMatchObject({ status: 404 });
    expect(await send(base, "GET", "/rooms/nobody/room.json")).toMatchObject({ status: 404 });
    expect(await send(base, "GET", "/rooms/qa-1")).toMatchObject({ status: 200 });
    // HEAD wherever GET is; another method on a path that exists: 405 saying which it takes.
    expect(await send(base, "HEAD", "/rooms/qa-1/room.json")).toEqual({ status: 200, body: "" });
    expect(await send(base, "POST", "/rooms/qa-1", "{}")).toEqual({
      status: 405,
      body: "POST is not served here (GET, HEAD)",
    });
    expect(await send(base, "GET", "/rooms/qa-1/comments")).toEqual({
      status: 405,
      body: "GET is not served here (POST)",
    });
    // A file name that steps out of the room's hls directory is no file of it.
    expect(await send(base, "GET", "/media/qa-1/hls/%2e%2e")).toMatchObject({ status: 404 });
    expect(await send(base, "GET", "/media/qa-1/hls/..%2Fhls-old%2Findex.m3u8")).toMatchObject({ status: 404 });
  });

  it("takes comments as JSON only, within their sizes, and says when to come back", async () => {
    await using stack = await startTestRoomStack({ gateway: { viewer: true } });
    await stack.create("qa-2");
    await stack.start("qa-2");
    const base = stack.gateway.viewerUrl!;
    const post = (body: string, type?: string) => send(base, "POST", "/rooms/qa-2/comments", body, type);
    // A form or text/plain can be posted across origins without a preflight: refused before it is read.
    expect(await post('{"text":"hi"}', "text/plain;charset=UTF-8")).toEqual({
      status: 415,
      body: 'a comment is application/json: {"text": "..."}, not "text/plain"',
    });
    expect((await post("text=hi", "application/x-www-form-urlencoded")).status).toBe(415);
    expect(await post(JSON.stringify({ text: "hi", viewer: "名".repeat(65) }))).toEqual({
      status: 400,
      body: "comment.viewer_name: must be at most 64 characters (got 65)",
    });
    expect(await post(JSON.stringify({ text: "x".repeat(5_000) }))).toEqual({
      status: 413,
      body: "a comment body is at most 4096 bytes",
    });
    expect((await post('{"text":"hi"}')).status).toBe(202);
    expect((await post('{"text":"hi again"}')).status).toBe(202);
    expect((await post('{"text":"third"}')).status).toBe(202);
    // Past the burst of 5: 429, with when to try again.
    const { hostname, port } = new URL(base);
    const limited = await new Promise<{ status: number; retryAfter?: string }>((resolve, reject) => {
      const req = request({
        hostname,
        port,
        method: "POST",
        path: "/rooms/qa-2/comments",
        headers: { "content-type": "application/json" },
      });
      req.on("error", reject).on("response", (res) => {
        res.resume();
        resolve({ status: res.statusCode!, retryAfter: res.headers["retry-after"] });
      });
      req.end('{"text":"one more"}');
    });
    expect(limited).toEqual({ status: 429, retryAfter: "1" });
  });

  it("refuses comments it cannot take with a status and a message that say why", async () => {
    await using stack = await startTestRoomStack({ gateway: { viewer: true } });
    await stack.create("qa-1");
    await stack.start("qa-1");
    const base = stack.gateway.viewerUrl!;
    const post = (body: string) => send(base, "POST", "/rooms/qa-1/comments", body);

    // At most 5 comments: the client address's burst.
    expect(await post('{"text":123}')).toEqual({ status: 400, body: "comment.text: must be a string, not a number" });
    expect(await post('{"viewer":"小王"}')).toEqual({ status: 400, body: "comment.text: is required" });
    expect(await post("null")).toEqual({
      status: 400,
      body: 'body must be a JSON object: {"text": "..."}, not null',
    });
    expect(await post('{"text":"hi","viewer":["a"]}')).toEqual({
      status: 400,
      body: "comment.viewer_name: must be a string, not an array",
    });

    await stack.request("qa-1", { $case: "stop", value: { roomId: "qa-1", reason: "", requestId: "" } });
    expect(await post('{"text":"hi"}')).toEqual({
      status: 409,
      body: "room qa-1 has ended; create a new room to go live again",
    });
  });
});
