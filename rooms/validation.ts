// What a well-formed comment and room id are. The gateway checks them before queueing; the room checks them again
// for comments that arrive on NATS straight from a danmaku ingest.
import { subjects, type Comment } from "../proto/index.js";
import { validateCommentText } from "../brain/index.js";
import { InvalidArgumentError } from "../errors/index.js";

const idPattern = /^[A-Za-z0-9._:-]{1,64}$/;

export function validateRoomId(roomId: string, field = "room_id"): void {
  if (roomId === "") throw new InvalidArgumentError(field, "is required");
  if (!subjects.roomIdPattern.test(roomId)) {
    throw new InvalidArgumentError(
      field,
      "must be 1 to 63 characters of a-z, 0-9 and '-', starting with a letter or digit",
    );
  }
}

/** Throws InvalidArgumentError naming the first bad field (prefixed, e.g. "comment.text"). */
export function validateComment(comment: Comment, prefix = ""): void {
  const field = (name: string) => `${prefix}${name}`;
  if (!idPattern.test(comment.commentId)) {
    throw new InvalidArgumentError(
      field("comment_id"),
      "must be 1 to 64 characters of A-Z, a-z, 0-9, '.', '_', ':', '-'",
    );
  }
  validateRoomId(comment.roomId, field("room_id"));
  if (comment.viewerId.length > 64) throw new InvalidArgumentError(field("viewer_id"), "must be at most 64 characters");
  if (comment.viewerName.length > 64)
    throw new InvalidArgumentError(field("viewer_name"), "must be at most 64 characters");
  if (!/^[\x20-\x7e]{0,64}$/.test(comment.source)) {
    throw new InvalidArgumentError(field("source"), "must be at most 64 printable ASCII characters");
  }
  // What valid comment text is (not empty, no control characters, valid UTF-8, at most 200 characters) is the
  // brain's rule; the gateway and the room apply it before anything else sees the comment.
  const text = validateCommentText(comment.text);
  if (!text.ok) throw new InvalidArgumentError(field("text"), text.message.replace(/^text /, ""));
}
