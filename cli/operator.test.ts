// `livehost operator` as the CLI runs it: options checked (from the flags and environment variables the chart sets),
// connected to NATS with its user, password and CA as the chart runs it, the Lease taken, and released on stop.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Command } from "commander";
import { afterEach, describe, expect, it, vi } from "vitest";
import { KubeApiTestServer, eventually, startSecureNatsServer } from "../testing/index.js";
import {
  compileOperatorCommand,
  registerOperatorCommand,
  startOperatorProcess,
  type OperatorCommandOptions,
} from "./operator.js";

const base = { namespace: "livehost", leaseName: "op", natsUrl: "nats://nats:4222" };

/** The options `livehost operator` parses from this environment (its action replaced by a capture). */
async function optionsFromEnv(env: Record<string, string>): Promise<OperatorCommandOptions> {
  for (const [name, value] of Object.entries(env)) vi.stubEnv(name, value);
  const program = new Command().exitOverride();
  let options: OperatorCommandOptions | undefined;
  registerOperatorCommand(program).action((parsed: OperatorCommandOptions) => {
    options = parsed;
  });
  await program.parseAsync(["operator"], { from: "user" });
  return options!;
}

afterEach(() => vi.unstubAllEnvs());

describe("operator options", () => {
  it("names the bad option", () => {
    expect(() => compileOperatorCommand({ ...base, namespace: "Live_Host" })).toThrow(
      '--namespace: "Live_Host" is not a Kubernetes namespace name',
    );
    expect(() => compileOperatorCommand({ ...base, metricsPort: 70_000 })).toThrow("--metrics-port");
    expect(() => compileOperatorCommand({ ...base, natsUrl: "http://nats:4222" })).toThrow(
      '--nats-url: "http://nats:4222" is not a nats:// or tls:// URL',
    );
    expect(() => compileOperatorCommand({ ...base, natsPass: "pw" })).toThrow(
      "--nats-user: a NATS password needs its user",
    );
    expect(() => compileOperatorCommand({ ...base, natsTlsCert: "c.pem" })).toThrow("--nats-tls-key");
    expect(() => compileOperatorCommand({ ...base, workerGrpcClientAuth: true })).toThrow(
      "--worker-grpc-client-auth: needs --worker-grpc-tls-secret",
    );
    expect(() => compileOperatorCommand({ ...base, workerNatsAuthSecret: "Auth_Secret" })).toThrow(
      "--worker-nats-auth-secret",
    );
    expect(() => compileOperatorCommand({ ...base, workerNatsTtsKey: "a/b" })).toThrow(
      '--worker-nats-tts-key: "a/b" is not a Secret key',
    );
    expect(() => compileOperatorCommand({ ...base, workerMetricsPort: 50051 })).toThrow("--worker-metrics-port");
    expect(() => compileOperatorCommand({ ...base, roomWarmup: "5 minutes" })).toThrow("--room-warmup");
    expect(() => compileOperatorCommand({ ...base, reconcileInterval: "50" })).toThrow("--reconcile-interval");
    expect(() => compileOperatorCommand({ ...base, natsCreds: "op.creds", natsUser: "op" })).toThrow("--nats-creds");
    expect(() =>
      compileOperatorCommand({ ...base, spotNoticeTaints: "aws-node-termination-handler/spot-itn,bad key!" }),
    ).toThrow('--spot-notice-taints: "bad key!" is not a taint key');
    expect(() => compileOperatorCommand({ ...base, placeholderPriorityClass: "Not_A_Name" })).toThrow(
      "--placeholder-priority-class",
    );
  });

  it("takes the placeholders' image and PriorityClass and the spot notice taints, with defaults", () => {
    expect(compileOperatorCommand(base).operator.capacity).toEqual({
      placeholderImage: "registry.k8s.io/pause:3.10",
      placeholderPriorityClass: "livehost-capacity-placeholder",
      spotNoticeTaints: ["aws-node-termination-handler/spot-itn", "cloud.google.com/impending-node-termination"],
    });
    expect(
      compileOperatorCommand({
        ...base,
        spotNoticeTaints: "example.com/going , other",
        placeholderPriorityClass: "lh-cap",
      }).operator.capacity,
    ).toMatchObject({ placeholderPriorityClass: "lh-cap", spotNoticeTaints: ["example.com/going", "other"] });
  });

  it("sizes the job workers only when their Deployment is named, from the variables the chart sets", async () => {
    expect(compileOperatorCommand(base).operator.jobWorkers).toBeUndefined();
    const options = await optionsFromEnv({
      LIVEHOST_JOB_WORKERS_DEPLOYMENT: "lh-livehost-job-worker",
      LIVEHOST_JOB_WORKERS_MIN: "0",
      LIVEHOST_JOB_WORKERS_MAX: "4",
      LIVEHOST_JOB_WORKERS_SCALE_DOWN_DELAY: "5m",
    });
    expect(compileOperatorCommand({ ...options, ...base }).operator.jobWorkers).toEqual({
      deployment: "lh-livehost-job-worker",
      minReplicas: 0,
      maxReplicas: 4,
      jobsPerWorker: 1,
      scaleDownDelayMs: 300_000,
    });
    // Defaults: 1 to 10, five minutes (a bare number is seconds).
    expect(
      compileOperatorCommand({ ...base, jobWorkersDeployment: "jw", jobWorkersScaleDownDelay: "90" }).operator
        .jobWorkers,
    ).toMatchObject({ minReplicas: 1, maxReplicas: 10, scaleDownDelayMs: 90_000 });
    const jobWorkers = { ...base, jobWorkersDeployment: "jw" };
    expect(() => compileOperatorCommand({ ...jobWorkers, jobWorkersMin: 5, jobWorkersMax: 2 })).toThrow(
      "--job-workers-min: must not exceed --job-workers-max (5 > 2)",
    );
    expect(() => compileOperatorCommand({ ...jobWorkers, jobWorkersMax: "0" })).toThrow("--job-workers-max");
    expect(() => compileOperatorCommand({ ...jobWorkers, jobWorkersMin: "one" })).toThrow("--job-workers-min");
    expect(() => compileOperatorCommand({ ...jobWorkers, jobWorkersScaleDownDelay: "soon" })).toThrow(
      "--job-workers-scale-down-delay",
    );
    expect(() => compileOperatorCommand({ ...base, jobWorkersDeployment: "Job_Workers" })).toThrow(
      "--job-workers-deployment",
    );
  });

  it("takes durations as the flags always did, and in human units", () => {
    const compiled = (options: Partial<OperatorCommandOptions>) =>
      compileOperatorCommand({ ...base, ...options }).operator;
    expect(compiled({})).toMatchObject({ reconcileIntervalMs: 15_000, roomWarmupMs: 300_000 });
    expect(compiled({ reconcileInterval: "2000", roomWarmup: "90" })).toMatchObject({
      reconcileIntervalMs: 2_000,
      roomWarmupMs: 90_000,
    });
    expect(compiled({ reconcileInterval: "10s", roomWarmup: "5m" })).toMatchObject({
      reconcileIntervalMs: 10_000,
      roomWarmupMs: 300_000,
    });
  });

  it("reads NATS credentials, TLS and the workers' Secrets from the variables the chart sets", async () => {
    const options = await optionsFromEnv({
      LIVEHOST_NAMESPACE: "shop",
      LIVEHOST_ID: "op-0",
      LIVEHOST_NATS_URL: "tls://livehost-nats:4222",
      LIVEHOST_NATS_USER: "operator",
      LIVEHOST_NATS_PASSWORD: "s3cret",
      LIVEHOST_NATS_TLS_CA: "/etc/livehost/nats-tls/ca.crt",
      LIVEHOST_WORKER_NATS_AUTH_SECRET: "livehost-nats-auth",
      LIVEHOST_WORKER_NATS_TLS_SECRET: "livehost-nats-tls",
      LIVEHOST_WORKER_GRPC_TLS_SECRET: "livehost-grpc-tls",
      LIVEHOST_WORKER_GRPC_CLIENT_AUTH: "true",
      LIVEHOST_WORKER_IMAGE_PULL_SECRETS: "regcred, other",
      LIVEHOST_LOG_LEVEL: "debug",
      OTEL_TRACES_EXPORTER: "none",
    });
    const settings = compileOperatorCommand(options);
    expect(settings.operator.namespace).toBe("shop");
    expect(settings.process.nats).toEqual({
      servers: ["tls://livehost-nats:4222"],
      name: "livehost-operator/op-0",
      user: "operator",
      pass: "s3cret",
      credsFile: undefined,
      tls: { caFile: "/etc/livehost/nats-tls/ca.crt", certFile: undefined, keyFile: undefined },
    });
    expect(settings.operator.workers).toEqual({
      natsUrl: "tls://livehost-nats:4222",
      natsAuth: { secretName: "livehost-nats-auth", keys: { tts: "tts-worker", lipsync: "lipsync-worker" } },
      natsTlsSecret: "livehost-nats-tls",
      grpcTls: { secretName: "livehost-grpc-tls", requireClientCert: true },
      grpcPort: 50051,
      metricsPort: 9464,
      terminationGracePeriodSeconds: 600,
      imagePullSecrets: ["regcred", "other"],
      env: { LIVEHOST_LOG_LEVEL: "debug", OTEL_TRACES_EXPORTER: "none" },
    });
  });

  it("takes a creds file instead of a user, and gives workers no credentials when no Secret is named", async () => {
    const settings = compileOperatorCommand(
      await optionsFromEnv({ LIVEHOST_NATS_URL: "nats://a:4222,nats://b:4222", LIVEHOST_NATS_CREDS: "/creds/op" }),
    );
    expect(settings.process.nats).toMatchObject({
      servers: ["nats://a:4222", "nats://b:4222"],
      credsFile: "/creds/op",
    });
    expect(settings.process.nats.user).toBeUndefined();
    expect(settings.operator.workers.natsUrl).toBe("nats://a:4222,nats://b:4222");
    expect(settings.operator.workers.natsAuth).toBeUndefined();
    expect(settings.operator.workers.grpcTls).toBeUndefined();
  });
});

