// No alert and no dashboard panel on a metric nobody exports: the local stack (`livehost demo`: nats-server, room
// host, gateway, TTS and lip-sync workers as processes, a room put on air and a viewer question answered) and the
// operator (in-process, against the Kubernetes API test server) are scraped, and every livehost_* metric that
// observability/alerts and observability/dashboards name must be among what they serve.
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse } from "yaml";
import { expect, it } from "vitest";
import { startOperatorProcess } from "../cli/internal.js";
import { KubeApiTestServer, eventually, runCli } from "../testing/index.js";
import { connectNats } from "../transport/index.js";
import { createRegistry } from "./internal.js";

interface AlertRules {
  groups: { rules: { expr: string }[] }[];
}
interface Dashboard {
  panels: { targets?: { expr: string }[] }[];
}

/** Metric families named in PromQL: histogram series (_bucket, _sum, _count) are their family's. */
function metricNames(exprs: string[]): Set<string> {
  const names = new Set<string>();
  for (const expr of exprs) {
    for (const [name] of expr.matchAll(/\blivehost_[a-z0-9_]+/g)) names.add(name.replace(/_(bucket|sum|count)$/, ""));
  }
  return names;
}

/** Families a /metrics page declares (# TYPE lines). */
function exported(text: string): string[] {
  return [...text.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1]!);
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

it("exports every metric the alert rules and the Grafana board use", { timeout: 120_000 }, async () => {
  const rules = parse(await readFile(new URL("./alerts/livehost.rules.yaml", import.meta.url), "utf8")) as AlertRules;
  const board = JSON.parse(await readFile(new URL("./dashboards/livehost.json", import.meta.url), "utf8")) as Dashboard;
  const wanted = metricNames([
    ...rules.groups.flatMap((g) => g.rules.map((r) => r.expr)),
    ...board.panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr)),
  ]);
  expect(wanted.size).toBeGreaterThan(30);

  // The local stack, with a room on air that answered a viewer (the demo's tour).
  await using demo = runCli(["demo", "--json"]);
  const stackLine = await demo.waitForLine(/^\{"nats"/, 60_000);
  // With --json, the tour's lines go to stderr (stdout carries the one JSON line): its last says the tour is done.
  await eventually(() => expect(demo.stderr()).toContain("Press Ctrl-C to stop."), {
    timeoutMs: 90_000,
    intervalMs: 200,
  });
  const stack = JSON.parse(stackLine) as { nats: { url: string }; roles: { endpoints: Record<string, string> }[] };
  const pages = await Promise.all(stack.roles.map(async (r) => (await fetch(r.endpoints.metrics!)).text()));

  // The operator, against the Kubernetes API test server and the stack's NATS.
  await using kube = await KubeApiTestServer.start();
  const dir = await mkdtemp(join(tmpdir(), "livehost-metrics-"));
  const kubeconfig = join(dir, "config");
  await writeFile(kubeconfig, kube.kubeConfig("livehost").exportConfig());
  const metricsPort = await freePort();
  const operator = await startOperatorProcess({
    kubeconfig,
    namespace: "livehost",
    leaseName: "op",
    id: "op-1",
    natsUrl: stack.nats.url,
    metricsPort,
  });
  try {
    const operatorPage = await eventually(async () => {
      const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
      expect(text).toContain("livehost_operator_leader 1");
      return text;
    });
    pages.push(operatorPage);
  } finally {
    await operator.stop("test over");
    await rm(dir, { recursive: true, force: true });
  }

  // A role's NATS connection (transport's connectNats with the role's registry).
  const registry = createRegistry({ role: "room-host" });
  const nats = await connectNats({ servers: stack.nats.url, name: "metrics-test", registry });
  pages.push(await registry.metrics());
  await nats.close();

  const served = new Set(pages.flatMap(exported));
  expect([...wanted].filter((name) => !served.has(name))).toEqual([]);
});
