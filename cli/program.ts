// The livehost command: one program, one entry point per role (as in the container image), plus the local stack.
// Every role runs the same way: its flags are its options, one compile function (config.ts) checks them, and the
// role runner (role.ts) starts it around its NATS connection, /metrics and tracing.
import { Command, Option } from "commander";
import { startGateway } from "../gateway/index.js";
import { startOnboardingWorker } from "../onboarding/index.js";
import { startRoomHost, streamKeysFrom } from "../rooms/index.js";
import {
  startLipSyncWorker,
  startSpeechWorker,
  writeSyntheticPiperVoice,
  EspeakEngine,
  trainLipSyncModel,
  trainTalkingFace,
  writeDefaultAvatarPack,
} from "../gpu-workers/index.js";
import { join } from "node:path";
import { InvalidArgumentError, LivehostError } from "../errors/index.js";
import { CommentClassifier, decideText, llmOptionsFromEnv, trainUnderstandingModel } from "../brain/index.js";
import { parsePort } from "../transport/index.js";
import {
  addRoleOptions,
  compileGatewayOptions,
  compileRoleOptions,
  parseByteSize,
  parsePositiveInteger,
  compileLipSyncWorkerOptions,
  compileRoomHostOptions,
  compileTtsWorkerOptions,
  type GatewayOptions,
  type LipSyncWorkerOptions,
  type RoleOptions,
  type RoomHostOptions,
  type TtsWorkerOptions,
} from "./config.js";
import { parseDuration, parseLogLevel } from "../observability/index.js";
import { runRole } from "./role.js";
import { startStack, describeStack, type Stack } from "./stack.js";
import { checkStackHealth } from "./health.js";
import { tour } from "./tour.js";
import { registerAvatarCommands } from "./avatar.js";
import { registerRoomCommands } from "./room.js";
import { registerLaunchCommands } from "./launch.js";
import { registerAuditCommand } from "./audit.js";
import { registerOperatorCommand } from "./operator.js";
import { registerQualityCommand } from "./quality.js";

const program = new Command("livehost")
  .description("AI digital-human hosts for live commerce")
  .showHelpAfterError()
  .configureOutput({ outputError: (text, write) => write(text) })
  // A command line commander refuses (an unknown option, a value not among an option's choices, a missing argument)
  // is a bad option value like any other: exit 2. Help and --version exit 0. Subcommands inherit this.
  .exitOverride((err) => process.exit(err.exitCode === 0 ? 0 : 2))
  // Every process logs at LIVEHOST_LOG_LEVEL: a bad one is refused before any command starts, not at its first log.
  .hook("preAction", () => {
    const level = process.env.LIVEHOST_LOG_LEVEL;
    if (level) parseLogLevel(level, "LIVEHOST_LOG_LEVEL");
  });

/** A role's command with the flags every role takes; each has an environment variable for Kubernetes. */
function roleCommand(name: string, description: string): Command {
  return addRoleOptions(program.command(name).description(description));
}

