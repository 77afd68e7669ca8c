// The livehost Helm chart as an SRE meets it: helm lint and helm template over the values files in ci/, every
// rendered object checked against the Kubernetes schemas offline (kubernetes-models, the prometheus-operator
// models, and our CRDs' own schemas for WorkerPools and GpuOfferings), and what the rendered objects promise:
// labels and selectors that match, probes, non-root read-only containers, PDBs, NetworkPolicies, topology spread,
// grace periods long enough to hand rooms over, a values schema that rejects typos, and a helm test round trip.
import { readFile, readdir } from "node:fs/promises";
import { join } from "node:path";
import { Ajv, type ValidateFunction } from "ajv";
import addFormats from "ajv-formats";
import { parse, parseAllDocuments } from "yaml";
import { beforeAll, describe, expect, it } from "vitest";
import { chartDir, helm, parseManifests, renderChart, valuesFile, type Manifest } from "./testing/helm.js";

const valueSets: Record<string, string[]> = {
  defaults: [],
  "external NATS with credentials from a Secret": [valuesFile("external-nats.yaml")],
  "GPU pools on two clouds": [valuesFile("gpu-two-clouds.yaml")],
  "minimal dev": [valuesFile("minimal-dev.yaml")],
};

type Validator = (object: Manifest) => void;

/** Validators from the CRDs the chart ships (crds/), by apiVersion/kind. */
async function crdValidators(): Promise<Map<string, ValidateFunction>> {
  const ajv = new Ajv({ strict: false, allErrors: true });
  addFormats.default(ajv);
  const validators = new Map<string, ValidateFunction>();
  for (const file of await readdir(join(chartDir, "crds"))) {
    const crd = parse(await readFile(join(chartDir, "crds", file), "utf8")) as {
      spec: {
        group: string;
        names: { kind: string };
        versions: { name: string; schema: { openAPIV3Schema: object } }[];
      };
    };
    for (const version of crd.spec.versions) {
      validators.set(
        `${crd.spec.group}/${version.name}/${crd.spec.names.kind}`,
        ajv.compile(withoutKubernetesExtensions(version.schema.openAPIV3Schema)),
      );
    }
  }
  return validators;
}

/** Drops x-kubernetes-* keywords (ajv does not know them) from a CRD schema. */
function withoutKubernetesExtensions(schema: unknown): object {
  return JSON.parse(JSON.stringify(schema), (key, value: unknown) =>
    key.startsWith("x-kubernetes-") ? undefined : value,
  ) as object;
}

/** Validates any rendered object against its schema; throws naming the object and the broken field. */
async function makeValidator(): Promise<Validator> {
  const crds = await crdValidators();
  const models = new Map<string, new (data: unknown) => { validate(): void }>();
  const modelOf = async (apiVersion: string, kind: string) => {
    const key = `${apiVersion}/${kind}`;
    let model = models.get(key);
    if (!model) {
      const module = apiVersion.startsWith("monitoring.coreos.com/")
        ? `@kubernetes-models/prometheus-operator/${apiVersion}/${kind}`
        : `kubernetes-models/${apiVersion}/${kind}`;
      const loaded = (await import(module)) as Record<string, new (data: unknown) => { validate(): void }>;
      model = loaded[kind]!;
      models.set(key, model);
    }
    return model;
  };
  // Load every model used up front so validation itself is synchronous.
  const known = async (objects: Manifest[]) => {
    for (const o of objects) if (!crds.has(`${o.apiVersion}/${o.kind}`)) await modelOf(o.apiVersion, o.kind);
  };
  const validate: Validator & { load?: typeof known } = (object) => {
    const name = `${object.kind}/${object.metadata.name}`;
    const crd = crds.get(`${object.apiVersion}/${object.kind}`);
    if (crd) {
      if (!crd(object)) throw new Error(`${name}: ${JSON.stringify(crd.errors)}`);
      return;
    }
    const Model = models.get(`${object.apiVersion}/${object.kind}`);
    if (!Model) throw new Error(`${name}: no schema for ${object.apiVersion}`);
    try {
      new Model(object).validate();
    } catch (err) {
      throw new Error(`${name}: ${(err as Error).message}`, { cause: err });
    }
  };
  validate.load = known;
  return validate;
}

interface PodSpec {
  securityContext?: { runAsNonRoot?: boolean; runAsUser?: number };
  terminationGracePeriodSeconds?: number;
  topologySpreadConstraints?: { labelSelector: { matchLabels: Record<string, string> } }[];
  containers: Container[];
}
interface Container {
  name: string;
  args?: string[];
  env?: { name: string; value?: string; valueFrom?: { secretKeyRef?: { name: string; key: string } } }[];
  securityContext?: {
    readOnlyRootFilesystem?: boolean;
    allowPrivilegeEscalation?: boolean;
    capabilities?: { drop?: string[] };
  };
  readinessProbe?: { grpc?: { port: number }; httpGet?: { path: string; port: string } };
  livenessProbe?: { grpc?: { port: number }; httpGet?: { path: string; port: string } };
  ports?: { name?: string; containerPort: number; protocol?: string }[];
}
interface Workload extends Manifest {
  spec: {
    selector: { matchLabels: Record<string, string> };
    template: { metadata: { labels: Record<string, string> }; spec: PodSpec };
  };
}

const workloadKinds = new Set(["Deployment", "StatefulSet"]);
const workloads = (objects: Manifest[]) => objects.filter((o): o is Workload => workloadKinds.has(o.kind));
const find = (objects: Manifest[], kind: string, nameEnd: string): Manifest => {
  const found = objects.find((o) => o.kind === kind && o.metadata.name.endsWith(nameEnd));
  if (!found) throw new Error(`no ${kind} named *${nameEnd} in ${objects.map((o) => o.metadata.name).join(", ")}`);
  return found;
};
/** A workload's first container's environment, as name -> value. */
const envOf = (workload: Manifest) =>
  Object.fromEntries((workload as Workload).spec.template.spec.containers[0]!.env!.map((e) => [e.name, e.value]));

