// A role process's readiness: /readyz says ready while the role serves and drops the moment it starts stopping,
// while its close (a worker's drain) still runs, so Kubernetes stops sending it traffic for the whole drain.
import { describe, expect, it, vi } from "vitest";
import { createLogger } from "../observability/index.js";
import { runCli, startNatsServer } from "../testing/index.js";
import { compileRoleOptions, compileTtsWorkerOptions } from "./config.js";
import { startRole } from "./role.js";

const local = {
  nats: "nats://127.0.0.1:4222",
  host: "127.0.0.1",
  grpcPort: "0",
  metricsHost: "127.0.0.1",
  metricsPort: "0",
};
const drainMs = (drainSeconds: string) => compileTtsWorkerOptions({ ...local, maxStreams: "8", drainSeconds }).drainMs;

describe("a role process", () => {
  it("names the drain and TLS server name options when they are wrong", () => {
    for (const value of ["-1", "25h", "ten", "10 minutes", ""]) {
      expect(() => drainMs(value)).toThrow(expect.objectContaining({ field: "--drain-seconds" }));
    }
    // Seconds as the flag has always taken them, and human units besides.
    expect(drainMs("570")).toBe(570_000);
    expect(drainMs("2m")).toBe(120_000);
    expect(drainMs("1500ms")).toBe(1_500);
    expect(() => compileRoleOptions("tts-worker", { ...local, tlsServerName: "livehost-worker" })).toThrow(
      expect.objectContaining({ field: "--tls-server-name" }),
    );
    expect(
      compileRoleOptions("tts-worker", { ...local, tlsCa: "ca.crt", tlsServerName: "livehost-worker" }).grpcTls,
    ).toMatchObject({
      caFile: "ca.crt",
      serverName: "livehost-worker",
    });
  });

  it("refuses a log level that is not one, naming LIVEHOST_LOG_LEVEL and the levels, before it starts", async () => {
    const refusal =
      'LIVEHOST_LOG_LEVEL: "bogus" is not a log level: use one of trace, debug, info, warn, error, fatal, silent';
    for (const role of ["gateway", "room-host"]) {
      // Nothing listens on port 1: a role that got as far as connecting would fail otherwise.
      const cli = runCli([role, "--nats", "nats://127.0.0.1:1"], { LIVEHOST_LOG_LEVEL: "bogus" });
      expect(await cli.exited()).toEqual({ code: 2, signal: null });
      expect(cli.stderr()).toBe(`livehost: ${refusal}\n`);
    }
    // A role started in-process (tests, the operator's embedding) gets the same refusal from its logger.
    vi.stubEnv("LIVEHOST_LOG_LEVEL", "bogus");
    try {
      expect(() => createLogger()).toThrow(refusal);
    } finally {
      vi.unstubAllEnvs();
    }
  });

  it("is not ready from the moment it starts stopping, while it drains", async () => {
    await using nats = await startNatsServer({ jetstream: false });
    const settings = compileRoleOptions("tts-worker", { ...local, nats: nats.url });
    let finishDrain!: () => void;
    const drained = new Promise<void>((resolve) => (finishDrain = resolve));
    let closing!: () => void;
    const closeStarted = new Promise<void>((resolve) => (closing = resolve));
    const role = await startRole("tts-worker", settings, () =>
      Promise.resolve({
        endpoints: {},
        close: () => {
          closing();
          return drained;
        },
      }),
    );
    const readyz = role.endpoints.metrics!.replace(/\/metrics$/, "/readyz");
    try {
      expect((await fetch(readyz)).status).toBe(200);

      const stopped = role.stop("SIGTERM");
      await closeStarted;
      expect((await fetch(readyz)).status).toBe(503);
      finishDrain();
      await stopped;
    } finally {
      finishDrain();
      await role.stop("test over");
    }
  });
});
