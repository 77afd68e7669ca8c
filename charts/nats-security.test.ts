// Who may talk to whom on NATS, tested on a real nats-server running the chart's own authorization block (rendered
// by helm from files/nats-permissions.yaml, the one source of truth) behind TLS with a certificate made by openssl:
// a client without credentials, with a wrong password, or without the CA is refused; a role cannot publish or
// subscribe outside its subjects; and the real room host and gateway processes work with their own users only.
import { spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtemp, readFile, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { describe, expect, it } from "vitest";
import { connectNats, type NatsConnection } from "../transport/index.js";
import { RoomSpec } from "../proto/index.js";
import { runCli, sampleRoomSpec } from "../testing/index.js";
import { makeTestPki, type TestPki } from "./testing/certs.js";
import { renderChart, type Manifest } from "./testing/helm.js";

const roles = ["room-host", "gateway", "tts-worker", "lipsync-worker", "operator"] as const;
type Role = (typeof roles)[number];
const passwords = Object.fromEntries(roles.map((role) => [role, `pw-${role}-${Math.random().toString(36).slice(2)}`]));
const passwordVariable = (role: Role) => `LIVEHOST_NATS_${role.toUpperCase().replace("-", "_")}_PASSWORD`;

interface SecureNats extends AsyncDisposable {
  url: string;
  pki: TestPki;
}

/** nats-server with TLS, JetStream and the chart's authorization.conf, on a free port of 127.0.0.1. */
async function startSecureNats(): Promise<SecureNats> {
  const objects = await renderChart();
  const config = objects.find((o) => o.kind === "ConfigMap" && o.metadata.name.endsWith("-nats-config")) as
    (Manifest & { data: Record<string, string> }) | undefined;
  if (!config) throw new Error("the chart renders no NATS configuration");
  const pki = await makeTestPki();
  const dir = await mkdtemp(join(tmpdir(), "livehost-secure-nats-"));
  await writeFile(join(dir, "authorization.conf"), config.data["authorization.conf"]!);
  await writeFile(
    join(dir, "nats.conf"),
    [
      "listen: 127.0.0.1:-1",
      `ports_file_dir: "${dir}"`,
      `jetstream { store_dir: "${join(dir, "js")}" }`,
      `tls { cert_file: "${pki.server.cert}", key_file: "${pki.server.key}", ca_file: "${pki.ca}", timeout: 2 }`,
      "include ./authorization.conf",
    ].join("\n"),
  );
  const env = { ...process.env, ...Object.fromEntries(roles.map((r) => [passwordVariable(r), passwords[r]])) };
  const child = spawn("nats-server", ["-c", join(dir, "nats.conf")], { env, stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
  const stop = async () => {
    if (child.exitCode === null) {
      const exited = once(child, "exit");
      child.kill("SIGTERM");
      await exited;
    }
    await rm(dir, { recursive: true, force: true });
    await pki[Symbol.asyncDispose]();
  };
  for (let i = 0; i < 400; i++) {
    const ports = (await readdir(dir)).find((f) => f.endsWith(".ports"));
    if (ports) {
      const { nats } = JSON.parse(await readFile(join(dir, ports), "utf8")) as { nats: string[] };
      return { url: nats[0]!.replace(/^nats:/, "tls:"), pki, [Symbol.asyncDispose]: stop };
    }
    if (child.exitCode !== null) break;
    await sleep(25);
  }
  await stop();
  throw new Error(`nats-server did not start with the chart's configuration: ${stderr}`);
}

function connectAs(nats: SecureNats, role: Role | undefined, password?: string): Promise<NatsConnection> {
  return connectNats({
    servers: nats.url,
    name: `test-${role ?? "anonymous"}`,
    user: role,
    pass: password ?? (role ? passwords[role] : undefined),
    tls: { caFile: nats.pki.ca },
    timeoutMs: 5_000,
  });
}

/** Resolves with the error the server sends for a subscription it does not allow (the subscription closes). */
async function subscriptionRefusal(nc: NatsConnection, subject: string): Promise<string> {
  const sub = nc.subscribe(subject);
  const closed = await sub.closed;
  return String(closed instanceof Error ? closed.message : closed);
}

describe("NATS: TLS and per-role users from the chart", () => {
  it("refuses a client without credentials, with a wrong password, or that does not trust the server's CA", async () => {
    await using nats = await startSecureNats();
    await expect(connectAs(nats, undefined)).rejects.toThrow(/authorization violation/i);
    await expect(connectAs(nats, "gateway", "wrong")).rejects.toThrow(/authorization violation/i);
    await expect(
      connectNats({ servers: nats.url.replace(/^tls:/, "nats:"), name: "plain", timeoutMs: 3_000 }),
    ).rejects.toThrow(/unable to verify the first certificate/);
  });

  it("limits each role to its subjects: another role's subjects are refused", async () => {
    await using nats = await startSecureNats();
    const host = await connectAs(nats, "room-host");
    const tts = await connectAs(nats, "tts-worker");
    const gateway = await connectAs(nats, "gateway");
    try {
      // A TTS worker may announce itself as TTS, not as lip-sync, and reads no one's announcements or asks.
      const announcements = host.subscribe("workers.*.announce", { max: 1 });
      await host.flush();
      tts.publish("workers.lipsync.announce", "pretending");
      tts.publish("workers.tts.announce", "me");
      const subjects: string[] = [];
      for await (const message of announcements) subjects.push(message.subject);
      expect(subjects).toEqual(["workers.tts.announce"]);
      expect(await subscriptionRefusal(tts, "livehost.ask.>")).toMatch(/permissions violation/i);
      // The gateway hears room events but cannot take a room host's place in placement.
      expect(await subscriptionRefusal(gateway, "livehost.actors.activate")).toMatch(/permissions violation/i);
      expect(await subscriptionRefusal(gateway, "workers.*.announce")).toMatch(/permissions violation/i);
      // The room host manages the rooms' streams but not the audit trail.
      for (const subject of [
        "$JS.API.STREAM.DELETE.AUDIT",
        "$JS.API.STREAM.PURGE.AUDIT",
        "livehost.audit.x.StopRoom",
      ]) {
        await expect(host.request(subject, "{}", { timeout: 2_000 })).rejects.toThrow(/permissions violation/i);
      }
      // Nor may the gateway delete or purge a stream, or touch the rooms' mailboxes' consumers.
      for (const subject of [
        "$JS.API.STREAM.DELETE.ROOM_INBOX",
        "$JS.API.STREAM.PURGE.ROOM_EVENTS",
        "$JS.API.STREAM.DELETE.AUDIT",
        "$JS.API.CONSUMER.DELETE.ROOM_INBOX.any",
      ]) {
        await expect(gateway.request(subject, "{}", { timeout: 2_000 })).rejects.toThrow(/permissions violation/i);
      }
    } finally {
      await Promise.all([host.close(), tts.close(), gateway.close()]);
    }
  });

  it("runs the real room host and gateway on their own users: a room list goes through", async () => {
    await using nats = await startSecureNats();
    const env = { NODE_EXTRA_CA_CERTS: nats.pki.ca };
    const natsArgs = (role: Role) => ["--nats", nats.url, "--nats-user", role, "--nats-pass", passwords[role]!];
    await using host = runCli(["room-host", ...natsArgs("room-host")], env);
    await using gateway = runCli(["gateway", ...natsArgs("gateway"), "--grpc-port", "0"], {
      ...env,
      LIVEHOST_LOG_LEVEL: "info",
    });
    const ready = await gateway.waitForLine(/role ready/);
    const address = /"grpc":"([^"]+)"/.exec(ready)![1]!;
    // Everything RoomService does, on the gateway's own user (no "$JS.API.>"): create, start, watch, comment,
    // list, stop; each change audited in the stream the gateway owns.
    const dir = await mkdtemp(join(tmpdir(), "livehost-nats-security-"));
    try {
      const spec = join(dir, "spec.json");
      await writeFile(spec, JSON.stringify(RoomSpec.toJSON(sampleRoomSpec())));
      const client = (...args: string[]) => runCli([...args, "--gateway", address]);
      for (const args of [
        ["room", "create", "--spec", spec, "--id", "secure-room"],
        ["room", "start", "secure-room"],
        ["comment", "secure-room", "这个保温杯多少钱？"],
        ["room", "list", "--json"],
        ["room", "stop", "secure-room"],
      ]) {
        const cli = client(...args);
        const { code } = await cli.exited();
        expect({ args, code, stderr: cli.stderr(), gateway: gateway.stderr(), host: host.stderr() }).toMatchObject({
          code: 0,
        });
      }
      await using watch = client("room", "watch", "secure-room", "--after", "0");
      await watch.waitForLine(/-> ended/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
