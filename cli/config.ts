// Options in, compiled settings out, for every process the livehost command runs (the four roles and the operator):
// each shared flag and its environment variable are declared once here (documented in `livehost <role> --help`);
// flags arrive as options in human units ("30s"), and one compile function per role checks them, fills defaults
// and names a bad one. The rest of the code sees only the compiled settings.
import { Option, type Command } from "commander";
import { InvalidArgumentError } from "../errors/index.js";
import type { ExecutionProviderChoice } from "../gpu-workers/index.js";
import type { GatewayAuth } from "../gateway/index.js";
import { parseDuration, type Duration } from "../observability/index.js";
import {
  compileNatsOptions,
  parsePort,
  type GrpcTlsFiles,
  type NatsConnectSettings,
  type NatsOptions,
} from "../transport/index.js";

export type RoleName = "room-host" | "gateway" | "tts-worker" | "lipsync-worker" | "job-worker" | "operator";

/** What every process takes: its id, its NATS credentials and TLS, and where /metrics binds. */
export interface ProcessOptions extends NatsOptions {
  /** Default: hostname and a random suffix. */
  id?: string;
  /** Default 127.0.0.1. */
  metricsHost?: string;
  /** Default 0: a free port. */
  metricsPort?: number | string;
}

/** What the four roles take besides: their NATS URLs (--nats), the gRPC address and gRPC TLS. */
export interface RoleOptions extends ProcessOptions {
  /** nats:// or tls:// URLs, comma-separated. */
  nats: string;
  host?: string;
  grpcPort?: number | string;
  tlsCa?: string;
  tlsCert?: string;
  tlsKey?: string;
  tlsClientAuth?: boolean;
  tlsServerName?: string;
}

/** What the role runner (role.ts) needs, compiled. */
export interface ProcessSettings {
  id: string | undefined;
  nats: NatsConnectSettings;
  metricsHost: string;
  metricsPort: number;
  /** gRPC TLS for this process's servers and channels (transport's configureGrpcTls); undefined: plaintext. */
  grpcTls: GrpcTlsFiles | undefined;
}

export interface RoleSettings extends ProcessSettings {
  host: string;
  grpcPort: number;
}

const defaults = { nats: "nats://127.0.0.1:4222", host: "127.0.0.1", port: "0" };

/**
 * The flags every process takes, each with the environment variable Kubernetes sets: NATS (its URLs under
 * `urlFlag`: --nats for the roles, --nats-url for the operator), the process id and /metrics.
 */
export function addProcessOptions(command: Command, urlFlag: "--nats" | "--nats-url", urlHelp: string): Command {
  return addNatsOptions(command, urlFlag, urlHelp)
    .addOption(
      new Option(
        "--id <id>",
        "this process's id, the operator's in its Lease (default: hostname and a random suffix)",
      ).env("LIVEHOST_ID"),
    )
    .addOption(
      new Option("--metrics-host <address>", "address /metrics binds")
        .env("LIVEHOST_METRICS_HOST")
        .default(defaults.host),
    )
    .addOption(
      new Option("--metrics-port <port>", "port of /metrics, /livez, /readyz; 0 picks a free one")
        .env("LIVEHOST_METRICS_PORT")
        .default(defaults.port),
    );
}

/** The NATS flags alone, for a one-shot command that serves nothing (`livehost audit`). */
export function addNatsOptions(command: Command, urlFlag: "--nats" | "--nats-url", urlHelp: string): Command {
  return command
    .addOption(new Option(`${urlFlag} <urls>`, urlHelp).env("LIVEHOST_NATS_URL").default(defaults.nats))
    .addOption(new Option("--nats-user <user>", "NATS user of this process").env("LIVEHOST_NATS_USER"))
    .addOption(new Option("--nats-pass <password>", "its password").env("LIVEHOST_NATS_PASSWORD"))
    .addOption(new Option("--nats-creds <file>", "NATS .creds file (instead of a user)").env("LIVEHOST_NATS_CREDS"))
    .addOption(new Option("--nats-tls-ca <file>", "CA of the NATS servers' certificates").env("LIVEHOST_NATS_TLS_CA"))
    .addOption(new Option("--nats-tls-cert <file>", "client certificate for NATS").env("LIVEHOST_NATS_TLS_CERT"))
    .addOption(new Option("--nats-tls-key <file>", "key of --nats-tls-cert").env("LIVEHOST_NATS_TLS_KEY"));
}

