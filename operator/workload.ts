// The worker Deployment the operator makes for a WorkerPool, built to run in the chart's cluster: the worker's NATS
// user and password (from the chart's auth Secret), the NATS CA and the gRPC server certificate mounted from their
// Secrets when configured, fixed gRPC and metrics ports (the workers' PodMonitor and NetworkPolicy name them), the
// pod IP as the address rooms dial, probes on gRPC health, a non-root read-only container, and the pool's GPUs.
// A pool's `podTemplate` is merged last, as the escape hatch for anything not named here.
import { createHash } from "node:crypto";
import type {
  V1Container,
  V1Deployment,
  V1EnvVar,
  V1PodTemplateSpec,
  V1Probe,
  V1Volume,
  V1VolumeMount,
} from "@kubernetes/client-node";
import { apiVersion, type WorkerKindName, type WorkerPool, type WorkerPoolSpec } from "./resources.js";

/** What every worker pod gets, from the operator's configuration (`livehost operator --worker-*`). */
export interface WorkerPodSettings {
  /** LIVEHOST_NATS_URL: nats:// or tls:// URLs, comma-separated. */
  natsUrl: string;
  /**
   * The Secret with one NATS password per role, and its key for each worker kind. Workers connect as the user
   * named after their role (tts-worker, lipsync-worker). Absent: no credentials (a NATS without authorization).
   */
  natsAuth?: { secretName: string; keys: Record<WorkerKindName, string> };
  /** Secret whose ca.crt signs the NATS servers' certificates (mounted at /etc/livehost/nats-tls). */
  natsTlsSecret?: string;
  /** kubernetes.io/tls Secret with the workers' gRPC server certificate (tls.crt, tls.key, ca.crt). */
  grpcTls?: { secretName: string; requireClientCert: boolean };
  grpcPort: number;
  metricsPort: number;
  /** Seconds a worker gets on SIGTERM to finish its streams. */
  terminationGracePeriodSeconds: number;
  imagePullSecrets: string[];
  /** Passed to every worker as is (log level, trace exporter). */
  env: Record<string, string>;
}

export const workerPodDefaults = {
  grpcPort: 50051,
  metricsPort: 9464,
  terminationGracePeriodSeconds: 600,
  natsAuthKeys: { tts: "tts-worker", lipsync: "lipsync-worker" } satisfies Record<WorkerKindName, string>,
} as const;

export const managedBy = { "app.kubernetes.io/managed-by": "livehost-operator" };
export const poolLabel = "livehost.io/pool";
export const gpuTypeLabel = "livehost.io/gpu-type";
export const gpuResource = "nvidia.com/gpu";
/** Hash of the Deployment the operator last wrote: a different one means the pool's spec or settings changed. */
export const templateHashKey = "livehost.io/template-hash";

export const deploymentName = (pool: string) => `${pool}-workers`;
/** The NATS user of a worker kind: its role name, as in the chart's files/nats-permissions.yaml. */
export const workerRole = (kind: WorkerKindName) => `${kind}-worker`;

const grpcTlsDir = "/etc/livehost/tls";
const natsTlsDir = "/etc/livehost/nats-tls";

/** The pool's worker Deployment, annotated with the hash of its pod template. */
export function workerDeployment(
  pool: WorkerPool,
  spec: WorkerPoolSpec,
  replicas: number,
  namespace: string,
  settings: WorkerPodSettings,
): V1Deployment {
  const name = pool.metadata.name!;
  const labels = { ...managedBy, [poolLabel]: name, "app.kubernetes.io/name": `livehost-${workerRole(spec.kind)}` };
  const generated: V1PodTemplateSpec = { metadata: { labels }, spec: podSpec(spec, settings) };
  const template = mergePatch(generated, spec.podTemplate ?? {}) as V1PodTemplateSpec;
  // The selector depends on these labels: a patch may add labels, never change ours.
  template.metadata = { ...template.metadata, labels: { ...template.metadata?.labels, ...labels } };
  const hash = createHash("sha256").update(JSON.stringify(template)).digest("hex").slice(0, 16);
  return {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: {
      name: deploymentName(name),
      namespace,
      labels,
      annotations: { [templateHashKey]: hash },
      ownerReferences: [{ apiVersion, kind: "WorkerPool", name, uid: pool.metadata.uid!, controller: true }],
    },
    spec: { replicas, selector: { matchLabels: { [poolLabel]: name } }, template },
  };
}

