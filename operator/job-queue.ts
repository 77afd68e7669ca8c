// The onboarding job queue as the operator reads it: the info of `job-workers`, the durable consumer every job worker
// shares on the work-queue stream JOB_QUEUE (onboarding/store.ts). num_pending counts the jobs no worker has been
// handed yet (queued); num_ack_pending those handed out and not yet done (running: a worker has it, or it was handed
// back, or its worker was lost and it waits to be redelivered). Read once per pass; nothing is consumed.
import { JetStreamApiCodes, JetStreamApiError, jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { subjects } from "../proto/index.js";

/** The job workers' durable consumer (onboarding/store.ts queueConsumer). */
export const jobWorkersConsumer = "job-workers";

/** The queue as one read found it: its jobs, or why it could not be read (the workers are then left as they are). */
export type JobQueueView =
  | {
      state: "read";
      queued: number;
      running: number;
      /** False when the consumer does not exist yet (no job worker has started): queued is then the stream's jobs. */
      consumer: boolean;
    }
  | { state: "unreachable"; message: string };

export interface JobQueueSource {
  read(): Promise<JobQueueView>;
}

export interface NatsJobQueueOptions {
  nats: NatsConnection;
  /** How long one read may take. Default 2 s: a pass waits for it. */
  timeoutMs?: number;
}

const notFound = (err: unknown, code: number) => err instanceof JetStreamApiError && err.code === code;

export class NatsJobQueue implements JobQueueSource {
  readonly #options: NatsJobQueueOptions;
  #jsm: Promise<JetStreamManager> | undefined;

  constructor(options: NatsJobQueueOptions) {
    this.#options = options;
  }

  async read(): Promise<JobQueueView> {
    // No account check ($JS.API.INFO): the operator's NATS user may read this consumer and stream, nothing else.
    this.#jsm ??= jetstreamManager(this.#options.nats, { checkAPI: false, timeout: this.#options.timeoutMs ?? 2_000 });
    try {
      const jsm = await this.#jsm;
      try {
        const info = await jsm.consumers.info(subjects.jobQueueStream, jobWorkersConsumer);
        return { state: "read", queued: info.num_pending, running: info.num_ack_pending, consumer: true };
      } catch (err) {
        if (!notFound(err, JetStreamApiCodes.ConsumerNotFound) && !notFound(err, JetStreamApiCodes.StreamNotFound)) {
          throw err;
        }
      }
      // No job worker has made the consumer yet: every job in the work queue is waiting (none can run). Without this,
      // job workers scaled to zero would never come to make it.
      try {
        const stream = await jsm.streams.info(subjects.jobQueueStream);
        return { state: "read", queued: stream.state.messages, running: 0, consumer: false };
      } catch (err) {
        if (notFound(err, JetStreamApiCodes.StreamNotFound)) {
          return { state: "read", queued: 0, running: 0, consumer: false };
        }
        throw err;
      }
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err);
      return {
        state: "unreachable",
        message: `job queue (consumer ${jobWorkersConsumer} of stream ${subjects.jobQueueStream}) unreadable: ${why}`,
      };
    }
  }
}
