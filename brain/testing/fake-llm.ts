// A local OpenAI-compatible chat endpoint for tests (node:http on 127.0.0.1, port 0). Each request is answered by
// the next reply the test scripted: streamed SSE chunks, optionally slow, stalled, failing or misbehaving.
// It is a fake and named as one; real endpoints differ in ways brain/README.md lists.
import http from "node:http";
import type { AddressInfo } from "node:net";

export interface FakeReply {
  /** HTTP status; 200 streams `chunks`, anything else sends `body` as an error. Default 200. */
  status?: number;
  /** Text pieces sent as `choices[0].delta.content`, one SSE event each. */
  chunks?: string[];
  /** Wait before the first chunk (headers go out at once, as real servers do). */
  firstChunkDelayMs?: number;
  /** Wait between chunks. */
  chunkDelayMs?: number;
  /** Resolves when the chunks after the first may go out (to see that the client did not wait for them). */
  holdAfterFirst?: Promise<void>;
  /** Send "data: [DONE]" at the end. Default true. */
  done?: boolean;
  /** Answer with one JSON completion instead of a stream (a server that ignores stream: true). */
  json?: boolean;
  /** Raw bytes to send instead of chunks (malformed events). */
  raw?: string;
  /** Error body for non-200 statuses. */
  body?: string;
}

export interface FakeRequest {
  headers: http.IncomingHttpHeaders;
  url: string;
  body: { model?: string; stream?: boolean; messages?: { role: string; content: string }[] };
}

export interface FakeLlmServer extends AsyncDisposable {
  /** Base URL to pass as the endpoint, e.g. http://127.0.0.1:40123/v1 */
  readonly endpoint: string;
  readonly requests: FakeRequest[];
  /** Queue the reply for the next request (requests without one get a 500). */
  reply(reply: FakeReply): void;
  close(): Promise<void>;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export async function startFakeLlm(): Promise<FakeLlmServer> {
  const replies: FakeReply[] = [];
  const requests: FakeRequest[] = [];
  const server = http.createServer((req, res) => {
    let raw = "";
    req.setEncoding("utf8");
    req.on("data", (chunk: string) => (raw += chunk));
    req.on("end", () => {
      requests.push({ headers: req.headers, url: req.url ?? "", body: JSON.parse(raw || "{}") as FakeRequest["body"] });
      const reply = replies.shift() ?? { status: 500, body: "no reply scripted" };
      void respond(reply, res).catch(() => res.destroy());
    });
  });
  const respond = async (reply: FakeReply, res: http.ServerResponse) => {
    if ((reply.status ?? 200) !== 200) {
      res.writeHead(reply.status!, { "content-type": "application/json" }).end(reply.body ?? "{}");
      return;
    }
    if (reply.json) {
      const content = (reply.chunks ?? []).join("");
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ choices: [{ index: 0, message: { role: "assistant", content } }] }));
      return;
    }
    res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
    res.flushHeaders();
    if (reply.firstChunkDelayMs) await sleep(reply.firstChunkDelayMs);
    if (reply.raw !== undefined) {
      res.end(reply.raw);
      return;
    }
    for (const [i, content] of (reply.chunks ?? []).entries()) {
      if (res.destroyed) return;
      if (i === 1 && reply.holdAfterFirst) await reply.holdAfterFirst;
      if (i > 0 && reply.chunkDelayMs) await sleep(reply.chunkDelayMs);
      res.write(`data: ${JSON.stringify({ choices: [{ index: 0, delta: { content } }] })}\n\n`);
    }
    if (reply.done ?? true) res.write("data: [DONE]\n\n");
    res.end();
  };
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  const close = () =>
    new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  return {
    endpoint: `http://127.0.0.1:${port}/v1`,
    requests,
    reply: (reply) => replies.push(reply),
    close,
    [Symbol.asyncDispose]: close,
  };
}
