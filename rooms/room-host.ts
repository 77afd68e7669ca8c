// The room host process: runs room actors on the actor runtime, and answers status requests as a NATS micro
// service ("livehost-room-host"), so operators and the demo can find every host with $SRV.PING. It also answers WHEP
// signalling (WebRTC viewers) for the rooms it has on air.
import { Svcm, type Service } from "@nats-io/services";
import type { Msg, NatsConnection, Subscription } from "@nats-io/transport-node";
import { rootLogger, type Logger, type Registry } from "../observability/index.js";
import { RoomMediaGraph } from "../media/index.js";
import { LivehostError, MalformedMessageError, NotFoundError } from "../errors/index.js";
import { subjects } from "../proto/index.js";
import { ActorHost, type LoadGuardOptions, type StoreSettings } from "../actors/index.js";
import { jetstreamManager } from "@nats-io/jetstream";
import { UnknownAvatarError } from "./errors.js";
import { RoomDirectory } from "./directory.js";
import { ensureRoomEventsStream, type RoomEventsSettings } from "./event-log.js";
import { roomActor } from "./room-actor.js";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { AvatarStore } from "../avatars/index.js";
import { ProductImages } from "./product-images.js";
import { Voice } from "./voice.js";
import { WorkerDirectory } from "./workers.js";
import type { OnAirRoom, LiveRoomDeps } from "./live-room.js";
import { compileRenderAhead, type RenderAheadOptions } from "./render-ahead.js";

export interface RoomHostOptions {
  nats: NatsConnection;
  registry: Registry;
  /** Default "<hostname>-<random>"; in Kubernetes, the pod name. */
  hostId?: string;
  /** JetStream replicas and retention of the rooms' mailboxes and state. */
  stores?: StoreSettings;
  /** Retention of the rooms' events (replicas follow `stores`). */
  events?: Omit<RoomEventsSettings, "replicas">;
  /** Rooms this host is willing to run (it takes no more while other hosts do). Default 1000. */
  capacity?: number;
  /** When the host sheds load for its event loop's lag (ActorHostOptions.loadGuard). */
  loadGuard?: LoadGuardOptions;
  /**
   * Put rooms on air for real: avatar packs, where media output goes, and an optional LLM. Without it rooms keep
   * their record and lifecycle only.
   */
  live?: Pick<
    LiveRoomDeps,
    | "avatarsDir"
    | "mediaDir"
    | "llm"
    | "x264Preset"
    | "onAnswerHeard"
    | "onUtteranceEncoded"
    | "openRoom"
    | "streamKeys"
  > & {
    /** Hosts product pictures may be fetched from (https only); none: product cards show no picture. */
    imageHosts?: string[];
    /** Extra CA certificates for those hosts (tests). */
    imageCa?: string | Buffer;
    /** What rooms rendering their show ahead (spec.show.render_ahead) may keep: default 64 MiB per room. */
    renderAhead?: RenderAheadOptions;
  };
  logger?: Logger;
}

export interface RoomHostStatus {
  hostId: string;
  actors: number;
  startedAt: string;
}

export interface RoomHost extends AsyncDisposable {
  readonly id: string;
  readonly actors: ActorHost;
  /** The rooms on air on this host, by id. */
  readonly onAir: ReadonlyMap<string, OnAirRoom>;
  /** The NATS subject answering RoomHostStatus as JSON. */
  readonly statusSubject: string;
  status(): RoomHostStatus;
  /** Hands every room over to other hosts, then stops. */
  close(): Promise<void>;
}

export const roomHostServiceName = "livehost-room-host";

