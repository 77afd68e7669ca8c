// What the gateway does with jobs on a caller's behalf: submit (the video streamed into the uploads bucket, the
// record stored, the job queued), cancel, a person's decisions (quality override, script approval) and reads. Every
// decision is a compare-and-set on the job's record, so it lands once even when a worker writes at the same moment.
import { createHash } from "node:crypto";
import {
  AlreadyExistsError,
  FailedPreconditionError,
  InvalidArgumentError,
  ResourceExhaustedError,
  AbortedError,
  NotFoundError,
} from "../errors/index.js";
import type { JobSubmission } from "../proto/index.js";
import { Job, JobEventKind, JobState, RoomSpec, ShowScript, StepState } from "../proto/index.js";
import { checkCatalogWording } from "../brain/index.js";
import { validateRequestId, validateRoomId, validateRoomSpec } from "../rooms/index.js";
import { compileOutputConfig } from "../media/index.js";
import { stepNames, stepOf, type JobRecord, type JobStore } from "./store.js";

/** Uploads above this are refused (gateway flag --upload-max-bytes). */
export const defaultUploadMaxBytes = 500 * 1024 ** 2;
export const maxChunkBytes = 1024 ** 2;
/** The quality score a job's avatar needs when the submission names none. */
export const defaultMinQualityScore = 60;

/** The job id of a submission: the same tenant and request id always make the same job. */
export function jobIdFor(tenant: string, requestId: string): string {
  return `j-${createHash("sha256").update(`${tenant}\n${requestId}`).digest("hex").slice(0, 16)}`;
}

/**
 * A retry of the submission that made `made`: its first message may carry the request id alone, and whatever else it
 * carries must be what the first call sent. Another submission under a used request id is ALREADY_EXISTS naming the
 * first field that differs (the job is not the one the caller describes; a new request id makes a new job).
 */
export function checkRetry(made: JobRecord, retried: JobSubmission): void {
  const first = made.submission;
  const differs = (field: string) => {
    throw new AlreadyExistsError(
      `submission.request_id ${JSON.stringify(retried.requestId)} made job ${made.job.id} from another submission ` +
        `(its ${field} differs); send that submission again, or use a new request id for a new job`,
    );
  };
  if (retried.roomId !== "" && retried.roomId !== made.job.roomId) differs("room_id");
  if (retried.avatarId !== "" && retried.avatarId !== made.job.avatarId) differs("avatar_id");
  if (retried.videoSha256 !== "" && retried.videoSha256 !== made.job.videoSha256) differs("video_sha256");
  if (retried.videoBytes !== 0 && retried.videoBytes !== made.job.videoBytes) differs("video_bytes");
  if (retried.minQualityScore !== 0 && retried.minQualityScore !== first.minQualityScore) {
    differs("min_quality_score");
  }
  if (retried.reviewScript && !first.reviewScript) differs("review_script");
  if (retried.leaveStopped && !first.leaveStopped) differs("leave_stopped");
  if (retried.room && first.room) {
    const same = Buffer.from(RoomSpec.encode(retried.room).finish()).equals(RoomSpec.encode(first.room).finish());
    if (!same) differs("room");
  }
}

/** Checks a submission (INVALID_ARGUMENT naming the field). */
export function validateSubmission(submission: JobSubmission | undefined): asserts submission is JobSubmission {
  if (!submission) throw new InvalidArgumentError("submission", "the first message must carry the submission");
  validateRequestId(submission.requestId, { required: true, field: "submission.request_id" });
  if (submission.roomId !== "") validateRoomId(submission.roomId, "submission.room_id");
  if (submission.avatarId !== "") {
    validateRoomId(submission.avatarId, "submission.avatar_id");
    if (submission.avatarId === "default") {
      throw new InvalidArgumentError("submission.avatar_id", '"default" is the built-in avatar; name another');
    }
  }
  validateRoomSpec(submission.room, "submission.room.");
  if (!submission.room.persona) throw new InvalidArgumentError("submission.room.persona", "is required");
  // An output given is checked here, before the video is uploaded and the avatar built, rather than when the room
  // goes live at the last step; none given: the room streams HLS (defaultRoomOutput).
  if (submission.room.output) compileOutputConfig(submission.room.output, "submission.room.output");
  // The script will say the catalog's and persona's own words as written: a catalog the guard refuses is refused
  // here, before the video is uploaded.
  checkCatalogWording(submission.room.catalog!, submission.room.persona, "submission.room.");
  if (submission.videoSha256 !== "" && !/^[0-9a-f]{64}$/.test(submission.videoSha256)) {
    throw new InvalidArgumentError("submission.video_sha256", "must be 64 lower-case hex digits");
  }
  const score = submission.minQualityScore;
  if (!Number.isFinite(score) || score < 0 || score > 100) {
    throw new InvalidArgumentError("submission.min_quality_score", "must be 0 to 100");
  }
}

export interface SubmitOptions {
  tenant: string;
  submission: JobSubmission;
  /** The video's bytes, in order. */
  video: AsyncIterable<Uint8Array>;
  uploadMaxBytes?: number;
}

