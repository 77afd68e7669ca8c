// The gateway process: RoomService and OnboardingService over gRPC for internal services, backed by NATS.
import type { ServerCredentials } from "@grpc/grpc-js";
import type { NatsConnection } from "@nats-io/transport-node";
import { rootLogger, type Logger, type Registry } from "../observability/index.js";
import { startGrpcServer, type GrpcServer } from "../transport/index.js";
import { RoomDirectory } from "../rooms/index.js";
import {
  AuditLog,
  Authenticator,
  Policy,
  PolicyFile,
  ensureDevelopmentCredential,
  type AuditSettings,
} from "../trust/index.js";
import { InvalidArgumentError } from "../errors/index.js";
import { Access } from "./access.js";
import { onboardingService } from "./onboarding-service.js";
import { roomService } from "./room-service.js";
import { TenantQuotas } from "./tenant-quotas.js";
import { startViewer } from "./viewer.js";

export interface GatewayOptions {
  nats: NatsConnection;
  registry: Registry;
  /** Default 127.0.0.1 and a free port. */
  grpcHost?: string;
  grpcPort?: number;
  /** Default: the process's TLS (configureGrpcTls), plaintext without one. */
  grpcCredentials?: ServerCredentials;
  logger?: Logger;
  /** How callers are authenticated and what the policy lets them do. */
  auth: GatewayAuth;
  /** Serve the viewer page (local mode): rooms' HLS from `mediaDir`, comments, events. */
  viewer?: { mediaDir: string; host?: string; port?: number };
  /** Onboarding uploads above this many bytes are refused. Default 500 MiB. */
  uploadMaxBytes?: number;
  /** What the onboarding uploads bucket holds. Default 2 GiB. */
  uploadsMaxBytes?: number;
  /** Replicas of the onboarding buckets and streams (3 on a cluster). Default 1. */
  replicas?: number;
  /** Serve WHEP alone (a cluster's viewers play rooms over WebRTC through it; see viewer.ts). */
  whep?: { host?: string; port?: number };
}

export interface GatewayAuth {
  /**
   * Local mode: tokens signed by the development key in LIVEHOST_HOME (made if missing), whose identity is an admin.
   * Otherwise `policyFile` is required, with `jwksFile`, `certificates` or both.
   */
  development?: boolean;
  /** JWKS whose keys sign the bearer tokens accepted (re-read when it changes). */
  jwksFile?: string;
  /** The audience tokens must carry; default "livehost". */
  audience?: string;
  issuer?: string;
  /** Verified client certificates (mTLS) are identities too. */
  certificates?: boolean;
  /** YAML policy: tenants, and callers bound to tenants and a role (re-read when it changes). */
  policyFile?: string;
  /** Retention of the audit trail. */
  audit?: AuditSettings;
  /** Gateway replicas sharing each tenant's rate quotas (each allows its share). Default 1. */
  gateways?: number;
}

export interface Gateway extends AsyncDisposable {
  readonly grpc: GrpcServer;
  /** The viewer page's base URL, when it is served. */
  readonly viewerUrl?: string;
  /** The WHEP server's base URL (POST <url>/rooms/<id>/whep), when it is served on its own. */
  readonly whepUrl?: string;
  close(graceMs?: number): Promise<void>;
}

export async function startGateway(options: GatewayOptions): Promise<Gateway> {
  const log = (options.logger ?? rootLogger()).child({ role: "gateway" });
  const directory = await RoomDirectory.open(options.nats);
  const { access, policy, dispose } = await openAccess(options, directory, log);
  const quotas = TenantQuotas.start({
    nats: options.nats,
    policy,
    gateways: options.auth.gateways,
    registry: options.registry,
    logger: log,
  });
  // Ends the room watches as the gateway stops, so their callers resume on another gateway at once.
  const closing = new AbortController();
  const grpc = await startGrpcServer({
    services: [
      roomService({
        nats: options.nats,
        directory,
        access,
        quotas,
        registry: options.registry,
        logger: log,
        closing: closing.signal,
      }),
      await onboardingService({
        nats: options.nats,
        access,
        uploadMaxBytes: options.uploadMaxBytes,
        uploadsMaxBytes: options.uploadsMaxBytes,
        replicas: options.replicas,
        quotas,
      }),
    ],
    host: options.grpcHost ?? "127.0.0.1",
    port: options.grpcPort ?? 0,
    credentials: options.grpcCredentials,
    // RegisterFace takes a photo of up to 10 MiB in one message; the services refuse what is over their own limits,
    // naming the field (a larger message is refused by the transport, RESOURCE_EXHAUSTED).
    channelOptions: { "grpc.max_receive_message_length": 11 * 1024 * 1024 },
    registry: options.registry,
    logger: log,
  });
  const viewer = options.viewer
    ? await startViewer({ nats: options.nats, directory, registry: options.registry, ...options.viewer })
    : undefined;
  const whep = options.whep
    ? await startViewer({
        nats: options.nats,
        directory,
        registry: options.registry,
        mediaDir: "",
        whepOnly: true,
        ...options.whep,
      })
    : undefined;
  log.info({ address: grpc.address, viewer: viewer?.url, whep: whep?.url }, "gateway ready");
  const close = async (graceMs = 10_000) => {
    closing.abort();
    await viewer?.close();
    await whep?.close();
    await grpc.close(graceMs);
    dispose();
    await quotas[Symbol.asyncDispose]();
    log.info("gateway stopped");
  };
  return { grpc, viewerUrl: viewer?.url, whepUrl: whep?.url, close, [Symbol.asyncDispose]: () => close() };
}

async function openAccess(options: GatewayOptions, directory: RoomDirectory, log: Logger) {
  const { auth, registry } = options;
  let jwksFile = auth.jwksFile;
  let policy: () => Policy;
  let policyFile: PolicyFile | undefined;
  if (auth.development) {
    const credential = await ensureDevelopmentCredential();
    jwksFile ??= credential.jwksFile;
    const development = Policy.development(credential.subject);
    policy = () => development;
    log.info({ identity: credential.subject, token: credential.tokenFile }, "local mode: development credential");
  } else {
    if (!auth.policyFile) {
      throw new InvalidArgumentError("--auth-policy", "a gateway outside local mode needs a policy (or --auth-dev)");
    }
    policyFile = await PolicyFile.open(auth.policyFile, { registry, logger: log });
    policy = () => policyFile!.current;
  }
  const authenticator = await Authenticator.open({ ...auth, jwksFile, logger: log });
  const audit = await AuditLog.open(options.nats, { ...auth.audit, registry, logger: log });
  const access = new Access({ authenticator, policy, audit, directory, registry });
  const dispose = () => {
    authenticator[Symbol.dispose]();
    policyFile?.[Symbol.dispose]();
  };
  return { access, policy, dispose };
}
