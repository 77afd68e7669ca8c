// How GPU capacity is made to appear and noticed going away, as pure functions of what the operator observes:
//   - Karpenter makes nodes for pods that cannot be scheduled, so capacity a Karpenter lane must hold beyond what the
//     worker pods ask for is asked for with placeholder pods: one GPU each, at a priority below every worker, so a
//     worker preempts one at once and lands on a node that is already up (the placeholder goes pending, and Karpenter
//     makes a node for it if it is still wanted).
//   - A spot node with an interruption notice (the taint Karpenter, AWS's node termination handler or GKE put on it)
//     is going: it counts for nothing, its workers are drained to others, and its replacement is asked for at once.
//   - The lead time of a pool's capacity (node boot, image pull, model load) is measured from the pool's own nodes
//     and pods, not taken from a setting.
import type { V1Deployment, V1Node, V1Pod } from "@kubernetes/client-node";
import { apiVersion, type CapacityType, type GpuOffering } from "./resources.js";
import { gpuResource, gpuTypeLabel, managedBy } from "./workload.js";

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
  spotNoticeTaints: [
    // Karpenter taints a node it is about to take down; on a spot lane that is an interruption (or a consolidation,
    // which the operator's own placeholders prevent while the node is wanted).
    "karpenter.sh/disrupted",
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
): V1Deployment {
  const lane = `${offering.metadata.name!}.${capacityTypeName(type)}`;
  const labels = { ...managedBy, [placeholderLaneLabel]: lane, "app.kubernetes.io/name": "livehost-capacity" };
  return {
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
          tolerations: [{ key: gpuResource, operator: "Exists", effect: "NoSchedule" }],
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
}

/** GPUs a pod asks for. */
export const podGpus = (pod: V1Pod) =>
  (pod.spec?.containers ?? []).reduce((sum, c) => sum + Number(c.resources?.requests?.[gpuResource] ?? 0), 0);

/** The notice taint on a node, if it has one. */
export function interruptionNotice(node: V1Node, settings: CapacitySettings): string | undefined {
  return node.spec?.taints?.find((t) => settings.spotNoticeTaints.includes(t.key))?.key;
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

/** How long each part of a pool's lead time took, for one node or pod (seconds), where it can be read. */
export interface LeadSample {
  id: string;
  phase: "boot" | "pull" | "load";
  seconds: number;
}

const conditionTime = (
  conditions: { type: string; status: string; lastTransitionTime?: Date | string }[] | undefined,
  type: string,
) => {
  const c = conditions?.find((x) => x.type === type && x.status === "True");
  return c?.lastTransitionTime ? new Date(c.lastTransitionTime).getTime() : undefined;
};

/** A node's boot: from its object's creation to Ready. */
export function nodeLead(node: V1Node): LeadSample | undefined {
  const created = node.metadata?.creationTimestamp ? new Date(node.metadata.creationTimestamp).getTime() : undefined;
  const ready = conditionTime(node.status?.conditions, "Ready");
  if (created === undefined || ready === undefined || ready < created) return undefined;
  return { id: `node/${node.metadata!.uid ?? node.metadata!.name}`, phase: "boot", seconds: (ready - created) / 1000 };
}

/** A worker pod's image pull and start (scheduled → container running) and model load (running → Ready). */
export function podLeads(pod: V1Pod): LeadSample[] {
  const scheduled = conditionTime(pod.status?.conditions, "PodScheduled");
  const ready = conditionTime(pod.status?.conditions, "Ready");
  const started = pod.status?.containerStatuses?.[0]?.state?.running?.startedAt;
  if (scheduled === undefined || started === undefined) return [];
  const startedMs = new Date(started).getTime();
  const id = `pod/${pod.metadata?.uid ?? pod.metadata?.name}`;
  const out: LeadSample[] = [];
  if (startedMs >= scheduled) out.push({ id, phase: "pull", seconds: (startedMs - scheduled) / 1000 });
  if (ready !== undefined && ready >= startedMs) out.push({ id, phase: "load", seconds: (ready - startedMs) / 1000 });
  return out;
}

/** The last samples of each part of the lead time, per GPU type; the lead is the sum of their 90th percentiles. */
export class LeadTimes {
  readonly #samples = new Map<string, Map<LeadSample["phase"], number[]>>();
  readonly #seen = new Set<string>();
  static readonly keep = 50;

  /** Records a sample once (an object is measured once); returns whether it was new. */
  record(gpuType: string, sample: LeadSample): boolean {
    const key = `${gpuType}/${sample.id}/${sample.phase}`;
    if (this.#seen.has(key)) return false;
    this.#seen.add(key);
    // Objects measured long ago are forgotten first (a Set keeps insertion order).
    if (this.#seen.size > 20_000) this.#seen.delete(this.#seen.values().next().value!);
    const phases = this.#samples.get(gpuType) ?? new Map<LeadSample["phase"], number[]>();
    const list = phases.get(sample.phase) ?? [];
    list.push(sample.seconds);
    if (list.length > LeadTimes.keep) list.shift();
    phases.set(sample.phase, list);
    this.#samples.set(gpuType, phases);
    return true;
  }

  /** The measured lead (ms) for a GPU type: p90 boot + p90 pull + p90 load; undefined before any node was seen. */
  leadMs(gpuType: string): number | undefined {
    const phases = this.#samples.get(gpuType);
    const boot = phases?.get("boot");
    if (!phases || !boot || boot.length === 0) return undefined;
    const p90 = (xs: number[] | undefined) => {
      if (!xs || xs.length === 0) return 0;
      const sorted = [...xs].sort((a, b) => a - b);
      return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * 0.9))]!;
    };
    return (p90(boot) + p90(phases.get("pull")) + p90(phases.get("load"))) * 1000;
  }
}
