// The real operator sizing the onboarding job workers' Deployment on a real nats-server: jobs put on the work-queue
// stream JOB_QUEUE and taken through the durable consumer job-workers as job workers take them (held unacked while
// they run, acked when done), and the Deployment's replicas, Events and metrics following them.
import { describe, expect, it } from "vitest";
import { setTimeout as sleep } from "node:timers/promises";
import {
  AckPolicy,
  DiscardPolicy,
  RetentionPolicy,
  StorageType,
  jetstream,
  jetstreamManager,
  type JsMsg,
} from "@nats-io/jetstream";
import { nanos } from "@nats-io/transport-node";
import { subjects } from "../proto/index.js";
import { eventually, startTestOperator } from "../testing/index.js";
import { jobWorkersConsumer } from "./internal.js";

const ns = "livehost";
const deployment = "lh-livehost-job-worker";
const delayMs = 1500;

async function scene(options: { replicas: number; minReplicas?: number; jetstream?: boolean }) {
  const s = await startTestOperator({
    jetstream: options.jetstream ?? true,
    jobWorkers: { deployment, minReplicas: options.minReplicas ?? 1, maxReplicas: 3, scaleDownDelayMs: delayMs },
    objects: [
      [
        "deployments",
        {
          apiVersion: "apps/v1",
          kind: "Deployment",
          metadata: { name: deployment, namespace: ns, labels: { "app.kubernetes.io/component": "job-worker" } },
          spec: {
            replicas: options.replicas,
            selector: { matchLabels: { "app.kubernetes.io/component": "job-worker" } },
            template: { metadata: { labels: { "app.kubernetes.io/component": "job-worker" } }, spec: {} },
          },
          status: { replicas: options.replicas, readyReplicas: options.replicas },
        },
      ],
    ],
  });
  const js = jetstream(s.nats);
  /** The queue as onboarding/store.ts makes it (a work queue), without the consumer. */
  const makeStream = async () =>
    (await jetstreamManager(s.nats)).streams.add({
      name: subjects.jobQueueStream,
      subjects: [subjects.jobQueue],
      retention: RetentionPolicy.Workqueue,
      storage: StorageType.File,
      discard: DiscardPolicy.New,
    });
  /** The job workers' durable consumer, as onboarding/worker.ts makes it. */
  const makeConsumer = async () =>
    (await jetstreamManager(s.nats)).consumers.add(subjects.jobQueueStream, {
      durable_name: jobWorkersConsumer,
      ack_policy: AckPolicy.Explicit,
      ack_wait: nanos(60_000),
      max_deliver: -1,
    });
  const submit = async (count: number) => {
    for (let i = 0; i < count; i++) await js.publish(subjects.jobQueue, `job-${i}`);
  };
  /** A job worker taking the next job: it runs until acked. */
  const take = async (): Promise<JsMsg> => {
    const consumer = await js.consumers.get(subjects.jobQueueStream, jobWorkersConsumer);
    const message = await consumer.next({ expires: 5_000 });
    if (!message) throw new Error("no job to take");
    return message;
  };
  const events = () =>
    s.kube
      .list("events", ns)
      .filter((e) => (e.involvedObject as { name?: string } | undefined)?.name === deployment)
      .map((e) => `${String(e.type)} ${String(e.reason)}: ${String(e.message)}`);
  return {
    ...s,
    makeStream,
    makeConsumer,
    submit,
    take,
    events,
    replicas: () => s.kube.get("deployments", deployment, ns)?.spec?.replicas,
  };
}

