// `livehost audit` as an SRE runs it: its filters are checked before anything is read, and a reader that stops early
// (`livehost audit | head -3`) ends the command quietly, as it ends any other command.
import { spawn } from "node:child_process";
import { once } from "node:events";
import { describe, expect, it } from "vitest";
import { connectNats } from "../transport/index.js";
import { AuditLog } from "../trust/index.js";
import { cliPath, runCli, startNatsServer } from "../testing/index.js";

describe("livehost audit", () => {
  it("refuses a room id that is not one, naming --room, before it connects", async () => {
    // Nothing listens on port 1: a command that got as far as connecting would fail otherwise.
    for (const room of ["../x", "Room_1", ""]) {
      const cli = runCli(["audit", "--room", room, "--nats", "nats://127.0.0.1:1"]);
      expect(await cli.exited()).toEqual({ code: 2, signal: null });
      expect(cli.stderr()).toMatch(/^livehost: --room: (must be 1 to 63 characters of a-z|is required)/);
    }
  });

  it("says on one line which NATS it cannot reach (exit 1)", async () => {
    await using cli = runCli(["audit", "--nats", "nats://127.0.0.1:1"]);
    expect(await cli.exited()).toEqual({ code: 1, signal: null });
    expect(cli.stderr()).toMatch(/^livehost: NATS at nats:\/\/127\.0\.0\.1:1: /);
    expect(cli.stderr().trim().split("\n")).toHaveLength(1);
  });

  it("ends quietly, status 0, when its reader goes away before it is done", async () => {
    await using nats = await startNatsServer();
    const nc = await connectNats({ servers: nats.url, name: "test" });
    try {
      const audit = await AuditLog.open(nc);
      // Well over what a pipe holds (64 KiB): the command is still writing when its reader goes away.
      const entry = { identity: "ops", authenticatedBy: "token", role: "admin", tenant: "shop", action: "StopRoom" };
      const message = "cut short ".repeat(40);
      await Promise.all(
        Array.from({ length: 500 }, (_, i) =>
          audit.write({ ...entry, roomId: `r${i}`, result: "ok", message, requestId: "" }),
        ),
      );
    } finally {
      await nc.close();
    }

    const cli = spawn(process.execPath, [cliPath, "audit", "--nats", nats.url], {
      env: { ...process.env, LIVEHOST_LOG_LEVEL: "warn" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let err = "";
    cli.stderr.setEncoding("utf8").on("data", (chunk: string) => (err += chunk));
    const exited = once(cli, "exit");
    // As `head -3` does: read the first lines, then close the pipe.
    await once(cli.stdout, "data");
    cli.stdout.destroy();
    expect(await exited).toEqual([0, null]);
    expect(err).toBe("");
  });
});
