import { describe, expect, it } from "vitest";
import { jetstreamManager } from "@nats-io/jetstream";
import { connectNats, type NatsConnection } from "../transport/index.js";
import {
  NatsCluster,
  counterActor,
  encodeOp,
  eventually,
  startActorHostProcess,
  startNatsServer,
  type ActorHostProcess,
  type CounterSnapshot,
} from "../testing/index.js";
import { ActorClient, heartbeatSubject, type HostInfo } from "./internal.js";

// Real host processes on a real nats-server: crashes (SIGKILL), pauses (SIGSTOP) and NATS node loss.

function actors(nc: NatsConnection) {
  const client = new ActorClient(nc, [counterActor]);
  const get = async (id: string) =>
    JSON.parse(
      new TextDecoder().decode(await client.ask("counter", id, encodeOp({ op: "get" }), { timeoutMs: 15_000 })),
    ) as CounterSnapshot;
  /** Tells until JetStream acknowledges (retrying with the same message id); returns the acknowledged ids. */
  const produce = async (ids: string[], count: number, from = 0, pause = 0) => {
    const acked: string[] = [];
    for (let n = from; n < from + count; n++) {
      for (const id of ids) {
        const messageId = `${id}-${n}`;
        await eventually(() => client.tell("counter", id, "ops", encodeOp({ op: "add", n: 1 }), { messageId }), {
          timeoutMs: 30_000,
        });
        acked.push(messageId);
      }
      if (pause) await new Promise((resolve) => setTimeout(resolve, pause));
    }
    return acked;
  };
  /** Every acknowledged message applied exactly once. */
  const expectExactlyOnce = async (ids: string[], acked: string[]) => {
    for (const id of ids) {
      const mine = acked.filter((m) => m.startsWith(`${id}-`));
      // Generous: after a NATS server is lost, JetStream elects leaders; slower on a loaded 2-core machine.
      await eventually(async () => expect((await get(id)).total).toBe(mine.length), { timeoutMs: 90_000 });
      const state = await get(id);
      expect(Object.keys(state.applied).sort()).toEqual([...mine].sort());
      expect(Object.values(state.applied).filter((times) => times !== 1)).toEqual([]);
    }
  };
  return { client, get, produce, expectExactlyOnce };
}

async function hosts(nats: string[], count: number, replicas = 1): Promise<ActorHostProcess[]> {
  return Promise.all(
    Array.from({ length: count }, (_, i) =>
      startActorHostProcess({
        nats,
        id: `p${i}`,
        replicas,
        env: { LIVEHOST_LOG_LEVEL: process.env.HOST_LOG ?? "warn" },
      }),
    ),
  );
}

