// The actor runtime against its budgets, with raw NATS baselines from the same run: activation latency, tell
// throughput on one host, ask latency, and failover time after kill -9 of the owning host (with lost and duplicated
// effects counted over every acknowledged message).
import { jetstream } from "@nats-io/jetstream";
import { ActorClient } from "../actors/index.js";
import { connectNats } from "../transport/index.js";
import {
  counterActor,
  encodeOp,
  startActorHostProcess,
  startNatsServer,
  type ActorHostProcess,
  type CounterSnapshot,
} from "../testing/index.js";
import { round, summarize, timeSequential } from "./stats.js";
import type { BenchContext } from "./main.js";

export async function run({ log, quick }: BenchContext): Promise<Record<string, unknown>> {
  const activations = quick ? 30 : 200;
  const tells = quick ? 1_000 : 5_000;
  const asks = quick ? 300 : 2_000;
  const kills = quick ? 3 : 10;

  await using nats = await startNatsServer();
  const nc = await connectNats({ servers: nats.url, name: "bench-client" });
  const client = new ActorClient(nc, [counterActor]);
  const get = async (id: string, timeoutMs = 10_000) =>
    JSON.parse(
      new TextDecoder().decode(await client.ask("counter", id, encodeOp({ op: "get" }), { timeoutMs })),
    ) as CounterSnapshot;

  const hosts: ActorHostProcess[] = [];
  let nextHost = 0;
  const addHost = async () => {
    const host = await startActorHostProcess({ nats: [nats.url], id: `b${nextHost++}` });
    hosts.push(host);
    return host;
  };
  try {
    // --- one host: tell throughput, ask latency, and the raw baselines
    await addHost();
    log(`raw baselines: nats request/reply x${asks}, JetStream publish x${tells}`);
    nc.subscribe("bench.echo", {
      callback: (_err, msg) => {
        msg.respond(msg.data);
      },
    });
    const natsRequest = summarize(
      await timeSequential(asks, 100, () => nc.request("bench.echo", encodeOp({ op: "get" }), { timeout: 5_000 })),
    );
    const js = jetstream(nc);
    const publishStarted = performance.now();
    await pipelined(tells, 64, (i) => js.publish("bench.raw", encodeOp({ op: "add", n: 1 }), { msgID: `raw-${i}` }), {
      before: async () => {
        const jsm = await js.jetstreamManager();
        await jsm.streams.add({ name: "BENCH_RAW", subjects: ["bench.raw"] });
      },
    });
    const natsPublishPerS = tells / ((performance.now() - publishStarted) / 1_000);

    log(`tell throughput on one host: ${tells} tells over 50 actors`);
    const ids = Array.from({ length: 50 }, (_, i) => `tp-${i}`);
    for (const id of ids) await get(id);
    const tellStarted = performance.now();
    await pipelined(tells, 64, (i) =>
      client.tell("counter", ids[i % ids.length]!, "ops", encodeOp({ op: "add", n: 1 }), { messageId: `tp-${i}` }),
    );
    for (const id of ids) {
      const expected = Math.floor(tells / ids.length) + (ids.indexOf(id) < tells % ids.length ? 1 : 0);
      while ((await get(id)).total < expected) await sleep(20);
    }
    const tellPerS = tells / ((performance.now() - tellStarted) / 1_000);

    log(`ask latency x${asks} (read-only asks to an active actor)`);
    const ask = summarize(await timeSequential(asks, 100, () => get("tp-0")));
    const askWrite = summarize(
      await timeSequential(Math.floor(asks / 2), 50, () =>
        client.ask("counter", "tp-1", encodeOp({ op: "add", n: 0 })),
      ),
    );

    // --- three hosts: activation latency and failover
    await addHost();
    await addHost();
    log(`activation: first ask to ${activations} new actors over 3 hosts`);
    let fresh = 0;
    const activation = summarize(await timeSequential(activations, 20, () => get(`act-${fresh++}`)));

    log(`failover: ${kills} x kill -9 of the owning host while tells flow`);
    const failoverMs: number[] = [];
    const acked: { id: string; messageId: string }[] = [];
    for (let round = 0; round < kills; round++) {
      const id = `fo-${round}`;
      await client.ask("counter", id, encodeOp({ op: "keepAlive" }));
      const owner = (await get(id)).hostId;
      const victim = hosts.find((h) => h.id === owner)!;
      let producing = true;
      let n = 0;
      const producer = (async () => {
        while (producing) {
          const messageId = `${id}-${n++}`;
          await retry(() => client.tell("counter", id, "ops", encodeOp({ op: "add", n: 1 }), { messageId }));
          acked.push({ id, messageId });
          await sleep(10);
        }
      })();
      await sleep(200);
      const totalAtKill = (await get(id)).total;
      const killedAt = performance.now();
      await victim.kill();
      hosts.splice(hosts.indexOf(victim), 1);
      for (;;) {
        const state = await get(id, 2_000).catch(() => undefined);
        if (state && state.hostId !== victim.id && state.total > totalAtKill) break;
        await sleep(5);
      }
      failoverMs.push(performance.now() - killedAt);
      log(`  kill ${round + 1}: back after ${Math.round(failoverMs.at(-1)!)} ms`);
      await sleep(100);
      producing = false;
      await producer;
      await addHost();
    }

    log("checking every acknowledged message was applied exactly once");
    let lost = 0;
    let duplicates = 0;
    for (const id of new Set(acked.map((a) => a.id))) {
      const mine = acked.filter((a) => a.id === id).map((a) => a.messageId);
      let state = await get(id);
      for (let waited = 0; Object.keys(state.applied).length < mine.length && waited < 100; waited++) {
        await sleep(100);
        state = await get(id);
      }
      lost += mine.filter((m) => !(m in state.applied)).length;
      duplicates += Object.values(state.applied).filter((times) => times > 1).length;
    }
    const failover = summarize(failoverMs);

    return {
      activation_ms_p50: activation.p50,
      activation_ms_p99: activation.p99,
      tell_per_s: Math.round(tellPerS),
      nats_publish_per_s: Math.round(natsPublishPerS),
      tell_vs_publish_ratio: round(tellPerS / natsPublishPerS, 2),
      ask_ms_p50: ask.p50,
      ask_ms_p99: ask.p99,
      nats_request_ms_p50: natsRequest.p50,
      ask_vs_request_ratio_p50: round(ask.p50 / natsRequest.p50, 2),
      ask_write_ms_p50: askWrite.p50,
      failover_ms_p50: failover.p50,
      failover_ms_max: failover.max,
      failover_kills: kills,
      lost_messages: lost,
      duplicate_effects: duplicates,
      acknowledged_messages: acked.length,
      settings: { host_timeout_ms: 2_000, lease_ttl_ms: 5_000, heartbeat_ms: 500, hosts: 3 },
      detail: {
        activation_ms: activation,
        ask_ms: ask,
        ask_write_ms: askWrite,
        nats_request_ms: natsRequest,
        failover_ms: failover,
      },
    };
  } finally {
    await Promise.all(hosts.map((h) => h.kill()));
    await nc.close();
  }
}

/** Runs `count` operations with at most `window` in flight. */
async function pipelined(
  count: number,
  window: number,
  op: (i: number) => Promise<unknown>,
  hooks: { before?: () => Promise<void> } = {},
): Promise<void> {
  await hooks.before?.();
  let next = 0;
  await Promise.all(
    Array.from({ length: window }, async () => {
      while (next < count) await op(next++);
    }),
  );
}

async function retry<T>(op: () => Promise<T>): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await op();
    } catch (err) {
      if (attempt > 100) throw err;
      await sleep(50);
    }
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
