// The operator as a process: `livehost operator`. Options in (flags, environment variables), compiled settings out;
// the Kubernetes client from a kubeconfig file or the pod's service account; worker load from NATS; /metrics; and a
// clean stop on SIGTERM that releases the leader Lease so a standby takes over at once.
import { hostname } from "node:os";
import { randomUUID } from "node:crypto";
import { Option, type Command } from "commander";
import { KubeConfig } from "@kubernetes/client-node";
import { createLogger, createRegistry, startMetricsServer, startTracing } from "../observability/index.js";
import { InvalidArgumentError, connectNats } from "../transport/index.js";
import { startOperator } from "./controller.js";
import { NatsWorkerDemand } from "./demand.js";

export interface OperatorOptions {
  /** Path of a kubeconfig file; "in-cluster" (the default) uses the pod's service account. */
  kubeconfig?: string;
  namespace: string;
  leaseName: string;
  /** Default: hostname and a random suffix. */
  identity?: string;
  natsUrl: string;
  /** NATS URL given to worker pods; defaults to natsUrl. */
  workerNatsUrl?: string;
  metricsHost?: string;
  metricsPort?: number;
  reconcileIntervalMs?: number;
}

const dnsLabel = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

export function compileOperatorOptions(options: OperatorOptions): Required<Omit<OperatorOptions, "kubeconfig">> & {
  kubeconfig: string;
} {
  if (!dnsLabel.test(options.namespace)) {
    throw new InvalidArgumentError("--namespace", `"${options.namespace}" is not a Kubernetes namespace name`);
  }
  if (!dnsLabel.test(options.leaseName)) {
    throw new InvalidArgumentError("--lease-name", `"${options.leaseName}" is not a Kubernetes object name`);
  }
  const port = options.metricsPort ?? 0;
  if (!Number.isInteger(port) || port < 0 || port > 65_535) {
    throw new InvalidArgumentError("--metrics-port", `must be a port number from 0 to 65535, got "${port}"`);
  }
  const interval = options.reconcileIntervalMs ?? 15_000;
  if (!Number.isInteger(interval) || interval < 100) {
    throw new InvalidArgumentError("--reconcile-interval", `must be at least 100 ms, got "${interval}"`);
  }
  return {
    kubeconfig: options.kubeconfig ?? "in-cluster",
    namespace: options.namespace,
    leaseName: options.leaseName,
    identity: options.identity ?? `${hostname()}-${randomUUID().slice(0, 8)}`,
    natsUrl: options.natsUrl,
    workerNatsUrl: options.workerNatsUrl ?? options.natsUrl,
    metricsHost: options.metricsHost ?? "127.0.0.1",
    metricsPort: port,
    reconcileIntervalMs: interval,
  };
}

/** Runs the operator until the signal aborts; then stops actuating, releases the Lease and closes everything. */
export async function runOperator(options: OperatorOptions, signal: AbortSignal): Promise<void> {
  const settings = compileOperatorOptions(options);
  const logger = createLogger({ base: { role: "operator" } });
  const tracing = startTracing({ serviceName: "livehost-operator", attributes: { "livehost.role": "operator" } });
  const registry = createRegistry({ role: "operator" });
  const kubeConfig = new KubeConfig();
  if (settings.kubeconfig === "in-cluster") kubeConfig.loadFromCluster();
  else kubeConfig.loadFromFile(settings.kubeconfig);
  const nats = await connectNats({ servers: [settings.natsUrl], name: "livehost-operator", logger });
  const demand = new NatsWorkerDemand({ nats, logger, registry });
  const operator = await startOperator({
    kubeConfig,
    namespace: settings.namespace,
    leaseName: settings.leaseName,
    identity: settings.identity,
    demand,
    registry,
    logger,
    workerNatsUrl: settings.workerNatsUrl,
    reconcileIntervalMs: settings.reconcileIntervalMs,
  });
  const metrics = await startMetricsServer({
    registry,
    host: settings.metricsHost,
    port: settings.metricsPort,
    ready: () => !nats.isClosed(),
  });
  logger.info({ metrics: `${metrics.url}/metrics`, identity: settings.identity }, "operator ready");
  if (!signal.aborted) await new Promise((resolve) => signal.addEventListener("abort", resolve, { once: true }));
  logger.info("operator stopping");
  await operator.close();
  await demand.close();
  await nats.drain();
  await metrics.close();
  await tracing.shutdown();
  logger.info("operator stopped");
}

/** Adds `livehost operator` to the CLI; SIGTERM or SIGINT stops it cleanly. */
export function registerOperatorCommand(program: Command): Command {
  return program
    .command("operator")
    .description("scale GPU worker pools and GPU nodes across clouds (Kubernetes operator)")
    .addOption(
      new Option("--kubeconfig <file>", 'kubeconfig file, or "in-cluster" for the service account')
        .env("KUBECONFIG")
        .default("in-cluster"),
    )
    .addOption(
      new Option(
        "--namespace <ns>",
        "namespace of WorkerPools, GpuOfferings, LiveEvents, worker Deployments and the Lease",
      )
        .env("LIVEHOST_NAMESPACE")
        .default("livehost"),
    )
    .addOption(
      new Option("--lease-name <name>", "coordination.k8s.io Lease for leader election")
        .env("LIVEHOST_LEASE_NAME")
        .default("livehost-operator"),
    )
    .addOption(new Option("--id <id>", "this replica's identity in the Lease").env("LIVEHOST_ID"))
    .addOption(
      new Option("--nats-url <url>", "NATS server the workers announce on")
        .env("LIVEHOST_NATS_URL")
        .default("nats://127.0.0.1:4222"),
    )
    .addOption(
      new Option("--worker-nats-url <url>", "NATS URL given to worker pods (default: --nats-url)").env(
        "LIVEHOST_WORKER_NATS_URL",
      ),
    )
    .addOption(
      new Option("--metrics-host <address>", "address /metrics binds")
        .env("LIVEHOST_METRICS_HOST")
        .default("127.0.0.1"),
    )
    .addOption(
      new Option("--metrics-port <port>", "port of /metrics; 0 picks a free one")
        .env("LIVEHOST_METRICS_PORT")
        .default("0"),
    )
    .addOption(
      new Option("--reconcile-interval <ms>", "a reconcile pass at least this often")
        .env("LIVEHOST_RECONCILE_INTERVAL_MS")
        .default("15000"),
    )
    .action(
      async (flags: {
        kubeconfig: string;
        namespace: string;
        leaseName: string;
        id?: string;
        natsUrl: string;
        workerNatsUrl?: string;
        metricsHost: string;
        metricsPort: string;
        reconcileInterval: string;
      }) => {
        const stop = new AbortController();
        process.once("SIGTERM", () => stop.abort());
        process.once("SIGINT", () => stop.abort());
        await runOperator(
          {
            kubeconfig: flags.kubeconfig,
            namespace: flags.namespace,
            leaseName: flags.leaseName,
            identity: flags.id,
            natsUrl: flags.natsUrl,
            workerNatsUrl: flags.workerNatsUrl,
            metricsHost: flags.metricsHost,
            metricsPort: Number(flags.metricsPort),
            reconcileIntervalMs: Number(flags.reconcileInterval),
          },
          stop.signal,
        );
        process.exit(0);
      },
    );
}
