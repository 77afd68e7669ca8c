// `livehost operator` as the CLI runs it: options checked, the Lease taken, and released on stop (SIGTERM).
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { eventually, startNatsServer } from "../testing/index.js";
import { compileOperatorOptions, runOperator } from "./index.js";
import { KubeApiTestServer } from "./testing/index.js";

describe("runOperator", () => {
  it("names the bad option", () => {
    expect(() => compileOperatorOptions({ namespace: "Live_Host", leaseName: "l", natsUrl: "nats://x" })).toThrow(
      '--namespace: "Live_Host" is not a Kubernetes namespace name',
    );
    expect(() =>
      compileOperatorOptions({ namespace: "ns", leaseName: "l", natsUrl: "nats://x", metricsPort: 70_000 }),
    ).toThrow("--metrics-port");
  });

  it("takes the Lease from a kubeconfig file and releases it when stopped", async () => {
    await using kube = await KubeApiTestServer.start();
    await using nats = await startNatsServer({ jetstream: false });
    const dir = await mkdtemp(join(tmpdir(), "livehost-operator-"));
    try {
      const kubeconfig = join(dir, "config");
      await writeFile(kubeconfig, kube.kubeConfig("livehost").exportConfig());
      const stop = new AbortController();
      const running = runOperator(
        { kubeconfig, namespace: "livehost", leaseName: "op", identity: "op-1", natsUrl: nats.url },
        stop.signal,
      );
      await eventually(() => expect(kube.get("leases", "op", "livehost")?.spec?.holderIdentity).toBe("op-1"));
      stop.abort();
      await running;
      expect(kube.get("leases", "op", "livehost")?.spec?.holderIdentity).toBe("");
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
