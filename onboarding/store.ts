// Where onboarding keeps its state, all of it in JetStream, so any gateway or job worker can carry a job on:
//   - KV livehost_jobs: one record per job (the Job as clients see it, the submission, each step's checkpoint),
//     changed only by compare-and-set, so the gateway and a worker never overwrite each other's change;
//   - stream JOB_EVENTS: each job's events in order (one subject per job), numbered by the record's counter;
//   - stream JOB_QUEUE: the job workers' work queue (a message is a job id to run, or to go on with);
//   - object store livehost_uploads: the uploaded videos by content (sha256/<hex>), each stored once however many
//     jobs send it, their references in the KV (videos.<hex>), their SHA-256 checked when read back (uploads.ts).
// A job is owned by one worker attempt at a time (JobRecord.owner): a write made for an older attempt is refused, so
// a worker that was presumed lost and comes back changes nothing.
import {
  AckPolicy,
  DeliverPolicy,
  DiscardPolicy,
  RetentionPolicy,
  StorageType,
  jetstream,
  jetstreamManager,
  type JetStreamClient,
} from "@nats-io/jetstream";
import { Kvm, type KV } from "@nats-io/kv";
import { Objm, type ObjectStore } from "@nats-io/obj";
import { nanos, type NatsConnection } from "@nats-io/transport-node";
import { ensureStream, whileJetStreamStarts } from "../actors/index.js";
import { VideoUploads } from "./uploads.js";
import { AbortedError, InternalError, NotFoundError } from "../errors/index.js";
import {
  Job,
  JobEvent,
  JobEventKind,
  JobState,
  JobSubmission,
  ShowScript,
  subjects,
  type JobStep,
} from "../proto/index.js";

/** The steps of every job, in order (onboarding_service.proto). */
export const stepNames = ["upload", "material", "faceid", "avatar", "quality", "script", "room"] as const;
export type StepName = (typeof stepNames)[number];

/** What a step found or made, kept so that a resumed job does not do it again. JSON-safe. */
export interface Checkpoints {
  material?: {
    durationS: number;
    width: number;
    height: number;
    fps: number;
    speechFraction: number;
    faceBox?: Box;
    mouthBox?: Box;
    /** The face the video matched (faceid), with its descriptor distance. */
    match?: { faceId: string; distance: number };
  };
  avatar?: { id: string; files: number; bytes: number };
  /** The room the job created (and whether it was started). */
  room?: { id: string; started: boolean };
}

export interface Box {
  x: number;
  y: number;
  width: number;
  height: number;
}

export interface JobRecord {
  job: Job;
  submission: JobSubmission;
  /** The worker attempt that owns the job (0: none yet); a write for another attempt is refused. */
  owner: number;
  /** Set by CancelJob while a worker runs the job: the worker stops at its next checkpoint. */
  cancelRequested?: string;
  checkpoints: Checkpoints;
  script?: ShowScript;
  /** The last event's sequence. */
  eventSequence: number;
}

/** An event to publish with a change; its sequence, time and job snapshot are filled in by the store. */
export interface EventDraft {
  kind: JobEventKind;
  step?: string;
  fraction?: number;
  message?: string;
}

export interface JobStoreSettings {
  /** Replicas of every bucket and stream (3 on a cluster). Default 1. */
  replicas?: number;
  /**
   * The uploads bucket's size (videos of jobs not yet ended: concurrent jobs × the upload limit). JetStream sets it
   * aside on disk whatever is stored. Default 2 GiB.
   */
  uploadsMaxBytes?: number;
  /** The job events stream's size (the oldest go first). Default 256 MiB. */
  eventsMaxBytes?: number;
  /** How long a job's record and events are kept. Default 30 days. */
  keepMs?: number;
}

/** Thrown by `change` when the record belongs to another worker attempt now. */
export class JobTakenOverError extends AbortedError {}

export class JobStore {
  readonly #nats: NatsConnection;
  readonly #js: JetStreamClient;
  readonly #kv: KV;
  readonly #videos: VideoUploads;

  private constructor(nats: NatsConnection, kv: KV, uploads: ObjectStore) {
    this.#nats = nats;
    this.#js = jetstream(nats);
    this.#kv = kv;
    this.#videos = new VideoUploads(kv, uploads);
  }

