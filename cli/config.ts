// Options in, compiled config out: each role's command-line flags and environment variables (documented once, in
// `livehost <role> --help`) become one validated settings object; a bad value fails naming the option.
import { InvalidArgumentError } from "../transport/index.js";

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
  };
}
