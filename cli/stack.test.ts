import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { processAlive, runCli, eventually } from "../testing/index.js";

interface StackJson {
  nats: { url: string; pid: number };
  roles: { role: string; pid: number; endpoints: Record<string, string> }[];
}

describe("livehost up", () => {
  it("starts nats-server and every role on loopback, and SIGTERM stops them all", async () => {
    const home = await mkdtemp(join(tmpdir(), "livehost-home-"));
    await using up = runCli(["up", "--json"], { LIVEHOST_LOG_LEVEL: "info", LIVEHOST_HOME: home });
    const stack = JSON.parse(await up.waitForLine(/^\{"nats"/)) as StackJson;

    expect(stack.nats.url).toMatch(/^nats:\/\/127\.0\.0\.1:\d+$/);
    expect(stack.roles.map((r) => r.role).sort()).toEqual([
      "gateway",
      "job-worker",
      "lipsync-worker",
      "room-host",
      "tts-worker",
    ]);
    // The room host and the job worker serve no gRPC (NATS only).
    const grpcServers = stack.roles
      .filter((r) => r.role !== "room-host" && r.role !== "job-worker")
      .map((r) => r.endpoints.grpc);
    expect(grpcServers).toEqual(Array(3).fill(expect.stringMatching(/^127\.0\.0\.1:\d+$/)));
    for (const role of stack.roles) {
      expect(role.endpoints.metrics).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
      const metrics = await fetch(role.endpoints.metrics!);
      expect(metrics.status).toBe(200);
    }
    // With --json, stdout is the one JSON line for scripts; the table, the roles' logs and the hint go to stderr.
    await eventually(() => expect(up.stderr()).toContain("Press Ctrl-C to stop."));
    expect(up.stdout().split("\n")).toEqual([JSON.stringify(stack), ""]);
    expect(up.stderr()).toContain("livehost local stack is up");
    expect(up.stderr()).toMatch(/"msg":"role ready"/);

    const pids = [stack.nats.pid, ...stack.roles.map((r) => r.pid)];
    expect(pids.every(processAlive)).toBe(true);

    // The commands that call the gateway find this stack's (its port picked free) with no --gateway.
    const env = { LIVEHOST_HOME: home };
    await using list = runCli(["room", "list", "--json"], env);
    expect(await list.exited()).toEqual({ code: 0, signal: null });
    expect(list.stdout()).toBe(""); // no room yet: one JSON line per room

    up.child.kill("SIGTERM");
    expect(await up.exited()).toEqual({ code: 0, signal: null });
    // Stopped, it is no longer recorded: the commands would not call a port some other process may have now.
    expect(existsSync(join(home, "gateway"))).toBe(false);
    await rm(home, { recursive: true, force: true });
    // No process is left behind.
    await eventually(() => expect(pids.filter(processAlive)).toEqual([]), { timeoutMs: 5_000 });
  });

  it("refuses a bad option, naming it", async () => {
    await using up = runCli(["up", "--gateway-port", "99999"]);
    expect(await up.exited()).toEqual({ code: 2, signal: null });
    expect(up.stderr()).toContain("--gateway-port: must be a port number");

    await using quiet = runCli(["up", "--log-level", "bogus"]);
    expect(await quiet.exited()).toEqual({ code: 2, signal: null });
    expect(quiet.stderr()).toBe(
      'livehost: --log-level: "bogus" is not a log level: use one of trace, debug, info, warn, error, fatal, silent\n',
    );
  });
});

describe("livehost demo", () => {
  it("brings the stack up and reports every role healthy", async () => {
    await using demo = runCli(["demo", "--check"]);
    expect(await demo.exited()).toEqual({ code: 0, signal: null });
    const out = demo.stdout();
    for (const role of ["room-host", "gateway", "tts-worker", "lipsync-worker"]) {
      expect(out).toMatch(new RegExp(`ok\\s+${role}`));
    }
    expect(out).toContain("every role is healthy");
    // The tour: a room from the sample catalog goes on air, speaks, streams HLS and answers a price question.
    expect(out).toMatch(/room demo: ROOM_STATE_LIVE \(Ready\)/);
    expect(out).toMatch(/the host says: ".+"/);
    expect(out).toMatch(/HLS: .*demo\/hls\/index.m3u8/);
    expect(out).toMatch(/the answer's first sound is in the stream \d+ ms later \(at the encoder.*\): ".*79.*"/);
    expect(out).toMatch(/watch and ask the host yourself: http:\/\/127.0.0.1:\d+\/rooms\/demo/);
  });
});
