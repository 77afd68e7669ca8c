// RoomService as internal services see it. Every request is validated here (INVALID_ARGUMENT names the field);
// comments go to the room's durable inbox. Methods whose room-side behaviour is not built yet answer UNIMPLEMENTED
// rather than pretending.
import type { NatsConnection } from "@nats-io/transport-node";
import {
  RoomServiceService,
  type RoomServiceServer,
  type PostCommentRequest,
  type PostCommentResponse,
} from "../proto/index.js";
import { enqueueComment, validateComment, validateRoomId } from "../rooms/index.js";
import {
  InvalidArgumentError,
  UnimplementedError,
  serverStream,
  unary,
  type GrpcServiceRegistration,
} from "../transport/index.js";

export interface RoomServiceDeps {
  nats: NatsConnection;
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
  const { duplicate } = await enqueueComment(deps.nats, comment);
  return { commentId: comment.commentId, queued: !duplicate };
}

const notYet = (method: string) => () =>
  Promise.reject(new UnimplementedError(`RoomService.${method} is not available in this build yet`));

export function roomService(deps: RoomServiceDeps): GrpcServiceRegistration {
  const implementation: RoomServiceServer = {
    createRoom: unary("CreateRoom", notYet("CreateRoom")),
    getRoom: unary("GetRoom", notYet("GetRoom")),
    listRooms: unary("ListRooms", notYet("ListRooms")),
    updateRoom: unary("UpdateRoom", notYet("UpdateRoom")),
    startRoom: unary("StartRoom", notYet("StartRoom")),
    stopRoom: unary("StopRoom", notYet("StopRoom")),
    postComment: unary("PostComment", (request: PostCommentRequest) => postComment(deps, request)),
    say: unary("Say", notYet("Say")),
    interrupt: unary("Interrupt", notYet("Interrupt")),
    watchRoom: serverStream("WatchRoom", () => ({
      [Symbol.asyncIterator]: () => ({ next: notYet("WatchRoom") }),
    })),
  };
  return { name: "livehost.v1.RoomService", definition: RoomServiceService, implementation };
}