const matches = (selector: Record<string, string>, labels: Record<string, string>) =>
  Object.entries(selector).every(([k, v]) => labels[k] === v);

let validate: Validator & { load?: (objects: Manifest[]) => Promise<void> };
const rendered = new Map<string, Manifest[]>();

beforeAll(async () => {
  validate = await makeValidator();
  for (const [name, files] of Object.entries(valueSets)) {
    const objects = await renderChart(files);
    await validate.load!(objects);
    rendered.set(name, objects);
  }
});

describe.each(Object.keys(valueSets))("values: %s", (name) => {
  it("passes helm lint", async () => {
    const lint = await helm(["lint", chartDir, "--strict", ...valueSets[name]!.flatMap((f) => ["--values", f])]);
    expect(lint.stdout + lint.stderr).toContain("0 chart(s) failed");
  });

  it("renders only objects valid against their Kubernetes schemas", () => {
    const objects = rendered.get(name)!;
    expect(objects.length).toBeGreaterThan(10);
    for (const object of objects) expect(() => validate(object)).not.toThrow();
  });

  it("labels every object with the standard labels and selects its own pods", () => {
    const objects = rendered.get(name)!.filter((o) => o.kind !== "CustomResourceDefinition");
    for (const object of objects) {
      expect(object.metadata.labels, `${object.kind}/${object.metadata.name}`).toMatchObject({
        "app.kubernetes.io/name": "livehost",
        "app.kubernetes.io/instance": "lh",
        "app.kubernetes.io/managed-by": "Helm",
      });
    }
    for (const workload of workloads(objects)) {
      expect(matches(workload.spec.selector.matchLabels, workload.spec.template.metadata.labels)).toBe(true);
    }
    const podLabels = workloads(objects).map((w) => w.spec.template.metadata.labels);
    for (const selecting of objects.filter((o) => o.kind === "PodDisruptionBudget" || o.kind === "Service")) {
      const spec = selecting.spec as { selector: Record<string, string> | { matchLabels: Record<string, string> } };
      const selector = "matchLabels" in spec.selector ? spec.selector.matchLabels : spec.selector;
      expect(
        podLabels.some((labels) => matches(selector as Record<string, string>, labels)),
        `${selecting.kind}/${selecting.metadata.name} selects pods the chart runs`,
      ).toBe(true);
    }
  });

  it("runs every container non-root on a read-only root filesystem, without privileges", () => {
    for (const workload of workloads(rendered.get(name)!)) {
      const pod = workload.spec.template.spec;
      expect(pod.securityContext?.runAsNonRoot).toBe(true);
      for (const container of pod.containers) {
        expect(container.securityContext).toMatchObject({
          readOnlyRootFilesystem: true,
          allowPrivilegeEscalation: false,
          capabilities: { drop: ["ALL"] },
        });
      }
    }
  });
});

