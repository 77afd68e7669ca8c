// Metrics registries (prom-client) and the HTTP endpoint Prometheus scrapes. Registries are explicit objects so
// tests and several roles in one process never share counters by accident.
import http from "node:http";
import type { AddressInfo } from "node:net";
import { Registry, collectDefaultMetrics } from "prom-client";

export { Counter, Gauge, Histogram, Summary, Registry } from "prom-client";

/** A registry with the Node.js process metrics and `role` (and any other) default labels. */
export function createRegistry(defaultLabels: Record<string, string> = {}): Registry {
  const registry = new Registry();
  registry.setDefaultLabels(defaultLabels);
  collectDefaultMetrics({ register: registry, prefix: "livehost_" });
  return registry;
}

/** Seconds buckets from 1 ms to 10 s, for latency budgets between 40 ms and 5 s. */
export const latencyBuckets = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.25, 0.5, 0.8, 1, 2.5, 5, 10];

export interface MetricsServerOptions {
  registry: Registry;
  /** Default 127.0.0.1; in a pod set 0.0.0.0 so Prometheus can scrape it. */
  host?: string;
  /** 0 picks a free port. */
  port?: number;
  /** Answers GET /readyz: 200 when it returns true, 503 otherwise. */
  ready?: () => boolean;
}

export interface MetricsServer extends AsyncDisposable {
  /** e.g. http://127.0.0.1:9464 */
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

/** Serves GET /metrics (Prometheus text format), /livez and /readyz. */
export async function startMetricsServer(options: MetricsServerOptions): Promise<MetricsServer> {
  const { registry, ready = () => true } = options;
  const server = http.createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    if (req.method !== "GET") {
      res.writeHead(405, { allow: "GET" }).end();
      return;
    }
    if (path === "/metrics") {
      registry.metrics().then(
        (text) => res.writeHead(200, { "content-type": registry.contentType }).end(text),
        (err: unknown) => res.writeHead(500).end(String(err)),
      );
    } else if (path === "/livez") {
      res.writeHead(200).end("ok\n");
    } else if (path === "/readyz") {
      const ok = ready();
      res.writeHead(ok ? 200 : 503).end(ok ? "ready\n" : "not ready\n");
    } else {
      res.writeHead(404).end();
    }
  });
  // Scrapes are short; do not let a keep-alive scraper hold the process open on shutdown.
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, options.host ?? "127.0.0.1", () => {
      server.off("error", reject);
      resolve();
    });
  });
  const { port, address } = server.address() as AddressInfo;
  const host = address.includes(":") ? `[${address}]` : address;
  const close = () =>
    new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  return { url: `http://${host}:${port}`, port, close, [Symbol.asyncDispose]: close };
}
