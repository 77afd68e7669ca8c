// A nats-server as the chart runs it for the operator: TLS with a test CA (made by openssl) and the operator's user
// with its permissions from the chart (subscribe to worker announcements and replies, publish nothing), on a free
// port of 127.0.0.1. For the operator's tests only; removed on dispose.
import { execFile, spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtemp, readFile, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { promisify } from "node:util";
import { killOnExit } from "./children.js";

const run = promisify(execFile);

export interface SecureNatsServer extends AsyncDisposable {
  /** tls://127.0.0.1:<port> */
  url: string;
  /** PEM CA that signed the server's certificate. */
  caFile: string;
  user: string;
  password: string;
  /** Users of the connections the server has now (its /connz). */
  connectedUsers(): Promise<string[]>;
}

const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1"];

export async function startSecureNatsServer(): Promise<SecureNatsServer> {
  const dir = await mkdtemp(join(tmpdir(), "livehost-operator-nats-"));
  const user = "operator";
  const password = `pw-${Math.random().toString(36).slice(2)}`;
  await run("openssl", ["req", "-x509", ...ec, "-keyout", "ca.key", "-out", "ca.crt", "-subj", "/CN=test-ca"], {
    cwd: dir,
  });
  await run(
    "openssl",
    ["req", "-x509", ...ec, "-CA", "ca.crt", "-CAkey", "ca.key", "-keyout", "server.key", "-out", "server.crt"].concat([
      "-subj",
      "/CN=localhost",
      "-addext",
      "subjectAltName=IP:127.0.0.1,DNS:localhost",
    ]),
    { cwd: dir },
  );
  await writeFile(
    join(dir, "nats.conf"),
    [
      "listen: 127.0.0.1:-1",
      "http: 127.0.0.1:-1",
      `ports_file_dir: "${dir}"`,
      `tls { cert_file: "${join(dir, "server.crt")}", key_file: "${join(dir, "server.key")}", timeout: 2 }`,
      "authorization { users = [",
      `  { user: "${user}", password: "${password}",`,
      // As charts/livehost/files/nats-permissions.yaml gives the operator: reading the room directory and the job
      // queue's figures, nothing else.
      '    permissions: { publish: { allow: ["$JS.API.STREAM.INFO.KV_livehost_rooms", ' +
        '"$JS.API.CONSUMER.CREATE.KV_livehost_rooms.>", "$JS.API.CONSUMER.INFO.KV_livehost_rooms.>", ' +
        '"$JS.API.CONSUMER.DELETE.KV_livehost_rooms.>", "$JS.FC.>", ' +
        '"$JS.API.CONSUMER.INFO.JOB_QUEUE.job-workers", "$JS.API.STREAM.INFO.JOB_QUEUE"] }, ' +
        'subscribe: { allow: ["_INBOX.>", "workers.*.announce"] } } }',
      "] }",
    ].join("\n"),
  );
  const child = killOnExit(
    spawn("nats-server", ["-c", join(dir, "nats.conf")], { stdio: ["ignore", "ignore", "pipe"] }),
  );
  let stderr = "";
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr = (stderr + chunk).slice(-2_000)));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = once(child, "exit");
      child.kill("SIGTERM");
      await exited;
    }
    await rm(dir, { recursive: true, force: true });
  };
  for (let i = 0; i < 400 && child.exitCode === null; i++) {
    const ports = (await readdir(dir)).find((f) => f.endsWith(".ports"));
    if (ports) {
      const text = await readFile(join(dir, ports), "utf8").catch(() => "");
      const parsed = text ? (JSON.parse(text) as { nats: string[]; monitoring: string[] }) : undefined;
      if (parsed?.monitoring?.[0]) {
        const monitoring = parsed.monitoring[0];
        return {
          url: parsed.nats[0]!.replace(/^nats:/, "tls:"),
          caFile: join(dir, "ca.crt"),
          user,
          password,
          async connectedUsers() {
            const connz = (await (await fetch(`${monitoring}/connz?auth=1`)).json()) as {
              connections?: { authorized_user?: string }[];
            };
            return (connz.connections ?? []).map((c) => c.authorized_user ?? "");
          },
          [Symbol.asyncDispose]: stop,
        };
      }
    }
    await sleep(25);
  }
  await stop();
  throw new Error(`nats-server did not start: ${stderr}`);
}
