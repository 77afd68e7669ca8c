// The worker Deployment a WorkerPool becomes, as the chart's cluster needs it: NATS user and password from the auth
// Secret, the NATS CA and gRPC certificate from their Secrets, the ports the PodMonitor and NetworkPolicy name, the
// pod IP rooms dial, probes on gRPC health, a locked-down container, GPUs, and a pool's podTemplate merged in.
import type { V1Container, V1Deployment, V1EnvVar } from "@kubernetes/client-node";
import { Deployment } from "kubernetes-models/apps/v1/Deployment";
import { describe, expect, it } from "vitest";
import {
  checkWorkerPool,
  compileOperatorOptions,
  mergePatch,
  workerDeployment,
  type WorkerPodSettings,
  type WorkerPool,
  type WorkerPoolSpec,
} from "./internal.js";

const chartCluster = compileOperatorOptions({
  namespace: "livehost",
  leaseName: "op",
  natsUrl: "tls://livehost-nats:4222",
  workerNatsAuthSecret: "livehost-nats-auth",
  workerNatsTlsSecret: "livehost-nats-tls",
}).workers;

const withGrpcTls: WorkerPodSettings = {
  ...chartCluster,
  grpcTls: { secretName: "livehost-grpc-tls", requireClientCert: true },
};

function poolOf(spec: Partial<WorkerPoolSpec> & Record<string, unknown> = {}): {
  pool: WorkerPool;
  spec: WorkerPoolSpec;
} {
  const pool: WorkerPool = {
    metadata: { name: "tts", namespace: "livehost", uid: "uid-1" },
    spec: {
      kind: "tts",
      image: "livehost-gpu:1",
      gpu: { type: "L4", count: 2 },
      streamsPerReplica: 16,
      maxReplicas: 4,
      ...spec,
    } as WorkerPoolSpec,
  };
  const checked = checkWorkerPool(pool, new Set(["L4"]));
  if (!checked.ok) throw new Error(JSON.stringify(checked.problems));
  return { pool, spec: checked.spec };
}

function render(settings: WorkerPodSettings, spec: Partial<WorkerPoolSpec> & Record<string, unknown> = {}) {
  const p = poolOf(spec);
  const deployment = workerDeployment(p.pool, p.spec, 3, "livehost", settings);
  const podSpec = deployment.spec!.template.spec!;
  const container = podSpec.containers.find((c) => c.name === "worker")!;
  return { deployment, podSpec, container, env: envOf(container) };
}

/** The container's environment as name -> value, or -> the source of a valueFrom. */
function envOf(container: V1Container): Record<string, unknown> {
  return Object.fromEntries((container.env ?? []).map((e: V1EnvVar) => [e.name, e.value ?? e.valueFrom]));
}

