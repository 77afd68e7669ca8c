import { describe, expect, it } from "vitest";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { RoomSpec } from "../proto/index.js";
import { createRegistry } from "../observability/index.js";
import { startGateway } from "../gateway/index.js";
import { startRoomHost } from "../rooms/index.js";
import { connectNats } from "../transport/index.js";
import { runCli, sampleRoomSpec, startNatsServer } from "../testing/index.js";

describe("livehost room and comment commands", () => {
  it("create, list, start, watch, comment and stop a room through the gateway", async () => {
    await using nats = await startNatsServer();
    const nc = await connectNats({ servers: nats.url, name: "test" });
    await using _host = await startRoomHost({ nats: nc, registry: createRegistry() });
    await using gateway = await startGateway({ nats: nc, registry: createRegistry() });
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

      await using watch = runCli(["room", "watch", "cli-room"], env);
      await new Promise((resolve) => setTimeout(resolve, 500));
      expect((await run("room", "start", "cli-room")).out).toMatch(/^cli-room\tlive\tReady/m);
      expect((await run("comment", "cli-room", "这个保温杯多少钱？")).out).toMatch(/^queued cli-/);
      expect((await run("room", "stop", "cli-room", "--reason", "done for today")).code).toBe(0);
      // The watch ends by itself when the room ends.
      expect(await watch.exited()).toEqual({ code: 0, signal: null });
      expect(watch.stdout()).toMatch(/state created -> warming \(StartRequested\)/);
      expect(watch.stdout()).toMatch(/state live -> ended \(StopRequested\) done for today/);

      const missing = await run("room", "get", "no-such-room");
      expect(missing.code).toBe(2);
      expect(missing.err).toMatch(/room no-such-room does not exist/);
      const bad = await run("room", "create", "--spec", join(dir, "missing.json"));
      expect(bad.code).toBe(2);
      expect(bad.err).toMatch(/--spec: .*missing.json is not a RoomSpec/);
    } finally {
      await rm(dir, { recursive: true, force: true });
      await nc.close();
    }
  });
});
