import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { context, trace } from "@opentelemetry/api";
import { jetstreamManager } from "@nats-io/jetstream";
import { headers } from "@nats-io/transport-node";
import {
  InMemorySpanExporter,
  SimpleSpanProcessor,
  createRegistry,
  startTracing,
  tracer,
  type Tracing,
} from "../observability/internal.js";
import { connectNats, type NatsConnection } from "../transport/index.js";
import {
  counterActor,
  encodeOp,
  eventually,
  startNatsServer,
  type CounterOp,
  type CounterSnapshot,
} from "../testing/index.js";
import { ActorClient, ActorHost, deadLetterStream, type ActorHostOptions } from "./internal.js";

const decodeReply = (data: Uint8Array) =>
  JSON.parse(new TextDecoder().decode(data)) as { total: number; hostId: string; epoch: number; timers: number };

const spans = new InMemorySpanExporter();
let tracing: Tracing;
beforeAll(async () => {
  tracing = await startTracing({ serviceName: "test", spanProcessors: [new SimpleSpanProcessor(spans)] });
});
afterAll(() => tracing.shutdown());

/** N actor hosts in this process, each with its own NATS connection, and a client. */
async function cluster(size: number, options: Partial<ActorHostOptions> = {}) {
  const nats = await startNatsServer();
  const connections: NatsConnection[] = [];
  const hosts: ActorHost[] = [];
  for (let i = 0; i < size; i++) {
    const nc = await connectNats({ servers: nats.url, name: `host-${i}` });
    connections.push(nc);
    hosts.push(
      await ActorHost.start({
        nats: nc,
        registry: createRegistry(),
        types: [counterActor],
        hostId: `h${i}`,
        ...options,
      }),
    );
  }
  const clientConnection = await connectNats({ servers: nats.url, name: "client" });
  const client = new ActorClient(clientConnection, [counterActor]);
  const ask = async (id: string, op: CounterOp) => decodeReply(await client.ask("counter", id, encodeOp(op)));
  return {
    nats,
    hosts,
    client,
    clientConnection,
    ask,
    tell: (id: string, op: CounterOp, messageId: string) =>
      client.tell("counter", id, "ops", encodeOp(op), { messageId }),
    async [Symbol.asyncDispose]() {
      await Promise.all(hosts.map((h) => h.close()));
      for (const nc of [...connections, clientConnection]) await nc.close();
      await nats.stop();
    },
  };
}