describe("actor failover (host processes)", () => {
  it("re-activates a killed host's actors elsewhere and applies every acknowledged message exactly once", async () => {
    await using server = await startNatsServer();
    const procs = await hosts([server.url], 3);
    const nc = await connectNats({ servers: server.url, name: "test" });
    try {
      const a = actors(nc);
      const ids = Array.from({ length: 9 }, (_, i) => `k${i}`);
      // Live actors (never passivated), spread over the three hosts.
      for (const id of ids) await a.client.ask("counter", id, encodeOp({ op: "keepAlive" }));
      const owners = await Promise.all(ids.map(async (id) => (await a.get(id)).hostId));
      const victim = procs.find((p) => owners.includes(p.id))!;
      const victimActors = ids.filter((_, i) => owners[i] === victim.id);

      const producing = a.produce(ids, 40, 0, 5);
      await new Promise((resolve) => setTimeout(resolve, 300));
      await victim.kill();
      const acked = await producing;

      await a.expectExactlyOnce(ids, acked);
      for (const id of victimActors) {
        const state = await a.get(id);
        expect(state.hostId).not.toBe(victim.id);
        expect(state.epoch).toBe(2);
      }
    } finally {
      await nc.close();
      await Promise.all(procs.map((p) => p.kill()));
    }
  });

  it("sends new actors and a dead host's actors to hosts that keep up, not to one whose event loop lags, until it recovers", async () => {
    await using server = await startNatsServer();
    const procs = await hosts([server.url], 3);
    const nc = await connectNats({ servers: server.url, name: "test" });
    const heard = new Map<string, HostInfo>();
    const sub = nc.subscribe(heartbeatSubject, {
      callback: (_err, msg) => {
        const info = msg.json<HostInfo>();
        heard.set(info.hostId, info);
      },
    });
    try {
      const a = actors(nc);
      // An actor on p0 makes p0's event loop busy 700 ms of every second, as an overloaded host's is.
      let lagger = "";
      for (let i = 0; lagger === ""; i++) {
        await a.client.ask("counter", `lag-${i}`, encodeOp({ op: "keepAlive" }));
        if ((await a.get(`lag-${i}`)).hostId === "p0") lagger = `lag-${i}`;
      }
      await a.client.ask("counter", lagger, encodeOp({ op: "lag", ms: 700, every: 1_000 }));
      await eventually(() => expect(heard.get("p0")?.shedding).toMatch(/^event loop p99 delay \d+ ms, over 500 ms$/), {
        timeoutMs: 20_000,
      });

      // New actors go to the hosts that keep up.
      const ids = Array.from({ length: 12 }, (_, i) => `new-${i}`);
      for (const id of ids) await a.client.ask("counter", id, encodeOp({ op: "keepAlive" }));
      const owners = await Promise.all(ids.map(async (id) => (await a.get(id)).hostId));
      expect(owners.filter((owner) => owner === "p0")).toEqual([]);
      // A dead host's actors too: p1 dies, p2 takes all of them over, p0 none.
      const orphans = ids.filter((_, i) => owners[i] === "p1");
      await procs.find((p) => p.id === "p1")!.kill();
      for (const id of orphans) {
        await eventually(async () => expect((await a.get(id)).hostId).toBe("p2"), { timeoutMs: 30_000 });
      }
      // The lag ends: p0 takes work again, and nothing it ran was lost meanwhile.
      await a.client.ask("counter", lagger, encodeOp({ op: "lag", ms: 0, every: 0 }));
      await eventually(() => expect(heard.get("p0")?.shedding).toBeUndefined(), { timeoutMs: 30_000 });
      expect((await a.get(lagger)).hostId).toBe("p0");
    } finally {
      sub.unsubscribe();
      await nc.close();
      await Promise.all(procs.map((p) => p.kill()));
    }
  });

  it("fences a paused host: after SIGSTOP past its lease and SIGCONT, it gives its actors up and writes nothing", async () => {
    await using server = await startNatsServer();
    const procs = await hosts([server.url], 2);
    const nc = await connectNats({ servers: server.url, name: "test" });
    try {
      const a = actors(nc);
      await a.client.ask("counter", "fenced", encodeOp({ op: "keepAlive" }));
      const first = await a.get("fenced");
      const paused = procs.find((p) => p.id === first.hostId)!;
      const other = procs.find((p) => p !== paused)!;
      const before = await a.produce(["fenced"], 10);

      paused.signal("SIGSTOP");
      // Messages keep arriving while the owner is frozen; the other host takes over once the owner is declared dead.
      const during = await a.produce(["fenced"], 10, 10);
      await eventually(async () => expect((await a.get("fenced")).hostId).toBe(other.id), { timeoutMs: 20_000 });
      paused.signal("SIGCONT");
      const after = await a.produce(["fenced"], 10, 20);

      await a.expectExactlyOnce(["fenced"], [...before, ...during, ...after]);
      await eventually(
        () => expect(paused.logs()).toMatch(/lease (lost|taken by another host)|written by another activation/),
        {
          timeoutMs: 10_000,
        },
      );
      const state = await a.get("fenced");
      expect(state.hostId).toBe(other.id);
      expect(state.epoch).toBe(2);
    } finally {
      await nc.close();
      await Promise.all(procs.map((p) => p.kill()));
    }
  });

  it("hands a live actor over to another host on SIGTERM, with its state, and exits cleanly", async () => {
    await using server = await startNatsServer();
    const procs = await hosts([server.url], 2);
    const nc = await connectNats({ servers: server.url, name: "test" });
    try {
      const a = actors(nc);
      await a.client.ask("counter", "rolling", encodeOp({ op: "keepAlive" }));
      const acked = await a.produce(["rolling"], 20);
      const ownerId = (await a.get("rolling")).hostId;
      const leaving = procs.find((p) => p.id === ownerId)!;
      const staying = procs.find((p) => p !== leaving)!;
      const exited = new Promise<number | null>((resolve) => leaving.child.once("exit", resolve));
      leaving.signal("SIGTERM");
      expect(await exited).toBe(0);
      // Handed over, not failed over: the new owner activated it on request, state and keep-alive included.
      await eventually(async () => expect((await a.get("rolling")).hostId).toBe(staying.id));
      expect((await a.get("rolling")).epoch).toBe(2);
      await a.expectExactlyOnce(["rolling"], acked);
    } finally {
      await nc.close();
      await Promise.all(procs.map((p) => p.kill()));
    }
  });

  it("fires a reminder on another host after its owner died", async () => {
    await using server = await startNatsServer();
    const procs = await hosts([server.url], 3);
    const nc = await connectNats({ servers: server.url, name: "test" });
    try {
      const a = actors(nc);
      await a.client.ask("counter", "golive", encodeOp({ op: "remind", name: "at-2000", at: Date.now() + 3_000 }));
      const owner = (await a.get("golive")).hostId;
      await procs.find((p) => p.id === owner)!.kill();
      await eventually(async () => expect((await a.get("golive")).reminders).toHaveLength(1), { timeoutMs: 20_000 });
      const fired = (await a.get("golive")).reminders[0]!;
      expect(fired.name).toBe("at-2000");
      expect(fired.hostId).not.toBe(owner);
    } finally {
      await nc.close();
      await Promise.all(procs.map((p) => p.kill()));
    }
  });

  it("loses no acknowledged message when one of 3 NATS servers dies", async () => {
    await using cluster = await NatsCluster.start(3);
    const procs = await hosts(cluster.urls, 2, 3);
    const nc = await connectNats({ servers: cluster.urls, name: "test" });
    try {
      const a = actors(nc);
      const ids = ["n0", "n1", "n2", "n3"];
      for (const id of ids) await a.client.ask("counter", id, encodeOp({ op: "keepAlive" }), { timeoutMs: 15_000 });
      // The server holding n0's mailbox consumer (one replica in memory) dies: it is made again from the cursor.
      const jsm = await jetstreamManager(nc);
      const consumers = await jsm.consumers.list("COUNTERS").next();
      const holder = consumers.find((info) => info.name.startsWith("counter_n0_"))?.cluster?.leader;
      const victim = cluster.nodes.findIndex((node) => node.serverName === holder);
      expect(victim).toBeGreaterThanOrEqual(0);
      const producing = a.produce(ids, 30, 0, 10);
      await new Promise((resolve) => setTimeout(resolve, 200));
      await cluster.kill(victim);
      const acked = await producing;
      await a.expectExactlyOnce(ids, acked).catch((err: unknown) => {
        console.error(procs.map((p) => p.logs()).join("\n"));
        throw err;
      });
    } finally {
      await nc.close();
      await Promise.all(procs.map((p) => p.kill()));
    }
  }, 180_000);
});