/** Stores the video and the job, and queues it; a retried submission returns the job its first try made. */
export async function submitJob(store: JobStore, options: SubmitOptions): Promise<Job> {
  const { submission, tenant } = options;
  const jobId = jobIdFor(tenant, submission.requestId);
  const existing = await store.get(jobId);
  if (existing) return existing.job;
  const maxBytes = options.uploadMaxBytes ?? defaultUploadMaxBytes;
  if (submission.videoBytes > maxBytes) {
    throw new ResourceExhaustedError(`the video is ${submission.videoBytes} bytes; the limit is ${maxBytes}`);
  }
  // Stored by its content, held for this job (nothing is left stored when the stream fails).
  const { sha256, bytes } = await store.videos.put(jobId, capped(options.video, maxBytes));
  if (bytes === 0) throw new InvalidArgumentError("video_chunk", "no video was sent after the submission");
  const refuse = async (err: Error) => {
    await store.videos.release(jobId, sha256);
    throw err;
  };
  if (submission.videoBytes !== 0 && submission.videoBytes !== bytes) {
    await refuse(
      new InvalidArgumentError("submission.video_bytes", `says ${submission.videoBytes}; ${bytes} bytes were sent`),
    );
  }
  if (submission.videoSha256 !== "" && submission.videoSha256 !== sha256) {
    await refuse(
      new InvalidArgumentError(
        "submission.video_sha256",
        `the bytes received have SHA-256 ${sha256}, not the one given`,
      ),
    );
  }
  const now = new Date();
  const job = Job.fromPartial({
    id: jobId,
    tenant,
    requestId: submission.requestId,
    state: JobState.JOB_STATE_QUEUED,
    steps: stepNames.map((name) => ({
      name,
      state: name === "upload" ? StepState.STEP_STATE_DONE : StepState.STEP_STATE_PENDING,
      startTime: name === "upload" ? now : undefined,
      endTime: name === "upload" ? now : undefined,
      message: name === "upload" ? `${(bytes / 1024 ** 2).toFixed(1)} MB stored, SHA-256 ${sha256.slice(0, 12)}…` : "",
    })),
    roomId: submission.roomId || `room-${jobId.slice(2)}`,
    avatarId: submission.avatarId || `avatar-${jobId.slice(2)}`,
    videoSha256: sha256,
    videoBytes: bytes,
    createTime: now,
    updateTime: now,
  });
  const record: JobRecord = {
    job,
    submission: {
      ...submission,
      minQualityScore: submission.minQualityScore || defaultMinQualityScore,
    },
    owner: 0,
    checkpoints: {},
    eventSequence: 0,
  };
  const { record: stored, created } = await store
    .create(record, { kind: JobEventKind.JOB_EVENT_KIND_QUEUED, message: "video stored; waiting for a job worker" })
    .catch(refuse);
  // The same submission sent twice at once, with other bytes: the first made the job, and uses its own video.
  if (!created && stored.job.videoSha256 !== sha256) await store.videos.release(jobId, sha256);
  if (created) await store.enqueue(jobId, "submit");
  return stored.job;
}

async function* capped(chunks: AsyncIterable<Uint8Array>, maxBytes: number): AsyncGenerator<Uint8Array> {
  let total = 0;
  for await (const chunk of chunks) {
    if (chunk.length === 0 || chunk.length > maxChunkBytes) {
      throw new InvalidArgumentError("video_chunk", `each chunk must be 1 byte to ${maxChunkBytes} bytes`);
    }
    total += chunk.length;
    if (total > maxBytes) {
      throw new ResourceExhaustedError(`the video is over the upload limit of ${maxBytes} bytes`);
    }
    yield chunk;
  }
}

/** A job's record, NOT_FOUND when there is none. */
export async function readJob(store: JobStore, jobId: string): Promise<JobRecord> {
  if (!/^j-[0-9a-f]{16}$/.test(jobId)) throw new InvalidArgumentError("job_id", 'must be "j-" and 16 hex digits');
  const record = await store.get(jobId);
  if (!record) throw new NotFoundError(`job ${jobId} does not exist`);
  return record;
}

const ended = new Set([JobState.JOB_STATE_SUCCEEDED, JobState.JOB_STATE_FAILED, JobState.JOB_STATE_CANCELLED]);

/** Whether a job in `state` has ended (succeeded, failed or cancelled). */
export const jobEnded = (state: JobState): boolean => ended.has(state);

/**
 * Cancels a job: one queued or waiting ends at once (resolves with `cleanup: true`: the caller removes what it made);
 * one running is asked to stop, and its worker ends it at once.
 */