describe("virtual actors", () => {
  it("activates an actor on its first ask, keeps its state, and answers in order with its tells", async () => {
    await using c = await cluster(2);
    expect(await c.ask("a1", { op: "get" })).toMatchObject({ total: 0, epoch: 1 });
    for (let i = 1; i <= 20; i++) await c.tell("a1", { op: "add", n: i }, `m-${i}`);
    // The ask arrives after the tells were stored; the durable tells are consumed in order as they arrive.
    await eventually(async () => expect((await c.ask("a1", { op: "get" })).total).toBe(210));
    const owners = c.hosts.filter((h) => h.isActive("counter", "a1"));
    expect(owners).toHaveLength(1);
  });

  it("activates an actor for a tell alone, whoever published it, and drops a duplicate message id", async () => {
    await using c = await cluster(2);
    await c.tell("t1", { op: "add", n: 5 }, "once");
    const again = await c.tell("t1", { op: "add", n: 5 }, "once");
    expect(again.duplicate).toBe(true);
    await eventually(() => expect(c.hosts.some((h) => h.isActive("counter", "t1"))).toBe(true));
    await eventually(async () => expect((await c.ask("t1", { op: "get" })).total).toBe(5));
  });

  it("handles each message in a span that continues the sender's trace", async () => {
    await using c = await cluster(1);
    const root = tracer("test").startSpan("comment arrives");
    await context.with(trace.setSpan(context.active(), root), () => c.tell("tr", { op: "add", n: 1 }, "traced"));
    root.end();
    await eventually(() => {
      const inTrace = spans.getFinishedSpans().filter((s) => s.spanContext().traceId === root.spanContext().traceId);
      expect(inTrace.map((s) => s.name)).toContain("actor counter tell");
    });
  });

  it("places no actor on a host at its capacity while another has room, and still places one when all are full", async () => {
    await using c = await cluster(2, { capacity: 3, loadGuard: { maxLoopDelayMs: 0 } });
    for (let i = 0; i < 6; i++) await c.ask(`cap-${i}`, { op: "keepAlive" });
    expect(c.hosts.map((h) => h.activeCount)).toEqual([3, 3]);
    expect((await c.ask("cap-6", { op: "keepAlive" })).hostId).toMatch(/^h[01]$/);
    expect(c.hosts[0]!.activeCount + c.hosts[1]!.activeCount).toBe(7);
  });

  it("returns a handler's typed error to the asker", async () => {
    await using c = await cluster(1);
    await expect(c.ask("e1", { op: "boom" })).rejects.toMatchObject({
      code: "invalid_argument",
      message: "n: must be a number",
    });
    // The actor is fine afterwards.
    expect((await c.ask("e1", { op: "add", n: 1 })).total).toBe(1);
  });

  it("gives up an ask at its deadline or when its signal aborts, with typed errors", async () => {
    await using c = await cluster(1);
    await c.ask("slowpoke", { op: "get" });
    const slow = encodeOp({ op: "slow", ms: 1_000 });
    await expect(c.client.ask("counter", "slowpoke", slow, { timeoutMs: 100 })).rejects.toMatchObject({
      code: "deadline_exceeded",
    });
    const abort = new AbortController();
    setTimeout(() => abort.abort(), 50);
    await expect(c.client.ask("counter", "slowpoke", slow, { signal: abort.signal })).rejects.toMatchObject({
      code: "cancelled",
    });
    await expect(c.client.ask("counter", "slowpoke", slow, { signal: AbortSignal.abort() })).rejects.toThrow();
  });

  it("keeps one activation under a storm of concurrent first messages from many clients", async () => {
    await using c = await cluster(3);
    const extra = await Promise.all(
      Array.from({ length: 5 }, (_, i) => connectNats({ servers: c.nats.url, name: `c${i}` })),
    );
    try {
      const clients = extra.map((nc) => new ActorClient(nc, [counterActor]));
      const asks = Array.from({ length: 60 }, (_, i) =>
        clients[i % clients.length]!.ask("counter", "storm", encodeOp({ op: "add", n: 1 }), { timeoutMs: 10_000 }).then(
          decodeReply,
        ),
      );
      const replies = await Promise.all(asks);
      expect(new Set(replies.map((r) => r.hostId)).size).toBe(1);
      expect(new Set(replies.map((r) => r.epoch))).toEqual(new Set([1]));
      expect(Math.max(...replies.map((r) => r.total))).toBe(60);
      expect(c.hosts.filter((h) => h.isActive("counter", "storm"))).toHaveLength(1);
    } finally {
      for (const nc of extra) await nc.close();
    }
  });

  it("spreads new activations over the hosts", async () => {
    await using c = await cluster(3);
    await Promise.all(Array.from({ length: 30 }, (_, i) => c.ask(`spread-${i}`, { op: "get" })));
    const counts = c.hosts.map((h) => h.activeCount);
    expect(counts.reduce((a, b) => a + b, 0)).toBe(30);
    expect(Math.min(...counts)).toBeGreaterThan(0);
  });

  it("dead-letters a malformed message and a message that keeps failing, and goes on with the next", async () => {
    await using c = await cluster(1);
    const js = (await jetstreamManager(c.clientConnection)).jetstream();
    await js.publish("counters.d1.ops", new TextEncoder().encode("{not json"), { msgID: "bad" });
    await c.tell("d1", { op: "fail" }, "poison");
    await c.tell("d1", { op: "add", n: 7 }, "good");
    await eventually(async () => expect((await c.ask("d1", { op: "get" })).total).toBe(7), { timeoutMs: 15_000 });

    const jsm = await jetstreamManager(c.clientConnection);
    const info = await jsm.streams.info(deadLetterStream);
    expect(info.state.messages).toBe(2);
    const malformed = (await jsm.streams.getMessage(deadLetterStream, { seq: 1 }))!;
    expect(malformed.subject).toBe("deadletter.counter.d1");
    expect(malformed.header.get("Livehost-Reason")).toBe("malformed");
    const failed = (await jsm.streams.getMessage(deadLetterStream, { seq: 2 }))!;
    expect(failed.header.get("Livehost-Reason")).toBe("handler_failed");
    expect(failed.header.get("Livehost-Error")).toBe("this message always fails");
    expect(failed.header.get("Livehost-Attempts")).toBe("3");
    const metrics = await c.hosts[0]!.metrics.deadLetters.get();
    expect(metrics.values.map((v) => v.labels.reason).sort()).toEqual(["handler_failed", "malformed"]);
  });

  it("rejects a malformed ask with a clear error without touching the actor", async () => {
    await using c = await cluster(1);
    await c.ask("m1", { op: "add", n: 2 });
    const reply = await c.clientConnection.request("livehost.ask.counter.m1", new TextEncoder().encode("nope"), {
      timeout: 2_000,
      headers: headers(),
    });
    expect(reply.headers?.get("Livehost-Error-Code")).toBe("invalid_argument");
    expect(new TextDecoder().decode(reply.data)).toContain("malformed ask");
    expect((await c.ask("m1", { op: "get" })).total).toBe(2);
  });

  it("passivates an idle actor and reactivates it with its state, but never a keep-alive one", async () => {
    const previous = counterActor.idleTimeoutMs;
    counterActor.idleTimeoutMs = 300;
    try {
      await using c = await cluster(1);
      await c.ask("idle", { op: "add", n: 3 });
      await c.ask("live", { op: "keepAlive" });
      await eventually(() => expect(c.hosts[0]!.isActive("counter", "idle")).toBe(false), { timeoutMs: 10_000 });
      expect(c.hosts[0]!.isActive("counter", "live")).toBe(true);
      const back = await c.ask("idle", { op: "get" });
      expect(back).toMatchObject({ total: 3, epoch: 2 });
    } finally {
      counterActor.idleTimeoutMs = previous;
    }
  });

  it("runs timers with the activation", async () => {
    await using c = await cluster(1);
    await c.ask("tm", { op: "timer", ms: 50 });
    await eventually(async () => expect((await c.ask("tm", { op: "get" })).timers).toBeGreaterThanOrEqual(3));
  });

  it("fires a persisted reminder at its time, activating the actor for it", async () => {
    const previous = counterActor.idleTimeoutMs;
    counterActor.idleTimeoutMs = 200;
    try {
      await using c = await cluster(2);
      await c.ask("r1", { op: "remind", name: "golive", at: Date.now() + 1_500 });
      // It goes idle and is passivated before the reminder is due.
      await eventually(() => expect(c.hosts.some((h) => h.isActive("counter", "r1"))).toBe(false), {
        timeoutMs: 10_000,
      });
      // The reminder wakes it up (nothing else talks to it) and is handled as its first message.
      await eventually(() => expect(c.hosts.some((h) => h.isActive("counter", "r1"))).toBe(true), {
        timeoutMs: 10_000,
      });
      const reminders = async () =>
        (
          JSON.parse(
            new TextDecoder().decode(await c.client.ask("counter", "r1", encodeOp({ op: "get" }))),
          ) as CounterSnapshot
        ).reminders;
      await eventually(async () => expect((await reminders()).map((r) => r.name)).toEqual(["golive"]));
    } finally {
      counterActor.idleTimeoutMs = previous;
    }
  });

  it("costs nothing per idle actor: no lease renewal, state write or mailbox write while its actors are idle", async () => {
    await using c = await cluster(2);
    const ids = Array.from({ length: 40 }, (_, i) => `quiet-${i}`);
    await Promise.all(ids.map((id) => c.ask(id, { op: "keepAlive" })));
    const jsm = await jetstreamManager(c.clientConnection);
    const lastSeq = async (stream: string) => (await jsm.streams.info(stream)).state.last_seq;
    const watched = ["KV_livehost_leases", "KV_livehost_actor_state", "COUNTERS", "KV_livehost_host_leases"];
    const before = await Promise.all(watched.map(lastSeq));
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    const after = await Promise.all(watched.map(lastSeq));
    const writes = Object.fromEntries(watched.map((name, i) => [name, after[i]! - before[i]!]));
    // 40 live actors for 3 s: nothing per actor; the two hosts renew their own leases (about 2 a second each).
    expect(writes).toMatchObject({ KV_livehost_leases: 0, KV_livehost_actor_state: 0, COUNTERS: 0 });
    expect(writes.KV_livehost_host_leases).toBeLessThanOrEqual(2 * 2 * 3 + 4);
  });

  it("purges handled messages from the mailbox: the stream keeps only what is not handled yet", async () => {
    await using c = await cluster(1, { mailboxPurgeMs: 200 });
    const jsm = await jetstreamManager(c.clientConnection);
    for (let n = 0; n < 20; n++) await c.tell("purged", { op: "add", n: 1 }, `p-${n}`);
    await eventually(async () => expect((await c.ask("purged", { op: "get" })).total).toBe(20));
    await eventually(async () => expect((await jsm.streams.info("COUNTERS")).state.messages).toBe(0), {
      timeoutMs: 5_000,
    });
  });

  it("makes a lost mailbox consumer again from the cursor: tells after the loss are handled, each once", async () => {
    await using c = await cluster(1);
    await c.ask("lost", { op: "keepAlive" });
    for (let n = 0; n < 5; n++) await c.tell("lost", { op: "add", n: 1 }, `before-${n}`);
    await eventually(async () => expect((await c.ask("lost", { op: "get" })).total).toBe(5));
    // The consumer goes as it would with its NATS server (one replica in memory): deleted under the actor.
    const jsm = await jetstreamManager(c.clientConnection);
    const names = async () => (await jsm.consumers.list("COUNTERS").next()).map((info) => info.name);
    const lost = (await names()).filter((name) => name.startsWith("counter_lost_"));
    expect(lost).toHaveLength(1);
    await jsm.consumers.delete("COUNTERS", lost[0]!);
    for (let n = 0; n < 5; n++) await c.tell("lost", { op: "add", n: 10 }, `after-${n}`);
    await eventually(async () => expect((await c.ask("lost", { op: "get" })).total).toBe(55), { timeoutMs: 20_000 });
    const state = (await c.ask("lost", { op: "get" })) as unknown as CounterSnapshot;
    expect(Object.values(state.applied).filter((times) => times !== 1)).toEqual([]);
    expect((await names()).filter((name) => name.startsWith("counter_lost_"))).toEqual([`${lost[0]}_1`]);
    const recreated = await c.hosts[0]!.metrics.consumersRecreated.get();
    expect(recreated.values.map((v) => v.value)).toEqual([1]);
  });

  it("activates actors for tells after each host's activator consumer was lost, and for tells sent while no host ran", async () => {
    await using c = await cluster(2);
    const jsm = await jetstreamManager(c.clientConnection);
    const activators = async () =>
      (await jsm.consumers.list("COUNTERS").next()).map((info) => info.name).filter((n) => n.includes("activator"));
    // One consumer per host, no shared one.
    expect((await activators()).sort()).toEqual(["livehost_activator_h0", "livehost_activator_h1"]);
    // Both go as they would with their NATS server: a tell to an actor nobody runs still wakes it, once.
    for (const name of await activators()) await jsm.consumers.delete("COUNTERS", name);
    await c.tell("woken", { op: "add", n: 3 }, "woken-1");
    await eventually(() => expect(c.hosts.some((h) => h.isActive("counter", "woken"))).toBe(true), {
      timeoutMs: 15_000,
    });
    expect((await c.ask("woken", { op: "get" })).total).toBe(3);
    expect((await activators()).sort()).toEqual(["livehost_activator_h0_1", "livehost_activator_h1_1"]);

    // Every host stops; a tell is stored meanwhile; the first host to start again reads what it missed.
    await Promise.all(c.hosts.map((h) => h.close()));
    await c.tell("while-down", { op: "add", n: 7 }, "while-down-1");
    const nc = await connectNats({ servers: c.nats.url, name: "host-again" });
    try {
      await using host = await ActorHost.start({
        nats: nc,
        registry: createRegistry(),
        types: [counterActor],
        hostId: "h-again",
      });
      await eventually(() => expect(host.isActive("counter", "while-down")).toBe(true), { timeoutMs: 15_000 });
      expect((await c.ask("while-down", { op: "get" })).total).toBe(7);
    } finally {
      await nc.close();
    }
  });

  it("starts again the live actors it gave up when its lease was lost and nobody took them", async () => {
    await using c = await cluster(2);
    const ids = Array.from({ length: 12 }, (_, i) => `kept-${i}`);
    for (const id of ids) await c.ask(id, { op: "keepAlive" });
    for (const id of ids) await c.ask(id, { op: "add", n: 1 });
    // Another host deleted h0's lease (it took h0 for dead) and then saw it renew again: h0 gives every actor up.
    const jsm = await jetstreamManager(c.clientConnection);
    await jsm.streams.purge("KV_livehost_host_leases", { filter: "$KV.livehost_host_leases.h0" });
    await eventually(async () =>
      expect(await c.hosts[0]!.metrics.hostLeaseLost.get()).toMatchObject({ values: [{ value: 1 }] }),
    );
    // Every live actor is on air again somewhere, with its state.
    await eventually(() => expect(ids.filter((id) => !c.hosts.some((h) => h.isActive("counter", id)))).toEqual([]), {
      timeoutMs: 15_000,
    });
    for (const id of ids) expect((await c.ask(id, { op: "get" })).total).toBe(1);
  });

  it("hands its actors over on drain: a keep-alive actor is active elsewhere with its state", async () => {
    await using c = await cluster(2);
    await c.ask("moving", { op: "keepAlive" });
    await c.ask("moving", { op: "add", n: 9 });
    const owner = c.hosts.find((h) => h.isActive("counter", "moving"))!;
    const other = c.hosts.find((h) => h !== owner)!;
    await owner.close();
    await eventually(() => expect(other.isActive("counter", "moving")).toBe(true));
    expect(await c.ask("moving", { op: "get" })).toMatchObject({ total: 9, hostId: other.hostId, epoch: 2 });
  });
});
