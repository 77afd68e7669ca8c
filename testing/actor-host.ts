// A standalone actor host process running the counter actor, for tests and benchmarks that kill, pause and
// restart hosts: `node dist/testing/actor-host.js --nats <url> --id <hostId>`. Prints "ready <hostId>".
import { parseArgs } from "node:util";
import { ActorHost } from "../actors/index.js";
import { createRegistry, createLogger } from "../observability/index.js";
import { connectNats } from "../transport/index.js";
import { counterActor } from "./counter-actor.js";

const { values } = parseArgs({
  options: {
    nats: { type: "string" },
    id: { type: "string" },
    replicas: { type: "string", default: "1" },
    "host-timeout-ms": { type: "string", default: "2000" },
    "lease-ttl-ms": { type: "string", default: "5000" },
  },
});
if (!values.nats) throw new Error("--nats is required");
const logger = createLogger({ base: { role: "actor-host", hostId: values.id } });
const nats = await connectNats({ servers: values.nats.split(","), name: `actor-host-${values.id}`, logger });
const host = await ActorHost.start({
  nats,
  registry: createRegistry(),
  types: [counterActor],
  hostId: values.id,
  stores: { replicas: Number(values.replicas) },
  hostTimeoutMs: Number(values["host-timeout-ms"]),
  leaseTtlMs: Number(values["lease-ttl-ms"]),
  logger,
});
process.stdout.write(`ready ${host.hostId}\n`);
const stop = async () => {
  await host.close();
  await nats.drain();
  process.exit(0);
};
process.once("SIGTERM", () => void stop());
process.once("SIGINT", () => void stop());
