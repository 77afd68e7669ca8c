// The job engine on a real NATS server: steps in order with numbered events, a worker lost mid-step replaced by
// another that resumes from the last checkpoint (nothing done twice), cancels, refusals and a person's decision, and
// a presumed-lost worker's writes refused. The steps here are stand-ins that count their runs: the real steps are
// exercised end to end in e2e/onboarding.test.ts.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { JobEventKind, JobState, StepState, type JobEvent } from "../proto/index.js";
import { connectNats, type NatsConnection } from "../transport/index.js";
import { eventually, sampleRoomSpec, startNatsServer, type NatsServer } from "../testing/index.js";
import { stepNames, type StepName, JobStore, type JobRecord } from "./store.js";
import { cancelJob, overrideQuality, readJob, submitJob } from "./jobs.js";
import { submission } from "./testing/client.js";
import { JobTakenOverError } from "./store.js";
import { StepRefusedError, startJobWorker, type JobSteps, type StepContext, type StepResult } from "./worker.js";

type Behaviour = (ctx: StepContext) => Promise<StepResult>;

/** Steps that record each run; `behave` overrides one step's behaviour for a test. */
function countingSteps(behave: Partial<Record<StepName, Behaviour>> = {}) {
  const runs: string[] = [];
  const cleaned: string[] = [];
  const run = Object.fromEntries(
    stepNames
      .filter((n) => n !== "upload")
      .map((name) => [
        name,
        async (ctx: StepContext): Promise<StepResult> => {
          runs.push(name);
          ctx.progress(0.5, `${name} half-way`);
          return (await behave[name]?.(ctx)) ?? { message: `${name} ok` };
        },
      ]),
  ) as JobSteps["run"];
  const steps: JobSteps = {
    run,
    cleanup: (record: JobRecord) => {
      cleaned.push(record.job.id);
      return Promise.resolve();
    },
  };
  return { steps, runs, cleaned };
}

async function* bytes(n: number): AsyncGenerator<Uint8Array> {
  yield await Promise.resolve(new Uint8Array(n).fill(7));
}

