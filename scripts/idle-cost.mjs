// The idle cost of live actors, measured from the server: JetStream writes (each stream's last_seq moving over an idle
// window) and messages the server received, per live actor per second. It imports the given checkout's dist/, so the
// same measurement runs on an older commit (before/after): node scripts/idle-cost.mjs <repo root> [actors]
/* global process, fetch, setTimeout, console */
const [root, countArg] = process.argv.slice(2);
const { startNatsServer, startActorHostProcess, counterActor, encodeOp } = await import(
  `${root}/dist/testing/index.js`
);
const { ActorClient } = await import(`${root}/dist/actors/index.js`);
const { connectNats } = await import(`${root}/dist/transport/index.js`);
const { jetstreamManager } = await import(`${root}/node_modules/@nats-io/jetstream/lib/mod.js`);
const count = Number(countArg ?? 300);
const nats = await startNatsServer();
const hosts = [];
for (let i = 0; i < 2; i++) hosts.push(await startActorHostProcess({ nats: [nats.url], id: `idle${i}` }));
const nc = await connectNats({ servers: nats.url, name: "idle" });
const client = new ActorClient(nc, [counterActor]);
for (let i = 0; i < count; i += 50)
  await Promise.all(
    Array.from({ length: Math.min(50, count - i) }, (_, j) =>
      client.ask("counter", `a${i + j}`, encodeOp({ op: "keepAlive" }), { timeoutMs: 20_000 }),
    ),
  );
const jsm = await jetstreamManager(nc);
const snapshot = async () => {
  const streams = {};
  for await (const s of jsm.streams.list()) streams[s.config.name] = s.state.last_seq;
  const varz = await (await fetch(`${nats.monitorUrl}/varz`)).json();
  return { streams, inMsgs: varz.in_msgs };
};
await new Promise((r) => setTimeout(r, 5_000));
const a = await snapshot();
const seconds = 20;
await new Promise((r) => setTimeout(r, seconds * 1000));
const b = await snapshot();
const writes = Object.fromEntries(Object.keys(b.streams).map((k) => [k, b.streams[k] - (a.streams[k] ?? 0)]));
const total = Object.values(writes).reduce((x, y) => x + y, 0);
console.log(
  JSON.stringify({
    root,
    actors: count,
    hosts: 2,
    window_s: seconds,
    js_writes_per_actor_per_s: +(total / count / seconds).toFixed(4),
    writes_by_stream: writes,
    nats_msgs_in_per_actor_per_s: +((b.inMsgs - a.inMsgs) / count / seconds).toFixed(3),
  }),
);
await nc.close();
await Promise.all(hosts.map((h) => h.kill()));
await nats.stop();
process.exit(0);
