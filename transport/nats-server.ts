// Runs the real nats-server engine (Debian's package) as a child process on loopback: for `livehost up` and for
// integration tests. Ports are chosen by the server (-1) and read back from its ports file; a restart reuses the
// same ports and store so clients reconnect to the URL they know.
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { mkdtemp, readdir, readFile, rm, mkdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { UnavailableError } from "../errors/index.js";

export interface NatsServerProcessOptions {
  /** Enable JetStream with a store under the server's temporary directory. Default true. */
  jetstream?: boolean;
  /** server_name; required for JetStream clusters. */
  serverName?: string;
  /** Join a cluster: its name and the route URLs of the other members. */
  cluster?: { name: string; routes: string[]; port?: number };
  /** Client port; -1 (default) lets the server choose. */
  port?: number;
  /** Directory for the store and ports file; a new temporary one (removed on stop) when absent. */
  dir?: string;
  /** Path to the binary; default "nats-server" from PATH. */
  binary?: string;
  /** How long to wait for readiness. Default 20 s. */
  readyTimeoutMs?: number;
  /**
   * Wait until /healthz says JetStream is current (default). A cluster's first member cannot be healthy before
   * the others join, so the cluster helper turns this off and waits for all members together.
   */
  waitForHealthy?: boolean;
  /**
   * Run it in its own process group, so that a Ctrl-C at the terminal reaches only the parent, which stops the
   * server last, after everything that uses it (livehost up/demo). The parent kills it when it exits. Default false.
   */
  ownProcessGroup?: boolean;
}

interface PortsFile {
  nats: string[];
  monitoring?: string[];
  cluster?: string[];
}

/** Servers started by this process and still running: stopped when it exits. */
const serversToStop = new Set<ChildProcess>();
process.once("exit", () => {
  for (const child of serversToStop) child.kill("SIGTERM");
});

export class NatsServerProcess implements AsyncDisposable {
  #child: ChildProcess | undefined;
  #ports: PortsFile | undefined;
  #stderrTail = "";
  readonly #options: NatsServerProcessOptions;
  readonly #dir: string;
  readonly #ownsDir: boolean;

  private constructor(options: NatsServerProcessOptions, dir: string, ownsDir: boolean) {
    this.#options = options;
    this.#dir = dir;
    this.#ownsDir = ownsDir;
  }

  static async start(options: NatsServerProcessOptions = {}): Promise<NatsServerProcess> {
    const ownsDir = options.dir === undefined;
    const dir = options.dir ?? (await mkdtemp(join(tmpdir(), "livehost-nats-")));
    const server = new NatsServerProcess(options, dir, ownsDir);
    try {
      await server.#launch();
    } catch (err) {
      await server.stop();
      throw err;
    }
    return server;
  }

  /** nats://127.0.0.1:<port> */
  get url(): string {
    return this.#requirePorts().nats[0]!;
  }

  get port(): number {
    return Number(new URL(this.url).port);
  }

  /** nats-route URL other members use to reach this one; undefined outside a cluster. */
  get routeUrl(): string | undefined {
    const cluster = this.#ports?.cluster?.[0];
    return cluster?.replace(/^nats:/, "nats-route:");
  }

  /** The name given with `serverName` (JetStream names a stream's or consumer's servers by it). */
  get serverName(): string | undefined {
    return this.#options.serverName;
  }

  get monitorUrl(): string {
    return this.#requirePorts().monitoring![0]!;
  }

  get pid(): number | undefined {
    return this.#child?.pid;
  }

  get running(): boolean {
    return this.#child !== undefined && this.#child.exitCode === null && this.#child.signalCode === null;
  }

  /** Kills the process (SIGKILL by default, as a crashed node) and waits for it to exit. Keeps the store. */
  async kill(signal: NodeJS.Signals = "SIGKILL"): Promise<void> {
    const child = this.#child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = once(child, "exit");
    child.kill(signal);
    await exited;
  }

  /** Starts the process again on the same ports with the same store. Routes may be replaced (cluster). */
  async restart(routes?: string[]): Promise<void> {
    await this.kill("SIGTERM");
    if (routes && this.#options.cluster) this.#options.cluster.routes = routes;
    await this.#launch(this.#ports);
  }

  /** Stops the process (SIGTERM, then SIGKILL after 5 s) and removes its temporary directory. */
  async stop(): Promise<void> {
    const child = this.#child;
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = once(child, "exit");
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 5_000);
      await exited;
      clearTimeout(timer);
    }
    if (this.#ownsDir) await rm(this.#dir, { recursive: true, force: true });
  }

  /** True when the server's /healthz answers ok (JetStream current, in a cluster: meta leader known). */
  async healthy(): Promise<boolean> {
    if (!this.running || !this.#ports?.monitoring?.[0]) return false;
    const response = await fetch(`${this.#ports.monitoring[0]}/healthz`).catch(() => undefined);
    return response?.ok ?? false;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.stop();
  }

  #requirePorts(): PortsFile {
    if (!this.#ports) throw new UnavailableError("nats-server has not started");
    return this.#ports;
  }

  async #launch(previous?: PortsFile): Promise<void> {
    const o = this.#options;
    const portsDir = join(this.#dir, "ports");
    await rm(portsDir, { recursive: true, force: true });
    await mkdir(portsDir, { recursive: true });
    const portOf = (url: string | undefined) => (url ? new URL(url).port : "-1");
    const args = [
      "--addr",
      "127.0.0.1",
      "--port",
      previous ? portOf(previous.nats[0]) : String(o.port ?? -1),
      "--http_port",
      previous ? portOf(previous.monitoring?.[0]) : "-1",
      "--ports_file_dir",
      portsDir,
    ];
    if (o.serverName) args.push("--server_name", o.serverName);
    if (o.jetstream ?? true) args.push("--jetstream", "--store_dir", join(this.#dir, "store"));
    if (o.cluster) {
      const clusterPort = previous?.cluster?.[0] ? portOf(previous.cluster[0]) : String(o.cluster.port ?? -1);
      args.push("--cluster_name", o.cluster.name, "--cluster", `nats://127.0.0.1:${clusterPort}`);
      if (o.cluster.routes.length > 0) args.push("--routes", o.cluster.routes.join(","));
    }
    const child = spawn(o.binary ?? "nats-server", args, {
      stdio: ["ignore", "ignore", "pipe"],
      detached: o.ownProcessGroup ?? false,
    });
    this.#child = child;
    // It goes when this process does, however that ends but SIGKILL: out of the terminal's group (ownProcessGroup) no
    // Ctrl-C reaches it, and a test process that ends without stopping it (a test that timed out) leaves no server.
    serversToStop.add(child);
    child.once("exit", () => serversToStop.delete(child));
    this.#stderrTail = "";
    child.stderr?.setEncoding("utf8").on("data", (chunk: string) => {
      this.#stderrTail = (this.#stderrTail + chunk).slice(-4_000);
    });
    const spawnError = new Promise<never>((_, reject) => {
      child.once("error", (err) =>
        reject(new UnavailableError(`cannot run nats-server: ${err.message}`, { cause: err })),
      );
    });
    spawnError.catch(() => undefined);
    await Promise.race([this.#waitReady(child, portsDir), spawnError]);
  }

  async #waitReady(child: ChildProcess, portsDir: string): Promise<void> {
    const deadline = Date.now() + (this.#options.readyTimeoutMs ?? 20_000);
    while (Date.now() < deadline) {
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new UnavailableError(`nats-server exited during start-up: ${this.#stderrTail.trim().slice(-500)}`);
      }
      const files = await readdir(portsDir).catch(() => [] as string[]);
      const file = files.find((name) => name.endsWith(".ports"));
      if (file) {
        try {
          this.#ports = JSON.parse(await readFile(join(portsDir, file), "utf8")) as PortsFile;
          const probe = this.#options.waitForHealthy === false ? "varz" : "healthz";
          const response = await fetch(`${this.#ports.monitoring?.[0]}/${probe}`).catch(() => undefined);
          if (response?.ok) return;
        } catch {
          // The ports file is being written; read it again.
        }
      }
      await sleep(25);
    }
    throw new UnavailableError(`nats-server not ready in time: ${this.#stderrTail.trim().slice(-500)}`);
  }
}
