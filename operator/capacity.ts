// How GPU capacity is made to appear and noticed going away, as pure functions of what the operator observes:
//   - Karpenter makes nodes for pods that cannot be scheduled, so capacity a Karpenter lane must hold beyond what the
//     worker pods ask for is asked for with placeholder pods: one GPU each, at a priority below every worker, so a
//     worker preempts one at once and lands on a node that is already up (the placeholder goes pending, and Karpenter
//     makes a node for it if it is still wanted).
//   - A spot node with an interruption notice (the taint AWS's node termination handler or GKE put on it, or
//     Karpenter's SpotInterrupted Event)
//     is going: it counts for nothing, its workers are drained to others, and its replacement is asked for at once.
//   - The lead time of a pool's capacity (node boot, image pull, model load) is measured from the pool's own nodes
//     and pods, not taken from a setting.
import type { V1Deployment, V1Node, V1Pod } from "@kubernetes/client-node";
import { apiVersion, type CapacityType, type GpuOffering } from "./resources.js";
import { createHash } from "node:crypto";
import { gpuResource, gpuTypeLabel, managedBy, templateHashKey } from "./workload.js";

/** What the operator's placeholders are made of (`livehost operator --placeholder-*`). */
export interface CapacitySettings {
  /** An image that does nothing (pause). */
  placeholderImage: string;
  /** A PriorityClass below the workers' (the chart makes it: value -10, preemptionPolicy Never). */
  placeholderPriorityClass: string;
  /** Taint keys that mean a spot node has an interruption notice. */
  spotNoticeTaints: readonly string[];
}

export const capacityDefaults: CapacitySettings = {
  placeholderImage: "registry.k8s.io/pause:3.10",
  placeholderPriorityClass: "livehost-capacity-placeholder",
  // Not karpenter.sh/disrupted: Karpenter puts it on every node it takes down (consolidation, drift, expiry), and
  // tells of a spot interruption by its SpotInterrupted Event instead (observe.ts reads those).
  spotNoticeTaints: [
    // AWS Node Termination Handler, on the EC2 spot interruption notice (2 minutes).
    "aws-node-termination-handler/spot-itn",
    // GKE, on a spot VM's preemption notice (30 s).
    "cloud.google.com/impending-node-termination",
  ],
};

export const placeholderLaneLabel = "livehost.io/capacity-lane";
const capacityTypeName = (type: CapacityType) => (type === "spot" ? "spot" : "on-demand");

export const placeholderName = (offering: string, type: CapacityType) =>
  `${offering}-${capacityTypeName(type)}-capacity`;

/**
 * The Deployment of one Karpenter lane's placeholders: pause containers asking one GPU each, on the lane's nodes
 * (its nodeSelector and the GPU type), owned by the GpuOffering so they go with it.
 */
export function placeholderDeployment(
  offering: GpuOffering,
  type: CapacityType,
  gpuType: string,
  nodeSelector: Record<string, string>,
  replicas: number,
  namespace: string,
  settings: CapacitySettings,
  nodeTaints: readonly { key: string; effect: string }[] = [],
): V1Deployment {
  const lane = `${offering.metadata.name!}.${capacityTypeName(type)}`;
  const labels = { ...managedBy, [placeholderLaneLabel]: lane, "app.kubernetes.io/name": "livehost-capacity" };
  // The NodePool's taints as well as the GPU's: a placeholder that cannot land on the lane's nodes makes none.
  const tolerations = [
    { key: gpuResource, operator: "Exists", effect: "NoSchedule" },
    ...nodeTaints
      .filter((t) => t.key !== gpuResource)
      .map((t) => ({ key: t.key, operator: "Exists", effect: t.effect })),
  ];
  const deployment: V1Deployment = {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: {
      name: placeholderName(offering.metadata.name!, type),
      namespace,
      labels,
      ownerReferences: offering.metadata.uid
        ? [{ apiVersion, kind: "GpuOffering", name: offering.metadata.name!, uid: offering.metadata.uid }]
        : undefined,
    },
    spec: {
      replicas,
      selector: { matchLabels: { [placeholderLaneLabel]: lane } },
      template: {
        metadata: { labels },
        spec: {
          priorityClassName: settings.placeholderPriorityClass,
          terminationGracePeriodSeconds: 0,
          automountServiceAccountToken: false,
          enableServiceLinks: false,
          nodeSelector: { ...nodeSelector, [gpuTypeLabel]: gpuType },
          tolerations,
          securityContext: { runAsNonRoot: true, runAsUser: 65535, seccompProfile: { type: "RuntimeDefault" } },
          containers: [
            {
              name: "hold",
              image: settings.placeholderImage,
              resources: {
                requests: { [gpuResource]: "1", cpu: "10m", memory: "16Mi" },
                limits: { [gpuResource]: "1", memory: "16Mi" },
              },
              securityContext: {
                allowPrivilegeEscalation: false,
                readOnlyRootFilesystem: true,
                capabilities: { drop: ["ALL"] },
              },
            },
          ],
        },
      },
    },
  };
  const hash = createHash("sha256").update(JSON.stringify(deployment.spec!.template)).digest("hex").slice(0, 16);
  deployment.metadata!.annotations = { [templateHashKey]: hash };
  return deployment;
}

