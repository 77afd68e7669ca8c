// The livehost command: one program, one entry point per role (as in the container image), plus the local stack.
import { Command, Option } from "commander";
import { startGateway } from "../gateway/index.js";
import { startRoomHost } from "../rooms/index.js";
import {
  startLipSyncWorker,
  startSpeechWorker,
  writeSyntheticPiperVoice,
  EspeakEngine,
  trainLipSyncModel,
  writeDefaultAvatarPack,
  type ExecutionProviderChoice,
} from "../gpu-workers/index.js";
import { join } from "node:path";
import { InvalidArgumentError, LivehostError } from "../transport/index.js";
import { llmOptionsFromEnv } from "../brain/index.js";
import {
  addSecurityOptions,
  compileRoleSettings,
  parseDrainSeconds,
  parsePort,
  parsePositiveInteger,
  type RoleFlags,
} from "./config.js";
import { runRole } from "./role.js";
import { startStack, describeStack, type Stack } from "./stack.js";
import { checkStackHealth } from "./health.js";
import { tour } from "./tour.js";
import { registerAvatarCommands } from "./avatar.js";
import { registerRoomCommands } from "./room.js";
import { registerOperatorCommand } from "../operator/index.js";

const program = new Command("livehost")
  .description("AI digital-human hosts for live commerce")
  .showHelpAfterError()
  .configureOutput({ outputError: (text, write) => write(text) });

/** Flags every role process takes; each has an environment variable for Kubernetes. */
function roleCommand(name: string, description: string): Command {
  return addSecurityOptions(
    program
      .command(name)
      .description(description)
      .addOption(
        new Option("--nats <urls>", "NATS server URLs, comma-separated")
          .env("LIVEHOST_NATS_URL")
          .default("nats://127.0.0.1:4222"),
      )
      .addOption(
        new Option("--host <address>", "address the gRPC server binds").env("LIVEHOST_HOST").default("127.0.0.1"),
      )
      .addOption(
        new Option("--grpc-port <port>", "gRPC port; 0 picks a free one").env("LIVEHOST_GRPC_PORT").default("0"),
      )
      .addOption(
        new Option("--metrics-host <address>", "address /metrics binds")
          .env("LIVEHOST_METRICS_HOST")
          .default("127.0.0.1"),
      )
      .addOption(
        new Option("--metrics-port <port>", "port of /metrics, /livez, /readyz; 0 picks a free one")
          .env("LIVEHOST_METRICS_PORT")
          .default("0"),
      )
      .addOption(
        new Option("--id <id>", "this process's id (default: hostname and a random suffix)").env("LIVEHOST_ID"),
      )
      .addOption(new Option("--nats-user <user>").env("LIVEHOST_NATS_USER"))
      .addOption(new Option("--nats-pass <password>").env("LIVEHOST_NATS_PASSWORD"))
      .addOption(new Option("--nats-creds <file>", "NATS .creds file").env("LIVEHOST_NATS_CREDS")),
  );
}

roleCommand("room-host", "host room actors")
  .addOption(
    new Option("--replicas <n>", "JetStream replicas of mailboxes and state (1 on one server, 3 in production)")
      .env("LIVEHOST_JETSTREAM_REPLICAS")
      .default("1"),
  )
  .addOption(
    new Option("--capacity <n>", "rooms this host is willing to run").env("LIVEHOST_ROOM_CAPACITY").default("1000"),
  )
  .addOption(
    new Option("--avatars <dir>", "avatar packs, one per subdirectory (rooms go on air only with it)").env(
      "LIVEHOST_AVATARS_DIR",
    ),
  )
  .addOption(
    new Option("--media-dir <dir>", "where each room's HLS and recordings are written").env("LIVEHOST_MEDIA_DIR"),
  )
  .action(async (flags: RoleFlags & { replicas: string; capacity: string; avatars?: string; mediaDir?: string }) => {
    const replicas = parsePositiveInteger(flags.replicas, "--replicas", 5);
    const capacity = parsePositiveInteger(flags.capacity, "--capacity");
    if ((flags.avatars === undefined) !== (flags.mediaDir === undefined)) {
      throw new InvalidArgumentError("--media-dir", "--avatars and --media-dir go together: rooms on air need both");
    }
    // An OpenAI-compatible LLM from LIVEHOST_LLM_ENDPOINT / _MODEL / _API_KEY; the embedded brain otherwise.
    const live = flags.avatars
      ? { avatarsDir: flags.avatars, mediaDir: flags.mediaDir!, llm: llmOptionsFromEnv() }
      : undefined;
    await runRole("room-host", compileRoleSettings(flags), async ({ nats, registry, logger, settings }) => {
      const host = await startRoomHost({
        nats,
        registry,
        logger,
        hostId: settings.id,
        stores: { replicas },
        capacity,
        live,
      });
      return { endpoints: { status: host.statusSubject }, close: () => host.close() };
    });
  });