export async function cancelJob(
  store: JobStore,
  jobId: string,
  reason: string,
): Promise<{ job: Job; cleanup: boolean }> {
  let cleanup = false;
  const record = await store.change(jobId, (r) => {
    cleanup = false;
    if (ended.has(r.job.state)) {
      throw new FailedPreconditionError(`job ${jobId} has already ended (${JobState[r.job.state]})`);
    }
    const why = reason || "cancelled by the caller";
    if (r.job.state === JobState.JOB_STATE_RUNNING) {
      r.cancelRequested = why;
      return [];
    }
    const step = r.job.steps.find((s) => s.state !== StepState.STEP_STATE_DONE);
    if (step) step.state = StepState.STEP_STATE_FAILED;
    r.job.state = JobState.JOB_STATE_CANCELLED;
    r.job.failure = { step: step?.name ?? "", code: "cancelled", message: why };
    cleanup = true;
    return [{ kind: JobEventKind.JOB_EVENT_KIND_CANCELLED, step: step?.name, message: why }];
  });
  return { job: record.job, cleanup };
}

/** A person's decision on an avatar the quality gate stopped. Resolves with `cleanup` when the job ended. */
export async function overrideQuality(
  store: JobStore,
  jobId: string,
  decision: { accept: boolean; reason: string; who: string },
): Promise<{ job: Job; cleanup: boolean }> {
  const reason = decision.reason.trim();
  if (reason === "" || [...reason].length > 500) {
    throw new InvalidArgumentError("reason", "say why, in 1 to 500 characters");
  }
  const record = await store.change(jobId, (r) => {
    const quality = stepOf(r, "quality");
    if (r.job.state !== JobState.JOB_STATE_WAITING || quality.state !== StepState.STEP_STATE_WAITING) {
      throw new FailedPreconditionError(`job ${jobId} is not waiting for a quality decision`);
    }
    if (r.job.quality) {
      r.job.quality.overriddenBy = decision.who;
      r.job.quality.overrideReason = reason;
    }
    const said = `${decision.who} ${decision.accept ? "accepted" : "refused"} the avatar: ${reason}`;
    quality.endTime = new Date();
    if (decision.accept) {
      quality.state = StepState.STEP_STATE_DONE;
      r.job.state = JobState.JOB_STATE_QUEUED;
      return [{ kind: JobEventKind.JOB_EVENT_KIND_DECIDED, step: "quality", message: said }];
    }
    quality.state = StepState.STEP_STATE_FAILED;
    r.job.state = JobState.JOB_STATE_FAILED;
    r.job.failure = { step: "quality", code: "quality_refused", message: said };
    return [
      { kind: JobEventKind.JOB_EVENT_KIND_DECIDED, step: "quality", message: said },
      { kind: JobEventKind.JOB_EVENT_KIND_FAILED, step: "quality", message: said },
    ];
  });
  if (decision.accept) await store.enqueue(jobId, `decided-${record.eventSequence}`);
  return { job: record.job, cleanup: !decision.accept };
}

/**
 * A merchant's script edit (already checked by the guard) and/or approval. ABORTED on a stale expected_version;
 * FAILED_PRECONDITION before the script exists, or when approving a job that does not wait for it.
 */
export async function updateScript(
  store: JobStore,
  jobId: string,
  edit: {
    script?: ShowScript;
    expectedVersion: number;
    approve: boolean;
    who: string;
    /** The version of the script the job's room speaks, when it has written its own since (rewrite_ahead). */
    roomVersion?: number;
  },
): Promise<JobRecord> {
  let resumed = false;
  const record = await store.change(jobId, (r) => {
    resumed = false;
    if (!r.script) throw new FailedPreconditionError(`job ${jobId} has no script yet (its "script" step is not done)`);
    const current = Math.max(r.script.version, edit.roomVersion ?? 0);
    if (edit.expectedVersion !== 0 && edit.expectedVersion !== current) {
      throw new AbortedError(`the script is at version ${current}, not ${edit.expectedVersion}: read it again`);
    }
    const events = [];
    if (edit.script) {
      r.script = ShowScript.fromPartial({
        ...edit.script,
        version: current + 1,
        author: "merchant",
        updateTime: new Date(),
        fallbackReason: "",
      });
      r.job.scriptVersion = r.script.version;
      events.push({
        kind: JobEventKind.JOB_EVENT_KIND_DECIDED,
        step: "script",
        message: `${edit.who} edited the script (version ${r.script.version})`,
      });
    }
    const step = stepOf(r, "script");
    if (edit.approve) {
      if (r.job.state !== JobState.JOB_STATE_WAITING || step.state !== StepState.STEP_STATE_WAITING) {
        throw new FailedPreconditionError(`job ${jobId} is not waiting for its script to be approved`);
      }
      step.state = StepState.STEP_STATE_DONE;
      step.endTime = new Date();
      r.job.state = JobState.JOB_STATE_QUEUED;
      resumed = true;
      events.push({
        kind: JobEventKind.JOB_EVENT_KIND_DECIDED,
        step: "script",
        message: `${edit.who} approved the script (version ${r.script.version})`,
      });
    }
    return events.length > 0 ? events : undefined;
  });
  if (resumed) await store.enqueue(jobId, `decided-${record.eventSequence}`);
  return record;
}