roleCommand("room-host", "host room actors")
  .addOption(
    new Option("--replicas <n>", "JetStream replicas of mailboxes and state (1 on one server, 3 in production)")
      .env("LIVEHOST_JETSTREAM_REPLICAS")
      .default("1"),
  )
  .addOption(
    new Option("--inbox-max-bytes <size>", "bytes the rooms' inbox holds before it refuses new comments (per replica)")
      .env("LIVEHOST_INBOX_MAX_BYTES")
      .default("1GiB"),
  )
  .addOption(
    new Option("--inbox-max-age <duration>", "unhandled inbox messages older than this are dropped")
      .env("LIVEHOST_INBOX_MAX_AGE")
      .default("24h"),
  )
  .addOption(
    new Option("--inbox-max-msg-size <size>", "the largest message the rooms' inbox takes")
      .env("LIVEHOST_INBOX_MAX_MSG_SIZE")
      .default("256KiB"),
  )
  .addOption(
    new Option("--events-retention <duration>", "how long rooms' events are kept for WatchRoom to replay")
      .env("LIVEHOST_EVENTS_RETENTION")
      .default("15m"),
  )
  .addOption(
    new Option("--events-max-bytes <size>", "bytes the rooms' kept events may hold (per replica); the oldest go first")
      .env("LIVEHOST_EVENTS_MAX_BYTES")
      .default("512MiB"),
  )
  .addOption(
    new Option("--capacity <n>", "rooms this host is willing to run").env("LIVEHOST_ROOM_CAPACITY").default("1000"),
  )
  .addOption(
    new Option(
      "--max-loop-delay <duration>",
      "event loop p99 delay over which this host takes no new rooms while other hosts do (0: never)",
    )
      .env("LIVEHOST_MAX_LOOP_DELAY")
      .default("500ms"),
  )
  .addOption(
    new Option(
      "--render-ahead-max-bytes <size>",
      "what each room rendering its show ahead (spec.show.render_ahead) keeps rendered, at most",
    )
      .env("LIVEHOST_RENDER_AHEAD_MAX_BYTES")
      .default("64MiB"),
  )
  .addOption(
    new Option("--avatars <dir>", "avatar packs, one per subdirectory (rooms go on air only with it)").env(
      "LIVEHOST_AVATARS_DIR",
    ),
  )
  .addOption(
    new Option("--media-dir <dir>", "where each room's HLS and recordings are written").env("LIVEHOST_MEDIA_DIR"),
  )
  .addOption(
    new Option(
      "--stream-keys <dir>",
      "RTMP stream keys, one file per secret name a room's output names (e.g. a mounted Kubernetes Secret)",
    ).env("LIVEHOST_STREAM_KEYS_DIR"),
  )
  .addOption(
    new Option(
      "--image-hosts <hosts>",
      "hosts product pictures are fetched from (https only), comma-separated, *.example.com for subdomains",
    ).env("LIVEHOST_IMAGE_HOSTS"),
  )
  .action(async (options: RoomHostOptions) => {
    const settings = compileRoomHostOptions(options);
    // An OpenAI-compatible LLM from LIVEHOST_LLM_ENDPOINT / _MODEL / _API_KEY; the embedded brain otherwise.
    const live = settings.live && {
      ...settings.live,
      llm: llmOptionsFromEnv(),
      streamKeys: streamKeysFrom(settings.live.streamKeysDir),
    };
    await runRole("room-host", settings.role, async ({ nats, registry, logger }) => {
      const host = await startRoomHost({
        nats,
        registry,
        logger,
        hostId: settings.role.id,
        stores: { replicas: settings.replicas, ...settings.inbox },
        events: settings.events,
        capacity: settings.capacity,
        loadGuard: { maxLoopDelayMs: settings.maxLoopDelayMs },
        live,
      });
      return { endpoints: { status: host.statusSubject }, close: () => host.close() };
    });
  });

