// A job worker: takes jobs from the JOB_QUEUE work queue, one at a time, and runs their steps in order, writing a
// checkpoint after each. While it runs a job it tells JetStream it is still working (every `heartbeatMs`); a worker
// that dies stops telling, the message is redelivered after `ackWaitMs`, and the next worker takes the job up from its
// last checkpoint (a RESUMED event), becoming its owner: the old attempt, should it come back, can no longer write.
// A cancel asked while a step runs aborts that step; a refusal ends the job FAILED with the step's code; either way
// what the job made (avatar, video) is removed. Stops cleanly: the job running is left for another worker.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { context, SpanStatusCode, trace } from "@opentelemetry/api";
import { jetstream, jetstreamManager, type JsMsg } from "@nats-io/jetstream";
import { nanos } from "@nats-io/transport-node";
import { CancelledError, FailedPreconditionError, LivehostError } from "../errors/index.js";
import { Counter, Histogram, latencyBuckets, rootLogger, type Logger, type Registry } from "../observability/index.js";
import { JobEventKind, JobState, StepState, subjects, type Job, type ShowScript } from "../proto/index.js";
import {
  JobTakenOverError,
  stepNames,
  stepOf,
  type Checkpoints,
  type JobRecord,
  type JobStore,
  type StepName,
} from "./store.js";

/** A step's refusal of the material or of the result: the job ends FAILED with this code (JobFailure.code). */
export class StepRefusedError extends FailedPreconditionError {
  readonly refusal: string;
  constructor(refusal: string, message: string) {
    super(message);
    this.refusal = refusal;
  }
}

export interface StepContext {
  record: JobRecord;
  signal: AbortSignal;
  /** A temporary directory for this job on this worker, removed when the worker is done with the job. */
  scratch: string;
  /** Reports progress (0 to 1), published at most twice a second. */
  progress(fraction: number, message: string): void;
  /** Says in the job's events that something else was used than asked, and why. */
  fallback(message: string): Promise<void>;
}

export interface StepResult {
  /** What the step found or made, for a person (JobStep.message). */
  message: string;
  checkpoints?: Checkpoints;
  /** Fields of the Job the step sets (face_id, quality, room_id, script_version...). */
  job?: Partial<Job>;
  script?: ShowScript;
  /** The job stops here for a person's decision (the step stays WAITING). */
  wait?: string;
}

export type StepRunner = (ctx: StepContext) => Promise<StepResult>;

export interface JobSteps {
  run: Record<Exclude<StepName, "upload">, StepRunner>;
  /** Removes what a job that did not succeed made (its avatar, its video). */
  cleanup(record: JobRecord): Promise<void>;
}

export interface JobWorkerOptions {
  store: JobStore;
  steps: JobSteps;
  /** How long a job waits for its worker's word before another takes it up. Default 10 s. */
  ackWaitMs?: number;
  registry?: Registry;
  logger?: Logger;
}

export interface JobWorker extends AsyncDisposable {
  close(): Promise<void>;
}

const progressEveryMs = 500;

export async function startJobWorker(options: JobWorkerOptions): Promise<JobWorker> {
  const { store } = options;
  const log = (options.logger ?? rootLogger()).child({ role: "job-worker" });
  const ackWaitMs = options.ackWaitMs ?? 10_000;
  const metrics = workerMetrics(options.registry);
  const jsm = await jetstreamManager(store.nats);
  const consumerConfig = {
    durable_name: "job-workers",
    ack_policy: "explicit" as const,
    ack_wait: nanos(ackWaitMs),
    max_deliver: -1,
    max_ack_pending: 10_000,
  };
  try {
    await jsm.consumers.add(subjects.jobQueueStream, consumerConfig);
  } catch {
    await jsm.consumers.update(subjects.jobQueueStream, consumerConfig.durable_name, { ack_wait: nanos(ackWaitMs) });
  }
  const consumer = await jetstream(store.nats).consumers.get(subjects.jobQueueStream, consumerConfig.durable_name);
  const stopping = new AbortController();
  const messages = await consumer.consume({ max_messages: 1 });
  const loop = (async () => {
    for await (const message of messages) {
      if (stopping.signal.aborted) {
        message.nak();
        break;
      }
      await runJob(message, { ...options, log, metrics, ackWaitMs, stopping: stopping.signal }).catch((err) =>
        log.error({ err, job: message.string() }, "job worker failed on a job"),
      );
    }
  })();
  log.info({ ackWaitMs }, "job worker ready");
  const close = async () => {
    if (stopping.signal.aborted) return;
    stopping.abort(new CancelledError("the job worker is stopping"));
    await messages.close().catch(() => undefined);
    await loop;
    log.info("job worker stopped");
  };
  return { close, [Symbol.asyncDispose]: close };
}

type RunDeps = JobWorkerOptions & {
  log: Logger;
  metrics: WorkerMetrics;
  ackWaitMs: number;
  stopping: AbortSignal;
};