describe("defaults", () => {
  const objects = () => rendered.get("defaults")!;

  it("installs every role: room hosts, gateway, job workers, operator, NATS, both worker pools and the CRDs", () => {
    const names = objects().map((o) => `${o.kind}/${o.metadata.name}`);
    expect(names).toEqual(
      expect.arrayContaining([
        "Deployment/lh-livehost-room-host",
        "Deployment/lh-livehost-gateway",
        "Deployment/lh-livehost-job-worker",
        "Deployment/lh-livehost-operator",
        "StatefulSet/lh-livehost-nats",
        "WorkerPool/lh-livehost-tts",
        "WorkerPool/lh-livehost-lipsync",
        "CustomResourceDefinition/workerpools.livehost.io",
        "CustomResourceDefinition/gpuofferings.livehost.io",
        "CustomResourceDefinition/liveevents.livehost.io",
      ]),
    );
  });

  it("probes the gateway and room hosts on /readyz and /livez (gRPC is TLS by default; kubelet's gRPC probe has none)", () => {
    const gateway = (find(objects(), "Deployment", "-gateway") as Workload).spec.template.spec.containers[0]!;
    expect(gateway.readinessProbe?.httpGet).toEqual({ path: "/readyz", port: "metrics" });
    const host = (find(objects(), "Deployment", "-room-host") as Workload).spec.template.spec.containers[0]!;
    expect(host.readinessProbe?.httpGet).toEqual({ path: "/readyz", port: "metrics" });
    expect(host.livenessProbe?.httpGet).toEqual({ path: "/livez", port: "metrics" });
  });

  it("gives room hosts time to hand their rooms over and spreads them over zones and nodes", () => {
    const host = find(objects(), "Deployment", "-room-host") as Workload;
    expect(host.spec.template.spec.terminationGracePeriodSeconds).toBeGreaterThanOrEqual(60);
    const keys = host.spec.template.spec.topologySpreadConstraints!.map(
      (t) => (t as { topologyKey?: string }).topologyKey,
    );
    expect(keys).toEqual(["topology.kubernetes.io/zone", "kubernetes.io/hostname"]);
    for (const spread of host.spec.template.spec.topologySpreadConstraints!) {
      expect(matches(spread.labelSelector.matchLabels, host.spec.template.metadata.labels)).toBe(true);
    }
  });

  it("keeps room hosts, gateways, job workers and NATS available through node drains (PDBs)", () => {
    for (const component of ["-room-host", "-gateway", "-job-worker", "-nats", "-operator"]) {
      expect(find(objects(), "PodDisruptionBudget", component)).toBeDefined();
    }
  });

  it("denies ingress by default and lets only room hosts reach the workers' gRPC", () => {
    const deny = find(objects(), "NetworkPolicy", "-default-deny");
    expect(deny.spec).toMatchObject({ policyTypes: ["Ingress"] });
    expect((deny.spec as { ingress?: unknown }).ingress).toBeUndefined();
    const workers = find(objects(), "NetworkPolicy", "-workers").spec as {
      ingress: { from?: { podSelector: { matchLabels: Record<string, string> } }[] }[];
    };
    expect(workers.ingress[0]!.from![0]!.podSelector.matchLabels["app.kubernetes.io/component"]).toBe("room-host");
    // The gateway: only callers that opted in (and helm test), not any pod.
    const gateway = find(objects(), "NetworkPolicy", "-gateway").spec as {
      ingress: { from?: { podSelector: { matchLabels: Record<string, string> } }[] }[];
    };
    expect(gateway.ingress[0]!.from!.map((peer) => peer.podSelector.matchLabels)).toEqual([
      { "livehost.io/gateway-client": "true" },
      expect.objectContaining({ "app.kubernetes.io/component": "helm-test" }),
    ]);
  });

  it("gives each role its own NATS user, its password from the auth Secret", () => {
    for (const [workload, role] of [
      ["-room-host", "room-host"],
      ["-gateway", "gateway"],
      ["-job-worker", "job-worker"],
      ["-operator", "operator"],
    ] as const) {
      const env = (find(objects(), "Deployment", workload) as Workload).spec.template.spec.containers[0]!.env!;
      expect(env.find((e) => e.name === "LIVEHOST_NATS_USER")?.value).toBe(role);
      expect(env.find((e) => e.name === "LIVEHOST_NATS_PASSWORD")?.valueFrom?.secretKeyRef).toEqual({
        name: "lh-livehost-nats-auth",
        key: role,
      });
    }
    const secret = find(objects(), "Secret", "-nats-auth") as Manifest & { data: Record<string, string> };
    expect(Object.keys(secret.data).sort()).toEqual([
      "gateway",
      "job-worker",
      "lipsync-worker",
      "operator",
      "room-host",
      "tts-worker",
    ]);
  });

  it("keeps JetStream on a persistent volume per NATS server", () => {
    const nats = find(objects(), "StatefulSet", "-nats").spec as {
      volumeClaimTemplates: { metadata: { name: string } }[];
      replicas: number;
    };
    expect(nats.replicas).toBe(3);
    expect(nats.volumeClaimTemplates[0]!.metadata.name).toBe("data");
  });

  it("has a helm test hook that lists rooms through the gateway's gRPC service", () => {
    const test = find(objects(), "Pod", "-helm-test") as Manifest & {
      spec: { containers: Container[] };
    };
    expect(test.metadata.annotations?.["helm.sh/hook"]).toBe("test");
    const container = test.spec.containers[0]!;
    expect(container.args).toEqual(["room", "list", "--json"]);
    const gatewayService = find(objects(), "Service", "-gateway") as Manifest & { spec: { ports: { port: number }[] } };
    expect(container.env!.find((e) => e.name === "LIVEHOST_GATEWAY")?.value).toBe(
      `${gatewayService.metadata.name}:${gatewayService.spec.ports[0]!.port}`,
    );
  });

  it("packages the Grafana board as a ConfigMap for the dashboard sidecar", async () => {
    const board = find(objects(), "ConfigMap", "-dashboard") as Manifest & { data: Record<string, string> };
    expect(board.metadata.labels?.grafana_dashboard).toBe("1");
    expect(JSON.parse(board.data["livehost.json"]!)).toEqual(
      JSON.parse(await readFile(new URL("../observability/dashboards/livehost.json", import.meta.url), "utf8")),
    );
  });
});

