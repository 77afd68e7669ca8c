// Product pictures for the product cards a room shows: fetched over https only, from the hosts the deployment allows
// (--image-hosts), with a size, type and time limit, checked to be the picture they claim to be, and cached on the
// host's disk for every room that shows the same product. A spec's image_uri never names a path on the host, and a
// picture that cannot be had (host not allowed, too big, not an image, slow) leaves the card without one: counted,
// logged once per URL, never a failed room.
import { createHash } from "node:crypto";
import { request } from "node:https";
import { mkdir, rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Counter, rootLogger, type Logger, type Registry } from "../observability/index.js";

export interface ProductImagesOptions {
  /** Hosts pictures may come from: exact names, or "*.example.com" for its subdomains. None: no picture is fetched. */
  allowedHosts: string[];
  /** Where fetched pictures are kept (one file per URL). */
  cacheDir: string;
  /** Largest picture taken, in bytes. Default 2 MiB. */
  maxBytes?: number;
  /** Time for the whole fetch. Default 5 s. */
  timeoutMs?: number;
  /** Extra CA certificates to trust (tests; production uses the system's). */
  ca?: string | Buffer;
  registry?: Registry;
  logger?: Logger;
}

type Outcome = "fetched" | "host_not_allowed" | "not_https" | "too_large" | "not_an_image" | "http_error" | "failed";

/** A refused picture is not asked for again before this (a wrong URL is not hammered). */
const retryAfterMs = 5 * 60_000;

const signatures: { type: string; matches: (b: Buffer) => boolean }[] = [
  {
    type: "image/png",
    matches: (b) => b.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])),
  },
  { type: "image/jpeg", matches: (b) => b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff },
  {
    type: "image/webp",
    matches: (b) => b.subarray(0, 4).toString("latin1") === "RIFF" && b.subarray(8, 12).toString("latin1") === "WEBP",
  },
];

class Refused extends Error {
  constructor(
    readonly outcome: Outcome,
    message: string,
  ) {
    super(message);
  }
}

export class ProductImages {
  readonly #options: ProductImagesOptions;
  readonly #log: Logger;
  readonly #outcomes: Counter | undefined;
  /** URL → the cached file once fetched (undefined: refused), and when it was settled. */
  readonly #known = new Map<string, { path: string | undefined; at: number }>();
  readonly #pending = new Map<string, Promise<string | undefined>>();

  constructor(options: ProductImagesOptions) {
    this.#options = options;
    this.#log = (options.logger ?? rootLogger()).child({ component: "product-images" });
    this.#outcomes = options.registry
      ? new Counter({
          name: "livehost_product_images_total",
          help: "Product pictures asked for, by outcome: fetched, or why not (host_not_allowed, too_large, ...).",
          labelNames: ["outcome"],
          registers: [options.registry],
        })
      : undefined;
  }

  /** The cached picture of `url` when it is ready; undefined otherwise (it is then fetched for next time). */
  ready(url: string): string | undefined {
    if (url === "") return undefined;
    const known = this.#known.get(url);
    if (!known || (known.path === undefined && Date.now() - known.at > retryAfterMs)) void this.fetch(url);
    return known?.path;
  }

  /** Fetches `url` (once at a time, cached); resolves to the file, or undefined when it cannot be had. */
  fetch(url: string, signal?: AbortSignal): Promise<string | undefined> {
    const known = this.#known.get(url);
    if (known?.path !== undefined || (known && Date.now() - known.at <= retryAfterMs)) {
      return Promise.resolve(known.path);
    }
    let pending = this.#pending.get(url);
    if (!pending) {
      pending = this.#fetch(url, signal).finally(() => this.#pending.delete(url));
      this.#pending.set(url, pending);
    }
    return pending;
  }

  async #fetch(url: string, signal?: AbortSignal): Promise<string | undefined> {
    let outcome: Outcome = "fetched";
    let path: string | undefined;
    try {
      const bytes = await this.#download(this.#check(url), signal);
      path = join(this.#options.cacheDir, createHash("sha256").update(url).digest("hex"));
      await mkdir(this.#options.cacheDir, { recursive: true });
      const partial = `${path}.${process.pid}.part`;
      await writeFile(partial, bytes);
      await rename(partial, path);
    } catch (err) {
      outcome = err instanceof Refused ? err.outcome : "failed";
      path = undefined;
      this.#log.warn({ url: url.slice(0, 200), outcome, err: (err as Error).message }, "product picture not used");
    }
    this.#outcomes?.inc({ outcome });
    this.#known.set(url, { path, at: Date.now() });
    return path;
  }

  #check(url: string): URL {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw new Refused("not_https", "not a URL");
    }
    if (parsed.protocol !== "https:") throw new Refused("not_https", "only https pictures are fetched");
    const host = parsed.hostname.toLowerCase();
    const allowed = this.#options.allowedHosts.some((pattern) =>
      pattern.startsWith("*.") ? host.endsWith(pattern.slice(1)) : host === pattern.toLowerCase(),
    );
    if (!allowed) throw new Refused("host_not_allowed", `${host} is not in --image-hosts`);
    return parsed;
  }

  /** The body, refused past maxBytes (announced or streamed), without the right type, or after timeoutMs. */
  #download(url: URL, signal?: AbortSignal): Promise<Buffer> {
    const maxBytes = this.#options.maxBytes ?? 2 * 1024 ** 2;
    const timeout = AbortSignal.timeout(this.#options.timeoutMs ?? 5_000);
    return new Promise((resolve, reject) => {
      const req = request(url, { signal: signal ? AbortSignal.any([signal, timeout]) : timeout, ca: this.#options.ca });
      req.on("error", (err) => reject(timeout.aborted ? new Refused("failed", "timed out") : err));
      req.on("response", (res) => {
        const fail = (err: Refused) => {
          res.destroy();
          reject(err);
        };
        if (res.statusCode !== 200)
          return fail(new Refused("http_error", `HTTP ${res.statusCode} (redirects are not followed)`));
        const type = (res.headers["content-type"] ?? "").split(";")[0]!.trim().toLowerCase();
        if (!signatures.some((s) => s.type === type)) return fail(new Refused("not_an_image", `content-type ${type}`));
        if (Number(res.headers["content-length"] ?? 0) > maxBytes) return fail(new Refused("too_large", "too large"));
        const chunks: Buffer[] = [];
        let size = 0;
        res.on("data", (chunk: Buffer) => {
          size += chunk.length;
          if (size > maxBytes) return fail(new Refused("too_large", `over ${maxBytes} bytes`));
          chunks.push(chunk);
        });
        res.on("end", () => {
          const body = Buffer.concat(chunks);
          if (!signatures.find((s) => s.type === type)!.matches(body)) {
            return reject(new Refused("not_an_image", `the bytes are not ${type}`));
          }
          resolve(body);
        });
        res.on("error", reject);
      });
      req.end();
    });
  }

  /** Forgets the cache (the files go too). */
  async clear(): Promise<void> {
    this.#known.clear();
    await rm(this.#options.cacheDir, { recursive: true, force: true });
  }
}
