// Options in, compiled config out: each role's command-line flags and environment variables (documented once, in
// `livehost <role> --help`) become one validated settings object; a bad value fails naming the option.
import { Option, type Command } from "commander";
import { InvalidArgumentError, type GrpcTlsFiles } from "../transport/index.js";

export interface RoleFlags {
  nats: string;
  host: string;
  grpcPort: string;
  metricsPort: string;
  metricsHost: string;
  id?: string;
  natsUser?: string;
  natsPass?: string;
  natsCreds?: string;
  tlsCa?: string;
  tlsCert?: string;
  tlsKey?: string;
  tlsClientAuth?: boolean;
  tlsServerName?: string;
  natsTlsCa?: string;
  natsTlsCert?: string;
  natsTlsKey?: string;
}

export interface RoleSettings {
  natsServers: string[];
  host: string;
  grpcPort: number;
  metricsHost: string;
  metricsPort: number;
  id: string | undefined;
  natsUser: string | undefined;
  natsPass: string | undefined;
  natsCreds: string | undefined;
  /** gRPC TLS for this process's servers and channels (transport's configureGrpcTls); undefined: plaintext. */
  grpcTls: GrpcTlsFiles | undefined;
  /** TLS to NATS (connectNats's `tls`); undefined: as the URL says. */
  natsTls: { caFile?: string; certFile?: string; keyFile?: string } | undefined;
}

/**
 * The TLS options every role takes (gRPC and NATS), each with the environment variable the Helm chart sets from
 * its Secrets. Files are PEM; a Kubernetes TLS Secret mounts as ca.crt, tls.crt, tls.key.
 */
export function addSecurityOptions(command: Command): Command {
  return command
    .addOption(new Option("--tls-ca <file>", "CA that signs gRPC peers' certificates").env("LIVEHOST_TLS_CA"))
    .addOption(new Option("--tls-cert <file>", "this process's gRPC certificate").env("LIVEHOST_TLS_CERT"))
    .addOption(new Option("--tls-key <file>", "key of --tls-cert").env("LIVEHOST_TLS_KEY"))
    .addOption(
      new Option("--tls-client-auth", "gRPC servers require client certificates signed by --tls-ca (mTLS)").env(
        "LIVEHOST_TLS_CLIENT_AUTH",
      ),
    )
    .addOption(
      new Option(
        "--tls-server-name <dns-name>",
        "name every gRPC server's certificate must carry, whatever address is dialled (workers at pod IPs)",
      ).env("LIVEHOST_TLS_SERVER_NAME"),
    )
    .addOption(new Option("--nats-tls-ca <file>", "CA of the NATS servers' certificates").env("LIVEHOST_NATS_TLS_CA"))
    .addOption(new Option("--nats-tls-cert <file>", "client certificate for NATS").env("LIVEHOST_NATS_TLS_CERT"))
    .addOption(new Option("--nats-tls-key <file>", "key of --nats-tls-cert").env("LIVEHOST_NATS_TLS_KEY"));
}

function compileNatsTls(flags: RoleFlags): RoleSettings["natsTls"] {
  if (Boolean(flags.natsTlsCert) !== Boolean(flags.natsTlsKey)) {
    throw new InvalidArgumentError(
      flags.natsTlsCert ? "--nats-tls-key" : "--nats-tls-cert",
      "a certificate and its key go together",
    );
  }
  if (!flags.natsTlsCa && !flags.natsTlsCert) return undefined;
  return { caFile: flags.natsTlsCa, certFile: flags.natsTlsCert, keyFile: flags.natsTlsKey };
}

function compileGrpcTls(flags: RoleFlags): GrpcTlsFiles | undefined {
  if (!flags.tlsCa && !flags.tlsCert && !flags.tlsKey) {
    if (flags.tlsClientAuth) throw new InvalidArgumentError("--tls-client-auth", "needs --tls-ca and --tls-cert");
    if (flags.tlsServerName) throw new InvalidArgumentError("--tls-server-name", "needs --tls-ca");
    return undefined;
  }
  return {
    caFile: flags.tlsCa,
    certFile: flags.tlsCert,
    keyFile: flags.tlsKey,
    requireClientCert: flags.tlsClientAuth ?? false,
    serverName: flags.tlsServerName,
  };
}

export function parsePort(value: string, option: string): number {
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65_535) {
    throw new InvalidArgumentError(
      option,
      `must be a port number from 0 to 65535 (0 picks a free one), got "${value}"`,
    );
  }
  return port;
}

export function parsePositiveInteger(value: string, option: string, max = Number.MAX_SAFE_INTEGER): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > max) {
    throw new InvalidArgumentError(option, `must be an integer from 1 to ${max}, got "${value}"`);
  }
  return n;
}

/** How long a worker lets its streams finish on SIGTERM: keep it below the pod's terminationGracePeriodSeconds. */
export function parseDrainSeconds(value: string, option = "--drain-seconds"): number {
  const seconds = Number(value);
  if (value.trim() === "" || !Number.isInteger(seconds) || seconds < 0 || seconds > 86_400) {
    throw new InvalidArgumentError(option, `must be a whole number of seconds from 0 to 86400, got "${value}"`);
  }
  return seconds;
}

export function parseNatsServers(value: string, option = "--nats"): string[] {
  const servers = value
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  if (servers.length === 0) throw new InvalidArgumentError(option, "needs at least one nats:// URL");
  for (const server of servers) {
    let url: URL;
    try {
      url = new URL(server);
    } catch {
      throw new InvalidArgumentError(option, `"${server}" is not a URL (expected nats://host:port)`);
    }
    if (!["nats:", "tls:", "ws:", "wss:"].includes(url.protocol)) {
      throw new InvalidArgumentError(option, `"${server}" must use nats:// or tls://`);
    }
  }
  return servers;
}

export function compileRoleSettings(flags: RoleFlags): RoleSettings {
  return {
    natsServers: parseNatsServers(flags.nats),
    host: flags.host,
    grpcPort: parsePort(flags.grpcPort, "--grpc-port"),
    metricsHost: flags.metricsHost,
    metricsPort: parsePort(flags.metricsPort, "--metrics-port"),
    id: flags.id,
    natsUser: flags.natsUser,
    natsPass: flags.natsPass,
    natsCreds: flags.natsCreds,
    grpcTls: compileGrpcTls(flags),
    natsTls: compileNatsTls(flags),
  };
}