/**
 * The flags of the four roles: the process's, the gRPC address, and gRPC TLS (files are PEM; a Kubernetes TLS
 * Secret mounts as ca.crt, tls.crt, tls.key).
 */
export function addRoleOptions(command: Command): Command {
  return addProcessOptions(command, "--nats", "NATS server URLs, comma-separated")
    .addOption(
      new Option("--host <address>", "address the gRPC server binds").env("LIVEHOST_HOST").default(defaults.host),
    )
    .addOption(
      new Option("--grpc-port <port>", "gRPC port; 0 picks a free one")
        .env("LIVEHOST_GRPC_PORT")
        .default(defaults.port),
    )
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
    );
}

/** The process part of any role's options; `nats` is where its URLs came from and what the connection is called. */
export function compileProcessOptions(
  options: ProcessOptions,
  nats: { servers: string; field: "--nats" | "--nats-url"; name: string },
): Omit<ProcessSettings, "grpcTls"> {
  return {
    id: options.id,
    nats: compileNatsOptions(nats.servers, nats.field, options, nats.name),
    metricsHost: options.metricsHost ?? defaults.host,
    metricsPort: parsePort(options.metricsPort ?? 0, "--metrics-port"),
  };
}

function compileGrpcTls(options: RoleOptions): GrpcTlsFiles | undefined {
  if (!options.tlsCa && !options.tlsCert && !options.tlsKey) {
    if (options.tlsClientAuth) throw new InvalidArgumentError("--tls-client-auth", "needs --tls-ca and --tls-cert");
    if (options.tlsServerName) throw new InvalidArgumentError("--tls-server-name", "needs --tls-ca");
    return undefined;
  }
  return {
    caFile: options.tlsCa,
    certFile: options.tlsCert,
    keyFile: options.tlsKey,
    requireClientCert: options.tlsClientAuth ?? false,
    serverName: options.tlsServerName,
  };
}

/** The options every role shares, compiled. */
export function compileRoleOptions(role: RoleName, options: RoleOptions): RoleSettings {
  return {
    ...compileProcessOptions(options, { servers: options.nats, field: "--nats", name: `livehost-${role}` }),
    grpcTls: compileGrpcTls(options),
    host: options.host ?? defaults.host,
    grpcPort: parsePort(options.grpcPort ?? 0, "--grpc-port"),
  };
}

export function parsePositiveInteger(value: number | string, field: string, max = Number.MAX_SAFE_INTEGER): number {
  const n = typeof value === "number" ? value : value.trim() === "" ? NaN : Number(value);
  if (!Number.isInteger(n) || n < 1 || n > max) {
    throw new InvalidArgumentError(field, `must be an integer from 1 to ${max}, got "${value}"`);
  }
  return n;
}

export interface RoomHostOptions extends RoleOptions {
  /** JetStream replicas of mailboxes and state. Default 1. */
  replicas?: number | string;
  /** Bytes the rooms' inbox (stream ROOM_INBOX) may hold, e.g. "2GiB"; when full, new comments are refused. */
  inboxMaxBytes?: number | string;
  /** Unhandled inbox messages older than this are dropped: a bare number is seconds. Default 24 h. */
  inboxMaxAge?: Duration;
  /** The largest message the inbox takes, e.g. "256KiB". */
  inboxMaxMsgSize?: number | string;
  /** How long rooms' events are kept for WatchRoom to replay (stream ROOM_EVENTS). Default 15 min. */
  eventsRetention?: Duration;
  /** Bytes the rooms' events may hold, all rooms together; the oldest go first. Default 512 MiB. */
  eventsMaxBytes?: number | string;
  /** Rooms this host is willing to run. Default 1000. */
  capacity?: number | string;
  /** The event loop's p99 delay over which this host takes no new rooms ("0": never). Default 500ms. */
  maxLoopDelay?: Duration;
  /** What each room with spec.show.render_ahead keeps rendered ahead, at most. Default 64MiB. */
  renderAheadMaxBytes?: number | string;
  /** Avatar packs; rooms go on air only with them (and mediaDir). */
  avatars?: string;
  mediaDir?: string;
  /** Hosts product pictures may be fetched from (https), comma-separated; "*.example.com" for subdomains. */
  imageHosts?: string;
  /** A directory of RTMP stream keys, one file per secret name (a mounted Kubernetes Secret). */
  streamKeys?: string;
}