describe("worker Deployment", () => {
  it("connects the worker to NATS as its role with the password from the chart's auth Secret, over TLS", () => {
    const tts = render(chartCluster);
    expect(tts.container.args).toEqual(["tts-worker"]);
    expect(tts.env).toMatchObject({
      LIVEHOST_NATS_URL: "tls://livehost-nats:4222",
      LIVEHOST_NATS_USER: "tts-worker",
      LIVEHOST_NATS_PASSWORD: { secretKeyRef: { name: "livehost-nats-auth", key: "tts-worker" } },
      LIVEHOST_NATS_TLS_CA: "/etc/livehost/nats-tls/ca.crt",
    });
    expect(tts.podSpec.volumes).toContainEqual({
      name: "nats-tls",
      secret: { secretName: "livehost-nats-tls", items: [{ key: "ca.crt", path: "ca.crt" }] },
    });
    expect(tts.container.volumeMounts).toContainEqual({
      name: "nats-tls",
      mountPath: "/etc/livehost/nats-tls",
      readOnly: true,
    });
    const lipsync = render(chartCluster, { kind: "lipsync" });
    expect(lipsync.container.args).toEqual(["lipsync-worker"]);
    expect(lipsync.env).toMatchObject({
      LIVEHOST_NATS_USER: "lipsync-worker",
      LIVEHOST_NATS_PASSWORD: { secretKeyRef: { name: "livehost-nats-auth", key: "lipsync-worker" } },
    });
    const ownKeys = { ...chartCluster, natsAuth: { secretName: "creds", keys: { tts: "tts", lipsync: "lips" } } };
    expect(render(ownKeys, { kind: "lipsync" }).env.LIVEHOST_NATS_PASSWORD).toEqual({
      secretKeyRef: { name: "creds", key: "lips" },
    });
  });

  it("serves gRPC on a named port at the pod IP rooms dial, and metrics where the PodMonitor scrapes", () => {
    const { container, env } = render(chartCluster);
    expect(container.ports).toEqual([
      { name: "grpc", containerPort: 50051, protocol: "TCP" },
      { name: "metrics", containerPort: 9464, protocol: "TCP" },
    ]);
    expect(env).toMatchObject({
      LIVEHOST_ID: { fieldRef: { fieldPath: "metadata.name" } },
      POD_IP: { fieldRef: { fieldPath: "status.podIP" } },
      LIVEHOST_HOST: "0.0.0.0",
      LIVEHOST_GRPC_PORT: "50051",
      LIVEHOST_ADVERTISE_ADDRESS: "$(POD_IP):50051",
      LIVEHOST_METRICS_HOST: "0.0.0.0",
      LIVEHOST_METRICS_PORT: "9464",
      LIVEHOST_MAX_STREAMS: "16",
      UV_THREADPOOL_SIZE: "64",
    });
    // Kubernetes expands $(POD_IP) only from variables defined before it.
    const names = container.env!.map((e) => e.name);
    expect(names.indexOf("POD_IP")).toBeLessThan(names.indexOf("LIVEHOST_ADVERTISE_ADDRESS"));
  });

  it("is ready on gRPC health, or on /readyz where gRPC is TLS (kubelet's gRPC probe cannot speak it)", () => {
    const plain = render(chartCluster).container;
    expect(plain.readinessProbe).toMatchObject({ grpc: { port: 50051 } });
    expect(plain.livenessProbe).toMatchObject({ httpGet: { path: "/livez", port: "metrics" } });
    const tls = render(withGrpcTls);
    expect(tls.container.readinessProbe).toMatchObject({ httpGet: { path: "/readyz", port: "metrics" } });
    expect(tls.container.readinessProbe?.grpc).toBeUndefined();
    expect(tls.env).toMatchObject({
      LIVEHOST_TLS_CA: "/etc/livehost/tls/ca.crt",
      LIVEHOST_TLS_CERT: "/etc/livehost/tls/tls.crt",
      LIVEHOST_TLS_KEY: "/etc/livehost/tls/tls.key",
      LIVEHOST_TLS_CLIENT_AUTH: "true",
    });
    expect(tls.podSpec.volumes).toContainEqual({ name: "grpc-tls", secret: { secretName: "livehost-grpc-tls" } });
    expect(tls.container.volumeMounts).toContainEqual({
      name: "grpc-tls",
      mountPath: "/etc/livehost/tls",
      readOnly: true,
    });
  });

  it("is a valid apps/v1 Deployment (Kubernetes' schema), with and without gRPC TLS", () => {
    for (const settings of [chartCluster, withGrpcTls]) {
      expect(() => new Deployment(render(settings).deployment as never).validate()).not.toThrow();
    }
  });

  it("has no credentials or TLS material where none is configured", () => {
    const bare = compileOperatorOptions({ namespace: "ns", leaseName: "op", natsUrl: "nats://127.0.0.1:4222" }).workers;
    const { env, podSpec } = render(bare);
    expect(Object.keys(env).filter((name) => /NATS_(USER|PASSWORD|TLS)|LIVEHOST_TLS/.test(name))).toEqual([]);
    expect(podSpec.volumes).toEqual([{ name: "tmp", emptyDir: {} }]);
  });

  it("runs non-root on a read-only root with a writable /tmp, its GPUs, and time to drain its streams", () => {
    const { podSpec, container } = render(chartCluster);
    expect(podSpec.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 10001 });
    expect(container.securityContext).toEqual({
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ["ALL"] },
    });
    expect(podSpec.volumes).toContainEqual({ name: "tmp", emptyDir: {} });
    expect(container.volumeMounts).toContainEqual({ name: "tmp", mountPath: "/tmp" });
    expect(container.resources).toEqual({ requests: { "nvidia.com/gpu": "2" }, limits: { "nvidia.com/gpu": "2" } });
    expect(podSpec.nodeSelector).toEqual({ "livehost.io/gpu-type": "L4" });
    expect(podSpec.terminationGracePeriodSeconds).toBe(600);
    expect(podSpec.automountServiceAccountToken).toBe(false);
  });

  it("merges a pool's podTemplate: named items by name, null removes, and the pool's labels stay", () => {
    const patched = render(chartCluster, {
      podTemplate: {
        metadata: { labels: { team: "voice", "livehost.io/pool": "other" }, annotations: { a: "b" } },
        spec: {
          priorityClassName: "live",
          nodeSelector: { "livehost.io/gpu-type": null, zone: "z1" },
          containers: [
            {
              name: "worker",
              env: [
                { name: "LIVEHOST_MODEL_DIR", value: "/models" },
                { name: "UV_THREADPOOL_SIZE", value: "128" },
              ],
              volumeMounts: [{ name: "models", mountPath: "/models", readOnly: true }],
            },
          ],
          volumes: [{ name: "models", persistentVolumeClaim: { claimName: "voices" } }],
        },
      },
    });
    expect(patched.deployment.spec!.template.metadata).toEqual({
      labels: {
        team: "voice",
        "app.kubernetes.io/managed-by": "livehost-operator",
        "livehost.io/pool": "tts",
        "app.kubernetes.io/name": "livehost-tts-worker",
      },
      annotations: { a: "b" },
    });
    expect(patched.podSpec.priorityClassName).toBe("live");
    expect(patched.podSpec.nodeSelector).toEqual({ zone: "z1" });
    expect(patched.podSpec.containers).toHaveLength(1);
    expect(patched.env).toMatchObject({
      LIVEHOST_MODEL_DIR: "/models",
      UV_THREADPOOL_SIZE: "128",
      LIVEHOST_GRPC_PORT: "50051",
    });
    expect(patched.container.volumeMounts).toContainEqual({ name: "models", mountPath: "/models", readOnly: true });
    expect(patched.podSpec.volumes!.map((v) => v.name)).toEqual(["tmp", "nats-tls", "models"]);
    const hash = (d: V1Deployment) => d.metadata!.annotations!["livehost.io/template-hash"];
    expect(hash(patched.deployment)).not.toBe(hash(render(chartCluster).deployment));
  });

  it("names a podTemplate that is not an object", () => {
    const checked = checkWorkerPool(
      { metadata: { name: "tts" }, spec: { ...poolOf().spec, podTemplate: { spec: [] } } as never },
      new Set(["L4"]),
    );
    expect(checked).toEqual({
      ok: false,
      problems: [{ field: "spec.podTemplate.spec", message: "must be an object" }],
    });
  });
});

describe("mergePatch", () => {
  it("replaces lists without names whole and copies what it merges", () => {
    const base = { tolerations: [{ key: "a" }], spec: { x: 1 } };
    const patch = { tolerations: [{ key: "b" }], spec: { y: 2 } };
    const merged = mergePatch(base, patch) as typeof base & { spec: { y: number } };
    expect(merged).toEqual({ tolerations: [{ key: "b" }], spec: { x: 1, y: 2 } });
    expect(base).toEqual({ tolerations: [{ key: "a" }], spec: { x: 1 } });
    merged.tolerations[0]!.key = "changed";
    expect(patch.tolerations[0]!.key).toBe("b");
  });
});