async function runJob(message: JsMsg, deps: RunDeps): Promise<void> {
  const { store, log } = deps;
  const jobId = message.string();
  const heartbeat = setInterval(() => message.working(), Math.max(200, deps.ackWaitMs / 4));
  let owner = 0;
  try {
    const taken = await take(store, jobId);
    if (!taken) {
      message.ack();
      return;
    }
    owner = taken.owner;
    const job = log.child({ job: jobId, attempt: owner });
    if (taken.cancelRequested) {
      await finish(deps, jobId, owner, "cancelled", taken.cancelRequested);
      message.ack();
      return;
    }
    job.info({ resumed: owner > 1 }, "job taken");
    const outcome = await runSteps(deps, jobId, owner, job);
    if (outcome === "left") message.nak();
    else message.ack();
  } catch (err) {
    if (err instanceof JobTakenOverError) {
      log.warn({ job: jobId }, "job taken over by another worker: this one stops");
      return;
    }
    throw err;
  } finally {
    clearInterval(heartbeat);
  }
}

/** Makes this attempt the job's owner; undefined when there is nothing to run (ended, or waiting for a person). */
async function take(store: JobStore, jobId: string): Promise<JobRecord | undefined> {
  let run = false;
  const record = await store.change(jobId, (r) => {
    const { state } = r.job;
    if (state !== JobState.JOB_STATE_QUEUED && state !== JobState.JOB_STATE_RUNNING) return undefined;
    run = true;
    const resumed = r.job.steps.some((s) => s.name !== "upload" && s.state !== StepState.STEP_STATE_PENDING);
    r.owner += 1;
    r.job.attempts += 1;
    r.job.state = JobState.JOB_STATE_RUNNING;
    if (!resumed || state !== JobState.JOB_STATE_RUNNING) return [];
    const step = r.job.steps.find((s) => s.state === StepState.STEP_STATE_RUNNING);
    return [
      {
        kind: JobEventKind.JOB_EVENT_KIND_RESUMED,
        step: step?.name,
        message: `taken up again after its worker was lost (attempt ${r.job.attempts})`,
      },
    ];
  });
  return run ? record : undefined;
}

