// What a well-formed comment and room id are. The gateway checks them before queueing; the room checks them again
// for comments that arrive on NATS straight from a danmaku ingest.
import { subjects, type Comment } from "../proto/index.js";
import { InvalidArgumentError } from "../transport/index.js";

/** Danmaku platforms cap comments far lower; 200 code points is our hard limit. */
export const maxCommentLength = 200;
const idPattern = /^[A-Za-z0-9._:-]{1,64}$/;
// C0 and C1 controls, DEL, and the bidi overrides that can disguise text; tabs and newlines are controls too here.
// eslint-disable-next-line no-control-regex
const controlCharacters = /[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/u;

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
  const text = comment.text;
  if (text.trim() === "") throw new InvalidArgumentError(field("text"), "must not be empty or blank");
  // Protobuf decoding turns invalid UTF-8 into U+FFFD; a comment carrying it was not valid text when sent.
  if (text.includes("\uFFFD")) throw new InvalidArgumentError(field("text"), "is not valid UTF-8");
  if (controlCharacters.test(text))
    throw new InvalidArgumentError(field("text"), "must not contain control characters");
  const length = [...text].length;
  if (length > maxCommentLength) {
    throw new InvalidArgumentError(field("text"), `must be at most ${maxCommentLength} characters (got ${length})`);
  }
}
