// RoomService as internal services see it. Every request is validated here (INVALID_ARGUMENT names the field) before
// a room sees it; rooms are asked through their actors (created, updated, started and stopped in order with their
// mailbox), read from the room directory (no room is woken up to be listed), and watched from their kept events
// (room-watch.ts).
import { createHash } from "node:crypto";
import type { NatsConnection } from "@nats-io/transport-node";
import { maskPersonalData } from "../brain/index.js";
import type { Registry } from "../observability/index.js";
import {
  RoomServiceService,
  RoomState,
  type CreateRoomRequest,
  type ListRoomsRequest,
  type PostCommentRequest,
  type PostCommentResponse,
  type Room,
  type RoomEvent,
  type RoomServiceServer,
  type SayRequest,
  type StopRoomRequest,
  type UpdateRoomRequest,
  type WatchRoomRequest,
} from "../proto/index.js";
import {
  RoomClient,
  RoomEndedError,
  enqueueComment,
  inboxRefusedCounter,
  validateComment,
  validateRoomId,
  validateEnum,
  validateLength,
  validateRequestId,
  validateRoomSpec,
  type RoomDirectory,
} from "../rooms/index.js";
import { InvalidArgumentError, NotFoundError, PermissionDeniedError, ProtocolError } from "../errors/index.js";
import type { Action } from "../trust/index.js";
import { serverStream, unary, type GrpcServiceRegistration } from "../transport/index.js";
import type { ServerWritableStream } from "@grpc/grpc-js";
import { roomWatcher, type RoomWatchDeps } from "./room-watch.js";
import type { Access, Admitted } from "./access.js";
import type { TenantQuotas } from "./tenant-quotas.js";

export interface RoomServiceDeps extends RoomWatchDeps {
  nats: NatsConnection;
  /** Who may call what, on which rooms; every change audited. */
  access: Access;
  /** The tenants' quotas: rooms on air, comments per second, Say per minute. */
  quotas?: TenantQuotas;
  directory: RoomDirectory;
  /** Where comments the inbox refuses (livehost_inbox_refused_total) and watches skip are counted. */
  registry?: Registry;
}

/** A room id made from the create's request id, so a retried create lands on the same room. */
export function roomIdFor(requestId: string): string {
  return `r-${createHash("sha256").update(requestId).digest("hex").slice(0, 16)}`;
}

export async function postComment(
  deps: Pick<RoomServiceDeps, "nats" | "directory" | "registry">,
  request: PostCommentRequest,
  /** Checks the caller may post to this room, once the request itself is known to be well-formed. */
  admit?: () => Promise<void>,
): Promise<PostCommentResponse> {
  validateRoomId(request.roomId);
  if (!request.comment) throw new InvalidArgumentError("comment", "is required");
  if (request.comment.roomId !== "" && request.comment.roomId !== request.roomId) {
    throw new InvalidArgumentError("comment.room_id", "must be empty or equal to room_id");
  }
  const comment = {
    ...request.comment,
    roomId: request.roomId,
    source: request.comment.source || "gateway",
    sentTime: request.comment.sentTime ?? new Date(),
  };
  validateComment(comment, "comment.");
  await admit?.();
  const room = await deps.directory.get(request.roomId);
  if (!room) throw new NotFoundError(`room ${request.roomId} does not exist`);
  // An ended room answers nothing more: refuse rather than queue a comment nobody will handle.
  if (room.status?.state === RoomState.ROOM_STATE_ENDED) throw new RoomEndedError(room.id);
  // Personal data (phone and id numbers, emails, addresses...) is masked before the comment is stored: the inbox,
  // its replicas and its backups never hold it. The room masks again, for comments an ingest publishes itself.
  const stored = {
    ...comment,
    text: maskPersonalData(comment.text).text,
    viewerName: maskPersonalData(comment.viewerName).text,
  };
  const { duplicate } = await enqueueComment(deps.nats, stored, { registry: deps.registry, fieldPrefix: "comment." });
  return { commentId: comment.commentId, queued: !duplicate };
}

