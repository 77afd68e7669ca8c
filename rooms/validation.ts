// What a well-formed comment, room id and request id are, and the checks every caller's field goes through (lengths
// in characters, enums, ids). The gateway checks them before queueing; the room checks them again for comments that
// arrive on NATS straight from a danmaku ingest.
import { subjects, type Comment } from "../proto/index.js";
import { validateCommentText } from "../brain/index.js";
import { InvalidArgumentError } from "../errors/index.js";

/**
 * Ids that become NATS message ids (a comment's, deduplicated across the whole ROOM_INBOX stream) or parts of ids
 * and names: no '.', '*', '>' or white space, so none is a subject token's wildcard or separator, and none can
 * stand in for another publisher's message id (the reminders' ids in the same stream all hold a '.').
 */
const idPattern = /^[A-Za-z0-9_:-]{1,64}$/;
const idRule = "1 to 64 characters of A-Z, a-z, 0-9, '_', ':', '-'";

/** Characters (code points, as the contracts count them), not UTF-16 code units. */
function length(value: string): number {
  let count = 0;
  for (const _ of value) count++;
  return count;
}

/**
 * Control characters other than tab and line breaks: an escape sequence in a name would act on the terminal or log
 * viewer that prints it (the CLI lists rooms as text).
 */
// eslint-disable-next-line no-control-regex -- finding control characters is the point
const controlCharacter = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]/u;

/**
 * Throws InvalidArgumentError unless `value` is `min` (default 0) to `max` characters long, with no control character
 * but tab and line breaks.
 */
export function validateLength(value: string, field: string, max: number, min = 0): void {
  const control = controlCharacter.exec(value);
  if (control) {
    const code = control[0].codePointAt(0)!.toString(16).toUpperCase().padStart(4, "0");
    throw new InvalidArgumentError(field, `must not hold control characters (U+${code} at ${control.index})`);
  }
  // Most values are short: a value no longer than `max` in UTF-16 code units is no longer in characters (and one
  // of at least one code unit has at least one character).
  if (min <= 1 && value.length >= min && value.length <= max) return;
  const count = length(value);
  if (count >= min && count <= max) return;
  if (count === 0) throw new InvalidArgumentError(field, "is required");
  const rule = min > 0 ? `must be ${min} to ${max} characters` : `must be at most ${max} characters`;
  throw new InvalidArgumentError(field, `${rule} (got ${count})`);
}

/** Line breaks and tabs: a name, a title or a label is one line wherever it is printed (the CLI's rows are lines). */
const lineBreak = /[\t\n\r\u2028\u2029]/u;

/** validateLength for a one-line value (a name, a title, a label): line breaks and tabs are refused too. */
export function validateLine(value: string, field: string, max: number, min = 0): void {
  const brk = lineBreak.exec(value);
  if (brk) {
    const code = brk[0].codePointAt(0)!.toString(16).toUpperCase().padStart(4, "0");
    throw new InvalidArgumentError(field, `must be one line: no line breaks or tabs (U+${code} at ${brk.index})`);
  }
  validateLength(value, field, max, min);
}

/**
 * Throws InvalidArgumentError unless `value` is one of the values `enumObject` declares (a ts-proto enum, e.g.
 * RoomState): a number the contract does not name, which protobuf decodes as it is, matches nothing downstream.
 * UNRECOGNIZED (-1) is ts-proto's, never the caller's; whether 0 (UNSPECIFIED) is allowed is the caller's choice.
 */
export function validateEnum(value: number, enumObject: Record<string, string | number>, field: string): void {
  const declared = Object.entries(enumObject).filter(
    (entry): entry is [string, number] => typeof entry[1] === "number" && entry[0] !== "UNRECOGNIZED",
  );
  if (declared.some(([, number]) => number === value)) return;
  const names = declared.map(([name, number]) => `${name} (${number})`).join(", ");
  throw new InvalidArgumentError(field, `${value} is not one of ${names}`);
}

export function validateRoomId(roomId: string, field = "room_id"): void {
  if (roomId === "") throw new InvalidArgumentError(field, "is required");
  if (!subjects.roomIdPattern.test(roomId)) {
    throw new InvalidArgumentError(
      field,
      "must be 1 to 63 characters of a-z, 0-9 and '-', starting with a letter or digit",
    );
  }
}

/** An idempotency key (CreateRoom, StartRoom, StopRoom, Say): it names utterances and actor requests. */
export function validateRequestId(requestId: string, { required = false, field = "request_id" } = {}): void {
  if (requestId === "" && !required) return;
  if (!idPattern.test(requestId)) throw new InvalidArgumentError(field, `must be ${idRule}`);
}

/** A point in time from the wire: a Timestamp outside what a Date holds decodes as an invalid one. */
export function validateTime(time: Date | undefined, field: string): void {
  if (time !== undefined && Number.isNaN(time.getTime())) {
    throw new InvalidArgumentError(field, "is not a time between the years -271821 and 275760");
  }
}

/** Throws InvalidArgumentError naming the first bad field (prefixed, e.g. "comment.text"). */
export function validateComment(comment: Comment, prefix = ""): void {
  const field = (name: string) => `${prefix}${name}`;
  if (!idPattern.test(comment.commentId)) throw new InvalidArgumentError(field("comment_id"), `must be ${idRule}`);
  validateRoomId(comment.roomId, field("room_id"));
  validateLine(comment.viewerId, field("viewer_id"), 64);
  validateLine(comment.viewerName, field("viewer_name"), 64);
  if (!/^[\x20-\x7e]{0,64}$/.test(comment.source)) {
    throw new InvalidArgumentError(field("source"), "must be at most 64 printable ASCII characters");
  }
  validateTime(comment.sentTime, field("sent_time"));
  // What valid comment text is (not empty, no control characters, valid UTF-8, at most 200 characters) is the
  // brain's rule; the gateway and the room apply it before anything else sees the comment.
  const text = validateCommentText(comment.text);
  if (!text.ok) throw new InvalidArgumentError(field("text"), text.message.replace(/^text /, ""));
}
