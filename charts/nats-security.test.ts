// Who may talk to whom on NATS, tested on a real nats-server running the chart's own authorization block (rendered
// by helm from files/nats-permissions.yaml, the one source of truth) behind TLS with a certificate made by openssl:
// a client without credentials, with a wrong password, or without the CA is refused; a role cannot publish or
// subscribe outside its subjects; and the real room host, gateway, job worker and lip-sync worker processes work with
// their own users only: nats-server logs every refusal, and none is logged while they work.
import { spawn } from "node:child_process";
import { once } from "node:events";
import { cp, mkdtemp, readFile, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { AckPolicy, RetentionPolicy, jetstream, jetstreamManager } from "@nats-io/jetstream";
import { describe, expect, it } from "vitest";
import { connectNats, type NatsConnection } from "../transport/index.js";
import { AvatarStore } from "../avatars/index.js";
import { FaceLibrary } from "../onboarding/index.js";
import { NatsJobQueue } from "../operator/internal.js";
import { RoomClient } from "../rooms/index.js";
import { Catalog, Job, JobState, Persona, RoomSpec, subjects } from "../proto/index.js";
import { eventually, runCli, sampleRoomSpec } from "../testing/index.js";
import { makeTestPki, type TestPki } from "./testing/certs.js";
import { renderChart, type Manifest } from "./testing/helm.js";

const roles = ["room-host", "gateway", "tts-worker", "lipsync-worker", "job-worker", "operator"] as const;
type Role = (typeof roles)[number];
const passwords = Object.fromEntries(roles.map((role) => [role, `pw-${role}-${Math.random().toString(36).slice(2)}`]));
const passwordVariable = (role: Role) => `LIVEHOST_NATS_${role.toUpperCase().replace("-", "_")}_PASSWORD`;

interface SecureNats extends AsyncDisposable {
  url: string;
  pki: TestPki;
  /** The permission violations nats-server has logged so far, one line each. */
  violations(): string[];
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
      return {
        url: nats[0]!.replace(/^nats:/, "tls:"),
        pki,
        violations: () => stderr.split("\n").filter((line) => /violation/i.test(line)),
        [Symbol.asyncDispose]: stop,
      };
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
      expect(nats.violations()).toEqual([]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("keeps onboarding's data to the roles that need it: faces, uploads, the job queue, avatar packs", async () => {
    await using nats = await startSecureNats();
    const gateway = await connectAs(nats, "gateway");
    const worker = await connectAs(nats, "job-worker");
    const lipsync = await connectAs(nats, "lipsync-worker");
    const tts = await connectAs(nats, "tts-worker");
    const refused = (nc: NatsConnection, subject: string) =>
      expect(
        nc.request(subject, "{}", { timeout: 2_000 }).catch((err: Error) => `${subject}: ${err.message}`),
      ).resolves.toMatch(/permissions violation/i);
    try {
      // FaceID descriptors: only the gateway (the library's keeper) and job workers (matching) read them; a worker
      // of another kind reaches neither the bucket nor its keys.
      for (const subject of [
        "$JS.API.STREAM.INFO.KV_livehost_faces",
        "$JS.API.DIRECT.GET.KV_livehost_faces.$KV.livehost_faces.local.host-1",
        "$JS.API.STREAM.MSG.GET.KV_livehost_faces",
        "$JS.API.CONSUMER.CREATE.KV_livehost_faces.peek.$KV.livehost_faces.>",
      ]) {
        await refused(tts, subject);
        await refused(lipsync, subject);
      }
      expect(await subscriptionRefusal(tts, "$KV.livehost_faces.>")).toMatch(/permissions violation/i);
      // A job worker matches faces but never registers or removes one.
      await refused(worker, "$KV.livehost_faces.local.host-1");
      // Uploaded videos: not for lip-sync workers; a job worker reads and deletes them but never uploads.
      await refused(lipsync, "$JS.API.STREAM.INFO.OBJ_livehost_uploads");
      await refused(worker, "$O.livehost_uploads.C.chunk");
      // The queue: only job workers take jobs, through their one durable consumer; the gateway only enqueues.
      await refused(gateway, "$JS.API.CONSUMER.MSG.NEXT.JOB_QUEUE.job-workers");
      await refused(gateway, "$JS.API.CONSUMER.CREATE.JOB_QUEUE.job-workers");
      await refused(worker, "$JS.API.CONSUMER.CREATE.JOB_QUEUE.another");
      await refused(worker, "$JS.API.STREAM.DELETE.JOB_QUEUE");
      await refused(worker, "$JS.API.STREAM.PURGE.JOB_EVENTS");
      // Avatar packs: lip-sync workers read them and write nothing; the gateway removes a cancelled job's pack but
      // writes none.
      await refused(lipsync, "$O.livehost_avatars.M.cGFjaw==");
      await refused(lipsync, "$JS.API.STREAM.PURGE.OBJ_livehost_avatars");
      await refused(gateway, "$O.livehost_avatars.C.chunk");
      // A job worker reaches a room through its actor (asks), never through its mailbox.
      await refused(worker, "rooms.any.commands");
    } finally {
      await Promise.all([gateway, worker, lipsync, tts].map((nc) => nc.close()));
    }
  });

  it("lets the operator read how many jobs wait and run, and nothing of the jobs themselves", async () => {
    await using nats = await startSecureNats();
    const gateway = await connectAs(nats, "gateway");
    const worker = await connectAs(nats, "job-worker");
    const operator = await connectAs(nats, "operator");
    try {
      const queue = new NatsJobQueue({ nats: operator });
      expect(await queue.read()).toEqual({ state: "read", queued: 0, running: 0, consumer: false });
      // The gateway makes the queue and puts three jobs on it, before any job worker has started.
      await (
        await jetstreamManager(gateway)
      ).streams.add({
        name: subjects.jobQueueStream,
        subjects: [subjects.jobQueue],
        retention: RetentionPolicy.Workqueue,
      });
      for (const job of ["job-1", "job-2", "job-3"]) await jetstream(gateway).publish(subjects.jobQueue, job);
      expect(await queue.read()).toEqual({ state: "read", queued: 3, running: 0, consumer: false });
      // A job worker makes its consumer and takes one job.
      await (
        await jetstreamManager(worker, { checkAPI: false })
      ).consumers.add(subjects.jobQueueStream, { durable_name: "job-workers", ack_policy: AckPolicy.Explicit });
      const taken = await (await jetstream(worker).consumers.get(subjects.jobQueueStream, "job-workers")).next();
      expect(taken?.string()).toBe("job-1");
      expect(await queue.read()).toEqual({ state: "read", queued: 2, running: 1, consumer: true });
      expect(nats.violations()).toEqual([]);

      // It takes no job, reads none, and changes neither the queue nor the consumer.
      for (const subject of [
        "$JS.API.CONSUMER.MSG.NEXT.JOB_QUEUE.job-workers",
        "$JS.API.CONSUMER.CREATE.JOB_QUEUE.peek",
        "$JS.API.CONSUMER.DELETE.JOB_QUEUE.job-workers",
        "$JS.API.STREAM.MSG.GET.JOB_QUEUE",
        "$JS.API.DIRECT.GET.JOB_QUEUE",
        "$JS.API.STREAM.PURGE.JOB_QUEUE",
        "$JS.API.STREAM.DELETE.JOB_QUEUE",
        "$JS.API.CONSUMER.INFO.JOB_EVENTS.any",
        "livehost.jobs.queue",
      ]) {
        await expect(
          operator.request(subject, "{}", { timeout: 2_000 }).catch((err: Error) => `${subject}: ${err.message}`),
        ).resolves.toMatch(/permissions violation/i);
      }
      expect(await subscriptionRefusal(operator, "livehost.jobs.queue")).toMatch(/permissions violation/i);
      taken?.ack();
    } finally {
      await Promise.all([gateway, worker, operator].map((nc) => nc.close()));
    }
  });

  it("runs onboarding on the roles' own users: a job taken by a job worker, a pack reaching a lip-sync worker", async () => {
    await using nats = await startSecureNats();
    const env = { NODE_EXTRA_CA_CERTS: nats.pki.ca, LIVEHOST_LOG_LEVEL: "info" };
    const natsArgs = (role: Role) => ["--nats", nats.url, "--nats-user", role, "--nats-pass", passwords[role]!];
    await using host = runCli(["room-host", ...natsArgs("room-host")], env);
    // The gateway opens every onboarding stream and bucket at start (creating them), the job worker its consumer.
    await using gateway = runCli(["gateway", ...natsArgs("gateway"), "--grpc-port", "0"], env);
    const ready = await gateway.waitForLine(/role ready/);
    const address = /"grpc":"([^"]+)"/.exec(ready)![1]!;
    await using worker = runCli(["job-worker", ...natsArgs("job-worker")], env);
    await using lipsync = runCli(["lipsync-worker", ...natsArgs("lipsync-worker"), "--grpc-port", "0"], env);
    await worker.waitForLine(/job worker ready/);
    await lipsync.waitForLine(/role ready/);
    const logs = () => ({ gateway: gateway.stderr(), worker: worker.stderr(), host: host.stderr() });
    const dir = await mkdtemp(join(tmpdir(), "livehost-nats-onboarding-"));
    try {
      const client = (...args: string[]) => runCli([...args, "--gateway", address]);
      const run = async (...args: string[]) => {
        const cli = client(...args);
        const { code } = await cli.exited();
        expect({ args, code, stderr: cli.stderr(), ...logs() }).toMatchObject({ code: 0 });
        return cli.stdout();
      };
      // The FaceID library and the jobs' list, through the gateway's user.
      await run("face", "list", "--tenant", "local");
      await run("job", "list", "--json");
      // A job: its video stored by the gateway, taken from the queue by the job worker, which reads the video and
      // ends the job (the bytes are no video), removing what it made.
      const spec = sampleRoomSpec();
      await writeFile(join(dir, "catalog.json"), JSON.stringify(Catalog.toJSON(spec.catalog!)));
      await writeFile(join(dir, "persona.json"), JSON.stringify(Persona.toJSON(spec.persona!)));
      await writeFile(join(dir, "video.mp4"), Buffer.alloc(64 * 1024, 7));
      await using launch = client(
        "launch",
        ...["--video", join(dir, "video.mp4"), "--catalog", join(dir, "catalog.json")],
        ...["--persona", join(dir, "persona.json"), "--tenant", "local", "--request-id", "secure-job"],
      );
      const jobId = await eventually(
        () => /job (\S+):/.exec(launch.stderr())?.[1] ?? Promise.reject(new Error(launch.stderr())),
        { timeoutMs: 30_000 },
      );
      const ended = await eventually(
        async () => {
          const job = Job.fromJSON(JSON.parse(await run("job", "get", jobId, "--json")));
          if (job.state === JobState.JOB_STATE_QUEUED || job.state === JobState.JOB_STATE_RUNNING) {
            throw new Error(`job ${jobId} is still ${JobState[job.state]}`);
          }
          return job;
        },
        { timeoutMs: 90_000, intervalMs: 500 },
      );
      expect(ended.attempts).toBeGreaterThanOrEqual(1);
      expect(ended.state).toBe(JobState.JOB_STATE_FAILED);
      // launch followed the job's events (WatchJob) to its end.
      const { code } = await launch.exited();
      expect({ code, stderr: launch.stderr() }).toMatchObject({ code: 1 });
      expect(launch.stderr()).toMatch(/FAILED at material/);

      // What the job's later steps do on the job worker's user: match against the FaceID library (a face the
      // gateway registered), publish the avatar pack (it reaches the running lip-sync worker through its watch),
      // create and start the room through its actor.
      const pack = join(dir, "secure-pack");
      await cp(new URL("../models/avatars/default", import.meta.url).pathname, pack, { recursive: true });
      const manifest = JSON.parse(await readFile(join(pack, "pack.json"), "utf8")) as { id: string };
      await writeFile(join(pack, "pack.json"), JSON.stringify({ ...manifest, id: "secure-pack" }));
      const publisher = await connectAs(nats, "job-worker");
      const remover = await connectAs(nats, "gateway");
      try {
        const library = await FaceLibrary.open(remover);
        await library.register("local", "host-1", "Host", new Float32Array(128).fill(0.25));
        const registered = await (await FaceLibrary.open(publisher)).descriptors("local");
        expect(registered.map((face) => face.faceId)).toEqual(["host-1"]);
        await library.delete("local", "host-1");
        await (await AvatarStore.open(publisher)).publish(pack, { id: "secure-pack", tenant: "local", jobId });
        await lipsync.waitForLine(
          /avatar pack added from the avatar store.*secure-pack|secure-pack.*avatar pack added/,
        );
        // The gateway removes a cancelled job's pack.
        const avatars = await AvatarStore.open(remover);
        expect(await avatars.info("secure-pack")).toMatchObject({ tenant: "local", jobId });
        await avatars.remove("secure-pack");
        expect(await avatars.info("secure-pack")).toBeUndefined();
        const rooms = new RoomClient(publisher);
        const roomId = "secure-onboarded";
        const created = await rooms.request(
          roomId,
          { $case: "create", value: { requestId: "onboarding-1", roomId, spec: sampleRoomSpec(), tenant: "local" } },
          { timeoutMs: 20_000 },
        );
        expect(created.room?.id).toBe(roomId);
        await rooms.request(
          roomId,
          { $case: "start", value: { roomId, requestId: "onboarding-1" } },
          { timeoutMs: 20_000 },
        );
      } finally {
        await Promise.all([publisher.close(), remover.close()]);
      }
      expect(nats.violations()).toEqual([]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 150_000);
});