describe("WebRTC viewers", () => {
  const objects = () => rendered.get("defaults")!;

  it("gives room hosts a fixed UDP range for ICE: their environment, container ports, a Service and a network rule", () => {
    const host = (find(objects(), "Deployment", "-room-host") as Workload).spec.template.spec.containers[0]!;
    const env = Object.fromEntries(host.env!.map((e) => [e.name, e.value]));
    expect(env).toMatchObject({ LIVEHOST_WEBRTC_PORTS: "20000-20099", LIVEHOST_WEBRTC_MAX_VIEWERS: "50" });
    const udp = (host.ports ?? []).filter((p) => p.protocol === "UDP").map((p) => p.containerPort);
    expect(udp).toHaveLength(100);
    expect([udp[0], udp.at(-1)]).toEqual([20000, 20099]);

    const service = find(objects(), "Service", "-room-host-webrtc") as Manifest & {
      spec: { clusterIP?: string; selector: Record<string, string>; ports: { port: number; protocol: string }[] };
    };
    expect(service.spec.clusterIP).toBe("None");
    expect(service.spec.ports.map((p) => p.port)).toEqual(udp);
    expect(service.spec.ports.every((p) => p.protocol === "UDP")).toBe(true);
    const pods = (find(objects(), "Deployment", "-room-host") as Workload).spec.template.metadata.labels;
    expect(matches(service.spec.selector, pods)).toBe(true);

    const policy = find(objects(), "NetworkPolicy", "-webrtc") as Manifest & {
      spec: { podSelector: { matchLabels: Record<string, string> }; ingress: { ports: object[] }[] };
    };
    expect(matches(policy.spec.podSelector.matchLabels, pods)).toBe(true);
    expect(policy.spec.ingress[0]!.ports).toEqual([{ port: 20000, endPort: 20099, protocol: "UDP" }]);
  });

  it("serves WHEP on the gateway: its environment, a container port, the Service and a rule open to viewers", () => {
    const gateway = (find(objects(), "Deployment", "-gateway") as Workload).spec.template.spec.containers[0]!;
    expect(gateway.env).toContainEqual({ name: "LIVEHOST_WHEP_PORT", value: "8089" });
    expect(gateway.ports).toContainEqual({ name: "whep", containerPort: 8089 });
    const service = find(objects(), "Service", "-gateway") as Manifest & { spec: { ports: { name: string }[] } };
    expect(service.spec.ports.map((p) => p.name)).toContain("whep");
    const policy = find(objects(), "NetworkPolicy", "-gateway") as Manifest & {
      spec: { ingress: { ports: { port: number }[]; from?: object[] }[] };
    };
    expect(policy.spec.ingress).toContainEqual({ ports: [{ port: 8089, protocol: "TCP" }] });
  });

  it("gives room hosts a STUN server and a TURN relay from a Secret when set, and refuses a malformed STUN URL", async () => {
    const objects = await renderChart(
      [],
      ["roomHost.webrtc.stunServer=stun://stun.example.com:3478", "roomHost.webrtc.turnSecret.name=turn-relay"],
    );
    const host = (find(objects, "Deployment", "-room-host") as Workload).spec.template.spec.containers[0]!;
    expect(host.env).toContainEqual({ name: "LIVEHOST_WEBRTC_STUN_SERVER", value: "stun://stun.example.com:3478" });
    expect(host.env).toContainEqual({
      name: "LIVEHOST_WEBRTC_TURN_SERVER",
      valueFrom: { secretKeyRef: { name: "turn-relay", key: "url" } },
    });
    const defaults = (find(rendered.get("defaults")!, "Deployment", "-room-host") as Workload).spec.template.spec
      .containers[0]!;
    expect(defaults.env!.map((e) => e.name)).not.toContain("LIVEHOST_WEBRTC_STUN_SERVER");
    const bad = await helm(["template", "lh", chartDir, "--set", "roomHost.webrtc.stunServer=stun.example.com"]);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain("stunServer");
  });

  it("refuses a port range upside down, naming it, and makes none of it when WebRTC is off", async () => {
    const upsideDown = await helm([
      "template",
      "lh",
      chartDir,
      "--set",
      "roomHost.webrtc.ports.min=30000,roomHost.webrtc.ports.max=20000",
    ]);
    expect(upsideDown.code).not.toBe(0);
    expect(upsideDown.stderr).toContain("roomHost.webrtc.ports: min (30000) must be at most max (20000)");
    const off = await helm(["template", "lh", chartDir, "--set", "roomHost.webrtc.enabled=false"]);
    expect(off.code).toBe(0);
    expect(off.stdout).not.toContain("LIVEHOST_WEBRTC_PORTS");
    expect(off.stdout).not.toContain("LIVEHOST_WHEP_PORT");
    // No UDP port, Service or rule for ICE (UDP stays only in the job workers' egress to DNS).
    const offObjects = parseManifests(off.stdout);
    expect(offObjects.filter((o) => o.metadata.name.endsWith("-webrtc"))).toEqual([]);
    const host = (find(offObjects, "Deployment", "-room-host") as Workload).spec.template.spec.containers[0]!;
    expect((host.ports ?? []).some((p) => p.protocol === "UDP")).toBe(false);
    const rules = offObjects.filter((o) => o.kind === "NetworkPolicy" && !o.metadata.name.endsWith("-job-worker"));
    expect(JSON.stringify(rules)).not.toContain("UDP");
  });
});

describe("RTMP stream keys", () => {
  it("mounts the SRE's Secret of stream keys read-only where room hosts read them, and none by default", async () => {
    const withKeys = await helm(["template", "lh", chartDir, "--set", "roomHost.streamKeys.secretName=cdn-keys"]);
    expect(withKeys.code).toBe(0);
    const objects = parseAllDocuments(withKeys.stdout)
      .map((d) => d.toJS() as Manifest | null)
      .filter((o): o is Manifest => o !== null);
    const pod = (find(objects, "Deployment", "-room-host") as Workload).spec.template.spec as PodSpec & {
      volumes: { name: string; secret?: { secretName: string; defaultMode: number } }[];
    };
    const container = pod.containers[0]! as Container & { volumeMounts: { name: string; mountPath: string }[] };
    expect(container.env).toContainEqual({ name: "LIVEHOST_STREAM_KEYS_DIR", value: "/var/run/livehost/stream-keys" });
    expect(container.volumeMounts).toContainEqual({
      name: "stream-keys",
      mountPath: "/var/run/livehost/stream-keys",
      readOnly: true,
    });
    expect(pod.volumes).toContainEqual({ name: "stream-keys", secret: { secretName: "cdn-keys", defaultMode: 0o400 } });
    const defaults = rendered.get("defaults")!;
    const host = (find(defaults, "Deployment", "-room-host") as Workload).spec.template.spec.containers[0]!;
    expect(host.env!.some((e) => e.name === "LIVEHOST_STREAM_KEYS_DIR")).toBe(false);
    const bad = await helm(["template", "lh", chartDir, "--set", "roomHost.streamKeys.secretName=Not_A_Name"]);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain("secretName");
  });
});