  static async open(nats: NatsConnection, settings: JobStoreSettings = {}): Promise<JobStore> {
    const replicas = settings.replicas ?? 1;
    const keep = nanos(settings.keepMs ?? 30 * 24 * 3600_000);
    const jsm = await jetstreamManager(nats);
    await ensureStream(jsm, {
      name: subjects.jobEventsStream,
      subjects: [subjects.jobEvents("*")],
      retention: RetentionPolicy.Limits,
      storage: StorageType.File,
      num_replicas: replicas,
      max_age: keep,
      max_bytes: settings.eventsMaxBytes ?? 256 * 1024 ** 2,
      discard: DiscardPolicy.Old,
      duplicate_window: nanos(120_000),
    });
    await ensureStream(jsm, {
      name: subjects.jobQueueStream,
      subjects: [subjects.jobQueue],
      retention: RetentionPolicy.Workqueue,
      storage: StorageType.File,
      num_replicas: replicas,
      max_msgs: 1_000_000,
      discard: DiscardPolicy.New,
      duplicate_window: nanos(120_000),
    });
    const kv = await whileJetStreamStarts(() =>
      new Kvm(nats).create(subjects.jobsBucket, {
        history: 1,
        replicas,
        storage: StorageType.File,
        ttl: settings.keepMs ?? 30 * 24 * 3600_000,
        description: "onboarding jobs' records",
      }),
    );
    const uploads = await whileJetStreamStarts(() =>
      new Objm(nats).create(subjects.uploadsBucket, {
        replicas,
        storage: StorageType.File,
        max_bytes: settings.uploadsMaxBytes ?? 2 * 1024 ** 3,
        description: "videos uploaded to onboarding jobs, by content, deleted when the last job using one ends",
      }),
    );
    return new JobStore(nats, kv, uploads);
  }

  get nats(): NatsConnection {
    return this.#nats;
  }

  async get(jobId: string): Promise<JobRecord | undefined> {
    return (await this.#read(jobId))?.record;
  }

  /** Stores a new job's record, or returns the record already stored under its id (a retried submission). */
  async create(record: JobRecord, first: EventDraft): Promise<{ record: JobRecord; created: boolean }> {
    const prepared = stamp(record, [first]);
    try {
      await this.#kv.create(record.job.id, encode(prepared.record));
    } catch (err) {
      const existing = await this.get(record.job.id);
      if (existing) return { record: existing, created: false };
      throw err;
    }
    await this.#publish(prepared.events);
    return { record: prepared.record, created: true };
  }

  /**
   * Changes a job's record by compare-and-set: `mutate` edits the record (read fresh on each try) and returns the
   * events the change makes, or undefined to change nothing. With `owner`, refuses (JobTakenOverError) once another
   * worker attempt owns the job. Resolves to the record as stored.
   */
  async change(
    jobId: string,
    mutate: (record: JobRecord) => EventDraft[] | undefined,
    options: { owner?: number } = {},
  ): Promise<JobRecord> {
    for (let attempt = 0; ; attempt++) {
      const read = await this.#read(jobId);
      if (!read) throw new NotFoundError(`job ${jobId} does not exist`);
      if (options.owner !== undefined && read.record.owner !== options.owner) {
        throw new JobTakenOverError(`job ${jobId} is run by another worker now (attempt ${read.record.owner})`);
      }
      const record = structuredClone(read.record);
      const drafts = mutate(record);
      if (!drafts) return read.record;
      const prepared = stamp(record, drafts);
      try {
        await this.#kv.update(jobId, encode(prepared.record), read.revision);
      } catch (err) {
        if (attempt >= 20 || !/wrong last sequence/i.test(String((err as Error).message))) throw err;
        continue;
      }
      await this.#publish(prepared.events);
      return prepared.record;
    }
  }

  /** Every job's record (for ListJobs): newest first. */
  async list(filter: (record: JobRecord) => boolean): Promise<JobRecord[]> {
    const records: JobRecord[] = [];
    // Job ids are one token; the videos' references (videos.<hex>) are two.
    for await (const key of await this.#kv.keys("*")) {
      const record = await this.get(key);
      if (record && filter(record)) records.push(record);
    }
    const time = (r: JobRecord) => r.job.createTime?.getTime() ?? 0;
    return records.sort((a, b) => time(b) - time(a) || (a.job.id < b.job.id ? 1 : -1));
  }

  /** Puts the job on the workers' queue; `token` makes a retried enqueue of the same intent a no-op. */
  async enqueue(jobId: string, token: string): Promise<void> {
    await this.#js.publish(subjects.jobQueue, jobId, { msgID: `${jobId}:${token}` });
  }

  /**
   * The job's events after `afterSequence`, in order, then live ones as they are stored, until the job's final event
   * or the signal aborts.
   */
  async *events(jobId: string, afterSequence: number, signal: AbortSignal): AsyncGenerator<JobEvent> {
    // A job that has ended and whose events the caller has all seen: nothing more will come.
    const record = await this.get(jobId);
    const ended = record && [JobState.JOB_STATE_SUCCEEDED, JobState.JOB_STATE_FAILED, JobState.JOB_STATE_CANCELLED];
    if (record && ended!.includes(record.job.state) && afterSequence >= record.eventSequence) return;
    const consumer = await this.#js.consumers.get(subjects.jobEventsStream, {
      filter_subjects: subjects.jobEvents(jobId),
      deliver_policy: DeliverPolicy.All,
    });
    const messages = await consumer.consume({ max_messages: 64 });
    const stop = () => void messages.stop();
    signal.addEventListener("abort", stop, { once: true });
    try {
      for await (const message of messages) {
        const event = JobEvent.decode(message.data);
        if (event.sequence <= afterSequence) continue;
        yield event;
        if (isFinal(event.kind)) return;
      }
    } finally {
      signal.removeEventListener("abort", stop);
      await messages.close().catch(() => undefined);
    }
  }

  /** The uploaded videos, stored by their content (see uploads.ts). */
  get videos(): VideoUploads {
    return this.#videos;
  }

  async #read(jobId: string): Promise<{ record: JobRecord; revision: number } | undefined> {
    const entry = await this.#kv.get(jobId);
    if (!entry || entry.operation !== "PUT" || entry.value.length === 0) return undefined;
    return { record: decode(entry.string()), revision: entry.revision };
  }

  async #publish(events: JobEvent[]): Promise<void> {
    for (const event of events) {
      await this.#js.publish(subjects.jobEvents(event.jobId), JobEvent.encode(event).finish(), {
        msgID: `${event.jobId}:${event.sequence}`,
      });
    }
  }
}

