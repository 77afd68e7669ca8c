// The test server answers client-node the way a real API server would, for what the operator uses.
import { AppsV1Api, CustomObjectsApi, Watch } from "@kubernetes/client-node";
import { describe, expect, it } from "vitest";
import { KubeApiTestServer, eventually } from "./index.js";

const wp = { group: "livehost.io", version: "v1alpha1", namespace: "ns", plural: "workerpools" };

describe("Kubernetes API test server", () => {
  it("refuses a replace from a stale resourceVersion with 409 Conflict", async () => {
    await using kube = await KubeApiTestServer.start();
    const api = kube.kubeConfig().makeApiClient(CustomObjectsApi);
    const created = (await api.createNamespacedCustomObject({
      ...wp,
      body: { apiVersion: "livehost.io/v1alpha1", kind: "WorkerPool", metadata: { name: "a" }, spec: { x: 1 } },
    })) as { metadata: { resourceVersion: string } };
    await api.replaceNamespacedCustomObject({ ...wp, name: "a", body: { ...created, spec: { x: 2 } } });
    await expect(
      api.replaceNamespacedCustomObject({ ...wp, name: "a", body: { ...created, spec: { x: 3 } } }),
    ).rejects.toMatchObject({ code: 409 });
    expect(kube.get("workerpools", "a", "ns")?.spec).toEqual({ x: 2 });
  });

  it("keeps status and spec apart: the status subresource writes only status, the object never status", async () => {
    await using kube = await KubeApiTestServer.start();
    const api = kube.kubeConfig().makeApiClient(CustomObjectsApi);
    const a = kube.put("workerpools", { metadata: { name: "a", namespace: "ns" }, spec: { x: 1 } });
    await api.replaceNamespacedCustomObjectStatus({
      ...wp,
      name: "a",
      body: { ...a, spec: { x: 9 }, status: { y: 1 } },
    });
    expect(kube.get("workerpools", "a", "ns")).toMatchObject({
      spec: { x: 1 },
      status: { y: 1 },
      metadata: { generation: 1 },
    });
    const b = kube.get("workerpools", "a", "ns")!;
    await api.replaceNamespacedCustomObject({ ...wp, name: "a", body: { ...b, spec: { x: 2 }, status: { y: 7 } } });
    expect(kube.get("workerpools", "a", "ns")).toMatchObject({
      spec: { x: 2 },
      status: { y: 1 },
      metadata: { generation: 2 },
    });
  });

  it("serves the scale subresource of Deployments", async () => {
    await using kube = await KubeApiTestServer.start();
    const apps = kube.kubeConfig().makeApiClient(AppsV1Api);
    kube.put("deployments", { metadata: { name: "d", namespace: "ns" }, spec: { replicas: 2 } });
    const scale = await apps.readNamespacedDeploymentScale({ name: "d", namespace: "ns" });
    expect(scale.spec?.replicas).toBe(2);
    await apps.replaceNamespacedDeploymentScale({
      name: "d",
      namespace: "ns",
      body: { ...scale, spec: { replicas: 5 } },
    });
    expect(kube.get("deployments", "d", "ns")?.spec?.replicas).toBe(5);
  });

  it("watches from a resourceVersion, and answers 410 Expired once that version is compacted", async () => {
    await using kube = await KubeApiTestServer.start();
    const first = kube.put("nodes", { metadata: { name: "n1" } });
    kube.put("nodes", { metadata: { name: "n2" } });
    const watch = new Watch(kube.kubeConfig());
    const seen: string[] = [];
    const controller = await watch.watch(
      "/api/v1/nodes",
      { resourceVersion: first.metadata.resourceVersion },
      (type, obj: { metadata?: { name?: string }; code?: number }) =>
        seen.push(`${type} ${obj.metadata?.name ?? obj.code}`),
      () => undefined,
    );
    await eventually(() => expect(seen).toEqual(["ADDED n2"]));
    controller.abort();
    kube.expireWatches();
    const expired: string[] = [];
    await watch.watch(
      "/api/v1/nodes",
      { resourceVersion: first.metadata.resourceVersion },
      (type, obj: { code?: number }) => expired.push(`${type} ${obj.code}`),
      () => undefined,
    );
    await eventually(() => expect(expired).toEqual(["ERROR 410"]));
  });
});
