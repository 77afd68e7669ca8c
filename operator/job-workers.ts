// The onboarding job workers, sized from their queue: the Deployment the chart makes (`--job-workers-deployment`) as
// one pass sees it (its replicas, and the queue's jobs from job-queue.ts), and what the pass does to it: its scale,
// the Events that explain it, the figures the metrics report. The arithmetic is decide.planJobWorkers.
import type { V1Deployment } from "@kubernetes/client-node";
import { planJobWorkers, type JobWorkerBounds, type Recommendation } from "./decide.js";
import type { JobQueueView } from "./job-queue.js";
import type { PlannedEvent } from "./plan.js";

/** The job-worker Deployment the operator sizes, and how. */
export interface JobWorkerSettings extends JobWorkerBounds {
  /** The Deployment's name, in the operator's namespace. */
  deployment: string;
}

export const jobWorkerDefaults = {
  minReplicas: 1,
  maxReplicas: 10,
  jobsPerWorker: 1,
  /** Jobs take minutes and come in bursts (a merchant onboarding a team): workers stay five minutes after a fall. */
  scaleDownDelaySeconds: 300,
} as const;

/** What a pass read: the queue, and the Deployment (absent, or unreadable with the reason). */
export interface JobWorkersSeen {
  queue: JobQueueView;
  deployment: { found: true; object: V1Deployment } | { found: false; error?: string };
}

export interface JobWorkerPlan {
  deployment: string;
  /** The Deployment to scale and tell about; undefined when it could not be read (nothing is written). */
  object: V1Deployment | undefined;
  /** Why nothing is sized this pass, for the log; undefined when it is. */
  problem: string | undefined;
  queue: JobQueueView;
  /** The Deployment's new replicas, when they change. */
  scale: number | undefined;
  events: PlannedEvent[];
  /** The recommendations to remember; undefined: keep the previous ones (nothing was decided). */
  history: Recommendation[] | undefined;
  replicas: { desired: number; actual: number; ready: number; max: number };
}

/** The job workers' plan for one pass: sized on the queue where both it and the Deployment could be read. */
export function planJobWorkerDeployment(
  seen: JobWorkersSeen,
  history: readonly Recommendation[],
  settings: JobWorkerSettings,
  now: number,
): JobWorkerPlan {
  const { deployment: name, maxReplicas } = settings;
  const object = seen.deployment.found ? seen.deployment.object : undefined;
  const current = object?.spec?.replicas ?? 0;
  const replicas = {
    desired: current,
    actual: object?.status?.replicas ?? 0,
    ready: object?.status?.readyReplicas ?? 0,
    max: maxReplicas,
  };
  const base = { deployment: name, object, queue: seen.queue, scale: undefined, events: [], history: undefined };
  if (!seen.deployment.found) {
    const problem = seen.deployment.error
      ? `Deployment ${name} unreadable: ${seen.deployment.error}`
      : `Deployment ${name} not found`;
    return { ...base, object: undefined, problem, replicas };
  }
  if (seen.queue.state === "unreachable") {
    return { ...base, problem: seen.queue.message, replicas };
  }
  const { queued, running } = seen.queue;
  const decision = planJobWorkers({ ...settings, queued, running, currentReplicas: current, history, now });
  const why =
    `${queued} job(s) queued, ${running} running, at ${settings.jobsPerWorker} per worker, ` +
    `within ${settings.minReplicas} to ${maxReplicas}`;
  const events: PlannedEvent[] = [];
  if (decision.replicas !== current) {
    events.push({
      type: "Normal",
      reason: decision.reason,
      message: `job workers ${current} -> ${decision.replicas}: ${why}`,
    });
  } else if (decision.reason === "HeldForCooldown") {
    events.push({
      type: "Normal",
      reason: decision.reason,
      message: `kept at ${current} job workers for the ${settings.scaleDownDelayMs / 1000}s scale-down delay`,
    });
  } else if (decision.reason === "HeldForRunningJobs") {
    events.push({
      type: "Normal",
      reason: decision.reason,
      message: `kept at ${current} job workers, above the maximum of ${maxReplicas}: ${running} job(s) run on them`,
    });
  }
  return {
    ...base,
    problem: undefined,
    scale: decision.replicas !== current ? decision.replicas : undefined,
    events,
    history: decision.history,
    replicas: { ...replicas, desired: decision.replicas },
  };
}
