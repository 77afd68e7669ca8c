// Worker kinds by name: how flags, NATS subjects, Kubernetes objects and the WorkerPool CRD spell the contract's
// WorkerKind, and the conversions between the two.
import { WorkerKind } from "./gen/livehost/v1/bus.js";

export type WorkerKindName = "tts" | "lipsync";

const kinds: Record<WorkerKindName, WorkerKind> = {
  tts: WorkerKind.WORKER_KIND_TTS,
  lipsync: WorkerKind.WORKER_KIND_LIPSYNC,
};

export function workerKindOf(name: WorkerKindName): WorkerKind {
  return kinds[name];
}

/** The name of a kind that crossed the wire; undefined for one this version does not know. */
export function workerKindName(kind: WorkerKind): WorkerKindName | undefined {
  if (kind === WorkerKind.WORKER_KIND_TTS) return "tts";
  if (kind === WorkerKind.WORKER_KIND_LIPSYNC) return "lipsync";
  return undefined;
}