roleCommand("gateway", "serve RoomService over gRPC")
  .addOption(
    new Option("--media-dir <dir>", "serve the viewer page with the rooms' HLS from here (local mode)").env(
      "LIVEHOST_MEDIA_DIR",
    ),
  )
  .addOption(
    new Option("--http-port <port>", "viewer page port; 0 picks a free one").env("LIVEHOST_HTTP_PORT").default("0"),
  )
  .action(async (flags: RoleFlags & { mediaDir?: string; httpPort: string }) => {
    const httpPort = parsePort(flags.httpPort, "--http-port");
    await runRole("gateway", compileRoleSettings(flags), async ({ nats, registry, logger, settings }) => {
      const gateway = await startGateway({
        nats,
        registry,
        logger,
        grpcHost: settings.host,
        grpcPort: settings.grpcPort,
        viewer: flags.mediaDir ? { mediaDir: flags.mediaDir, host: settings.host, port: httpPort } : undefined,
      });
      const endpoints: Record<string, string> = { grpc: gateway.grpc.address };
      if (gateway.viewerUrl) endpoints.http = gateway.viewerUrl;
      return { endpoints, close: () => gateway.close() };
    });
  });

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
        "on SIGTERM, how long streams in flight may finish (keep below the pod's termination grace period)",
      )
        .env("LIVEHOST_DRAIN_SECONDS")
        .default("30"),
    );
}

type WorkerFlags = RoleFlags & { maxStreams: string; advertiseAddress?: string; drainSeconds: string };
type TtsFlags = WorkerFlags & { modelDir?: string; executionProvider: ExecutionProviderChoice; maxBatch: string };

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
  .action(async (flags: TtsFlags) => {
    const maxStreams = parsePositiveInteger(flags.maxStreams, "--max-streams");
    const maxBatch = parsePositiveInteger(flags.maxBatch, "--max-batch", 64);
    const drainMs = parseDrainSeconds(flags.drainSeconds) * 1000;
    await runRole("tts-worker", compileRoleSettings(flags), async ({ nats, registry, logger, settings }) => {
      const speech = await startSpeechWorker({
        nats,
        registry,
        logger,
        workerId: settings.id,
        grpcHost: settings.host,
        grpcPort: settings.grpcPort,
        advertiseAddress: flags.advertiseAddress,
        maxStreams,
        modelDir: flags.modelDir,
        executionProvider: flags.executionProvider,
        maxBatch,
      });
      return { endpoints: { grpc: speech.worker.address }, close: () => speech.close(drainMs) };
    });
  });

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
registerOperatorCommand(program);

workerCommand("lipsync-worker", "serve LipSyncService", 16)
  .addOption(
    new Option("--model <file>", "ONNX viseme model (default: the project's own)").env("LIVEHOST_LIPSYNC_MODEL"),
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
  .action(
    async (flags: WorkerFlags & { model?: string; avatars?: string; executionProvider: ExecutionProviderChoice }) => {
      const maxStreams = parsePositiveInteger(flags.maxStreams, "--max-streams");
      const drainMs = parseDrainSeconds(flags.drainSeconds) * 1000;
      await runRole("lipsync-worker", compileRoleSettings(flags), async ({ nats, registry, logger, settings }) => {
        const lipsync = await startLipSyncWorker({
          nats,
          registry,
          logger,
          modelPath: flags.model,
          avatarsDir: flags.avatars,
          executionProvider: flags.executionProvider,
          workerId: settings.id,
          grpcHost: settings.host,
          grpcPort: settings.grpcPort,
          advertiseAddress: flags.advertiseAddress,
          maxStreams,
        });
        return { endpoints: { grpc: lipsync.worker.address }, close: () => lipsync.close(drainMs) };
      });
    },
  );

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
    .option("--json", "print the endpoints as one JSON line once ready");
}

/** Brings the stack up from `up`/`demo` flags, stops it on Ctrl-C or SIGTERM, and prints where everything is. */
async function upFromFlags(flags: UpFlags): Promise<Stack> {
  const stack = await startStack({
    natsUrl: flags.nats,
    gatewayPort: parsePort(flags.gatewayPort, "--gateway-port"),
    logLevel: flags.logLevel,
  });
  stopOnSignal(stack);
  printStack(stack, flags.json);
  return stack;
}

upOptions(program.command("up").description("start nats-server and every role on loopback until Ctrl-C")).action(
  async (flags: UpFlags) => {
    await upFromFlags(flags);
    process.stdout.write("Press Ctrl-C to stop.\n");
  },
);

upOptions(program.command("demo").description("bring the local stack up and show that every role is healthy"))
  .option("--check", "exit after the health check (status 1 if a role is unhealthy)")
  .action(async (flags: UpFlags & { check?: boolean }) => {
    const stack = await upFromFlags(flags);
    const health = await checkStackHealth(stack);
    process.stdout.write("\nhealth\n");
    for (const h of health) process.stdout.write(`  ${h.healthy ? "ok  " : "FAIL"} ${h.role.padEnd(16)} ${h.detail}\n`);
    const allHealthy = health.every((h) => h.healthy);
    process.stdout.write(allHealthy ? "\nevery role is healthy\n" : "\nsome roles are unhealthy\n");
    if (allHealthy) {
      process.stdout.write("\nthe roles together\n");
      await tour(stack, (line) => process.stdout.write(`  ${line}\n`));
    }
    if (flags.check) {
      await stack.stop();
      process.exit(allHealthy ? 0 : 1);
    }
    process.stdout.write("Press Ctrl-C to stop.\n");
  });

function printStack(stack: Stack, json = false): void {
  process.stdout.write(`${describeStack(stack)}\n`);
  if (json) {
    const roles = stack.roles.map(({ role, pid, endpoints }) => ({ role, pid, endpoints }));
    process.stdout.write(`${JSON.stringify({ nats: stack.nats, roles })}\n`);
  }
}

program.parseAsync().catch((err: unknown) => {
  if (err instanceof LivehostError) {
    process.stderr.write(`livehost: ${err.message}\n`);
    process.exit(2);
  }
  process.stderr.write(`livehost: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
