import { describe, expect, it } from "vitest";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Comment, RoomEvent, RoomSpec, subjects, type RoomServiceClient } from "../proto/index.js";
import { createRegistry } from "../observability/index.js";
import { startGateway } from "../gateway/index.js";
import { enqueueComment, startRoomHost } from "../rooms/index.js";
import { callUnary, connectNats } from "../transport/index.js";
import { eventually, roomServiceClient, runCli, sampleRoomSpec, startNatsServer } from "../testing/index.js";

const auth = { development: true };

/** Creates a room through RoomService (as the local development identity), its request id its room id. */
const createRoom = (client: RoomServiceClient, roomId: string) =>
  callUnary(client.createRoom.bind(client), { requestId: roomId, roomId, spec: sampleRoomSpec(), tenant: "" });

describe("livehost room and comment commands", () => {
  it("create, list, start, watch, comment and stop a room through the gateway", async () => {
    await using nats = await startNatsServer();
    const nc = await connectNats({ servers: nats.url, name: "test" });
    await using _host = await startRoomHost({ nats: nc, registry: createRegistry() });
    await using gateway = await startGateway({ nats: nc, registry: createRegistry(), auth });
    const dir = await mkdtemp(join(tmpdir(), "livehost-cli-room-"));
    try {
      const specFile = join(dir, "spec.json");
      await writeFile(specFile, JSON.stringify(RoomSpec.toJSON(sampleRoomSpec())));
      const env = { LIVEHOST_GATEWAY: gateway.grpc.address };
      const run = async (...args: string[]) => {
        const cli = runCli(args, env);
        const { code } = await cli.exited();
        return { code, out: cli.stdout(), err: cli.stderr() };
      };

      const created = await run("room", "create", "--spec", specFile, "--id", "cli-room", "--json");
      expect(created.code).toBe(0);
      expect(JSON.parse(created.out)).toMatchObject({ id: "cli-room", status: { state: "ROOM_STATE_CREATED" } });
      expect((await run("room", "list")).out).toMatch(/^cli-room\tcreated\tCreated\t好物直播间\trev \d+$/m);

      // From the room's first event: however late the watch's call reaches the gateway, it misses nothing.
      await using watch = runCli(["room", "watch", "cli-room", "--after", "0"], env);
      expect((await run("room", "start", "cli-room")).out).toMatch(/^cli-room\tlive\tReady/m);
      expect((await run("comment", "cli-room", "这个保温杯多少钱？")).out).toMatch(/^queued cli-/);
      expect((await run("room", "stop", "cli-room", "--reason", "done for today")).code).toBe(0);
      // The watch ends by itself when the room ends.
      expect(await watch.exited()).toEqual({ code: 0, signal: null });
      expect(watch.stdout()).toMatch(/^\S+ #1 state created -> warming \(StartRequested\)/m);
      expect(watch.stdout()).toMatch(/ state live -> ended \(StopRequested\) done for today/);

      const missing = await run("room", "get", "no-such-room");
      expect(missing.code).toBe(1); // 2 is for what the caller gave: a bad option, file or field

      expect(missing.err).toMatch(/room no-such-room does not exist/);
      const bad = await run("room", "create", "--spec", join(dir, "missing.json"));
      expect(bad.code).toBe(2);
      expect(bad.err).toMatch(/--spec: .*missing.json is not readable JSON: ENOENT/);
    } finally {
      await rm(dir, { recursive: true, force: true });
      await nc.close();
    }
  });

  it("refuses a token file it cannot read and a spec with a bad field, naming them, before it calls", async () => {
    const dir = await mkdtemp(join(tmpdir(), "livehost-cli-refusals-"));
    try {
      // Nothing listens at this gateway: a command that got as far as calling it would fail otherwise.
      const run = async (args: string[], env: NodeJS.ProcessEnv = {}) => {
        const cli = runCli(args, { LIVEHOST_GATEWAY: "127.0.0.1:1", ...env });
        const { code } = await cli.exited();
        return { code, err: cli.stderr() };
      };
      expect(await run(["room", "get", "r1", "--token-file", "/nonexistent"])).toEqual({
        code: 2,
        err: 'livehost: --token-file: cannot read "/nonexistent": ENOENT\n',
      });
      expect(await run(["room", "get", "r1"], { LIVEHOST_TOKEN_FILE: "/nope" })).toEqual({
        code: 2,
        err: 'livehost: LIVEHOST_TOKEN_FILE: cannot read "/nope": ENOENT\n',
      });
      const empty = join(dir, "token");
      await writeFile(empty, "\n");
      expect(await run(["room", "list", "--token-file", empty])).toEqual({
        code: 2,
        err: `livehost: --token-file: "${empty}" holds no token: it is empty\n`,
      });

      const spec = async (json: unknown) => {
        const file = join(dir, "spec.json");
        await writeFile(file, JSON.stringify(json));
        return run(["room", "create", "--spec", file]);
      };
      expect(await spec({ displayName: "x", voice: { voiceId: "a", speeed: 1.2 } })).toEqual({
        code: 2,
        err: "livehost: --spec: voice.speeed: unknown field (known: voiceId, speed)\n",
      });
      expect(await spec({ output: { video: { widthPx: "abc" } } })).toEqual({
        code: 2,
        err: "livehost: --spec: output.video.widthPx: must be a whole number from 0 to 4294967295\n",
      });
      // What the command line parser refuses is a bad option too: exit 2, the option named.
      const state = await run(["room", "list", "--state", "bogus"]);
      expect(state.code).toBe(2);
      expect(state.err).toMatch(/option '--state <state>' argument 'bogus' is invalid/);
      expect((await run(["room", "list", "--no-such-option"])).code).toBe(2);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("room watch resumes across a gateway restart from the last event it printed: none missed, none twice", async () => {
    await using nats = await startNatsServer();
    const nc = await connectNats({ servers: nats.url, name: "test" });
    try {
      await using _host = await startRoomHost({ nats: nc, registry: createRegistry() });
      const first = await startGateway({ nats: nc, registry: createRegistry(), auth });
      const port = first.grpc.port;
      const client = await roomServiceClient(first.grpc.address);
      await createRoom(client, "watched");
      client.close();
      const stored: RoomEvent[] = [];
      nc.subscribe(subjects.roomEvents("watched"), {
        callback: (_err, msg) => void stored.push(RoomEvent.decode(msg.data)),
      });
      const env = { LIVEHOST_GATEWAY: first.grpc.address };
      const run = async (...args: string[]) => {
        const cli = runCli(args, env);
        await cli.exited();
        return cli;
      };

      await using watch = runCli(["room", "watch", "watched", "--after", "0"], env);
      await run("room", "start", "watched");
      await watch.waitForLine(/ #2 state warming -> live/);

      // The gateway goes away; the room goes on, refusing two comments from its NATS inbox meanwhile.
      await first.close(1_000);
      for (const id of ["c1", "c2"]) {
        const comment = Comment.fromPartial({
          commentId: id,
          roomId: "watched",
          viewerId: "v",
          text: "",
          sentTime: new Date(),
        });
        await enqueueComment(nc, comment);
      }
      await eventually(() => expect(stored).toHaveLength(4));
      await using _second = await startGateway({ nats: nc, registry: createRegistry(), grpcPort: port, auth });
      await watch.waitForLine(/ #4 rejected c2: invalid/);
      await run("room", "stop", "watched");
      expect(await watch.exited()).toEqual({ code: 0, signal: null });

      const sequences = watch
        .stdout()
        .trim()
        .split("\n")
        .map((line) => Number(/ #(\d+) /.exec(line)?.[1]));
      expect(sequences).toEqual([1, 2, 3, 4, 5]);
      expect(watch.stderr()).toMatch(/watch of room watched broke \(.*\); resuming after event 2 in/);
    } finally {
      await nc.close();
    }
  });

  it("room watch refuses a sequence that is not one, starts from the room's last event by default, and stops on Ctrl-C", async () => {
    const bad = runCli(["room", "watch", "r1", "--after", "-1"]);
    expect((await bad.exited()).code).toBe(2);
    expect(bad.stderr()).toMatch(/--after: must be an event sequence/);

    await using nats = await startNatsServer();
    const nc = await connectNats({ servers: nats.url, name: "test" });
    try {
      await using _host = await startRoomHost({ nats: nc, registry: createRegistry() });
      await using gateway = await startGateway({ nats: nc, registry: createRegistry(), auth });
      const env = { LIVEHOST_GATEWAY: gateway.grpc.address };
      const client = await roomServiceClient(gateway.grpc.address);
      await createRoom(client, "quiet");
      await callUnary(client.startRoom.bind(client), { roomId: "quiet", requestId: "" });
      client.close();
      // From now on: the room's last event first (it went live), then nothing more until Ctrl-C.
      await using watch = runCli(["room", "watch", "quiet"], env);
      await watch.waitForLine(/ #2 state warming -> live/);
      watch.child.kill("SIGINT");
      expect(await watch.exited()).toEqual({ code: 0, signal: null });
      expect(watch.stderr()).toBe("");
    } finally {
      await nc.close();
    }
  });
});
