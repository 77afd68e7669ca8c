// Errors of a room's life cycle: what a request meets when the room is not in a state that allows it. Each names
// the room; they reach callers through the room actor's reply as their code (FAILED_PRECONDITION, ALREADY_EXISTS...).
import { AbortedError, AlreadyExistsError, FailedPreconditionError, InvalidArgumentError } from "../errors/index.js";
import type { GuardResult } from "../brain/index.js";

/** The room has ended for good; going live again needs a new room. */
export class RoomEndedError extends FailedPreconditionError {
  override name = "RoomEndedError";
  readonly roomId: string;

  constructor(roomId: string) {
    super(`room ${roomId} has ended; create a new room to go live again`);
    this.roomId = roomId;
  }
}

/** An operation that needs the room on air (live or paused) came while it was not. */
export class RoomNotLiveError extends FailedPreconditionError {
  override name = "RoomNotLiveError";
  readonly roomId: string;

  /** `what` names the operation, e.g. "say". */
  constructor(roomId: string, what: string) {
    super(`room ${roomId} is not on air (${what} needs a live room)`);
    this.roomId = roomId;
  }
}

/** The room's spec lacks what going live needs (its output): UpdateRoom it first. */
export class RoomSpecIncompleteError extends FailedPreconditionError {
  override name = "RoomSpecIncompleteError";
  readonly roomId: string;

  /** `reason` is the spec check's message, naming the field. */
  constructor(roomId: string, reason: string) {
    super(`room ${roomId} cannot go live: its ${reason}; set it with UpdateRoom first`);
    this.roomId = roomId;
  }
}

/** A create for a room id that is taken (by another request: a retry of the same request id is not an error). */
export class RoomExistsError extends AlreadyExistsError {
  override name = "RoomExistsError";
  readonly roomId: string;

  constructor(roomId: string) {
    super(`room ${roomId} already exists`);
    this.roomId = roomId;
  }
}

/** An update conditional on a revision the room has moved past: read it again, then decide. */
export class RoomRevisionError extends AbortedError {
  override name = "RoomRevisionError";
  readonly roomId: string;

  constructor(roomId: string, revision: number, expected: number) {
    super(`room ${roomId} is at revision ${revision}, not ${expected}: read it again`);
    this.roomId = roomId;
  }
}

/** A human's line (Say) that the speech guard refuses, as it would refuse the same sentence from the LLM. */
export class LineRefusedError extends InvalidArgumentError {
  override name = "LineRefusedError";

  constructor(verdict: Exclude<GuardResult, { ok: true }>) {
    super("text", `refused by the speech guard (${verdict.violation}: "${verdict.detail}"); an admin may override it`);
  }
}

/** A spec naming an avatar pack that no room host has and onboarding never published. */
export class UnknownAvatarError extends InvalidArgumentError {
  override name = "UnknownAvatarError";

  constructor(avatarId: string) {
    super("spec.avatar.avatar_id", `no avatar pack ${avatarId}: build one with onboarding, or name one that exists`);
  }
}

/** A spec naming a voice that none of the speech workers offers (those known: ListVoices). */
export class UnknownVoiceError extends InvalidArgumentError {
  override name = "UnknownVoiceError";

  constructor(voiceId: string, offered: string[]) {
    super("spec.voice.voice_id", `no speech worker offers voice ${voiceId} (voices: ${offered.join(", ")})`);
  }
}