describe("onboarding jobs", () => {
  let server: NatsServer;
  let nc: NatsConnection;
  let store: JobStore;
  beforeAll(async () => {
    server = await startNatsServer();
    nc = await connectNats({ servers: server.url, name: "test" });
    store = await JobStore.open(nc);
  });
  afterAll(async () => {
    await nc.close();
    await server.stop();
  });

  let n = 0;
  const submit = (options: { reviewScript?: boolean } = {}) =>
    submitJob(store, {
      tenant: "acme",
      submission: submission({
        requestId: `req-${++n}-${Date.now()}`,
        room: sampleRoomSpec({ avatar: undefined }),
        reviewScript: options.reviewScript ?? false,
      }),
      video: bytes(1000),
    });

  const eventsOf = async (jobId: string) => {
    const events: JobEvent[] = [];
    for await (const e of store.events(jobId, 0, AbortSignal.timeout(60_000))) events.push(e);
    return events;
  };

  it("runs every step in order, numbers its events without gaps, and a retried submission returns the same job", async () => {
    const { steps, runs, cleaned } = countingSteps();
    await using worker = await startJobWorker({ store, steps, ackWaitMs: 2_000 });
    const job = await submit();
    expect(job.state).toBe(JobState.JOB_STATE_QUEUED);
    expect(job.steps.map((s) => s.name)).toEqual([...stepNames]);
    const events = await eventsOf(job.id);
    expect(runs).toEqual(stepNames.filter((s) => s !== "upload"));
    expect(events.map((e) => e.sequence)).toEqual(events.map((_, i) => i + 1));
    expect(events.at(-1)!.kind).toBe(JobEventKind.JOB_EVENT_KIND_SUCCEEDED);
    const done = await readJob(store, job.id);
    expect(done.job.steps.every((s) => s.state === StepState.STEP_STATE_DONE)).toBe(true);
    expect(cleaned).toEqual([job.id]); // the uploaded video goes once the job is over
    // A watcher that saw up to the fourth event gets the rest only.
    const rest: JobEvent[] = [];
    for await (const e of store.events(job.id, 4, AbortSignal.timeout(10_000))) rest.push(e);
    expect(rest[0]!.sequence).toBe(5);
    // One who has seen everything of an ended job gets nothing more, at once.
    const after: JobEvent[] = [];
    for await (const e of store.events(job.id, events.length, AbortSignal.timeout(10_000))) after.push(e);
    expect(after).toEqual([]);
    void worker;
  });

  it("a worker lost mid-step is replaced: the job resumes from its last checkpoint and finishes once", async () => {
    const hang = new Promise<never>(() => undefined);
    const first = countingSteps({ avatar: () => hang });
    const lostConnection = await connectNats({ servers: server.url, name: "lost worker" });
    const lostStore = await JobStore.open(lostConnection);
    const lost = await startJobWorker({ store: lostStore, steps: first.steps, ackWaitMs: 1_500 });
    const job = await submit();
    await eventually(() => expect(first.runs).toContain("avatar"));
    // The worker dies: no more heartbeats, no ack.
    await lostConnection.close();
    const second = countingSteps();
    await using worker = await startJobWorker({ store, steps: second.steps, ackWaitMs: 1_500 });
    const events = await eventsOf(job.id);
    expect(events.at(-1)!.kind).toBe(JobEventKind.JOB_EVENT_KIND_SUCCEEDED);
    expect(events.filter((e) => e.kind === JobEventKind.JOB_EVENT_KIND_RESUMED)).toHaveLength(1);
    // Material and faceid were done by the first worker: not again.
    expect(second.runs).toEqual(["avatar", "quality", "script", "room"]);
    expect(events.filter((e) => e.kind === JobEventKind.JOB_EVENT_KIND_SUCCEEDED)).toHaveLength(1);
    expect((await readJob(store, job.id)).job.attempts).toBe(2);
    void lost;
    void worker;
  });

  it("refuses a write from an attempt that no longer owns the job", async () => {
    const job = await submit();
    await store.change(job.id, (r) => {
      r.owner = 5;
      return [];
    });
    await expect(store.change(job.id, () => [], { owner: 4 })).rejects.toBeInstanceOf(JobTakenOverError);
    await cancelJob(store, job.id, "test over");
  });

  it("a refusal ends the job FAILED with its step and code, and what it made is removed", async () => {
    const { steps, cleaned } = countingSteps({
      faceid: () => Promise.reject(new StepRefusedError("face_not_registered", "the face matches none registered")),
    });
    await using worker = await startJobWorker({ store, steps, ackWaitMs: 2_000 });
    const job = await submit();
    const events = await eventsOf(job.id);
    const ended = (await readJob(store, job.id)).job;
    expect(ended.state).toBe(JobState.JOB_STATE_FAILED);
    expect(ended.failure).toMatchObject({ step: "faceid", code: "face_not_registered" });
    expect(events.at(-1)!.kind).toBe(JobEventKind.JOB_EVENT_KIND_FAILED);
    expect(cleaned).toContain(job.id);
    void worker;
  });

  it("a cancel stops the step running, and the job ends CANCELLED with nothing left", async () => {
    const { steps, cleaned } = countingSteps({
      avatar: (ctx) =>
        new Promise((_, reject) => ctx.signal.addEventListener("abort", () => reject(ctx.signal.reason as Error))),
    });
    await using worker = await startJobWorker({ store, steps, ackWaitMs: 2_000 });
    const job = await submit();
    await eventually(async () =>
      expect(stepOf((await readJob(store, job.id)).job, "avatar")).toBe(StepState.STEP_STATE_RUNNING),
    );
    await cancelJob(store, job.id, "merchant changed their mind");
    const events = await eventsOf(job.id);
    expect(events.at(-1)!.kind).toBe(JobEventKind.JOB_EVENT_KIND_CANCELLED);
    const ended = (await readJob(store, job.id)).job;
    expect(ended.failure).toMatchObject({ step: "avatar", code: "cancelled" });
    expect(cleaned).toContain(job.id);
    await expect(cancelJob(store, job.id, "again")).rejects.toThrow(/already ended/);
    void worker;
  });

  it("waits for a person at the quality gate, and goes on once they accept", async () => {
    const { steps, runs } = countingSteps({
      quality: () => Promise.resolve({ message: "score 41 against 60", wait: "below the threshold" }),
    });
    await using worker = await startJobWorker({ store, steps, ackWaitMs: 2_000 });
    const job = await submit();
    await eventually(async () => expect((await readJob(store, job.id)).job.state).toBe(JobState.JOB_STATE_WAITING));
    await expect(overrideQuality(store, job.id, { accept: true, reason: "", who: "ops" })).rejects.toThrow(/reason/);
    await overrideQuality(store, job.id, { accept: true, reason: "looks fine on a phone", who: "ops" });
    const events = await eventsOf(job.id);
    expect(events.at(-1)!.kind).toBe(JobEventKind.JOB_EVENT_KIND_SUCCEEDED);
    expect(events.some((e) => e.kind === JobEventKind.JOB_EVENT_KIND_DECIDED && /ops accepted/.test(e.message))).toBe(
      true,
    );
    // The quality step ran once: the decision did not run it again.
    expect(runs.filter((r) => r === "quality")).toHaveLength(1);
    void worker;
  });

  it("refuses an upload over the limit, and one without video", async () => {
    const room = sampleRoomSpec();
    await expect(
      submitJob(store, {
        tenant: "acme",
        submission: submission({ requestId: "too-big", room }),
        video: bytes(5000),
        uploadMaxBytes: 4000,
      }),
    ).rejects.toThrow(/upload limit/);
    await expect(
      submitJob(store, {
        tenant: "acme",
        submission: submission({ requestId: "no-video", room }),
        video: (async function* () {})(),
      }),
    ).rejects.toThrow(/no video/);
  });
});

function stepOf(job: { steps: { name: string; state: StepState }[] }, name: string): StepState | undefined {
  return job.steps.find((s) => s.name === name)?.state;
}
