// The test server answers client-node the way a real API server would, for what the operator uses.
import {
  AppsV1Api,
  CoreV1Api,
  CustomObjectsApi,
  PatchStrategy,
  Watch,
  setHeaderOptions,
  type V1Deployment,
} from "@kubernetes/client-node";
import { describe, expect, it } from "vitest";
import { KubeApiTestServer, eventually } from "./index.js";
import { karpenterNodeClaim } from "./kube-objects.js";

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

  describe("PATCH by Content-Type", () => {
    const patchAs = (type: string) => setHeaderOptions("Content-Type", type);
    /** A raw PATCH, for the types client-node has no helper for: the status code and the Status body. */
    async function rawPatch(kube: KubeApiTestServer, path: string, contentType: string, body: string) {
      const res = await fetch(`${kube.url}${path}`, {
        method: "PATCH",
        headers: { "content-type": contentType },
        body,
      });
      return { code: res.status, body: (await res.json()) as { reason?: string; message?: string } };
    }
    const deployment = {
      metadata: { name: "d", namespace: "ns", finalizers: ["a"] },
      spec: {
        replicas: 1,
        selector: { matchLabels: { app: "d" } },
        template: {
          metadata: { labels: { app: "d" } },
          spec: {
            containers: [
              {
                name: "worker",
                image: "worker:1",
                args: ["--a"],
                env: [
                  { name: "A", value: "1" },
                  { name: "B", value: "2" },
                ],
                ports: [{ containerPort: 50051, name: "grpc" }],
              },
              { name: "sidecar", image: "sidecar:1" },
            ],
            tolerations: [{ key: "nvidia.com/gpu", operator: "Exists", effect: "NoSchedule" }],
            nodeSelector: { "livehost.io/gpu-type": "L4" },
          },
        },
      },
    };

    it("applies a JSON merge patch: maps merge, null deletes, lists are replaced whole", async () => {
      await using kube = await KubeApiTestServer.start();
      kube.put("deployments", deployment);
      const apps = kube.kubeConfig().makeApiClient(AppsV1Api);
      await apps.patchNamespacedDeployment(
        {
          name: "d",
          namespace: "ns",
          body: {
            metadata: { labels: { tier: "gpu" } },
            spec: { template: { spec: { containers: [{ name: "worker", image: "worker:2" }], nodeSelector: null } } },
          },
        },
        patchAs(PatchStrategy.MergePatch),
      );
      const d = kube.get("deployments", "d", "ns") as V1Deployment;
      expect(d.metadata?.labels).toEqual({ tier: "gpu" });
      expect(d.spec?.template.spec?.containers).toEqual([{ name: "worker", image: "worker:2" }]);
      expect(d.spec?.template.spec?.nodeSelector).toBeUndefined();
      expect(d.metadata?.generation).toBe(2);
    });

    it("applies a JSON patch, and answers 422 Invalid naming the operation when a test fails or a path is missing", async () => {
      await using kube = await KubeApiTestServer.start();
      kube.put("deployments", deployment);
      const apps = kube.kubeConfig().makeApiClient(AppsV1Api);
      await apps.patchNamespacedDeployment(
        {
          name: "d",
          namespace: "ns",
          body: [
            { op: "test", path: "/spec/replicas", value: 1 },
            { op: "replace", path: "/spec/replicas", value: 3 },
            { op: "add", path: "/spec/template/spec/containers/0/args/-", value: "--b" },
          ],
        },
        patchAs(PatchStrategy.JsonPatch),
      );
      const d = kube.get("deployments", "d", "ns") as V1Deployment;
      expect(d.spec?.replicas).toBe(3);
      expect(d.spec?.template.spec?.containers[0]?.args).toEqual(["--a", "--b"]);

      const stale = [
        { op: "test", path: "/spec/replicas", value: 1 },
        { op: "replace", path: "/spec/replicas", value: 9 },
      ];
      const failed = await rawPatch(
        kube,
        "/apis/apps/v1/namespaces/ns/deployments/d",
        PatchStrategy.JsonPatch,
        JSON.stringify(stale),
      );
      expect(failed.code).toBe(422);
      expect(failed.body.reason).toBe("Invalid");
      expect(failed.body.message).toMatch(/"test" at \/spec\/replicas/);
      const missing = [{ op: "replace", path: "/spec/paused/x", value: true }];
      const notThere = await rawPatch(
        kube,
        "/apis/apps/v1/namespaces/ns/deployments/d",
        PatchStrategy.JsonPatch,
        JSON.stringify(missing),
      );
      expect(notThere).toMatchObject({ code: 422, body: { reason: "Invalid" } });
      expect(notThere.body.message).toMatch(/"replace" at \/spec\/paused\/x/);
      expect(kube.get("deployments", "d", "ns")?.spec?.replicas).toBe(3);
    });

    it("applies a strategic merge patch to a Deployment: containers and env merge by name, tolerations are replaced", async () => {
      await using kube = await KubeApiTestServer.start();
      kube.put("deployments", deployment);
      const apps = kube.kubeConfig().makeApiClient(AppsV1Api);
      await apps.patchNamespacedDeployment(
        {
          name: "d",
          namespace: "ns",
          body: {
            metadata: { finalizers: ["b"] },
            spec: {
              template: {
                spec: {
                  containers: [
                    {
                      name: "worker",
                      image: "worker:2",
                      args: ["--c"],
                      env: [
                        { name: "B", value: "20" },
                        { name: "C", value: "3" },
                      ],
                    },
                    { name: "cache", image: "cache:1" },
                  ],
                  tolerations: [{ key: "spot", operator: "Exists" }],
                },
              },
            },
          },
        },
        patchAs(PatchStrategy.StrategicMergePatch),
      );
      const d = kube.get("deployments", "d", "ns") as V1Deployment;
      expect(d.metadata?.finalizers).toEqual(["a", "b"]);
      const pod = d.spec?.template.spec;
      expect(pod?.containers).toEqual([
        {
          name: "worker",
          image: "worker:2",
          args: ["--c"],
          env: [
            { name: "A", value: "1" },
            { name: "B", value: "20" },
            { name: "C", value: "3" },
          ],
          ports: [{ containerPort: 50051, name: "grpc" }],
        },
        { name: "sidecar", image: "sidecar:1" },
        { name: "cache", image: "cache:1" },
      ]);
      expect(pod?.tolerations).toEqual([{ key: "spot", operator: "Exists" }]);
      expect(pod?.nodeSelector).toEqual({ "livehost.io/gpu-type": "L4" });
    });

    it("honours $patch: delete and $patch: replace, and ignores $setElementOrder", async () => {
      await using kube = await KubeApiTestServer.start();
      kube.put("deployments", deployment);
      const path = "/apis/apps/v1/namespaces/ns/deployments/d";
      const patch = {
        spec: {
          template: {
            spec: {
              "$setElementOrder/containers": [{ name: "worker" }],
              containers: [
                { name: "sidecar", $patch: "delete" },
                { name: "worker", env: [{ name: "A", $patch: "delete" }], ports: [{ containerPort: 8080 }] },
              ],
              nodeSelector: { $patch: "replace", "livehost.io/gpu-type": "H100" },
            },
          },
        },
      };
      expect((await rawPatch(kube, path, PatchStrategy.StrategicMergePatch, JSON.stringify(patch))).code).toBe(200);
      const pod = (kube.get("deployments", "d", "ns") as V1Deployment).spec?.template.spec;
      expect(pod?.containers.map((c) => c.name)).toEqual(["worker"]);
      expect(pod?.containers[0]?.env).toEqual([{ name: "B", value: "2" }]);
      expect(pod?.containers[0]?.ports).toEqual([{ containerPort: 50051, name: "grpc" }, { containerPort: 8080 }]);
      expect(pod?.nodeSelector).toEqual({ "livehost.io/gpu-type": "H100" });

      const replaceList = {
        spec: { template: { spec: { containers: [{ name: "only", image: "x" }, { $patch: "replace" }] } } },
      };
      expect((await rawPatch(kube, path, PatchStrategy.StrategicMergePatch, JSON.stringify(replaceList))).code).toBe(
        200,
      );
      expect((kube.get("deployments", "d", "ns") as V1Deployment).spec?.template.spec?.containers).toEqual([
        { name: "only", image: "x" },
      ]);
      const noKey = { spec: { template: { spec: { containers: [{ image: "y" }] } } } };
      expect((await rawPatch(kube, path, PatchStrategy.StrategicMergePatch, JSON.stringify(noKey))).code).toBe(400);
    });

    it("replaces Node taints whole and merges Node conditions by type under a strategic merge patch", async () => {
      await using kube = await KubeApiTestServer.start();
      kube.put("nodes", {
        metadata: { name: "n" },
        spec: { taints: [{ key: "nvidia.com/gpu", effect: "NoSchedule" }] },
        status: {
          conditions: [
            { type: "Ready", status: "True" },
            { type: "MemoryPressure", status: "False" },
          ],
        },
      });
      const core = kube.kubeConfig().makeApiClient(CoreV1Api);
      await core.patchNode(
        { name: "n", body: { spec: { taints: [{ key: "karpenter.sh/disrupted", effect: "NoSchedule" }] } } },
        patchAs(PatchStrategy.StrategicMergePatch),
      );
      await core.patchNodeStatus(
        {
          name: "n",
          body: { status: { conditions: [{ type: "Ready", status: "False", reason: "KubeletNotReady" }] } },
        },
        patchAs(PatchStrategy.StrategicMergePatch),
      );
      expect(kube.get("nodes", "n")).toMatchObject({
        spec: { taints: [{ key: "karpenter.sh/disrupted", effect: "NoSchedule" }] },
        status: {
          conditions: [
            { type: "Ready", status: "False", reason: "KubeletNotReady" },
            { type: "MemoryPressure", status: "False" },
          ],
        },
      });
    });

    it("refuses a strategic merge patch on a custom resource with 415, as the real server does", async () => {
      await using kube = await KubeApiTestServer.start();
      kube.put("machinedeployments", { metadata: { name: "md", namespace: "ns" }, spec: { replicas: 1 } });
      const path = "/apis/cluster.x-k8s.io/v1beta1/namespaces/ns/machinedeployments/md";
      const refused = await rawPatch(kube, path, PatchStrategy.StrategicMergePatch, '{"spec":{"replicas":2}}');
      expect(refused).toMatchObject({ code: 415, body: { reason: "UnsupportedMediaType" } });
      expect(refused.body.message).toMatch(/accepted media types include: application\/json-patch\+json/);
      expect(refused.body.message).toMatch(/strategic merge patch is not supported for custom resources/);
      const scale = await rawPatch(kube, `${path}/scale`, PatchStrategy.StrategicMergePatch, '{"spec":{"replicas":2}}');
      expect(scale.code).toBe(415);
      // Merge and JSON patches do apply, to the object and its scale subresource.
      expect((await rawPatch(kube, `${path}/scale`, PatchStrategy.MergePatch, '{"spec":{"replicas":2}}')).code).toBe(
        200,
      );
      const json = '[{"op":"replace","path":"/spec/replicas","value":4}]';
      expect((await rawPatch(kube, `${path}/scale`, PatchStrategy.JsonPatch, json)).code).toBe(200);
      expect(kube.get("machinedeployments", "md", "ns")?.spec?.replicas).toBe(4);
    });

    it("answers 415 to server-side apply and to a Content-Type that is no patch type", async () => {
      await using kube = await KubeApiTestServer.start();
      kube.put("deployments", deployment);
      const path = "/apis/apps/v1/namespaces/ns/deployments/d";
      const apply = await rawPatch(kube, path, PatchStrategy.ServerSideApply, "spec:\n  replicas: 2\n");
      expect(apply).toMatchObject({ code: 415, body: { reason: "UnsupportedMediaType" } });
      expect(apply.body.message).toMatch(/server-side apply .* is not implemented by this test server/);
      const plain = await rawPatch(kube, path, "application/json", '{"spec":{"replicas":2}}');
      expect(plain).toMatchObject({ code: 415, body: { reason: "UnsupportedMediaType" } });
      expect(plain.body.message).toMatch(/application\/strategic-merge-patch\+json/);
      expect(kube.get("deployments", "d", "ns")?.spec?.replicas).toBe(1);
    });

    it("treats a resourceVersion in a patch as a precondition (409 when stale)", async () => {
      await using kube = await KubeApiTestServer.start();
      const put = kube.put("deployments", deployment);
      kube.put("deployments", { ...deployment, spec: { ...deployment.spec, replicas: 2 } });
      const stale = { metadata: { resourceVersion: put.metadata.resourceVersion }, spec: { replicas: 5 } };
      const path = "/apis/apps/v1/namespaces/ns/deployments/d";
      expect((await rawPatch(kube, path, PatchStrategy.MergePatch, JSON.stringify(stale))).code).toBe(409);
      expect(kube.get("deployments", "d", "ns")?.spec?.replicas).toBe(2);
    });
  });

  it("evicts a pod: policy/v1 Eviction deletes it (a DELETED watch event) with 201, and 404 for a missing pod", async () => {
    await using kube = await KubeApiTestServer.start();
    const p1 = kube.put("pods", { metadata: { name: "p1", namespace: "ns" }, spec: { nodeName: "n" } });
    kube.put("pods", { metadata: { name: "p2", namespace: "ns" }, spec: { nodeName: "n" } });
    const seen: string[] = [];
    const controller = await new Watch(kube.kubeConfig()).watch(
      "/api/v1/namespaces/ns/pods",
      { resourceVersion: p1.metadata.resourceVersion },
      (type, obj: { metadata?: { name?: string } }) => seen.push(`${type} ${obj.metadata?.name}`),
      () => undefined,
    );
    const eviction = (name: string) => ({
      apiVersion: "policy/v1",
      kind: "Eviction",
      metadata: { name, namespace: "ns" },
    });
    const core = kube.kubeConfig().makeApiClient(CoreV1Api);
    await core.createNamespacedPodEviction({ name: "p1", namespace: "ns", body: eviction("p1") });
    const res = await fetch(`${kube.url}/api/v1/namespaces/ns/pods/p2/eviction`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(eviction("p2")),
    });
    expect(res.status).toBe(201);
    expect(await res.json()).toMatchObject({ kind: "Status", status: "Success" });
    expect(kube.list("pods")).toEqual([]);
    await eventually(() => expect(seen).toEqual(["ADDED p2", "DELETED p1", "DELETED p2"]));
    controller.abort();
    await expect(
      core.createNamespacedPodEviction({ name: "p1", namespace: "ns", body: eviction("p1") }),
    ).rejects.toMatchObject({ code: 404 });
    kube.put("pods", { metadata: { name: "p3", namespace: "ns" } });
    await expect(
      core.createNamespacedPodEviction({ name: "p3", namespace: "ns", body: eviction("other") }),
    ).rejects.toMatchObject({ code: 400 });
    expect(kube.get("pods", "p3", "ns")).toBeDefined();
  });

  it("lists and watches Karpenter NodeClaims by their NodePool label", async () => {
    await using kube = await KubeApiTestServer.start();
    kube.put(
      "nodeclaims",
      karpenterNodeClaim({ name: "gpu-l4-spot-abcde", nodePool: "gpu-l4-spot", capacityType: "spot" }),
    );
    kube.put("nodeclaims", karpenterNodeClaim({ name: "gpu-l4-od-fghij", nodePool: "gpu-l4-od" }));
    const custom = kube.kubeConfig().makeApiClient(CustomObjectsApi);
    const claims = { group: "karpenter.sh", version: "v1", plural: "nodeclaims" };
    const list = (await custom.listClusterCustomObject({
      ...claims,
      labelSelector: "karpenter.sh/nodepool=gpu-l4-spot",
    })) as { kind: string; items: { metadata: { name: string } }[] };
    expect(list.kind).toBe("NodeClaimList");
    expect(list.items.map((c) => c.metadata.name)).toEqual(["gpu-l4-spot-abcde"]);

    const seen: string[] = [];
    const controller = await new Watch(kube.kubeConfig()).watch(
      "/apis/karpenter.sh/v1/nodeclaims",
      { labelSelector: "karpenter.sh/nodepool=gpu-l4-spot" },
      (type, obj: { metadata?: { name?: string } }) => seen.push(`${type} ${obj.metadata?.name}`),
      () => undefined,
    );
    await eventually(() => expect(seen).toEqual(["ADDED gpu-l4-spot-abcde"]));
    await custom.deleteClusterCustomObject({ ...claims, name: "gpu-l4-spot-abcde" });
    kube.put(
      "nodeclaims",
      karpenterNodeClaim({ name: "gpu-l4-spot-klmno", nodePool: "gpu-l4-spot", capacityType: "spot" }),
    );
    await eventually(() =>
      expect(seen).toEqual(["ADDED gpu-l4-spot-abcde", "DELETED gpu-l4-spot-abcde", "ADDED gpu-l4-spot-klmno"]),
    );
    controller.abort();
  });
});