/** GPUs a pod asks for. */
export const podGpus = (pod: V1Pod) =>
  (pod.spec?.containers ?? []).reduce((sum, c) => sum + Number(c.resources?.requests?.[gpuResource] ?? 0), 0);

/** The interruption notice a node has, if any: its notice taint, or Karpenter's SpotInterrupted Event on it. */
export function interruptionNotice(
  node: V1Node,
  settings: CapacitySettings,
  interrupted: ReadonlySet<string> = new Set(),
): string | undefined {
  const taint = node.spec?.taints?.find((t) => settings.spotNoticeTaints.includes(t.key))?.key;
  return taint ?? (interrupted.has(node.metadata?.name ?? "") ? "Karpenter SpotInterrupted event" : undefined);
}

/**
 * Placeholder GPUs each Karpenter lane needs: the GPUs placed on it, less those its worker pods already hold on its
 * nodes (a node under notice holds nothing), less the pending worker pods, which Karpenter makes nodes for anyway
 * (counted against the lanes cheapest first, the order placement used).
 */
export function placeholderGpus(
  lanes: readonly { key: string; wantGpus: number; workerGpusOnLane: number }[],
  pendingWorkerGpus: number,
): Map<string, number> {
  const out = new Map<string, number>();
  let pending = pendingWorkerGpus;
  for (const lane of lanes) {
    const open = Math.max(0, lane.wantGpus - lane.workerGpusOnLane);
    const covered = Math.min(open, pending);
    pending -= covered;
    out.set(lane.key, open - covered);
  }
  return out;
}

/** How long one part of a pool's lead time took for one node or pod (seconds). */
export interface LeadSample {
  id: string;
  phase: "boot" | "pull" | "load";
  seconds: number;
}

type Conditions = { type: string; status: string; lastTransitionTime?: Date | string }[] | undefined;

/** When a condition last turned True (ms), if it is True. */
export function trueSince(conditions: Conditions, type: string): number | undefined {
  const c = conditions?.find((x) => x.type === type && x.status === "True");
  return c?.lastTransitionTime ? new Date(c.lastTransitionTime).getTime() : undefined;
}

/**
 * A worker pod's image pull and start (scheduled → container running) and model load (running → Ready), for a pod
 * whose container has not restarted (a restart's start time says nothing about the pull).
 */
export function podLeads(pod: V1Pod): LeadSample[] {
  const scheduled = trueSince(pod.status?.conditions, "PodScheduled");
  const ready = trueSince(pod.status?.conditions, "Ready");
  const container = pod.status?.containerStatuses?.[0];
  const started = container?.state?.running?.startedAt;
  if (scheduled === undefined || started === undefined || (container?.restartCount ?? 0) > 0) return [];
  const startedMs = new Date(started).getTime();
  const id = `pod/${pod.metadata?.uid ?? pod.metadata?.name}`;
  const out: LeadSample[] = [];
  if (startedMs >= scheduled) out.push({ id, phase: "pull", seconds: (startedMs - scheduled) / 1000 });
  if (ready !== undefined && ready >= startedMs) out.push({ id, phase: "load", seconds: (ready - startedMs) / 1000 });
  return out;
}

/**
 * The last samples of each part of the lead time, per GPU type. The lead is the node boot (the 90th percentile of
 * what the operator's asks took to a Ready node, or the offering's stated boot where longer) plus the 90th
 * percentiles of image pull and model load.
 */
export class LeadTimes {
  readonly #samples = new Map<string, Map<LeadSample["phase"], number[]>>();
  static readonly keep = 50;

  record(gpuType: string, sample: LeadSample): void {
    const phases = this.#samples.get(gpuType) ?? new Map<LeadSample["phase"], number[]>();
    const list = phases.get(sample.phase) ?? [];
    list.push(sample.seconds);
    if (list.length > LeadTimes.keep) list.shift();
    phases.set(sample.phase, list);
    this.#samples.set(gpuType, phases);
  }

  #p90(gpuType: string, phase: LeadSample["phase"]): number | undefined {
    const xs = this.#samples.get(gpuType)?.get(phase);
    if (!xs || xs.length === 0) return undefined;
    const sorted = [...xs].sort((a, b) => a - b);
    return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * 0.9))]! * 1000;
  }

  /** The lead (ms) for a GPU type whose offerings state `statedBootMs`. */
  leadMs(gpuType: string, statedBootMs: number): number {
    const boot = Math.max(statedBootMs, this.#p90(gpuType, "boot") ?? 0);
    return boot + (this.#p90(gpuType, "pull") ?? 0) + (this.#p90(gpuType, "load") ?? 0);
  }
}