roleCommand("gateway", "serve RoomService and OnboardingService over gRPC")
  .addOption(
    new Option("--media-dir <dir>", "serve the viewer page with the rooms' HLS from here (local mode)").env(
      "LIVEHOST_MEDIA_DIR",
    ),
  )
  .addOption(
    new Option("--http-port <port>", "viewer page port; 0 picks a free one").env("LIVEHOST_HTTP_PORT").default("0"),
  )
  .addOption(
    new Option("--whep-port <port>", "serve WHEP alone on this port (WebRTC viewers in a cluster)").env(
      "LIVEHOST_WHEP_PORT",
    ),
  )
  .addOption(
    new Option(
      "--auth-policy <file>",
      "YAML policy binding caller identities to tenants and roles (re-read when it changes); " +
        "without it: local mode, calls carry the development token from LIVEHOST_HOME",
    ).env("LIVEHOST_AUTH_POLICY"),
  )
  .addOption(
    new Option("--auth-jwks <file>", "JWKS whose keys sign accepted bearer tokens (e.g. the cluster's SA issuer)").env(
      "LIVEHOST_AUTH_JWKS",
    ),
  )
  .addOption(
    new Option("--auth-audience <aud>", "audience a bearer token must carry")
      .env("LIVEHOST_AUTH_AUDIENCE")
      .default("livehost"),
  )
  .addOption(
    new Option("--auth-issuer <iss>", "issuer a bearer token must carry (any when unset)").env("LIVEHOST_AUTH_ISSUER"),
  )
  .addOption(
    new Option("--audit-retention <duration>", "how long audit records are kept")
      .env("LIVEHOST_AUDIT_RETENTION")
      .default("2160h"),
  )
  .addOption(
    new Option("--gateway-replicas <n>", "gateways sharing each tenant's rate quotas (each allows its share)")
      .env("LIVEHOST_GATEWAY_REPLICAS")
      .default("1"),
  )
  .addOption(
    new Option("--audit-max-bytes <size>", "bytes the audit trail may hold (per replica); the oldest go first")
      .env("LIVEHOST_AUDIT_MAX_BYTES")
      .default("1GiB"),
  )
  .addOption(
    new Option("--upload-max-bytes <size>", "onboarding videos above this are refused (RESOURCE_EXHAUSTED)")
      .env("LIVEHOST_UPLOAD_MAX_BYTES")
      .default("500MiB"),
  )
  .addOption(
    new Option("--replicas <n>", "JetStream replicas of the onboarding buckets and streams")
      .env("LIVEHOST_JETSTREAM_REPLICAS")
      .default("1"),
  )
  .addOption(uploadsOption())
  .action(async (options: GatewayOptions) => {
    const settings = compileGatewayOptions(options);
    await runRole("gateway", settings.role, async ({ nats, registry, logger }) => {
      const gateway = await startGateway({
        nats,
        registry,
        logger,
        grpcHost: settings.role.host,
        grpcPort: settings.role.grpcPort,
        viewer: settings.viewer,
        whep: settings.whep,
        auth: settings.auth,
        uploadMaxBytes: settings.uploadMaxBytes,
        uploadsMaxBytes: settings.uploadsMaxBytes,
        replicas: settings.replicas,
      });
      const endpoints: Record<string, string> = { grpc: gateway.grpc.address };
      if (gateway.viewerUrl) endpoints.http = gateway.viewerUrl;
      if (gateway.whepUrl) endpoints.whep = gateway.whepUrl;
      return { endpoints, close: () => gateway.close() };
    });
  });

roleCommand("job-worker", "run onboarding jobs: material checks, FaceID, avatar build, quality score, script, room")
  .addOption(
    new Option("--ack-wait <duration>", "how long a job waits for a lost worker before another takes it up")
      .env("LIVEHOST_JOB_ACK_WAIT")
      .default("10s"),
  )
  .addOption(
    new Option("--replicas <n>", "JetStream replicas of the onboarding buckets and streams")
      .env("LIVEHOST_JETSTREAM_REPLICAS")
      .default("1"),
  )
  .addOption(uploadsOption())
  .action(async (options: RoleOptions & { ackWait: string; replicas: string; uploadsMaxBytes: string }) => {
    const role = compileRoleOptions("job-worker", options);
    const uploadsMaxBytes = parseByteSize(options.uploadsMaxBytes, "--uploads-max-bytes", { min: 1024 ** 2 });
    const ackWaitMs = parseDuration(options.ackWait, "--ack-wait", { bare: "s", minMs: 1_000, maxMs: 600_000 });
    const replicas = parsePositiveInteger(options.replicas, "--replicas", 5);
    await runRole("job-worker", role, async ({ nats, registry, logger }) => {
      // The script's LLM: LIVEHOST_LLM_ENDPOINT / _MODEL / _API_KEY; the embedded brain otherwise.
      const worker = await startOnboardingWorker({
        nats,
        registry,
        logger,
        ackWaitMs,
        replicas,
        uploadsMaxBytes,
        llm: llmOptionsFromEnv(),
      });
      return { endpoints: {}, close: () => worker.close() };
    });
  });

/** The onboarding uploads bucket's size, set on the gateway and the job workers alike. */
function uploadsOption(): Option {
  return new Option(
    "--uploads-max-bytes <size>",
    "what the uploads bucket holds: jobs running at once × the upload limit",
  )
    .env("LIVEHOST_UPLOADS_MAX_BYTES")
    .default("2GiB");
}