function podSpec(spec: WorkerPoolSpec, settings: WorkerPodSettings): V1PodTemplateSpec["spec"] {
  const volumes: V1Volume[] = [{ name: "tmp", emptyDir: {} }];
  if (settings.grpcTls) volumes.push({ name: "grpc-tls", secret: { secretName: settings.grpcTls.secretName } });
  if (settings.natsTlsSecret) {
    volumes.push({
      name: "nats-tls",
      secret: { secretName: settings.natsTlsSecret, items: [{ key: "ca.crt", path: "ca.crt" }] },
    });
  }
  return {
    // Streams in flight finish on SIGTERM (the worker drains) before the pod goes.
    terminationGracePeriodSeconds: settings.terminationGracePeriodSeconds,
    // Workers never call the Kubernetes API, and Service links would add variables that may shadow LIVEHOST_*.
    automountServiceAccountToken: false,
    enableServiceLinks: false,
    nodeSelector: { [gpuTypeLabel]: spec.gpu.type },
    tolerations: [{ key: gpuResource, operator: "Exists", effect: "NoSchedule" }],
    ...(settings.imagePullSecrets.length > 0 && {
      imagePullSecrets: settings.imagePullSecrets.map((secret) => ({ name: secret })),
    }),
    securityContext: {
      runAsNonRoot: true,
      runAsUser: 10001,
      runAsGroup: 10001,
      fsGroup: 10001,
      seccompProfile: { type: "RuntimeDefault" },
    },
    containers: [workerContainer(spec, settings)],
    volumes,
  };
}

function workerContainer(spec: WorkerPoolSpec, settings: WorkerPodSettings): V1Container {
  const gpus = String(spec.gpu.count);
  const mounts: V1VolumeMount[] = [{ name: "tmp", mountPath: "/tmp" }];
  if (settings.grpcTls) mounts.push({ name: "grpc-tls", mountPath: grpcTlsDir, readOnly: true });
  if (settings.natsTlsSecret) mounts.push({ name: "nats-tls", mountPath: natsTlsDir, readOnly: true });
  return {
    name: "worker",
    image: spec.image,
    args: [workerRole(spec.kind)],
    env: workerEnv(spec, settings),
    ports: [
      { name: "grpc", containerPort: settings.grpcPort, protocol: "TCP" },
      { name: "metrics", containerPort: settings.metricsPort, protocol: "TCP" },
    ],
    readinessProbe: readinessProbe(settings),
    // Alive is not ready: a draining or model-less worker says NOT_SERVING, and restarting it would cut its streams.
    livenessProbe: { httpGet: { path: "/livez", port: "metrics" }, periodSeconds: 10, failureThreshold: 3 },
    resources: { requests: { [gpuResource]: gpus }, limits: { [gpuResource]: gpus } },
    securityContext: {
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ["ALL"] },
    },
    volumeMounts: mounts,
  };
}

/** gRPC health (grpc.health.v1) where the port is plaintext; kubelet's gRPC probe cannot speak TLS, so /readyz. */
function readinessProbe(settings: WorkerPodSettings): V1Probe {
  const action = settings.grpcTls
    ? { httpGet: { path: "/readyz", port: "metrics" } }
    : { grpc: { port: settings.grpcPort } };
  return { ...action, periodSeconds: 5, failureThreshold: 2 };
}