export function roomService(deps: RoomServiceDeps): GrpcServiceRegistration {
  const rooms = new RoomClient(deps.nats);
  // Counted from the start (0 per reason), not from the first refusal.
  if (deps.registry) inboxRefusedCounter(deps.registry);
  const { access } = deps;
  const watch = roomWatcher({
    ...deps,
    keepEvents: async (roomId) => {
      await rooms.request(roomId, { $case: "keepEvents", value: {} }, { timeoutMs: 2_000 });
    },
  });
  const roomOf = async (promise: Promise<{ room?: Room }>) => {
    const reply = await promise;
    if (!reply.room) throw new ProtocolError("room reply without a room");
    return reply.room;
  };
  /** A unary method admitted by `access` (who may call it, on which room) before `handler` runs. */
  const admitted = <Req extends object, Res>(
    action: Action,
    handler: (request: Req, admission: Admitted) => Promise<Res>,
  ) => unary<Req, Res>(action, (request, call) => access.run(action, request, call, (a) => handler(request, a)));

  const implementation: RoomServiceServer = {
    createRoom: admitted("CreateRoom", async (request: CreateRoomRequest, admission) => {
      validateRequestId(request.requestId, { required: true });
      const roomId = request.roomId || roomIdFor(request.requestId);
      validateRoomId(roomId);
      admission.entry.roomId = roomId;
      const tenant = admission.tenantForCreate(request.tenant);
      validateRoomSpec(request.spec);
      // The room's actor refuses an id another tenant holds (it is the one that knows, even during a race).
      const tier = access.tierOf(tenant);
      return roomOf(rooms.request(roomId, { $case: "create", value: { ...request, roomId, tenant } }, { tier }));
    }),
    getRoom: admitted("GetRoom", async (request: { roomId: string }, admission) => {
      validateRoomId(request.roomId);
      return admission.readRoom(request.roomId);
    }),
    listRooms: admitted("ListRooms", async (request: ListRoomsRequest, admission) => {
      if (request.pageToken !== "") validateRoomId(request.pageToken, "page_token");
      validateEnum(request.state, RoomState, "state");
      const labels = Object.entries(request.labels);
      if (labels.length > 32) throw new InvalidArgumentError("labels", "at most 32 labels");
      for (const [key, value] of labels) {
        if ([...key].length < 1 || [...key].length > 63 || [...value].length > 63) {
          throw new InvalidArgumentError(`labels[${key.slice(0, 63)}]`, "keys 1 to 63 characters, values at most 63");
        }
      }
      return deps.directory.list({ ...request, tenants: admission.listFilter(request.tenant) });
    }),
    updateRoom: admitted("UpdateRoom", async (request: UpdateRoomRequest, admission) => {
      validateRoomId(request.roomId);
      if (!request.updateMask || request.updateMask.length === 0) {
        throw new InvalidArgumentError("update_mask", 'name the fields to change, e.g. ["catalog"]');
      }
      const tier = access.tierOf(await admission.room(request.roomId));
      return roomOf(rooms.request(request.roomId, { $case: "update", value: request }, { tier }));
    }),
    startRoom: admitted("StartRoom", async (request: { roomId: string; requestId: string }, admission) => {
      validateRoomId(request.roomId);
      validateRequestId(request.requestId);
      const tenant = await admission.room(request.roomId);
      deps.quotas?.checkStart(tenant, request.roomId);
      const tier = access.tierOf(tenant);
      return roomOf(rooms.request(request.roomId, { $case: "start", value: request }, { tier }));
    }),
    stopRoom: admitted("StopRoom", async (request: StopRoomRequest, admission) => {
      validateRoomId(request.roomId);
      validateRequestId(request.requestId);
      validateLength(request.reason, "reason", 200);
      await admission.room(request.roomId);
      return roomOf(rooms.request(request.roomId, { $case: "stop", value: request }));
    }),
    postComment: admitted("PostComment", async (request: PostCommentRequest, admission) => {
      return postComment(deps, request, async () => deps.quotas?.takeComment(await admission.room(request.roomId)));
    }),
    say: admitted("Say", async (request: SayRequest, admission) => {
      validateRoomId(request.roomId);
      validateRequestId(request.requestId);
      const length = [...request.text].length;
      if (request.text.trim() === "" || length > 2000) {
        throw new InvalidArgumentError("text", `must be 1 to 2000 characters, not blank (got ${length})`);
      }
      if (request.overrideGuard && admission.caller.role !== "admin") {
        throw new PermissionDeniedError("only an admin may override the speech guard (override_guard)");
      }
      deps.quotas?.takeSay(await admission.room(request.roomId));
      if (request.overrideGuard) admission.entry.message = "override_guard: the line skipped the speech guard";
      const reply = await rooms.request(request.roomId, { $case: "say", value: request });
      return { utteranceId: reply.utteranceId };
    }),
    interrupt: admitted("Interrupt", async (request: { roomId: string }, admission) => {
      validateRoomId(request.roomId);
      await admission.room(request.roomId);
      await rooms.request(request.roomId, { $case: "interrupt", value: request });
      return {};
    }),
    watchRoom: serverStream("WatchRoom", (request: WatchRoomRequest, signal, call) =>
      admittedWatch(access, request, signal, call, watch),
    ),
  };
  return { name: "livehost.v1.RoomService", definition: RoomServiceService, implementation };
}

/** A watch starts only once admitted (its refusal audited like any other); the events then flow as they come. */
async function* admittedWatch(
  access: Access,
  request: WatchRoomRequest,
  signal: AbortSignal,
  call: ServerWritableStream<WatchRoomRequest, RoomEvent>,
  watch: (request: WatchRoomRequest, signal: AbortSignal) => AsyncIterable<RoomEvent>,
): AsyncGenerator<RoomEvent> {
  await access.run("WatchRoom", request, call, async (admission) => {
    validateRoomId(request.roomId);
    await admission.room(request.roomId);
  });
  yield* watch(request, signal);
}