/** Flags both worker kinds take. */
function workerCommand(name: string, description: string, defaultStreams: number): Command {
  return roleCommand(name, description)
    .addOption(
      new Option("--max-streams <n>", "concurrent streams before RESOURCE_EXHAUSTED")
        .env("LIVEHOST_MAX_STREAMS")
        .default(String(defaultStreams)),
    )
    .addOption(
      new Option("--advertise-address <host:port>", "address rooms dial (default: the bound one)").env(
        "LIVEHOST_ADVERTISE_ADDRESS",
      ),
    )
    .addOption(
      new Option(
        "--drain-seconds <s>",
        'on SIGTERM, how long streams in flight may finish (seconds, or with a unit: "2m"; keep below the pod\'s ' +
          "termination grace period)",
      )
        .env("LIVEHOST_DRAIN_SECONDS")
        .default("30"),
    );
}

workerCommand("tts-worker", "serve SpeechService (TTS)", 32)
  .addOption(
    new Option("--model-dir <dir>", "directory of Piper voices (<name>.onnx + .onnx.json)").env("LIVEHOST_MODEL_DIR"),
  )
  .addOption(
    new Option("--max-batch <n>", "sentences run together on a batch-capable model voice (1: off)")
      .env("LIVEHOST_TTS_MAX_BATCH")
      .default("1"),
  )
  .addOption(
    new Option("--execution-provider <ep>", "onnxruntime execution provider for model voices")
      .env("LIVEHOST_EXECUTION_PROVIDER")
      .choices(["auto", "cpu", "cuda"])
      .default("auto"),
  )
  .action(async (options: TtsWorkerOptions) => {
    const settings = compileTtsWorkerOptions(options);
    await runRole("tts-worker", settings.role, async ({ nats, registry, logger }) => {
      const speech = await startSpeechWorker({
        nats,
        registry,
        logger,
        workerId: settings.role.id,
        grpcHost: settings.role.host,
        grpcPort: settings.role.grpcPort,
        advertiseAddress: settings.advertiseAddress,
        maxStreams: settings.maxStreams,
        modelDir: settings.modelDir,
        executionProvider: settings.executionProvider,
        maxBatch: settings.maxBatch,
        // The process is the worker alone: its CPU per second of speech is what its streams cost.
        capacityWindowMs: 10_000,
      });
      return { endpoints: { grpc: speech.worker.address }, close: () => speech.close(settings.drainMs) };
    });
  });

const round3 = (x: number) => Math.round(x * 1000) / 1000;

const models = program
  .command("models")
  .description("make the small models livehost ships without downloading anything");

models
  .command("train-lipsync")
  .description("train the lip-sync model on speech from the embedded voices; write it with its evaluation")
  .option("--out <dir>", "output directory", "gpu-workers/lipsync/model")
  .action(async (flags: { out: string }) => {
    const engine = await EspeakEngine.start();
    try {
      const evaluation = await trainLipSyncModel(engine, flags.out, (m) =>
        process.stderr.write(`train-lipsync: ${m}\n`),
      );
      process.stdout.write(`${JSON.stringify(evaluation)}\n`);
    } finally {
      await engine.close();
    }
  });

models
  .command("train-talking-face")
  .description(
    "draw talking video from the embedded voices and the default avatar, train the small talking-face generator on it (TensorFlow.js, CPU), write it as a wav2lip-shaped ONNX with its held-out evaluation",
  )
  .option("--out <dir>", "output directory", "gpu-workers/lipsync/model")
  .option("--seed <n>", "training seed", "20")
  .option("--epochs <n>", "passes over the training video", "6")
  .action(async (flags: { out: string; seed: string; epochs: string }) => {
    const seed = Number(flags.seed);
    if (!Number.isInteger(seed) || seed < 0) throw new InvalidArgumentError("--seed", "must be a whole number");
    const epochs = parsePositiveInteger(flags.epochs, "--epochs", 100);
    const engine = await EspeakEngine.start();
    try {
      const evaluation = await trainTalkingFace(engine, flags.out, {
        seed,
        epochs,
        log: (m) => process.stderr.write(`train-talking-face: ${m}\n`),
      });
      process.stdout.write(`${JSON.stringify(evaluation)}\n`);
    } finally {
      await engine.close();
    }
  });

models
  .command("train-understanding")
  .description(
    "generate the comment corpus, train the intent and moderation model, write it as ONNX with its evaluation",
  )
  .option("--out <dir>", "output directory", "brain/understanding/model")
  .option("--seed <n>", "corpus and training seed", "19")
  .action(async (flags: { out: string; seed: string }) => {
    const seed = Number(flags.seed);
    if (!Number.isInteger(seed) || seed < 0) throw new InvalidArgumentError("--seed", "must be a whole number");
    const { evaluation } = await trainUnderstandingModel(flags.out, {
      seed,
      log: (m) => process.stderr.write(`train-understanding: ${m}\n`),
    });
    process.stdout.write(`${JSON.stringify(evaluation)}\n`);
  });