describe("external NATS, mTLS and prometheus-operator", () => {
  const objects = () => rendered.get("external NATS with credentials from a Secret")!;

  it("runs no NATS and points every role at the external URL with TLS and the SRE's Secret", () => {
    expect(objects().some((o) => o.kind === "StatefulSet")).toBe(false);
    expect(objects().some((o) => o.kind === "Secret")).toBe(false);
    const env = (find(objects(), "Deployment", "-room-host") as Workload).spec.template.spec.containers[0]!.env!;
    expect(env.find((e) => e.name === "LIVEHOST_NATS_URL")?.value).toBe("tls://nats.messaging.svc:4222");
    expect(env.find((e) => e.name === "LIVEHOST_NATS_PASSWORD")?.valueFrom?.secretKeyRef?.name).toBe(
      "livehost-nats-users",
    );
    expect(env.find((e) => e.name === "LIVEHOST_NATS_TLS_CA")?.value).toBe("/etc/livehost/nats-tls/ca.crt");
  });

  it("hands the external NATS its users and permissions as a ConfigMap", () => {
    const auth = find(objects(), "ConfigMap", "-nats-authorization") as Manifest & { data: Record<string, string> };
    expect(auth.data["authorization.conf"]).toContain('user: "tts-worker"');
  });

  it("turns on mTLS for gRPC and probes the gateway over /readyz (kubelet's gRPC probe has no TLS)", () => {
    const gateway = (find(objects(), "Deployment", "-gateway") as Workload).spec.template.spec.containers[0]!;
    const env = Object.fromEntries(gateway.env!.map((e) => [e.name, e.value]));
    expect(env).toMatchObject({
      LIVEHOST_TLS_CA: "/etc/livehost/tls/ca.crt",
      LIVEHOST_TLS_CERT: "/etc/livehost/tls/tls.crt",
      LIVEHOST_TLS_KEY: "/etc/livehost/tls/tls.key",
      LIVEHOST_TLS_CLIENT_AUTH: "true",
    });
    expect(gateway.readinessProbe).toEqual({ httpGet: { path: "/readyz", port: "metrics" }, periodSeconds: 5 });
  });

  it("bounds the rooms' inbox: its sizes go to the room host as the environment of its --inbox-* flags", () => {
    const env = (find(objects(), "Deployment", "-room-host") as Workload).spec.template.spec.containers[0]!.env!;
    expect(
      Object.fromEntries(env.filter((e) => e.name.startsWith("LIVEHOST_INBOX_")).map((e) => [e.name, e.value])),
    ).toEqual({
      LIVEHOST_INBOX_MAX_BYTES: "4Gi",
      LIVEHOST_INBOX_MAX_AGE: "24h",
      LIVEHOST_INBOX_MAX_MSG_SIZE: "256Ki",
    });
  });

  it("ships the alert rules as a PrometheusRule and monitors for every pod", async () => {
    const rule = find(objects(), "PrometheusRule", "lh-livehost") as Manifest & { spec: unknown };
    expect(rule.spec).toEqual(
      parse(await readFile(new URL("../observability/alerts/livehost.rules.yaml", import.meta.url), "utf8")),
    );
    expect(objects().filter((o) => o.kind === "PodMonitor")).toHaveLength(2);
    const pods = find(objects(), "PodMonitor", "lh-livehost").spec as {
      selector: { matchExpressions: { key: string; values: string[] }[] };
    };
    expect(pods.selector.matchExpressions[0]!.values).toEqual(["room-host", "gateway", "job-worker", "operator"]);
  });
});

describe("GPU pools on two clouds", () => {
  it("makes GpuOfferings for both clouds and WorkerPools on the GPU image", () => {
    const objects = rendered.get("GPU pools on two clouds")!;
    const offerings = objects.filter((o) => o.kind === "GpuOffering").map((o) => o.metadata.name);
    expect(offerings.sort()).toEqual(["aliyun-hangzhou-l4", "aws-us-east-1-l4"]);
    const tts = find(objects, "WorkerPool", "-tts").spec as { image: string; gpu: { type: string } };
    expect(tts).toMatchObject({ image: "ghcr.io/livehost/livehost-gpu:0.1.0", gpu: { type: "L4" } });
  });

  it("holds Karpenter capacity with placeholders every worker preempts, and lets the operator drain spot nodes", () => {
    const objects = rendered.get("GPU pools on two clouds")!;
    const priority = objects.find((o) => o.kind === "PriorityClass") as Manifest & Record<string, unknown>;
    expect(priority).toMatchObject({
      metadata: { name: "lh-livehost-capacity-placeholder" },
      value: -10,
      preemptionPolicy: "Never",
    });
    const env = envOf(find(objects, "Deployment", "-operator"));
    expect(env).toMatchObject({
      LIVEHOST_PLACEHOLDER_PRIORITY_CLASS: "lh-livehost-capacity-placeholder",
      LIVEHOST_SPOT_NOTICE_TAINTS: "aws-node-termination-handler/spot-itn,cloud.google.com/impending-node-termination",
    });
    const rules = objects
      .filter((o) => o.kind === "Role" || o.kind === "ClusterRole")
      .flatMap((o) => (o as unknown as { rules: { resources: string[]; verbs: string[] }[] }).rules);
    const may = (resource: string, verb: string) =>
      rules.some((r) => r.resources.includes(resource) && r.verbs.includes(verb));
    expect(may("pods/eviction", "create")).toBe(true);
    expect(may("nodeclaims", "list")).toBe(true);
    expect(may("nodepools", "patch")).toBe(true);
    expect(may("machinedeployments", "patch")).toBe(true);
    // Karpenter's Events are read in "default" only, never cluster-wide.
    const events = objects.find((o) => o.kind === "Role" && o.metadata.name.endsWith("-karpenter-events"))!;
    expect(events.metadata.namespace).toBe("default");
    const clusterRules = objects
      .filter((o) => o.kind === "ClusterRole")
      .flatMap((o) => (o as unknown as { rules: { resources: string[] }[] }).rules);
    expect(clusterRules.some((r) => r.resources.includes("events"))).toBe(false);
    const offering = objects.find((o) => o.kind === "GpuOffering" && o.metadata.name === "aliyun-hangzhou-l4")!;
    expect(offering.spec).toMatchObject({ clusterAutoscaler: true });
  });

  it("pulls the GPU image on every new GPU node and has workers load models from the shared cache", () => {
    const objects = rendered.get("GPU pools on two clouds")!;
    const prePull = objects.find((o) => o.kind === "DaemonSet" && o.metadata.name.endsWith("-image-prepull"));
    const pod = (prePull as unknown as { spec: { template: { spec: Record<string, unknown> } } }).spec.template.spec;
    expect(pod).toMatchObject({ initContainers: [{ name: "pull", image: "ghcr.io/livehost/livehost-gpu:0.1.0" }] });
    expect(pod.tolerations).toContainEqual({ key: "nvidia.com/gpu", operator: "Exists", effect: "NoSchedule" });
    const tts = find(objects, "WorkerPool", "-tts").spec as { podTemplate: unknown };
    expect(tts.podTemplate).toEqual({
      spec: {
        containers: [
          {
            name: "worker",
            env: [{ name: "LIVEHOST_MODEL_DIR", value: "/models" }],
            volumeMounts: [{ name: "model-cache", mountPath: "/models", readOnly: true }],
          },
        ],
        volumes: [{ name: "model-cache", persistentVolumeClaim: { claimName: "livehost-models", readOnly: true } }],
      },
    });
    // Lip-sync workers name their model file (LIVEHOST_LIPSYNC_MODEL): the voice cache is not theirs.
    expect((find(objects, "WorkerPool", "-lipsync").spec as { podTemplate?: unknown }).podTemplate).toBeUndefined();
    // Off by default: no DaemonSet, no cache.
    const defaults = rendered.get("defaults")!;
    expect(defaults.some((o) => o.kind === "DaemonSet")).toBe(false);
    expect((find(defaults, "WorkerPool", "-tts").spec as { podTemplate?: unknown }).podTemplate).toBeUndefined();
  });
});

