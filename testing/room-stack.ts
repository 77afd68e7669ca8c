// A whole room stack in the test's process, as the tests need it: a real nats-server, room hosts, and optionally
// real TTS and lip-sync workers on 127.0.0.1:0 with a small avatar pack (rooms then go on air for real: media graph,
// HLS in a temporary directory) and a gateway. Every room's events are recorded. `await using` tears it all down.
import { cp, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { jetstream, type JetStreamClient } from "@nats-io/jetstream";
import { startGateway, type Gateway } from "../gateway/internal.js";
import {
  startLipSyncWorker,
  startSpeechWorker,
  writeDefaultAvatarPack,
  type LipSyncWorker,
  type SpeechWorker,
} from "../gpu-workers/internal.js";
import type { LlmOptions } from "../brain/index.js";
import { AsyncDisposableStack, createLogger, createRegistry, type Registry } from "../observability/index.js";
import type { RoomServiceClient } from "../proto/index.js";
import { RoomEvent, type Room, type RoomSpec, type RoomActorRequest, type UtteranceStarted } from "../proto/index.js";
import {
  RoomClient,
  startRoomHost,
  streamKeysFrom,
  type RenderAheadOptions,
  type RoomHost,
} from "../rooms/internal.js";
import { connectNats, type NatsConnection, type NatsServerProcess } from "../transport/index.js";
import { startNatsServer } from "./nats.js";
import { sampleRoomSpec } from "./rooms.js";
import { roomServiceClient } from "./grpc.js";

export interface TestRoomStackOptions {
  /** Room hosts to start (default 1); more with addRoomHost(). */
  roomHosts?: number;
  /**
   * Put rooms on air for real: real TTS and lip-sync workers, the default avatar pack (plus `avatars`, copies of it
   * under other ids) and media output under a temporary directory. Default false: rooms keep their record and
   * lifecycle only.
   */
  live?: boolean;
  /** TTS and lip-sync workers to start when live (default 1 each); more with addTtsWorker() / addLipSyncWorker(). */
  ttsWorkers?: number;
  lipsyncWorkers?: number;
  /** The lip-sync workers' --model: a viseme model or a wav2lip-shaped generator (default the project's viseme model). */
  lipsyncModel?: string;
  /** Extra avatar ids, copies of the default pack. */
  avatars?: string[];
  /** A gateway (RoomService on 127.0.0.1:0); `{ viewer: true }` also serves the viewer page from the media dir. */
  gateway?: boolean | { viewer: boolean };
  /** RTMP stream keys of live rooms: a directory with one file per secret name (see rooms/stream-keys.ts). */
  streamKeysDir?: string;
  /** An OpenAI-compatible LLM the live rooms answer with (brain/internal.ts has a fake one). */
  llm?: LlmOptions;
  /** What rooms rendering their show ahead keep (RoomHostOptions.live.renderAhead). */
  renderAhead?: RenderAheadOptions;
}

/** A room host of the stack, on its own NATS connection (as its own process would be), with its logs. */
export interface TestRoomHost {
  readonly host: RoomHost;
  readonly id: string;
  readonly registry: Registry;
  /** What it logged at warn and above, one JSON object per line. */
  logs(): string;
  /** Hands its rooms over to the other hosts and stops (as on SIGTERM). */
  close(): Promise<void>;
  /**
   * Dies as a process would (kill -9): its NATS connection goes at once, so it renews nothing and hands nothing over;
   * its rooms stop without a word. The other hosts take its rooms over once they find it dead.
   */
  crash(): Promise<void>;
}

/** A worker of the stack, with its metrics. */
export type TestWorker<W extends SpeechWorker | LipSyncWorker> = W & { readonly registry: Registry };
export type TestSpeechWorker = TestWorker<SpeechWorker>;
export type TestLipSyncWorker = TestWorker<LipSyncWorker>;

export interface TestRoomStack extends AsyncDisposable {
  readonly nats: NatsServerProcess;
  /** The test's own connection. */
  readonly nc: NatsConnection;
  readonly js: JetStreamClient;
  /** Asks rooms over NATS, as the gateway does. */
  readonly rooms: RoomClient;
  readonly hosts: TestRoomHost[];
  readonly ttsWorkers: TestWorker<SpeechWorker>[];
  readonly lipsyncWorkers: TestWorker<LipSyncWorker>[];
  /** Where live rooms write their output: <mediaDir>/<roomId>/hls; and the avatar packs, one per directory. */
  readonly mediaDir: string;
  readonly avatarsDir: string;
  readonly gateway?: Gateway;
  /** RoomService on the gateway, when there is one. */
  readonly client?: RoomServiceClient;
  /** Every room's events, in the order they arrived. */
  readonly events: RoomEvent[];
  addRoomHost(): Promise<TestRoomHost>;
  addTtsWorker(): Promise<TestWorker<SpeechWorker>>;
  addLipSyncWorker(): Promise<TestWorker<LipSyncWorker>>;
  /**
   * A worker dies: its gRPC server goes at once, failing the streams in flight, and it leaves the directory (as its
   * announcements would stop). Rooms find out by their streams failing.
   */
  crash(worker: SpeechWorker | LipSyncWorker): Promise<void>;
  /** One room's events. */
  eventsOf(roomId: string): RoomEvent[];
  /** The sentences a room started speaking, in order. */
  utterances(roomId: string): UtteranceStarted[];
  /** The host that holds a room now (from its record). */
  hostOf(roomId: string): Promise<TestRoomHost>;
  request(roomId: string, request: NonNullable<RoomActorRequest["request"]>): Promise<Room>;
  /** Creates a room (the sample spec unless given one), its request id its room id. */
  create(roomId: string, spec?: RoomSpec): Promise<Room>;
  start(roomId: string): Promise<Room>;
  get(roomId: string): Promise<Room>;
  /** A room that goes on air in this stack: the sample spec with HLS output at the avatar pack's size. */
  liveSpec(overrides?: Partial<RoomSpec>): RoomSpec;
}

/** The stack as started with `O`: with a gateway asked for, its gateway and RoomService client are there. */
export type TestRoomStackWith<O extends TestRoomStackOptions> = TestRoomStack &
  (O extends { gateway: true | { viewer: boolean } }
    ? { readonly gateway: Gateway; readonly client: RoomServiceClient }
    : unknown);

/** The size of the test avatar pack, and so of live rooms' video. */
export const testFrame = { width: 360, height: 640 };

export async function startTestRoomStack<const O extends TestRoomStackOptions = Record<never, never>>(
  options: O = {} as O,
): Promise<TestRoomStackWith<O>> {
  await using stack = new AsyncDisposableStack();
  const dir = await mkdtemp(join(tmpdir(), "livehost-room-stack-"));
  stack.defer(() => rm(dir, { recursive: true, force: true }));
  const avatarsDir = join(dir, "avatars");
  const mediaDir = join(dir, "media");
  const live = options.live ?? false;
  if (live) {
    await writeDefaultAvatarPack(join(avatarsDir, "default"), testFrame);
    for (const id of options.avatars ?? []) await copyAvatar(avatarsDir, id);
  }

  const nats = stack.use(await startNatsServer());
  const nc = await connectNats({ servers: nats.url, name: "test" });
  stack.defer(() => nc.close());
  const events: RoomEvent[] = [];
  nc.subscribe("livehost.events.rooms.*", {
    callback: (_err, msg) => {
      events.push(RoomEvent.decode(msg.data));
    },
  });

  // Workers go after the hosts at teardown (the stack unwinds in reverse): rooms stop speaking first.
  const ttsWorkers: TestWorker<SpeechWorker>[] = [];
  const lipsyncWorkers: TestWorker<LipSyncWorker>[] = [];
  stack.defer(async () => {
    await Promise.all([...ttsWorkers, ...lipsyncWorkers].map((worker) => worker.close(1_000)));
  });
  const addTtsWorker = async () => {
    const registry = createRegistry();
    const worker = Object.assign(await startSpeechWorker({ nats: nc, registry }), { registry });
    ttsWorkers.push(worker);
    return worker;
  };
  const addLipSyncWorker = async () => {
    const registry = createRegistry();
    const started = await startLipSyncWorker({
      nats: nc,
      registry,
      avatarsDir,
      executionProvider: "cpu",
      modelPath: options.lipsyncModel,
    });
    const worker = Object.assign(started, { registry });
    lipsyncWorkers.push(worker);
    return worker;
  };
  if (live) {
    await Promise.all([
      ...Array.from({ length: options.ttsWorkers ?? 1 }, addTtsWorker),
      ...Array.from({ length: options.lipsyncWorkers ?? 1 }, addLipSyncWorker),
    ]);
  }

  const hosts: TestRoomHost[] = [];
  const connections: NatsConnection[] = [];
  // Every host at once, as the test ends: rooms are not handed from one closing host to the next.
  stack.defer(async () => {
    await Promise.all(hosts.map((h) => h.close()));
    await Promise.all(connections.map((c) => c.close()));
  });
  const addRoomHost = async () => {
    const hostNc = await connectNats({ servers: nats.url, name: `test-host-${hosts.length + 1}` });
    connections.push(hostNc);
    let logs = "";
    const destination = new Writable({
      write(chunk: Buffer, _encoding, done) {
        logs += chunk.toString();
        done();
      },
    });
    const registry = createRegistry();
    const host = await startRoomHost({
      nats: hostNc,
      registry,
      live: live
        ? {
            avatarsDir,
            mediaDir,
            streamKeys: streamKeysFrom(options.streamKeysDir),
            llm: options.llm,
            renderAhead: options.renderAhead,
          }
        : undefined,
      logger: createLogger({ level: "warn", destination }),
    });
    const added: TestRoomHost = {
      host,
      id: host.id,
      registry,
      logs: () => logs,
      close: () => host.close(),
      async crash() {
        await hostNc.close();
        await host.close().catch(() => undefined);
      },
    };
    hosts.push(added);
    return added;
  };
  for (let i = 0; i < (options.roomHosts ?? 1); i++) await addRoomHost();

  let gateway: Gateway | undefined;
  let client: RoomServiceClient | undefined;
  if (options.gateway) {
    const viewer = typeof options.gateway === "object" && options.gateway.viewer ? { mediaDir } : undefined;
    const auth = { development: true };
    gateway = stack.use(await startGateway({ nats: nc, registry: createRegistry(), viewer, auth }));
    client = await roomServiceClient(gateway.grpc.address);
    stack.adopt(client, (c) => c.close());
  }

  const rooms = new RoomClient(nc);
  // A room's start brings its media graph up: on a loaded 2-core test machine that can take longer than the 5 s a
  // caller waits by default, and a test asks as a patient caller would.
  const request = async (roomId: string, r: NonNullable<RoomActorRequest["request"]>) =>
    (await rooms.request(roomId, r, { timeoutMs: 20_000 })).room!;
  const eventsOf = (roomId: string) => events.filter((e) => e.roomId === roomId);
  const teardown = stack.move();
  const started: TestRoomStack = {
    nats,
    nc,
    js: jetstream(nc),
    rooms,
    hosts,
    ttsWorkers,
    lipsyncWorkers,
    mediaDir,
    avatarsDir,
    gateway,
    client,
    events,
    addRoomHost,
    addTtsWorker,
    addLipSyncWorker,
    async crash(worker) {
      await worker.worker.grpc.close(0);
      await worker.worker.close(0);
    },
    eventsOf,
    utterances: (roomId) =>
      eventsOf(roomId).flatMap((e) => (e.event?.$case === "utteranceStarted" ? [e.event.value] : [])),
    async hostOf(roomId) {
      const hostId = (await request(roomId, { $case: "get", value: { roomId } })).status?.hostId;
      const host = hosts.find((h) => h.id === hostId);
      if (!host) throw new Error(`room ${roomId} is on host "${hostId}", not one of this stack's`);
      return host;
    },
    request,
    create: (roomId, spec = sampleRoomSpec()) =>
      request(roomId, { $case: "create", value: { requestId: roomId, roomId, spec, tenant: "" } }),
    start: (roomId) => request(roomId, { $case: "start", value: { roomId, requestId: "" } }),
    get: (roomId) => request(roomId, { $case: "get", value: { roomId } }),
    liveSpec: (overrides = {}) =>
      sampleRoomSpec({
        output: {
          video: { widthPx: testFrame.width, heightPx: testFrame.height, fps: 15, bitrateKbps: 500 },
          audioBitrateKbps: 64,
          outputs: [{ kind: { $case: "hls", value: { segmentDurationS: 1, playlistLength: 6 } } }],
          aiLabel: undefined,
        },
        ...overrides,
      }),
    [Symbol.asyncDispose]: () => teardown.disposeAsync(),
  };
  return started as TestRoomStackWith<O>;
}

/** [loop, line, sentence] of a show sentence, from its utterance id "show-<loop>-<line>-<sentence>-<random>". */
export function showPlace(u: UtteranceStarted): [number, number, number] {
  const [loop, line, sentence] = u.utteranceId.split("-").slice(1, 4).map(Number);
  return [loop!, line!, sentence!];
}

/** Negative when show place a comes before b, 0 when they are the same sentence. */
export function compareShowPlaces(a: readonly number[], b: readonly number[]): number {
  return a[0]! - b[0]! || a[1]! - b[1]! || a[2]! - b[2]!;
}

/** Another avatar: the default pack under another id. */
async function copyAvatar(avatarsDir: string, id: string): Promise<void> {
  await cp(join(avatarsDir, "default"), join(avatarsDir, id), { recursive: true });
  const manifest = join(avatarsDir, id, "pack.json");
  await writeFile(manifest, JSON.stringify({ ...JSON.parse(await readFile(manifest, "utf8")), id }));
}