export async function startRoomHost(options: RoomHostOptions): Promise<RoomHost> {
  const log = (options.logger ?? rootLogger()).child({ role: "room-host" });
  // A bad bound fails the start, naming the field, before anything is started.
  const renderAhead = options.live ? compileRenderAhead(options.live.renderAhead) : undefined;
  const startedAt = new Date().toISOString();
  const directory = await RoomDirectory.open(options.nats, options.stores?.replicas);
  await ensureRoomEventsStream(await jetstreamManager(options.nats), {
    ...options.events,
    replicas: options.stores?.replicas,
  });
  const onAir = new Map<string, OnAirRoom>();
  const workers = options.live ? await WorkerDirectory.start(options.nats) : undefined;
  const voice = workers ? new Voice(workers, log) : undefined;
  const images =
    options.live && (options.live.imageHosts?.length ?? 0) > 0
      ? new ProductImages({
          allowedHosts: options.live.imageHosts!,
          ca: options.live.imageCa,
          cacheDir: join(options.live.mediaDir, ".product-images"),
          registry: options.registry,
          logger: log,
        })
      : undefined;
  const avatars = options.live ? await AvatarStore.open(options.nats, options.stores?.replicas) : undefined;
  const live =
    options.live && voice
      ? {
          ...options.live,
          renderAhead,
          voice,
          images,
          registry: options.registry,
          ensureAvatar: (avatarId: string) => ensureAvatar(avatars!, options.live!.avatarsDir, avatarId, log),
          avatarExists: (avatarId: string) => avatarExists(avatars!, options.live!.avatarsDir, avatarId),
        }
      : undefined;
  const actors = await ActorHost.start({
    nats: options.nats,
    registry: options.registry,
    types: [roomActor({ nats: options.nats, registry: options.registry, directory, live, onAir })],
    hostId: options.hostId,
    capacity: options.capacity,
    loadGuard: options.loadGuard,
    stores: options.stores,
    logger: log,
  });
  const id = actors.hostId;

  const status = (): RoomHostStatus => ({ hostId: id, actors: actors.activeCount, startedAt });
  const statusSubject = `livehost.hosts.${id}.status`;
  const service: Service = await new Svcm(options.nats).add({
    name: roomHostServiceName,
    version: "0.1.0",
    description: "livehost room host",
    metadata: { hostId: id },
  });
  service.addEndpoint("status", {
    subject: statusSubject,
    handler: (err, msg) => {
      if (err) return;
      msg.respond(JSON.stringify(status()));
    },
  });
  const whep = answerWhep(options.nats, onAir, log);
  log.info({ hostId: id, statusSubject }, "room host ready");

  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      whep.unsubscribe();
      await actors.close();
      // Rooms handed over (or ended) stop their media before the connection they publish on goes.
      await Promise.all([...onAir.values()].map((room) => room.stop()));
      voice?.[Symbol.dispose]();
      await workers?.[Symbol.asyncDispose]();
      await service.stop();
      log.info("room host stopped");
    })());
  return { id, actors, onAir, statusSubject, status, close, [Symbol.asyncDispose]: close };
}

/** How long a WHEP offer may take here (the graph's own negotiation limit is shorter). */
const whepOfferTimeoutMs = 12_000;

/**
 * WHEP signalling for the rooms on air on this host (subjects.roomWhep): every host hears every request, and only the
 * one with the room on air answers, so the gateway's request gets one reply or none (then the room is not streaming).
 */
function answerWhep(nats: NatsConnection, onAir: ReadonlyMap<string, OnAirRoom>, log: Logger): Subscription {
  return nats.subscribe(subjects.allRoomWhep, {
    callback: (err, msg) => {
      if (err) return;
      const room = onAir.get(msg.subject.slice(msg.subject.lastIndexOf(".") + 1));
      // Rooms on air through a stand-in (benchmarks) have no media graph: not ours to answer.
      const media = room && !room.stopped && "media" in room ? room.media : undefined;
      if (!(media instanceof RoomMediaGraph)) return;
      void whepRequest(media, msg).catch((error: unknown) => {
        const refused = error instanceof LivehostError ? error : undefined;
        if (!refused) log.error({ err: error, roomId: media.roomId }, "WHEP request failed");
        const retryAfter = (error as { retryAfterSeconds?: unknown }).retryAfterSeconds;
        msg.respond(
          JSON.stringify({
            error: {
              code: refused?.code ?? "internal",
              message: refused?.message ?? "internal error",
              ...(typeof retryAfter === "number" ? { retryAfterSeconds: retryAfter } : {}),
            },
          }),
        );
      });
    },
  });
}

async function whepRequest(media: RoomMediaGraph, msg: Msg): Promise<void> {
  let request: { op?: unknown; sdp?: unknown; session?: unknown };
  try {
    request = JSON.parse(msg.string()) as typeof request;
  } catch (err) {
    throw new MalformedMessageError("WHEP request: not JSON", { cause: err });
  }
  if (request.op === "offer" && typeof request.sdp === "string") {
    const { sessionId, answer } = await media.openViewer(request.sdp, AbortSignal.timeout(whepOfferTimeoutMs));
    msg.respond(JSON.stringify({ session: sessionId, answer }));
  } else if (request.op === "delete" && typeof request.session === "string") {
    if (!(await media.closeViewer(request.session))) throw new NotFoundError("no such WebRTC session");
    msg.respond(JSON.stringify({ deleted: true }));
  } else {
    throw new MalformedMessageError('WHEP request: op must be "offer" (with sdp) or "delete" (with session)');
  }
}

/** Whether an avatar pack is on this host or published in the avatar store (onboarding's). */
async function avatarExists(avatars: AvatarStore, avatarsDir: string, avatarId: string): Promise<boolean> {
  return existsSync(join(avatarsDir, avatarId, "pack.json")) || (await avatars.info(avatarId)) !== undefined;
}

/**
 * A pack built by onboarding (published through NATS) copied into the avatars directory the first time it is used.
 * An InvalidArgumentError naming spec.avatar.avatar_id when there is no such pack.
 */
async function ensureAvatar(avatars: AvatarStore, avatarsDir: string, avatarId: string, log: Logger): Promise<void> {
  if (existsSync(join(avatarsDir, avatarId, "pack.json"))) return;
  const published = await avatars.info(avatarId);
  if (!published) throw new UnknownAvatarError(avatarId);
  await avatars.fetch(avatarId, avatarsDir);
  log.info({ avatar: avatarId }, "avatar pack fetched from the avatar store");
}