describe("operator: job workers sized on the onboarding queue", () => {
  it("scales up at once for queued jobs within max, down after the delay but not below the jobs running", async () => {
    await using s = await scene({ replicas: 1 });
    await s.makeStream();
    await s.makeConsumer();
    await sleep(delayMs);
    expect(s.replicas()).toBe(1);

    // Five jobs: one worker each, three at most.
    await s.submit(5);
    await eventually(() => expect(s.replicas()).toBe(3));
    await eventually(async () => {
      const metrics = await s.metrics();
      expect(metrics).toContain('livehost_operator_onboarding_jobs{state="queued"} 5');
      expect(metrics).toContain('livehost_operator_onboarding_jobs{state="running"} 0');
      expect(metrics).toContain('livehost_operator_job_worker_replicas{state="desired"} 3');
      expect(metrics).toContain("livehost_operator_job_worker_max_replicas 3");
    });
    // The pass that scaled up may have seen the queue while the five were still being sent: three or more of them.
    await eventually(() =>
      expect(
        s
          .events()
          .some((e) =>
            /^Normal ScaledUp: job workers 1 -> 3: [345] job\(s\) queued, 0 running, at 1 per worker, within 1 to 3$/.test(
              e,
            ),
          ),
      ).toBe(true),
    );

    // Workers take all five; three end, two still run: the queue is drained.
    const running = [await s.take(), await s.take()];
    for (let i = 0; i < 3; i++) (await s.take()).ack();
    await eventually(async () => {
      const metrics = await s.metrics();
      expect(metrics).toContain('livehost_operator_onboarding_jobs{state="queued"} 0');
      expect(metrics).toContain('livehost_operator_onboarding_jobs{state="running"} 2');
    });
    const drainedAt = Date.now();
    // Held for the delay (from the last pass that wanted 3), then down to the two running, not to min.
    await eventually(() => expect(s.replicas()).toBe(2), { timeoutMs: 10_000 });
    expect(Date.now() - drainedAt).toBeGreaterThanOrEqual(delayMs / 2);
    await eventually(() =>
      expect(s.events()).toContain(
        "Normal ScaledDown: job workers 3 -> 2: 0 job(s) queued, 2 running, at 1 per worker, within 1 to 3",
      ),
    );
    expect(s.events()).toContain("Normal HeldForCooldown: kept at 3 job workers for the 1.5s scale-down delay");
    await sleep(2 * delayMs);
    expect(s.replicas()).toBe(2);

    // The last two end: min once the delay has passed.
    for (const message of running) message.ack();
    await eventually(() => expect(s.replicas()).toBe(1), { timeoutMs: 10_000 });
    // The gauge is set once the operator has the patch's answer, a moment after the API server applied it.
    await eventually(async () =>
      expect(await s.metrics()).toContain('livehost_operator_job_worker_replicas{state="desired"} 1'),
    );
  }, 60_000);

  it("without the consumer: min, or as many workers as jobs already wait in the stream", async () => {
    await using s = await scene({ replicas: 3, minReplicas: 0 });
    // No stream, no consumer: nothing to run. The replicas it found are held for the delay, then min.
    await sleep(delayMs / 2);
    expect(s.replicas()).toBe(3);
    await eventually(() => expect(s.replicas()).toBe(0), { timeoutMs: 10_000 });
    expect(await s.metrics()).toContain('livehost_operator_onboarding_jobs{state="queued"} 0');

    // Jobs submitted before any job worker made its consumer: workers for them (none would come at zero otherwise).
    await s.makeStream();
    await s.submit(2);
    await eventually(() => expect(s.replicas()).toBe(2));
    expect(await s.metrics()).toContain('livehost_operator_onboarding_jobs{state="queued"} 2');
    // The first worker makes the consumer: the same two jobs, now read from it.
    await s.makeConsumer();
    const job = await s.take();
    await eventually(async () =>
      expect(await s.metrics()).toContain('livehost_operator_onboarding_jobs{state="running"} 1'),
    );
    expect(await s.metrics()).toContain('livehost_operator_onboarding_jobs{state="queued"} 1');
    expect(s.replicas()).toBe(2);
    job.ack();
  }, 60_000);

  it("keeps the job workers as they are while the queue cannot be read, saying why", async () => {
    // A nats-server without JetStream: no answer about the queue.
    await using s = await scene({ replicas: 2, jetstream: false });
    await eventually(() =>
      expect(s.events().some((e) => /^Warning JobQueueUnreachable: job queue \(consumer job-workers/.test(e))).toBe(
        true,
      ),
    );
    await sleep(2 * delayMs);
    expect(s.replicas()).toBe(2);
    const metrics = await s.metrics();
    expect(metrics).not.toContain("livehost_operator_onboarding_jobs{");
    expect(metrics).toContain('livehost_operator_job_worker_replicas{state="desired"} 2');
  }, 30_000);
});
