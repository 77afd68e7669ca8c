// Kubernetes Events explaining the operator's decisions, on the object they are about. One Event per change of
// message: the same explanation pass after pass is recorded once.
import type { CoreV1Api } from "@kubernetes/client-node";
import { roomDirectoryCondition } from "./conditions.js";
import type { RoomDirectoryView } from "./demand.js";
import type { JobQueueView } from "./job-queue.js";
import type { PlannedEvent } from "./plan.js";
import { apiVersion, type WorkerPool } from "./resources.js";

export interface EventObject {
  apiVersion?: string;
  kind?: string;
  metadata: { name?: string; uid?: string };
}

export interface EventRecorderOptions {
  core: CoreV1Api;
  namespace: string;
  /** reportingInstance: this operator process. */
  identity: string;
  now: () => number;
  /** Called before each write: throws when this process may not write. */
  guard: () => void;
}

/** Messages remembered at most; past that the memory starts over (and repeats an Event once). */
const maxRemembered = 10_000;

export class EventRecorder {
  readonly #options: EventRecorderOptions;
  readonly #last = new Map<string, string>();

  constructor(options: EventRecorderOptions) {
    this.#options = options;
  }

  async emit(object: EventObject, event: PlannedEvent): Promise<void> {
    const { core, namespace, identity, now, guard } = this.#options;
    const key = `${object.kind}/${object.metadata.name}/${event.reason}`;
    if (this.#last.get(key) === event.message) return;
    guard();
    const at = new Date(now());
    await core.createNamespacedEvent({
      namespace,
      body: {
        metadata: { generateName: `${object.metadata.name}.`, namespace },
        involvedObject: {
          apiVersion: object.apiVersion ?? apiVersion,
          kind: object.kind,
          name: object.metadata.name,
          namespace,
          uid: object.metadata.uid,
        },
        type: event.type,
        reason: event.reason,
        message: event.message,
        source: { component: "livehost-operator" },
        reportingComponent: "livehost-operator",
        reportingInstance: identity,
        firstTimestamp: at,
        lastTimestamp: at,
        count: 1,
      },
    });
    if (this.#last.size > maxRemembered) this.#last.clear();
    this.#last.set(key, event.message);
  }

  /** A Warning when the room directory becomes unreadable, and a Normal Event when it is read again. */
  async roomDirectory(pool: WorkerPool, directory: RoomDirectoryView): Promise<void> {
    const lostKey = `${pool.kind}/${pool.metadata.name}/RoomDirectoryUnreachable`;
    const { message } = roomDirectoryCondition(directory);
    if (directory.state === "unreachable") {
      await this.emit(pool, { type: "Warning", reason: "RoomDirectoryUnreachable", message });
    } else if (directory.state === "watching" && this.#last.has(lostKey)) {
      this.#last.delete(lostKey);
      await this.emit(pool, { type: "Normal", reason: "RoomDirectoryWatching", message });
    }
  }

  /** A Warning on the job workers' Deployment when their queue turns unreadable; a Normal Event once it is read. */
  async jobQueue(deployment: EventObject, queue: JobQueueView): Promise<void> {
    const lostKey = `${deployment.kind}/${deployment.metadata.name}/JobQueueUnreachable`;
    if (queue.state === "unreachable") {
      await this.emit(deployment, {
        type: "Warning",
        reason: "JobQueueUnreachable",
        message: `${queue.message}; job workers kept as they are`,
      });
    } else if (this.#last.has(lostKey)) {
      this.#last.delete(lostKey);
      await this.emit(deployment, {
        type: "Normal",
        reason: "JobQueueRead",
        message: `job queue read again: ${queue.queued} job(s) queued, ${queue.running} running`,
      });
    }
  }
}