describe("onboarding: job workers", () => {
  const objects = () => rendered.get("defaults")!;
  type Volume = { name: string; emptyDir?: { sizeLimit?: string }; secret?: object };
  const podOf = (objects: Manifest[]) =>
    (find(objects, "Deployment", "-job-worker") as Workload).spec.template.spec as PodSpec & { volumes: Volume[] };

  it("runs job workers on their own NATS user with the queue's ack wait, the rooms' replicas and a bounded /tmp", () => {
    const pod = podOf(objects());
    const container = pod.containers[0]! as Container & { volumeMounts: { name: string; mountPath: string }[] };
    expect(container.args).toEqual(["job-worker"]);
    expect(envOf(find(objects(), "Deployment", "-job-worker"))).toMatchObject({
      LIVEHOST_NATS_USER: "job-worker",
      LIVEHOST_JOB_ACK_WAIT: "10s",
      LIVEHOST_JETSTREAM_REPLICAS: "3",
      LIVEHOST_UPLOADS_MAX_BYTES: "2Gi",
      OTEL_SERVICE_NAME: "livehost-job-worker",
    });
    expect(container.env!.find((e) => e.name === "LIVEHOST_NATS_PASSWORD")?.valueFrom?.secretKeyRef).toEqual({
      name: "lh-livehost-nats-auth",
      key: "job-worker",
    });
    expect(container.readinessProbe?.httpGet).toEqual({ path: "/readyz", port: "metrics" });
    expect(container.livenessProbe?.httpGet).toEqual({ path: "/livez", port: "metrics" });
    expect(pod.terminationGracePeriodSeconds).toBe(30);
    expect(pod.topologySpreadConstraints).toHaveLength(2);
    // Videos and packs being built go to /tmp, bounded; it serves and calls no gRPC, so it has no certificate.
    expect(container.volumeMounts).toContainEqual({ name: "tmp", mountPath: "/tmp" });
    expect(pod.volumes).toEqual([{ name: "tmp", emptyDir: { sizeLimit: "4Gi" } }]);
    expect(container.env!.some((e) => e.name.startsWith("LIVEHOST_TLS_"))).toBe(false);
    // The gateway makes the same onboarding streams and buckets, and bounds one upload.
    expect(envOf(find(objects(), "Deployment", "-gateway"))).toMatchObject({
      LIVEHOST_UPLOAD_MAX_BYTES: "500Mi",
      LIVEHOST_UPLOADS_MAX_BYTES: "2Gi",
      LIVEHOST_JETSTREAM_REPLICAS: "3",
    });
  });

  it("takes its values: ack wait, replicas, scratch size, the brain's LLM and a pod patch", async () => {
    const objects = await renderChart(
      [],
      [
        "jobWorker.ackWait=30s",
        "jobWorker.autoscale.enabled=false",
        "jobWorker.replicas=4",
        "jobWorker.scratchSize=8Gi",
        "roomHost.jetstreamReplicas=1",
        "gateway.uploadMaxBytes=1Gi",
        "roomHost.llm.endpoint=https://llm.example.com/v1",
        "roomHost.llm.model=qwen",
        "roomHost.llm.apiKeySecret=llm-key",
        "jobWorker.podPatch.spec.priorityClassName=batch",
      ],
    );
    const deployment = find(objects, "Deployment", "-job-worker") as Workload;
    expect(deployment.spec).toMatchObject({ replicas: 4 });
    expect(envOf(deployment)).toMatchObject({
      LIVEHOST_JOB_ACK_WAIT: "30s",
      LIVEHOST_JETSTREAM_REPLICAS: "1",
      LIVEHOST_LLM_ENDPOINT: "https://llm.example.com/v1",
      LIVEHOST_LLM_MODEL: "qwen",
    });
    expect(deployment.spec.template.spec.containers[0]!.env).toContainEqual({
      name: "LIVEHOST_LLM_API_KEY",
      valueFrom: { secretKeyRef: { name: "llm-key", key: "api-key" } },
    });
    expect(podOf(objects).volumes).toContainEqual({ name: "tmp", emptyDir: { sizeLimit: "8Gi" } });
    expect((deployment.spec.template.spec as { priorityClassName?: string }).priorityClassName).toBe("batch");
    expect(envOf(find(objects, "Deployment", "-gateway"))).toMatchObject({ LIVEHOST_UPLOAD_MAX_BYTES: "1Gi" });
    // Its egress: DNS, NATS and the LLM's port.
    const policy = find(objects, "NetworkPolicy", "-job-worker").spec as { egress: { ports: { port: number }[] }[] };
    expect(policy.egress.map((rule) => rule.ports.map((p) => p.port))).toEqual([[53, 53], [4222], [443]]);
  });

  it("lets job workers reach DNS and NATS only, and take /metrics scrapes and nothing else", () => {
    const policy = find(objects(), "NetworkPolicy", "-job-worker").spec as {
      podSelector: { matchLabels: Record<string, string> };
      policyTypes: string[];
      egress: { to?: { podSelector: { matchLabels: Record<string, string> } }[]; ports: object[] }[];
    };
    const pods = (find(objects(), "Deployment", "-job-worker") as Workload).spec.template.metadata.labels;
    expect(matches(policy.podSelector.matchLabels, pods)).toBe(true);
    expect(policy.policyTypes).toEqual(["Egress"]);
    const natsPods = (find(objects(), "StatefulSet", "-nats") as Workload).spec.selector.matchLabels;
    expect(policy.egress).toEqual([
      {
        ports: [
          { port: 53, protocol: "UDP" },
          { port: 53, protocol: "TCP" },
        ],
      },
      {
        to: [{ podSelector: { matchLabels: natsPods } }],
        ports: [{ port: 4222, protocol: "TCP" }],
      },
    ]);
    // With an external NATS: its URLs' ports, wherever it is.
    const external = find(
      rendered.get("external NATS with credentials from a Secret")!,
      "NetworkPolicy",
      "-job-worker",
    );
    expect((external.spec as { egress: object[] }).egress[1]).toEqual({ ports: [{ port: 4222, protocol: "TCP" }] });
  });

  it("renders no job worker, PDB or policy when disabled; the gateway still bounds uploads", async () => {
    const objects = await renderChart([], ["jobWorker.enabled=false"]);
    expect(objects.filter((o) => o.metadata.name.endsWith("-job-worker"))).toEqual([]);
    expect(envOf(find(objects, "Deployment", "-gateway"))).toMatchObject({ LIVEHOST_UPLOAD_MAX_BYTES: "500Mi" });
  });

  it("refuses streams whose byte limits do not fit NATS's file storage, naming each", async () => {
    const result = await helm(["template", "lh", chartDir, "--set", "jobWorker.uploadsMaxBytes=5Gi"]);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain(
      "roomHost.inbox.maxBytes (4Gi) + roomHost.events.maxBytes (512Mi) + gateway.audit.maxBytes (1Gi) + " +
        "the jobs' events (256Mi) + jobWorker.uploadsMaxBytes (5Gi) together must fit in " +
        "nats.jetstream.fileStorage.size (10Gi)",
    );
    const bigger = await helm([
      "template",
      "lh",
      chartDir,
      "--set",
      "jobWorker.uploadsMaxBytes=5Gi,nats.jetstream.fileStorage.size=12Gi",
    ]);
    expect(bigger.code).toBe(0);
  });

  it("leaves the job workers' replicas to the operator, which sizes them from the queue within bounds", async () => {
    const deployment = find(objects(), "Deployment", "-job-worker") as Workload & { spec: { replicas?: number } };
    expect(deployment.spec.replicas).toBeUndefined();
    const operator = find(objects(), "Deployment", "-operator");
    expect(envOf(operator)).toMatchObject({
      LIVEHOST_JOB_WORKERS_DEPLOYMENT: deployment.metadata.name,
      LIVEHOST_JOB_WORKERS_MIN: "1",
      LIVEHOST_JOB_WORKERS_MAX: "4",
      LIVEHOST_JOB_WORKERS_SCALE_DOWN_DELAY: "5m",
    });
    // Its Role reads the Deployment (in its namespace) and writes its scale.
    const rules = (
      find(objects(), "Role", "-operator") as Manifest & {
        rules: { apiGroups: string[]; resources: string[]; verbs: string[] }[];
      }
    ).rules;
    const allows = (resource: string, verb: string) =>
      rules.some((r) => r.apiGroups.includes("apps") && r.resources.includes(resource) && r.verbs.includes(verb));
    expect([
      allows("deployments", "get"),
      allows("deployments/scale", "get"),
      allows("deployments/scale", "update"),
    ]).toEqual([true, true, true]);
    // Its NATS user reads the queue's figures.
    const authorization = (find(objects(), "ConfigMap", "-nats-config") as Manifest & { data: Record<string, string> })
      .data["authorization.conf"]!;
    expect(authorization).toContain("$JS.API.CONSUMER.INFO.JOB_QUEUE.job-workers");

    const bounded = await renderChart(
      [],
      ["jobWorker.autoscale.min=0", "jobWorker.autoscale.max=12", "jobWorker.autoscale.scaleDownDelay=90s"],
    );
    expect(envOf(find(bounded, "Deployment", "-operator"))).toMatchObject({
      LIVEHOST_JOB_WORKERS_MIN: "0",
      LIVEHOST_JOB_WORKERS_MAX: "12",
      LIVEHOST_JOB_WORKERS_SCALE_DOWN_DELAY: "90s",
    });
  });

  it("keeps jobWorker.replicas when the operator does not size the job workers", async () => {
    for (const set of [["jobWorker.autoscale.enabled=false"], ["operator.enabled=false"]]) {
      const objects = await renderChart([], [...set, "jobWorker.replicas=3"]);
      expect((find(objects, "Deployment", "-job-worker").spec as { replicas?: number }).replicas).toBe(3);
      const operator = objects.find((o) => o.kind === "Deployment" && o.metadata.name.endsWith("-operator"));
      expect(operator && envOf(operator).LIVEHOST_JOB_WORKERS_DEPLOYMENT).toBeUndefined();
    }
    // No job workers: the operator is not told to size any.
    const none = await renderChart([], ["jobWorker.enabled=false"]);
    expect(envOf(find(none, "Deployment", "-operator")).LIVEHOST_JOB_WORKERS_DEPLOYMENT).toBeUndefined();
  });

  it("refuses autoscale bounds upside down or a delay the operator does not take, naming them", async () => {
    const upsideDown = await helm([
      "template",
      "lh",
      chartDir,
      "--set",
      "jobWorker.autoscale.min=5,jobWorker.autoscale.max=2",
    ]);
    expect(upsideDown.code).not.toBe(0);
    expect(upsideDown.stderr).toContain("jobWorker.autoscale.min (5) must not exceed jobWorker.autoscale.max (2)");
    for (const [value, message] of [
      ["jobWorker.autoscale.scaleDownDelay=5min", "jobWorker.autoscale.scaleDownDelay: Does not match pattern"],
      ["jobWorker.autoscale.max=0", "jobWorker.autoscale.max: Must be greater than or equal to 1"],
      ["jobWorker.autoscale.maximum=3", "Additional property maximum is not allowed"],
    ]) {
      const result = await helm(["template", "lh", chartDir, "--set", value!]);
      expect(result.code).not.toBe(0);
      expect(result.stderr).toContain(message);
    }
  });

  it("rejects an ack wait or a scratch size in a form the worker or Kubernetes does not take", async () => {
    for (const [value, field] of [
      ["jobWorker.ackWait=ten", "jobWorker.ackWait"],
      ["jobWorker.scratchSize=4GB", "jobWorker.scratchSize"],
      ["gateway.uploadMaxBytes=500MB", "gateway.uploadMaxBytes"],
    ]) {
      const result = await helm(["template", "lh", chartDir, "--set", value!]);
      expect(result.code).not.toBe(0);
      expect(result.stderr).toContain(`${field}: Does not match pattern`);
    }
  });
});

