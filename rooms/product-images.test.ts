import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createServer, type Server } from "node:https";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { makeTestPki, type TestPki } from "../charts/testing/certs.js";
import { createRegistry } from "../observability/index.js";
import { renderOverlay } from "../media/internal.js";
import { ProductImages } from "./product-images.js";

// A 1x1 red PNG.
const png = Buffer.from(
  "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==",
  "base64",
);

let pki: TestPki;
let server: Server;
let base: string;
let dir: string;
const asked: string[] = [];

beforeAll(async () => {
  pki = await makeTestPki();
  dir = await mkdtemp(join(tmpdir(), "livehost-images-"));
  const [cert, key] = await Promise.all([readFile(pki.server.cert), readFile(pki.server.key)]);
  server = createServer({ cert, key }, (req, res) => {
    asked.push(req.url ?? "");
    const send = (status: number, type: string, body: Buffer | string) => {
      res.writeHead(status, { "content-type": type });
      res.end(body);
    };
    if (req.url === "/red.png") return send(200, "image/png", png);
    if (req.url === "/huge.png") return send(200, "image/png", Buffer.concat([png, Buffer.alloc(3 * 1024 ** 2)]));
    if (req.url === "/passwd.png") return send(200, "image/png", "root:x:0:0:root:/root:/bin/bash\n");
    if (req.url === "/page") return send(200, "text/html", "<html></html>");
    if (req.url === "/moved.png") {
      res.writeHead(302, { location: "https://127.0.0.1/etc/passwd" });
      return res.end();
    }
    if (req.url === "/slow.png") return setTimeout(() => send(200, "image/png", png), 2_000);
    send(404, "text/plain", "no");
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `https://127.0.0.1:${(server.address() as { port: number }).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  await pki[Symbol.asyncDispose]();
  await rm(dir, { recursive: true, force: true });
});

/** A fetcher trusting the test CA, with its own cache directory and metrics. */
async function images(name: string, allowedHosts = ["127.0.0.1"]) {
  const registry = createRegistry();
  const ca = await readFile(pki.ca);
  const fetcher = new ProductImages({ allowedHosts, cacheDir: join(dir, name), ca, timeoutMs: 1_000, registry });
  return { fetcher, registry };
}

describe("product pictures", () => {
  it("fetches an allowed https picture once, caches it, and it composes into a product card", async () => {
    const { fetcher } = await images("ok");
    const path = await fetcher.fetch(`${base}/red.png`);
    expect(path).toBeDefined();
    expect(await readFile(path!)).toEqual(png);
    expect(fetcher.ready(`${base}/red.png`)).toBe(path);
    await fetcher.fetch(`${base}/red.png`);
    expect(asked.filter((u) => u === "/red.png")).toHaveLength(1);
    const card = await renderOverlay(
      {
        id: "card",
        content: { kind: "product-card", title: "保温杯", price: "¥79", imagePath: path },
        durationMs: 6_000,
      },
      360,
      640,
    );
    expect(card.image).toBeDefined();
  });

  it.each([
    ["a host not allowed", "/red.png", ["img.example.com"], "host_not_allowed"],
    ["a body over the size limit", "/huge.png", ["127.0.0.1"], "too_large"],
    ["bytes that are not the picture they claim", "/passwd.png", ["127.0.0.1"], "not_an_image"],
    ["a page, not a picture", "/page", ["127.0.0.1"], "not_an_image"],
    ["a redirect (not followed)", "/moved.png", ["127.0.0.1"], "http_error"],
    ["a server slower than the time limit", "/slow.png", ["127.0.0.1"], "failed"],
  ])("takes no picture from %s, and counts why", async (_what, path, hosts, outcome) => {
    const { fetcher, registry } = await images(outcome, hosts);
    await expect(fetcher.fetch(`${base}${path}`)).resolves.toBeUndefined();
    expect(await registry.getSingleMetricAsString("livehost_product_images_total")).toContain(`outcome="${outcome}"`);
  });

  it("never opens a path or a plain-http URL", async () => {
    const { fetcher, registry } = await images("paths");
    for (const url of ["/etc/passwd", "file:///etc/passwd", "http://127.0.0.1/red.png", "../../etc/passwd"]) {
      await expect(fetcher.fetch(url)).resolves.toBeUndefined();
    }
    expect(await registry.getSingleMetricAsString("livehost_product_images_total")).toMatch(/outcome="not_https"} 4/);
  });
});