models
  .command("understand")
  .description(
    "how rooms read comments: each text through the exact rules and the understanding model (decision, reason, intent)",
  )
  .argument("<text...>", "comments, one per argument")
  .option("--model <file>", "an understanding model (default: the shipped one)")
  .option("--json", "one JSON object per comment")
  .action(async (texts: string[], flags: { model?: string; json?: boolean }) => {
    // A model file given that cannot be read or loaded is the caller's argument (exit 2).
    const classifier = await CommentClassifier.load(flags.model).catch((err: unknown) => {
      throw flags.model === undefined ? err : new InvalidArgumentError("--model", (err as Error).message);
    });
    try {
      for (const text of texts) {
        const decided = await decideText(text, classifier);
        const line = {
          text,
          decision: decided.decision,
          ...(decided.decision === "reject" || decided.decision === "block" ? { reason: decided.reason } : {}),
          ...(decided.decision === "block" ? { by: decided.by } : {}),
          ...(decided.decision === "allow" || decided.decision === "mask"
            ? { intent: decided.intent, intentConfidence: round3(decided.intentConfidence) }
            : {}),
          ...(decided.decision !== "reject"
            ? { blockProbability: round3(decided.blockProbability), masked: decided.text }
            : {}),
        };
        if (flags.json) process.stdout.write(`${JSON.stringify(line)}\n`);
        else {
          const what =
            "intent" in line
              ? `${line.decision} ${line.intent} (${line.intentConfidence})`
              : `${line.decision} ${line.reason}${"by" in line ? ` (${line.by})` : ""}`;
          process.stdout.write(`${what}\t${JSON.stringify(text)}\n`);
        }
      }
    } finally {
      await classifier.close();
    }
  });

models
  .command("make")
  .description("write the project's synthetic Piper-format voice (<out>/tts) and default avatar pack (<out>/avatars)")
  .option("--out <dir>", "models directory", "models")
  .action(async (flags: { out: string }) => {
    const path = await writeSyntheticPiperVoice(join(flags.out, "tts"));
    process.stdout.write(`wrote ${path} and ${path}.json (synthetic weights)\n`);
    const avatarDir = join(flags.out, "avatars", "default");
    await writeDefaultAvatarPack(avatarDir);
    process.stdout.write(`wrote the default avatar pack in ${avatarDir}\n`);
  });

registerAvatarCommands(program);
registerRoomCommands(program);
registerLaunchCommands(program);
registerAuditCommand(program);
registerOperatorCommand(program);
registerQualityCommand(program);

workerCommand("lipsync-worker", "serve LipSyncService", 16)
  .addOption(
    new Option(
      "--model <file>",
      "ONNX viseme model, or a wav2lip-shaped talking-face generator (then both renderers are served); default the project's viseme model",
    ).env("LIVEHOST_LIPSYNC_MODEL"),
  )
  .addOption(
    new Option(
      "--neural",
      "also serve the neural renderer with the project's own trained talking-face generator (gpu-workers/lipsync/model/talking-face.onnx) where --model is not a generator",
    ).env("LIVEHOST_LIPSYNC_NEURAL"),
  )
  .addOption(
    new Option("--avatars <dir>", "directory of avatar packs, one per subdirectory").env("LIVEHOST_AVATARS_DIR"),
  )
  .addOption(
    new Option("--execution-provider <ep>", "onnxruntime execution provider")
      .env("LIVEHOST_EXECUTION_PROVIDER")
      .choices(["auto", "cpu", "cuda"])
      .default("auto"),
  )
  .action(async (options: LipSyncWorkerOptions) => {
    const settings = compileLipSyncWorkerOptions(options);
    await runRole("lipsync-worker", settings.role, async ({ nats, registry, logger }) => {
      const lipsync = await startLipSyncWorker({
        nats,
        registry,
        logger,
        modelPath: settings.modelPath,
        neural: settings.neural,
        avatarsDir: settings.avatarsDir,
        executionProvider: settings.executionProvider,
        workerId: settings.role.id,
        grpcHost: settings.role.host,
        grpcPort: settings.role.grpcPort,
        advertiseAddress: settings.advertiseAddress,
        maxStreams: settings.maxStreams,
        // The process is the worker alone: its CPU per second of stream is what its streams cost.
        capacityWindowMs: 10_000,
      });
      return { endpoints: { grpc: lipsync.worker.address }, close: () => lipsync.close(settings.drainMs) };
    });
  });

