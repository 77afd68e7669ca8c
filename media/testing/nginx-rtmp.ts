// A real RTMP ingest for media tests: nginx with Debian's RTMP module, run as a child process (-p prefix, config in
// a temporary directory, no system service) on 127.0.0.1 and a free port. It records every published stream to FLV
// files, which tests probe; restart() kills it and starts it again on the same port (an ingest that went away).
import { spawn, type ChildProcess } from "node:child_process";
import { mkdir, mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { createConnection, createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";

const rtmpModule = "/usr/lib/nginx/modules/ngx_rtmp_module.so";

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

const accepts = (port: number) =>
  new Promise<boolean>((resolve) => {
    const socket = createConnection({ host: "127.0.0.1", port }, () => {
      socket.destroy();
      resolve(true);
    });
    socket.on("error", () => resolve(false));
  });

export class NginxRtmp implements AsyncDisposable {
  readonly dir: string;
  readonly port: number;
  #process: ChildProcess | undefined;
  #starts = 0;

  private constructor(dir: string, port: number) {
    this.dir = dir;
    this.port = port;
  }

  /** `await using ingest = await NginxRtmp.start();` — publish to `${ingest.url}/<key>`. */
  static async start(): Promise<NginxRtmp> {
    const dir = await mkdtemp(join(tmpdir(), "livehost-nginx-rtmp-"));
    const ingest = new NginxRtmp(dir, await freePort());
    await ingest.#launch();
    return ingest;
  }

  /** The application URL, without a stream key. */
  get url(): string {
    return `rtmp://127.0.0.1:${this.port}/live`;
  }

  /** FLV files nginx recorded, one per publish per run: `run-<n>/<key>.flv`. */
  async recordings(): Promise<string[]> {
    const runs = (await readdir(this.dir)).filter((name) => name.startsWith("run-")).sort();
    const files: string[] = [];
    for (const run of runs) {
      for (const name of (await readdir(join(this.dir, run))).sort()) files.push(join(this.dir, run, name));
    }
    return files;
  }

  /** Kills nginx (the ingest goes away mid-stream) and starts it again on the same port after `downMs`. */
  async restart(downMs = 500): Promise<void> {
    await this.#kill();
    await sleep(downMs);
    await this.#launch();
  }

  async #launch() {
    const run = join(this.dir, `run-${++this.#starts}`);
    await mkdir(run, { recursive: true });
    const config = join(this.dir, "nginx.conf");
    await writeFile(
      config,
      [
        "daemon off;",
        "master_process off;",
        `error_log ${join(this.dir, "error.log")} warn;`,
        `pid ${join(this.dir, "nginx.pid")};`,
        `load_module ${rtmpModule};`,
        "events { worker_connections 64; }",
        // meta copy: players and recordings get the publisher's own onMetaData (nginx's default makes its own).
        `rtmp { server { listen 127.0.0.1:${this.port}; application live { live on; meta copy; record all; ` +
          `record_path ${run}; record_unique off; } } }`,
      ].join("\n"),
    );
    const child = spawn("nginx", ["-p", this.dir, "-c", config, "-e", join(this.dir, "error.log")], {
      stdio: "ignore",
    });
    this.#process = child;
    const deadline = Date.now() + 10_000;
    while (!(await accepts(this.port))) {
      if (child.exitCode !== null) throw new Error(`nginx exited with ${child.exitCode} (see ${this.dir}/error.log)`);
      if (Date.now() > deadline) throw new Error("nginx-rtmp did not listen within 10 s");
      await sleep(50);
    }
  }

  async #kill() {
    const child = this.#process;
    this.#process = undefined;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((resolve) => child.once("exit", resolve));
    child.kill("SIGKILL");
    await exited;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.#kill();
    await rm(this.dir, { recursive: true, force: true });
  }
}