export function isFinal(kind: JobEventKind): boolean {
  return (
    kind === JobEventKind.JOB_EVENT_KIND_SUCCEEDED ||
    kind === JobEventKind.JOB_EVENT_KIND_FAILED ||
    kind === JobEventKind.JOB_EVENT_KIND_CANCELLED
  );
}

/** Numbers the drafts from the record's counter and stamps the record's update time. */
function stamp(record: JobRecord, drafts: EventDraft[]): { record: JobRecord; events: JobEvent[] } {
  const time = new Date();
  record.job.updateTime = time;
  const events = drafts.map((draft) =>
    JobEvent.fromPartial({
      sequence: ++record.eventSequence,
      jobId: record.job.id,
      time,
      kind: draft.kind,
      step: draft.step ?? "",
      fraction: draft.fraction ?? 0,
      message: draft.message ?? "",
    }),
  );
  // Each event carries the job as it is after the whole change.
  for (const event of events) event.job = record.job;
  return { record, events };
}

export function stepOf(record: JobRecord, name: StepName): JobStep {
  const step = record.job.steps.find((s) => s.name === name);
  if (!step) throw new InternalError(`job ${record.job.id} has no step ${name}`);
  return step;
}

function encode(record: JobRecord): string {
  return JSON.stringify({
    job: Job.toJSON(record.job),
    submission: JobSubmission.toJSON(record.submission),
    owner: record.owner,
    cancelRequested: record.cancelRequested,
    checkpoints: record.checkpoints,
    script: record.script ? ShowScript.toJSON(record.script) : undefined,
    eventSequence: record.eventSequence,
  });
}

function decode(text: string): JobRecord {
  const raw = JSON.parse(text) as Record<string, unknown>;
  return {
    job: Job.fromJSON(raw.job),
    submission: JobSubmission.fromJSON(raw.submission),
    owner: Number(raw.owner ?? 0),
    cancelRequested: raw.cancelRequested as string | undefined,
    checkpoints: raw.checkpoints ?? {},
    script: raw.script ? ShowScript.fromJSON(raw.script) : undefined,
    eventSequence: Number(raw.eventSequence ?? 0),
  };
}

/** The consumer the job workers share (explicit acks, redelivered when a worker stops beating). */
export const queueConsumer = {
  durable_name: "job-workers",
  ack_policy: AckPolicy.Explicit,
} as const;