describe("startOperatorProcess", () => {
  it("connects to NATS over TLS as its user, reports it in /metrics, takes the Lease and releases it", async () => {
    await using kube = await KubeApiTestServer.start();
    await using nats = await startSecureNatsServer();
    const dir = await mkdtemp(join(tmpdir(), "livehost-operator-"));
    try {
      const kubeconfig = join(dir, "config");
      await writeFile(kubeconfig, kube.kubeConfig("livehost").exportConfig());
      const options = { ...base, kubeconfig, id: "op-1", natsUrl: nats.url, natsTlsCa: nats.caFile };
      await expect(startOperatorProcess(options)).rejects.toThrow(/authorization/i);
      await expect(startOperatorProcess({ ...options, natsTlsCa: join(dir, "missing.crt") })).rejects.toThrow(
        "--nats-tls-ca",
      );

      const operator = await startOperatorProcess({ ...options, natsUser: nats.user, natsPass: nats.password });
      try {
        await eventually(() => expect(kube.get("leases", "op", "livehost")?.spec?.holderIdentity).toBe("op-1"));
        expect(await nats.connectedUsers()).toEqual(["operator"]);
        const metrics = await (await fetch(operator.endpoints.metrics!)).text();
        expect(metrics).toMatch(/^livehost_nats_connected(\{[^}]*\})? 1$/m);
      } finally {
        await operator.stop("test over");
      }
      expect(kube.get("leases", "op", "livehost")?.spec?.holderIdentity).toBe("");
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