export interface RoomHostSettings {
  role: RoleSettings;
  replicas: number;
  /** The rooms' inbox bounds, as StoreSettings takes them. */
  inbox: { mailboxMaxBytes: number; mailboxMaxAgeMs: number; mailboxMaxMessageBytes: number };
  /** The rooms' event log bounds, as startRoomHost takes them. */
  events: { retentionMs: number; maxBytes: number };
  capacity: number;
  /** Event loop p99 delay (ms) over which the host sheds load; 0: never. */
  maxLoopDelayMs: number;
  /** Where rooms on air find their avatars and write their media; undefined: rooms do not go on air. */
  live:
    | {
        avatarsDir: string;
        mediaDir: string;
        imageHosts: string[];
        streamKeysDir?: string;
        renderAhead: { maxBytesPerRoom: number };
      }
    | undefined;
}

export function compileRoomHostOptions(options: RoomHostOptions): RoomHostSettings {
  const role = compileRoleOptions("room-host", options);
  const replicas = parsePositiveInteger(options.replicas ?? 1, "--replicas", 5);
  const capacity = parsePositiveInteger(options.capacity ?? 1000, "--capacity");
  const maxLoopDelayMs = parseDuration(options.maxLoopDelay ?? "500ms", "--max-loop-delay", {
    bare: "ms",
    minMs: 0,
    maxMs: 60_000,
  });
  if ((options.avatars === undefined) !== (options.mediaDir === undefined)) {
    throw new InvalidArgumentError("--media-dir", "--avatars and --media-dir go together: rooms on air need both");
  }
  const imageHosts = (options.imageHosts ?? "")
    .split(",")
    .map((h) => h.trim().toLowerCase())
    .filter((h) => h !== "");
  for (const host of imageHosts) {
    if (!/^(\*\.)?[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/.test(host)) {
      throw new InvalidArgumentError("--image-hosts", `"${host}" is not a host name (or *.domain)`);
    }
  }
  const live = options.avatars
    ? {
        avatarsDir: options.avatars,
        mediaDir: options.mediaDir!,
        imageHosts,
        ...(options.streamKeys ? { streamKeysDir: options.streamKeys } : {}),
        renderAhead: {
          maxBytesPerRoom: parseByteSize(options.renderAheadMaxBytes ?? "64MiB", "--render-ahead-max-bytes", {
            min: 0,
          }),
        },
      }
    : undefined;
  const events = {
    retentionMs: parseDuration(options.eventsRetention ?? "15m", "--events-retention", {
      bare: "s",
      minMs: 10_000,
      maxMs: 7 * 24 * 3_600_000,
    }),
    maxBytes: parseByteSize(options.eventsMaxBytes ?? "512MiB", "--events-max-bytes", { min: 1024 ** 2 }),
  };
  return { role, replicas, inbox: compileInboxOptions(options), events, capacity, maxLoopDelayMs, live };
}

function compileInboxOptions(options: RoomHostOptions): RoomHostSettings["inbox"] {
  const mailboxMaxBytes = parseByteSize(options.inboxMaxBytes ?? "1GiB", "--inbox-max-bytes", { min: 1024 ** 2 });
  // NATS takes a message of at most 64 MiB (its max_payload, 1 MiB unless raised).
  const mailboxMaxMessageBytes = parseByteSize(options.inboxMaxMsgSize ?? "256KiB", "--inbox-max-msg-size", {
    min: 4096,
    max: Math.min(64 * 1024 ** 2, mailboxMaxBytes),
  });
  const mailboxMaxAgeMs = parseDuration(options.inboxMaxAge ?? "24h", "--inbox-max-age", {
    bare: "s",
    minMs: 60_000,
    maxMs: 30 * 24 * 3_600_000,
  });
  return { mailboxMaxBytes, mailboxMaxAgeMs, mailboxMaxMessageBytes };
}

const byteUnits: Record<string, number> = { "": 1, B: 1, KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3, TiB: 1024 ** 4 };

/** Bytes from a whole number of bytes or one with a binary unit ("512KiB", "2GiB"; Kubernetes' "2Gi" too). */
export function parseByteSize(value: number | string, field: string, bounds: { min: number; max?: number }): number {
  const match = /^(\d+)\s*(B|KiB|MiB|GiB|TiB|Ki|Mi|Gi|Ti)?$/.exec(String(value).trim());
  const unit = match?.[2] ?? "";
  const bytes = match ? Number(match[1]) * byteUnits[unit.endsWith("i") ? `${unit}B` : unit]! : NaN;
  const max = bounds.max ?? Number.MAX_SAFE_INTEGER;
  if (!Number.isSafeInteger(bytes) || bytes < bounds.min || bytes > max) {
    throw new InvalidArgumentError(
      field,
      `must be a size from ${bounds.min} to ${max} bytes: a number of bytes or one with its unit ("256KiB", ` +
        `"2GiB"), got "${value}"`,
    );
  }
  return bytes;
}

export interface GatewayOptions extends RoleOptions {
  /** Serve the viewer page with the rooms' HLS from here (local mode). */
  mediaDir?: string;
  httpPort?: number | string;
  /** Serve WHEP alone on this port (a cluster's viewers; the viewer page serves it in local mode). */
  whepPort?: number | string;
  /** YAML policy binding identities to tenants and roles; without it, local mode's development credential. */
  authPolicy?: string;
  authJwks?: string;
  authAudience?: string;
  authIssuer?: string;
  auditRetention?: Duration;
  auditMaxBytes?: number | string;
  /** Gateway replicas sharing each tenant's rate quotas. */
  gatewayReplicas?: number | string;
  /** Onboarding videos above this are refused, e.g. "500MiB". */
  uploadMaxBytes?: number | string;
  /** What the onboarding uploads bucket holds, e.g. "2GiB". */
  uploadsMaxBytes?: number | string;
  /** JetStream replicas of the onboarding buckets and streams. */
  replicas?: number | string;
}

export interface GatewaySettings {
  role: RoleSettings;
  viewer: { mediaDir: string; host: string; port: number } | undefined;
  whep: { host: string; port: number } | undefined;
  auth: GatewayAuth;
  uploadMaxBytes: number;
  uploadsMaxBytes: number;
  replicas: number;
}

export function compileGatewayOptions(options: GatewayOptions): GatewaySettings {
  const role = compileRoleOptions("gateway", options);
  const port = parsePort(options.httpPort ?? 0, "--http-port");
  const certificates = role.grpcTls?.requireClientCert ?? false;
  // Local mode's development credential is for loopback: a gateway others can reach must say who may call it.
  if (!options.authPolicy && !["127.0.0.1", "::1", "localhost"].includes(role.host)) {
    throw new InvalidArgumentError(
      "--auth-policy",
      `a gateway listening on ${role.host} needs a policy (local mode's development credential is for loopback only)`,
    );
  }
  if (options.authPolicy && !options.authJwks && !certificates) {
    throw new InvalidArgumentError(
      "--auth-jwks",
      "a policy needs a way to know callers: --auth-jwks or --tls-client-auth",
    );
  }
  const auth: GatewayAuth = {
    development: !options.authPolicy,
    policyFile: options.authPolicy,
    jwksFile: options.authJwks,
    audience: options.authAudience,
    issuer: options.authIssuer,
    certificates,
    gateways: parsePositiveInteger(options.gatewayReplicas ?? 1, "--gateway-replicas"),
    audit: {
      retentionMs: parseDuration(options.auditRetention ?? "2160h", "--audit-retention", {
        bare: "s",
        minMs: 3600_000,
      }),
      maxBytes: parseByteSize(options.auditMaxBytes ?? "1GiB", "--audit-max-bytes", { min: 1024 ** 2 }),
    },
  };
  const whep =
    options.whepPort === undefined ? undefined : { host: role.host, port: parsePort(options.whepPort, "--whep-port") };
  return {
    role,
    viewer: options.mediaDir ? { mediaDir: options.mediaDir, host: role.host, port } : undefined,
    whep,
    auth,
    uploadMaxBytes: parseByteSize(options.uploadMaxBytes ?? "500MiB", "--upload-max-bytes", { min: 1024 ** 2 }),
    uploadsMaxBytes: parseByteSize(options.uploadsMaxBytes ?? "2GiB", "--uploads-max-bytes", { min: 1024 ** 2 }),
    replicas: parsePositiveInteger(options.replicas ?? 1, "--replicas", 5),
  };
}

/** What both worker kinds take. */
export interface WorkerOptions extends RoleOptions {
  maxStreams: number | string;
  /** The host:port rooms dial; default the bound address. */
  advertiseAddress?: string;
  /** How long streams in flight may finish on SIGTERM: a bare number is seconds. Default 30 s. */
  drainSeconds?: Duration;
}

export interface WorkerSettings {
  role: RoleSettings;
  maxStreams: number;
  advertiseAddress: string | undefined;
  drainMs: number;
}

function compileWorkerOptions(role: "tts-worker" | "lipsync-worker", options: WorkerOptions): WorkerSettings {
  return {
    role: compileRoleOptions(role, options),
    maxStreams: parsePositiveInteger(options.maxStreams, "--max-streams"),
    advertiseAddress: options.advertiseAddress,
    // Keep it below the pod's terminationGracePeriodSeconds.
    drainMs: parseDuration(options.drainSeconds ?? 30, "--drain-seconds", { bare: "s", maxMs: 86_400_000 }),
  };
}

export interface TtsWorkerOptions extends WorkerOptions {
  modelDir?: string;
  /** Sentences run together on a batch-capable model voice; 1 (the default) turns it off. */
  maxBatch?: number | string;
  executionProvider?: ExecutionProviderChoice;
}

export interface TtsWorkerSettings extends WorkerSettings {
  modelDir: string | undefined;
  maxBatch: number;
  executionProvider: ExecutionProviderChoice;
}

export function compileTtsWorkerOptions(options: TtsWorkerOptions): TtsWorkerSettings {
  return {
    ...compileWorkerOptions("tts-worker", options),
    modelDir: options.modelDir,
    maxBatch: parsePositiveInteger(options.maxBatch ?? 1, "--max-batch", 64),
    executionProvider: options.executionProvider ?? "auto",
  };
}

export interface LipSyncWorkerOptions extends WorkerOptions {
  model?: string;
  neural?: boolean;
  avatars?: string;
  executionProvider?: ExecutionProviderChoice;
}

export interface LipSyncWorkerSettings extends WorkerSettings {
  modelPath: string | undefined;
  /** Serve RENDERER_NEURAL with the project's own generator where the model is not a generator. */
  neural: boolean;
  avatarsDir: string | undefined;
  executionProvider: ExecutionProviderChoice;
}

export function compileLipSyncWorkerOptions(options: LipSyncWorkerOptions): LipSyncWorkerSettings {
  return {
    ...compileWorkerOptions("lipsync-worker", options),
    modelPath: options.model,
    neural: options.neural ?? false,
    avatarsDir: options.avatars,
    executionProvider: options.executionProvider ?? "auto",
  };
}