async function runSteps(deps: RunDeps, jobId: string, owner: number, log: Logger): Promise<"ended" | "left"> {
  const { store, steps, metrics } = deps;
  const scratch = await mkdtemp(join(tmpdir(), `livehost-job-${jobId}-`));
  try {
    for (const name of stepNames) {
      if (name === "upload") continue;
      const record = await store.get(jobId);
      if (!record) return "ended";
      if (record.owner !== owner) throw new JobTakenOverError(`job ${jobId} was taken over`);
      if (stepOf(record, name).state === StepState.STEP_STATE_DONE) continue;
      if (record.cancelRequested) {
        await finish(deps, jobId, owner, "cancelled", record.cancelRequested, name);
        return "ended";
      }
      const started = performance.now();
      const result = await runStep(deps, record, name, owner, scratch, log);
      if (result === "left") return "left";
      if (result === "ended") return "ended";
      metrics.stepSeconds.observe({ step: name }, (performance.now() - started) / 1000);
      if (result.wait !== undefined) return "ended";
    }
    await store.change(
      jobId,
      (r) => {
        r.job.state = JobState.JOB_STATE_SUCCEEDED;
        return [{ kind: JobEventKind.JOB_EVENT_KIND_SUCCEEDED, message: `room ${r.job.roomId} is ready` }];
      },
      { owner },
    );
    metrics.jobs.inc({ outcome: "succeeded" });
    const ended = await store.get(jobId);
    if (ended) await steps.cleanup(ended).catch((err) => log.warn({ err }, "clean-up after success failed"));
    log.info("job succeeded");
    return "ended";
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

async function runStep(
  deps: RunDeps,
  record: JobRecord,
  name: Exclude<StepName, "upload">,
  owner: number,
  scratch: string,
  log: Logger,
): Promise<StepResult | "left" | "ended"> {
  const { store } = deps;
  const jobId = record.job.id;
  await store.change(
    jobId,
    (r) => {
      const step = stepOf(r, name);
      step.state = StepState.STEP_STATE_RUNNING;
      step.startTime = new Date();
      return [{ kind: JobEventKind.JOB_EVENT_KIND_STEP_STARTED, step: name }];
    },
    { owner },
  );
  // The step stops when the job is cancelled, taken over, or the worker stops.
  const abort = new AbortController();
  const onStop = () => abort.abort(deps.stopping.reason);
  deps.stopping.addEventListener("abort", onStop, { once: true });
  let cancelled: string | undefined;
  let takenOver = false;
  const watch = setInterval(() => {
    void store.get(jobId).then(
      (r) => {
        if (r?.cancelRequested && !cancelled) {
          cancelled = r.cancelRequested;
          abort.abort(new CancelledError(`cancelled: ${cancelled}`));
        }
        if (r && r.owner !== owner && !takenOver) {
          takenOver = true;
          abort.abort(new JobTakenOverError(`job ${jobId} was taken over`));
        }
      },
      () => undefined,
    );
  }, 1_000);
  let lastProgress = 0;
  const span = trace.getTracer("livehost").startSpan(`onboarding.${name}`, { attributes: { job: jobId } });
  try {
    const fresh = (await store.get(jobId)) ?? record;
    const result = await context.with(trace.setSpan(context.active(), span), () =>
      deps.steps.run[name]({
        record: fresh,
        signal: abort.signal,
        scratch,
        progress: (fraction, message) => {
          const now = performance.now();
          if (now - lastProgress < progressEveryMs) return;
          lastProgress = now;
          void store
            .change(jobId, () => [{ kind: JobEventKind.JOB_EVENT_KIND_STEP_PROGRESS, step: name, fraction, message }], {
              owner,
            })
            .catch(() => undefined);
        },
        fallback: async (message) => {
          await store.change(jobId, () => [{ kind: JobEventKind.JOB_EVENT_KIND_FALLBACK, step: name, message }], {
            owner,
          });
        },
      }),
    );
    abort.signal.throwIfAborted();
    await store.change(
      jobId,
      (r) => {
        const step = stepOf(r, name);
        Object.assign(r.checkpoints, result.checkpoints ?? {});
        Object.assign(r.job, result.job ?? {});
        if (result.script) r.script = result.script;
        step.message = result.message;
        if (result.wait !== undefined) {
          step.state = StepState.STEP_STATE_WAITING;
          r.job.state = JobState.JOB_STATE_WAITING;
          return [{ kind: JobEventKind.JOB_EVENT_KIND_WAITING, step: name, message: result.wait }];
        }
        step.state = StepState.STEP_STATE_DONE;
        step.endTime = new Date();
        return [{ kind: JobEventKind.JOB_EVENT_KIND_STEP_DONE, step: name, message: result.message }];
      },
      { owner },
    );
    if (result.wait !== undefined) log.info({ step: name, why: result.wait }, "job waits for a person");
    return result;
  } catch (err) {
    span.setStatus({ code: SpanStatusCode.ERROR, message: String((err as Error).message) });
    if (takenOver || err instanceof JobTakenOverError) throw new JobTakenOverError(`job ${jobId} was taken over`);
    if (cancelled !== undefined) {
      await finish(deps, jobId, owner, "cancelled", cancelled, name);
      return "ended";
    }
    if (deps.stopping.aborted) {
      log.info({ step: name }, "worker stopping: the job is left for another worker");
      return "left";
    }
    if (err instanceof StepRefusedError) {
      await finish(deps, jobId, owner, err.refusal, err.message, name);
      return "ended";
    }
    if (err instanceof LivehostError && err.retryable) {
      log.warn({ err, step: name }, "step failed on something that may pass: the job is retried");
      return "left";
    }
    log.error({ err, step: name }, "step failed");
    await finish(deps, jobId, owner, "internal", `${name} failed: ${(err as Error).message}`, name);
    return "ended";
  } finally {
    span.end();
    clearInterval(watch);
    deps.stopping.removeEventListener("abort", onStop);
  }
}

/** Ends the job FAILED (or CANCELLED) at `stepName` with `code`, and removes what it made. */
async function finish(
  deps: RunDeps,
  jobId: string,
  owner: number,
  code: string,
  message: string,
  stepName?: string,
): Promise<void> {
  const cancelled = code === "cancelled";
  const record = await deps.store.change(
    jobId,
    (r) => {
      const step = stepName ? r.job.steps.find((s) => s.name === stepName) : undefined;
      if (step) {
        step.state = StepState.STEP_STATE_FAILED;
        step.endTime = new Date();
        step.message = message;
      }
      r.job.state = cancelled ? JobState.JOB_STATE_CANCELLED : JobState.JOB_STATE_FAILED;
      r.job.failure = { step: stepName ?? "", code, message };
      return [
        {
          kind: cancelled ? JobEventKind.JOB_EVENT_KIND_CANCELLED : JobEventKind.JOB_EVENT_KIND_FAILED,
          step: stepName,
          message,
        },
      ];
    },
    { owner },
  );
  deps.metrics.jobs.inc({ outcome: cancelled ? "cancelled" : "failed" });
  if (!cancelled) deps.metrics.refusals.inc({ step: stepName ?? "", code });
  await deps.steps.cleanup(record).catch((err) => deps.log.warn({ err, job: jobId }, "clean-up failed"));
}

interface WorkerMetrics {
  jobs: Counter<"outcome">;
  refusals: Counter<"step" | "code">;
  stepSeconds: Histogram<"step">;
}

function workerMetrics(registry?: Registry): WorkerMetrics {
  const registers = registry ? [registry] : [];
  return {
    jobs: new Counter({
      name: "livehost_onboarding_jobs_total",
      help: "Onboarding jobs ended by this worker, by outcome (succeeded, failed, cancelled).",
      labelNames: ["outcome"],
      registers,
    }),
    refusals: new Counter({
      name: "livehost_onboarding_refusals_total",
      help: "Onboarding jobs refused or failed, by step and cause (JobFailure.code).",
      labelNames: ["step", "code"],
      registers,
    }),
    stepSeconds: new Histogram({
      name: "livehost_onboarding_step_seconds",
      help: "How long each onboarding step took on a job worker.",
      labelNames: ["step"],
      buckets: [...latencyBuckets, 30, 60, 120, 300, 600],
      registers,
    }),
  };
}
