import { describe, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";

// Benchmarks measure; this only checks that one runs and keeps its promise of a JSON last line.
describe("npm run bench", () => {
  it("prints the transport figures as one JSON object on its last line", () => {
    const main = fileURLToPath(new URL("../dist/bench/main.js", import.meta.url));
    const run = spawnSync(process.execPath, [main, "transport", "--quick"], { encoding: "utf8", timeout: 60_000 });
    expect(run.status).toBe(0);
    const last = run.stdout.trim().split("\n").at(-1)!;
    const figures = JSON.parse(last) as Record<string, unknown>;
    for (const key of ["nats_request_ms_p50", "nats_request_ms_p99", "grpc_unary_ms_p50", "grpc_unary_ms_p99"]) {
      expect(figures[key]).toEqual(expect.any(Number));
    }
    expect(run.stderr).toContain("bench transport: nats request/reply");
  });

  it("names the benchmarks it has when asked for one it does not", () => {
    const main = fileURLToPath(new URL("../dist/bench/main.js", import.meta.url));
    const run = spawnSync(process.execPath, [main, "nope"], { encoding: "utf8" });
    expect(run.status).toBe(2);
    expect(run.stderr).toContain("transport");
  });
});
