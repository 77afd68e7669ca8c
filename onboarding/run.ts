// A job worker process's insides (`livehost role job-worker`): the stores it needs, the real steps, the worker loop.
import type { NatsConnection } from "@nats-io/transport-node";
import { AvatarStore } from "../avatars/index.js";
import type { Logger, Registry } from "../observability/index.js";
import { FaceLibrary } from "./face-library.js";
import { onboardingSteps, type StepDeps } from "./steps.js";
import { JobStore } from "./store.js";
import { startJobWorker, type JobWorker } from "./worker.js";

export interface OnboardingWorkerOptions extends Pick<StepDeps, "limits" | "llm" | "scriptVariations"> {
  nats: NatsConnection;
  registry?: Registry;
  logger: Logger;
  /** How long a job waits for a lost worker before another takes it up. Default 10 s. */
  ackWaitMs?: number;
  /** Replicas of the onboarding buckets and streams (3 on a cluster). Default 1. */
  replicas?: number;
  /** What the uploads bucket holds (JobStoreSettings.uploadsMaxBytes). */
  uploadsMaxBytes?: number;
}

export async function startOnboardingWorker(options: OnboardingWorkerOptions): Promise<JobWorker> {
  const store = await JobStore.open(options.nats, {
    replicas: options.replicas,
    uploadsMaxBytes: options.uploadsMaxBytes,
  });
  const faces = await FaceLibrary.open(options.nats, options.replicas);
  const avatars = await AvatarStore.open(options.nats, options.replicas);
  const steps = onboardingSteps({ ...options, store, faces, avatars });
  return startJobWorker({
    store,
    steps,
    ackWaitMs: options.ackWaitMs,
    registry: options.registry,
    logger: options.logger,
  });
}
