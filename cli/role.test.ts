// A role process's readiness: /readyz says ready while the role serves and drops the moment it starts stopping,
// while its close (a worker's drain) still runs, so Kubernetes stops sending it traffic for the whole drain.
import { describe, expect, it } from "vitest";
import { startNatsServer } from "../testing/index.js";
import { compileRoleSettings, parseDrainSeconds } from "./config.js";
import { startRole } from "./role.js";

const local = {
  nats: "nats://127.0.0.1:4222",
  host: "127.0.0.1",
  grpcPort: "0",
  metricsHost: "127.0.0.1",
  metricsPort: "0",
};

describe("a role process", () => {
  it("names the drain and TLS server name options when they are wrong", () => {
    for (const value of ["-1", "1.5", "ten", ""]) {
      expect(() => parseDrainSeconds(value)).toThrow(expect.objectContaining({ field: "--drain-seconds" }));
    }
    expect(parseDrainSeconds("570")).toBe(570);
    expect(() => compileRoleSettings({ ...local, tlsServerName: "livehost-worker" })).toThrow(
      expect.objectContaining({ field: "--tls-server-name" }),
    );
    expect(compileRoleSettings({ ...local, tlsCa: "ca.crt", tlsServerName: "livehost-worker" }).grpcTls).toMatchObject({
      caFile: "ca.crt",
      serverName: "livehost-worker",
    });
  });

  it("is not ready from the moment it starts stopping, while it drains", async () => {
    await using nats = await startNatsServer({ jetstream: false });
    const settings = compileRoleSettings({ ...local, nats: nats.url });
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