describe("values schema", () => {
  it("rejects a typo in a key, naming it", async () => {
    const result = await helm(["template", "lh", chartDir, "--set", "roomHost.replicsa=2"]);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain("Additional property replicsa is not allowed");
  });

  it("rejects a wrong type, naming the field", async () => {
    const result = await helm(["template", "lh", chartDir, "--set-string", "gateway.replicas=two"]);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain("gateway.replicas: Invalid type. Expected: integer, given: string");
  });

  it("refuses inbox and events caps over half of each NATS server's file storage, naming the values", async () => {
    const result = await helm(["template", "lh", chartDir, "--set", "nats.jetstream.fileStorage.size=8Gi"]);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain(
      "roomHost.inbox.maxBytes (4Gi) plus roomHost.events.maxBytes (512Mi) must be at most half of " +
        "nats.jetstream.fileStorage.size (8Gi)",
    );
    const bigger = await helm(["template", "lh", chartDir, "--set", "nats.jetstream.fileStorage.size=9Gi"]);
    expect(bigger.code).toBe(0);
  });

  it("rejects an inbox size in units the room host does not take", async () => {
    const result = await helm(["template", "lh", chartDir, "--set", "roomHost.inbox.maxBytes=4GB"]);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain("roomHost.inbox.maxBytes: Does not match pattern");
  });

  it("refuses a gateway no caller can authenticate to: no token keys and no client certificates", async () => {
    const none = await helm(["template", "lh", chartDir, "--set", "grpcTls.enabled=false"]);
    expect(none.code).not.toBe(0);
    expect(none.stderr).toContain("gateway.auth: no way for a caller to prove who it is");
    const optional = await helm(["template", "lh", chartDir, "--set", "grpcTls.requireClientCert=false"]);
    expect(optional.code).not.toBe(0);
    const tokens = await helm([
      "template",
      "lh",
      chartDir,
      "--set",
      "grpcTls.enabled=false",
      "--set-json",
      'gateway.auth.jwks="{\\"keys\\":[]}"',
    ]);
    expect(tokens.code).toBe(0);
  });

  it("needs an external URL when NATS is not installed", async () => {
    const result = await helm(["template", "lh", chartDir, "--set", "nats.install=false"]);
    expect(result.stderr).toContain("nats.external.url is required");
  });
});

