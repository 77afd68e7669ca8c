// Which hosts count as alive: a host not heard from for the host timeout is dead, unless it said its event loop runs
// late, when it gets twice that lateness more (a loaded host's heartbeats leave late; it is not dead for it).
import { describe, expect, it } from "vitest";
import { connectNats } from "../transport/index.js";
import { startNatsServer } from "../testing/index.js";
import { rootLogger } from "../observability/index.js";
import { Membership, heartbeatSubject, type HostInfo } from "./internal.js";

const encoder = new TextEncoder();
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe("host membership", () => {
  it("gives a host that says its event loop runs late twice that lateness before it counts as silent", async () => {
    await using server = await startNatsServer();
    const nc = await connectNats({ servers: server.url, name: "membership-test" });
    const self: HostInfo = { hostId: "a", actors: 0, capacity: 10, draining: false, startedAt: "" };
    const membership = new Membership(nc, () => self, {
      heartbeatMs: 60_000,
      hostTimeoutMs: 1_500,
      logger: rootLogger().child({ test: "membership" }),
    });
    try {
      membership.start();
      // Two hosts beat once: one on time, one whose loop runs 1.5 s late.
      for (const info of [
        { hostId: "prompt", loopDelayMs: 0 },
        { hostId: "late", loopDelayMs: 1_500 },
      ]) {
        nc.publish(heartbeatSubject, encoder.encode(JSON.stringify({ ...self, ...info })));
      }
      await nc.flush();
      await sleep(100);
      expect(membership.isLive("prompt")).toBe(true);
      expect(membership.isLive("late")).toBe(true);
      // 2.5 s of silence: past the 1.5 s timeout, inside the late host's 1.5 + 2 x 1.5 s.
      await sleep(2_400);
      expect(membership.isLive("prompt")).toBe(false);
      expect(membership.isLive("late")).toBe(true);
      expect(
        membership
          .live()
          .map((h) => h.hostId)
          .sort(),
      ).toEqual(["a", "late"]);
      // Past that too: dead.
      await sleep(3_000);
      expect(membership.isLive("late")).toBe(false);
    } finally {
      await membership.close();
      await nc.close();
    }
  });
});
