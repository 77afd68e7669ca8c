// Real nats-server processes for integration tests: one server, or a 3-node JetStream cluster whose members can
// be killed and restarted. Everything is torn down by `await using`.
import { createServer } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import { NatsServerProcess, type NatsServerProcessOptions } from "../transport/internal.js";

export { NatsServerProcess as NatsServer };

/** `await using nats = await startNatsServer();` — JetStream on, temporary store, ephemeral port. */
export function startNatsServer(options: NatsServerProcessOptions = {}): Promise<NatsServerProcess> {
  return NatsServerProcess.start(options);
}

export class NatsCluster implements AsyncDisposable {
  readonly nodes: NatsServerProcess[];

  private constructor(nodes: NatsServerProcess[]) {
    this.nodes = nodes;
  }

  /**
   * Starts `size` JetStream nodes routed to each other and waits until every one reports healthy (meta leader
   * elected). JetStream clusters need their routes configured up front, so the cluster ports are reserved first.
   */
  static async start(size = 3, name = "livehost-test"): Promise<NatsCluster> {
    // A port reserved here is free again until its server binds it: another test's server may take it first. Then the
    // whole cluster starts again on new ports (the routes name them all).
    for (let attempt = 1; ; attempt++) {
      try {
        return await NatsCluster.#start(size, name);
      } catch (err) {
        if (attempt === 3 || !String(err).includes("address already in use")) throw err;
      }
    }
  }

  static async #start(size: number, name: string): Promise<NatsCluster> {
    const nodes: NatsServerProcess[] = [];
    try {
      const clusterPorts = await freePorts(size);
      const routes = clusterPorts.map((port) => `nats-route://127.0.0.1:${port}`);
      for (let i = 0; i < size; i++) {
        nodes.push(
          await NatsServerProcess.start({
            serverName: `${name}-${i}`,
            cluster: { name, port: clusterPorts[i]!, routes: routes.filter((_, j) => j !== i) },
            waitForHealthy: false,
          }),
        );
      }
      const cluster = new NatsCluster(nodes);
      await cluster.waitHealthy();
      return cluster;
    } catch (err) {
      await Promise.all(nodes.map((node) => node.stop()));
      throw err;
    }
  }

  /** Client URLs of every node, for a connection that fails over between them. */
  get urls(): string[] {
    return this.nodes.map((node) => node.url);
  }

  /** SIGKILL one node (a crash); its store is kept for restart(). */
  async kill(index: number): Promise<void> {
    await this.#node(index).kill("SIGKILL");
  }

  /** Restarts a node on its old ports, routed to every other member, and waits for the cluster to be healthy. */
  async restart(index: number): Promise<void> {
    const routes = this.nodes.filter((_, i) => i !== index).map((node) => node.routeUrl!);
    await this.#node(index).restart(routes);
    await this.waitHealthy();
  }

  /** Waits until every running node reports healthy. */
  async waitHealthy(timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const running = this.nodes.filter((node) => node.running);
      const health = await Promise.all(running.map((node) => node.healthy()));
      if (health.every(Boolean)) return;
      if (Date.now() > deadline) throw new Error(`nats cluster not healthy after ${timeoutMs} ms`);
      await sleep(100);
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await Promise.all(this.nodes.map((node) => node.stop()));
  }

  #node(index: number): NatsServerProcess {
    const node = this.nodes[index];
    if (!node) throw new RangeError(`no node ${index} in a cluster of ${this.nodes.length}`);
    return node;
  }
}

/** Ports the OS says are free now (a small race with other processes is acceptable in tests). */
async function freePorts(count: number): Promise<number[]> {
  const servers = Array.from({ length: count }, () => createServer());
  const ports = await Promise.all(
    servers.map(
      (server) =>
        new Promise<number>((resolve, reject) => {
          server.once("error", reject);
          server.listen(0, "127.0.0.1", () => {
            const address = server.address();
            resolve(typeof address === "object" && address ? address.port : 0);
          });
        }),
    ),
  );
  await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
  return ports;
}