describe("files the chart copies", () => {
  it("ships the operator's CRDs unchanged", async () => {
    const crdDir = new URL("../operator/crds/", import.meta.url);
    for (const file of await readdir(crdDir)) {
      expect(
        await readFile(join(chartDir, "crds", file), "utf8"),
        `cp operator/crds/${file} charts/livehost/crds/`,
      ).toBe(await readFile(new URL(file, crdDir), "utf8"));
    }
  });

  it("ships observability's dashboard and alert rules unchanged", async () => {
    for (const [source, copy] of [
      ["../observability/dashboards/livehost.json", "files/livehost-dashboard.json"],
      ["../observability/alerts/livehost.rules.yaml", "files/livehost.rules.yaml"],
    ] as const) {
      expect(await readFile(join(chartDir, copy), "utf8"), `cp ${source.slice(3)} charts/livehost/${copy}`).toBe(
        await readFile(new URL(source, import.meta.url), "utf8"),
      );
    }
  });
});

describe("gRPC certificates", () => {
  it("gives every role a certificate of its own by default, naming the role, signed by one CA the chart keeps", () => {
    const secrets = rendered
      .get("defaults")!
      .filter((o) => o.kind === "Secret" && o.metadata.name.endsWith("-grpc-tls")) as (Manifest & {
      data: Record<string, string>;
    })[];
    expect(secrets.map((s) => s.metadata.name).sort()).toEqual(
      ["gateway", "helm-test", "operator", "room-host", "worker"].map((r) => `lh-livehost-${r}-grpc-tls`),
    );
    const gateway = find(rendered.get("defaults")!, "Deployment", "-gateway") as Manifest & {
      spec: { template: { spec: { volumes: { name: string; secret?: { secretName: string } }[] } } };
    };
    const volume = gateway.spec.template.spec.volumes.find((v) => v.name === "grpc-tls");
    expect(volume?.secret?.secretName).toBe("lh-livehost-gateway-grpc-tls");
    // helm test reads rooms with its own certificate: the policy knows it, as an observer only.
    const auth = find(rendered.get("defaults")!, "ConfigMap", "-gateway-auth") as Manifest & {
      data: Record<string, string>;
    };
    expect(auth.data["policy.yaml"]).toContain("helm-test.lh-livehost");
    expect(auth.data["policy.yaml"]).toContain("role: observer");
  });
});