function workerEnv(spec: WorkerPoolSpec, settings: WorkerPodSettings): V1EnvVar[] {
  const role = workerRole(spec.kind);
  const env: V1EnvVar[] = [
    // The worker announces itself under its pod's name, which is how the operator finds its load.
    { name: "LIVEHOST_ID", valueFrom: { fieldRef: { fieldPath: "metadata.name" } } },
    { name: "POD_IP", valueFrom: { fieldRef: { fieldPath: "status.podIP" } } },
    { name: "LIVEHOST_HOST", value: "0.0.0.0" },
    { name: "LIVEHOST_GRPC_PORT", value: String(settings.grpcPort) },
    // Rooms dial the address in the worker's announcements.
    { name: "LIVEHOST_ADVERTISE_ADDRESS", value: `$(POD_IP):${settings.grpcPort}` },
    { name: "LIVEHOST_METRICS_HOST", value: "0.0.0.0" },
    { name: "LIVEHOST_METRICS_PORT", value: String(settings.metricsPort) },
    { name: "LIVEHOST_MAX_STREAMS", value: String(spec.streamsPerReplica) },
    { name: "LIVEHOST_MODEL", value: spec.model ?? "" },
    { name: "LIVEHOST_NATS_URL", value: settings.natsUrl },
  ];
  if (settings.natsAuth) {
    env.push(
      { name: "LIVEHOST_NATS_USER", value: role },
      {
        name: "LIVEHOST_NATS_PASSWORD",
        valueFrom: {
          secretKeyRef: { name: settings.natsAuth.secretName, key: settings.natsAuth.keys[spec.kind] },
        },
      },
    );
  }
  if (settings.natsTlsSecret) env.push({ name: "LIVEHOST_NATS_TLS_CA", value: `${natsTlsDir}/ca.crt` });
  if (settings.grpcTls) {
    env.push(
      { name: "LIVEHOST_TLS_CA", value: `${grpcTlsDir}/ca.crt` },
      { name: "LIVEHOST_TLS_CERT", value: `${grpcTlsDir}/tls.crt` },
      { name: "LIVEHOST_TLS_KEY", value: `${grpcTlsDir}/tls.key` },
    );
    if (settings.grpcTls.requireClientCert) env.push({ name: "LIVEHOST_TLS_CLIENT_AUTH", value: "true" });
  }
  // As docker/Dockerfile.gpu sets it, so a pool's image built otherwise has it too: a worker's file and crypto work
  // (TLS, model and avatar reads) shares libuv's pool, and its default of 4 threads queues it behind a few streams.
  env.push({ name: "UV_THREADPOOL_SIZE", value: "64" }, { name: "OTEL_SERVICE_NAME", value: `livehost-${role}` });
  // Streams drain for most of the grace period; the rest is for closing gRPC, NATS and metrics.
  env.push({
    name: "LIVEHOST_DRAIN_SECONDS",
    value: String(Math.max(0, settings.terminationGracePeriodSeconds - 30)),
  });
  const named = new Set(env.map((e) => e.name));
  for (const [name, value] of Object.entries(settings.env)) if (!named.has(name)) env.push({ name, value });
  return env;
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
const isNamedList = (v: unknown): v is { name: string }[] =>
  Array.isArray(v) && v.every((item) => isRecord(item) && typeof item.name === "string");

/**
 * `patch` merged into `base` as a JSON merge patch (RFC 7386: objects merge, null removes a key, other values
 * replace) except that lists of named items (containers, env, volumes, volumeMounts, ports) merge item by item on
 * `name`, as kubectl's strategic merge does; an item with a new name is appended. Other lists are replaced whole.
 */
export function mergePatch(base: unknown, patch: unknown): unknown {
  if (isRecord(patch)) {
    const out: Record<string, unknown> = isRecord(base) ? { ...base } : {};
    for (const [key, value] of Object.entries(patch)) {
      if (value === null) delete out[key];
      else out[key] = mergePatch(out[key], value);
    }
    return out;
  }
  if (isNamedList(patch) && isNamedList(base)) {
    const out: unknown[] = [...base];
    for (const item of patch) {
      const at = out.findIndex((existing) => (existing as { name: string }).name === item.name);
      if (at === -1) out.push(mergePatch(undefined, item));
      else out[at] = mergePatch(out[at], item);
    }
    return out;
  }
  return structuredClone(patch);
}
