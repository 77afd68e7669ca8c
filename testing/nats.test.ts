import { describe, expect, it } from "vitest";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connectNats } from "../transport/index.js";
import { NatsCluster, eventually, startNatsServer } from "./index.js";

describe("nats-server harness", () => {
  it("serves request/reply on an ephemeral loopback port", async () => {
    await using server = await startNatsServer();
    expect(server.url).toMatch(/^nats:\/\/127\.0\.0\.1:\d+$/);
    const nc = await connectNats({ servers: server.url, name: "test" });
    try {
      nc.subscribe("echo", {
        callback: (_err, msg) => {
          msg.respond(`echo:${msg.string()}`);
        },
      });
      const reply = await nc.request("echo", "hello", { timeout: 2_000 });
      expect(reply.string()).toBe("echo:hello");
    } finally {
      await nc.close();
    }
  });

  it("restarts a server on the same port with its JetStream store", async () => {
    await using server = await startNatsServer();
    const port = server.port;
    const nc = await connectNats({ servers: server.url, name: "test" });
    try {
      const jsm = await jetstreamManager(nc);
      await jsm.streams.add({ name: "KEEP", subjects: ["keep.>"] });
      await jetstream(nc).publish("keep.one", "1");
      await server.kill();
      expect(server.running).toBe(false);
      await server.restart();
      expect(server.port).toBe(port);
      await eventually(() => nc.flush()); // the client reconnects to the same URL by itself
      const info = await (await jetstreamManager(nc)).streams.info("KEEP");
      expect(info.state.messages).toBe(1);
    } finally {
      await nc.close();
    }
  });

  it("keeps a replicated stream writable and loses nothing when one of 3 nodes dies", async () => {
    await using cluster = await NatsCluster.start(3);
    const nc = await connectNats({ servers: cluster.urls, name: "test" });
    try {
      const jsm = await jetstreamManager(nc);
      await jsm.streams.add({ name: "ORDERS", subjects: ["orders.>"], num_replicas: 3 });
      const js = jetstream(nc);
      for (let i = 0; i < 50; i++) await js.publish(`orders.${i}`, String(i), { msgID: `m-${i}` });

      await cluster.kill(0);
      // Writes may pause while a new stream leader is elected; retry like a real producer does.
      for (let i = 50; i < 100; i++) {
        await eventually(() => js.publish(`orders.${i}`, String(i), { msgID: `m-${i}`, timeout: 2_000 }), {
          timeoutMs: 30_000,
        });
      }
      const info = await jsm.streams.info("ORDERS");
      expect(info.state.messages).toBe(100);

      await cluster.restart(0);
      expect(cluster.nodes[0]!.running).toBe(true);
    } finally {
      await nc.close();
    }
  });
});
