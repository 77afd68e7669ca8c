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
  type RoomServiceServer,
  type StopRoomRequest,
  type UpdateRoomRequest,
} from "../proto/index.js";
import {
  RoomClient,
  RoomEndedError,
  enqueueComment,
  validateComment,
  validateRoomId,
  validateRoomSpec,
  type RoomDirectory,
} from "../rooms/index.js";
import { InvalidArgumentError, NotFoundError, ProtocolError } from "../errors/index.js";
import { serverStream, unary, type GrpcServiceRegistration } from "../transport/index.js";
import { roomWatcher, type RoomWatchDeps } from "./room-watch.js";

export interface RoomServiceDeps extends RoomWatchDeps {
  nats: NatsConnection;
  directory: RoomDirectory;
  /** Where comments the inbox refuses (livehost_inbox_refused_total) and watches skip are counted. */
  registry?: Registry;
}

const requestIdPattern = /^.{1,64}$/su;

function validateRequestId(requestId: string, required: boolean): void {
  if (requestId === "" && !required) return;
  if (!requestIdPattern.test(requestId)) throw new InvalidArgumentError("request_id", "must be 1 to 64 characters");
}

/** A room id made from the create's request id, so a retried create lands on the same room. */
export function roomIdFor(requestId: string): string {
  return `r-${createHash("sha256").update(requestId).digest("hex").slice(0, 16)}`;
}

export async function postComment(deps: RoomServiceDeps, request: PostCommentRequest): Promise<PostCommentResponse> {
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

  const implementation: RoomServiceServer = {
    createRoom: unary("CreateRoom", (request: CreateRoomRequest) => {
      validateRequestId(request.requestId, true);
      const roomId = request.roomId || roomIdFor(request.requestId);
      validateRoomId(roomId);
      validateRoomSpec(request.spec);
      return roomOf(rooms.request(roomId, { $case: "create", value: { ...request, roomId } }));
    }),
    getRoom: unary("GetRoom", async (request: { roomId: string }) => {
      validateRoomId(request.roomId);
      const room = await deps.directory.get(request.roomId);
      if (!room) throw new NotFoundError(`room ${request.roomId} does not exist`);
      return room;
    }),
    listRooms: unary("ListRooms", (request: ListRoomsRequest) => {
      if (request.pageToken !== "") validateRoomId(request.pageToken, "page_token");
      return deps.directory.list(request);
    }),
    updateRoom: unary("UpdateRoom", (request: UpdateRoomRequest) => {
      validateRoomId(request.roomId);
      if (!request.updateMask || request.updateMask.length === 0) {
        throw new InvalidArgumentError("update_mask", 'name the fields to change, e.g. ["catalog"]');
      }
      return roomOf(rooms.request(request.roomId, { $case: "update", value: request }));
    }),
    startRoom: unary("StartRoom", (request: { roomId: string; requestId: string }) => {
      validateRoomId(request.roomId);
      validateRequestId(request.requestId, false);
      return roomOf(rooms.request(request.roomId, { $case: "start", value: request }));
    }),
    stopRoom: unary("StopRoom", (request: StopRoomRequest) => {
      validateRoomId(request.roomId);
      validateRequestId(request.requestId, false);
      if ([...request.reason].length > 200) throw new InvalidArgumentError("reason", "must be at most 200 characters");
      return roomOf(rooms.request(request.roomId, { $case: "stop", value: request }));
    }),
    postComment: unary("PostComment", (request: PostCommentRequest) => postComment(deps, request)),
    say: unary("Say", async (request: { roomId: string; text: string; interrupt: boolean; requestId: string }) => {
      validateRoomId(request.roomId);
      validateRequestId(request.requestId, false);
      const length = [...request.text].length;
      if (request.text.trim() === "" || length > 2000) {
        throw new InvalidArgumentError("text", `must be 1 to 2000 characters, not blank (got ${length})`);
      }
      const reply = await rooms.request(request.roomId, { $case: "say", value: request });
      return { utteranceId: reply.utteranceId };
    }),
    interrupt: unary("Interrupt", async (request: { roomId: string }) => {
      validateRoomId(request.roomId);
      await rooms.request(request.roomId, { $case: "interrupt", value: request });
      return {};
    }),
    watchRoom: serverStream("WatchRoom", watch),
  };
  return { name: "livehost.v1.RoomService", definition: RoomServiceService, implementation };
}