interface UpFlags {
  nats?: string;
  gatewayPort: string;
  logLevel?: string;
  json?: boolean;
}

/** Stops the stack on the first Ctrl-C or SIGTERM and exits. */
function stopOnSignal(stack: Stack): void {
  const stop = (signal: NodeJS.Signals) => {
    process.stderr.write(`\nlivehost: ${signal}, stopping every role\n`);
    stack.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
}

function upOptions(command: Command): Command {
  return command
    .option("--nats <url>", "use this NATS instead of starting nats-server")
    .option("--gateway-port <port>", "gateway gRPC port; 0 picks a free one", "0")
    .option("--log-level <level>", "log level of the role processes", undefined)
    .option("--json", "print the endpoints as one JSON line once ready, alone on stdout (the rest goes to stderr)");
}

/**
 * Where `up` and `demo` write what people read: stdout, or stderr with --json, whose stdout carries the one JSON
 * line and nothing else (the roles' logs go to stderr too).
 */
const humanOutput = (flags: UpFlags) => (flags.json ? process.stderr : process.stdout);

/** Brings the stack up from `up`/`demo` flags, stops it on Ctrl-C or SIGTERM, and prints where everything is. */
async function upFromFlags(flags: UpFlags): Promise<Stack> {
  const stack = await startStack({
    natsUrl: flags.nats,
    gatewayPort: parsePort(flags.gatewayPort, "--gateway-port"),
    logLevel: flags.logLevel === undefined ? undefined : parseLogLevel(flags.logLevel, "--log-level"),
    roleOutput: flags.json ? "stderr" : "stdout",
  });
  stopOnSignal(stack);
  humanOutput(flags).write(`${describeStack(stack)}\n`);
  if (flags.json) {
    const roles = stack.roles.map(({ role, pid, endpoints }) => ({ role, pid, endpoints }));
    process.stdout.write(`${JSON.stringify({ nats: stack.nats, roles })}\n`);
  }
  return stack;
}

upOptions(program.command("up").description("start nats-server and every role on loopback until Ctrl-C")).action(
  async (flags: UpFlags) => {
    await upFromFlags(flags);
    humanOutput(flags).write("Press Ctrl-C to stop.\n");
  },
);

upOptions(program.command("demo").description("bring the local stack up and show that every role is healthy"))
  .option("--check", "exit after the health check (status 1 if a role is unhealthy)")
  .action(async (flags: UpFlags & { check?: boolean }) => {
    const stack = await upFromFlags(flags);
    const out = humanOutput(flags);
    const health = await checkStackHealth(stack);
    out.write("\nhealth\n");
    for (const h of health) out.write(`  ${h.healthy ? "ok  " : "FAIL"} ${h.role.padEnd(16)} ${h.detail}\n`);
    const allHealthy = health.every((h) => h.healthy);
    out.write(allHealthy ? "\nevery role is healthy\n" : "\nsome roles are unhealthy\n");
    if (allHealthy) {
      out.write("\nthe roles together\n");
      await tour(stack, (line) => out.write(`  ${line}\n`));
    }
    if (flags.check) {
      await stack.stop();
      process.exit(allHealthy ? 0 : 1);
    }
    out.write("Press Ctrl-C to stop.\n");
  });

// Exit codes: 2 for what the caller gave (a bad option, file or field: INVALID_ARGUMENT, here or from the gateway), 1
// when what was asked failed (no such room, a room that has ended, a gateway that does not answer), as `launch` does.
program.parseAsync().catch((err: unknown) => {
  if (err instanceof LivehostError) {
    process.stderr.write(`livehost: ${err.message}\n`);
    process.exit(err instanceof InvalidArgumentError ? 2 : 1);
  }
  process.stderr.write(`livehost: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
