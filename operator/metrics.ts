// The operator's metrics. Labels are pools and offerings (a handful, set by the cluster admin), never workers or nodes.
import { Counter, Gauge, Histogram, type Registry } from "../observability/index.js";

export function operatorMetrics(registry: Registry) {
  const registers = [registry];
  return {
    leader: new Gauge({
      name: "livehost_operator_leader",
      help: "1 while this process holds the leader Lease.",
      registers,
    }),
    poolReplicas: new Gauge({
      name: "livehost_operator_pool_replicas",
      help: "Worker replicas per pool: desired (the operator's target), actual (the Deployment's), ready.",
      labelNames: ["pool", "kind", "state"],
      registers,
    }),
    poolStreams: new Gauge({
      name: "livehost_operator_pool_streams",
      help: "Streams per pool: active (announced by workers) and needed (now or before a scheduled peak).",
      labelNames: ["pool", "kind", "state"],
      registers,
    }),
    laneNodes: new Gauge({
      name: "livehost_operator_offering_nodes",
      help: "GPU nodes per offering and capacity type: desired (asked for), ready, and ceiling (what its cloud held when it last ran out; past it the lane is probed one node at a time).",
      labelNames: ["offering", "capacity_type", "state"],
      registers,
    }),
    urgentShortfall: new Gauge({
      name: "livehost_operator_urgent_shortfall_gpus",
      help: "GPUs needed at once (streams in use and their trend) that are not on a Ready node; asked for twice over while above 0.",
      labelNames: ["gpu_type"],
      registers,
    }),
    laneAvailable: new Gauge({
      name: "livehost_operator_offering_available",
      help: "1 when the offering's capacity type may be asked for nodes, 0 while it backs off after a failure.",
      labelNames: ["offering", "capacity_type"],
      registers,
    }),
    provisioning: new Histogram({
      name: "livehost_operator_provisioning_seconds",
      help: "From asking an offering for nodes to all of them Ready.",
      labelNames: ["offering", "capacity_type"],
      buckets: [30, 60, 120, 180, 240, 300, 420, 600, 900, 1200],
      registers,
    }),
    failovers: new Counter({
      name: "livehost_operator_failovers_total",
      help: "Times an offering failed to deliver nodes (quota, capacity, timeout) and its demand moved on.",
      labelNames: ["offering", "capacity_type"],
      registers,
    }),
    spotInterruptions: new Counter({
      name: "livehost_operator_spot_interruptions_total",
      help: "Spot nodes that got an interruption notice: each one's workers drained and its replacement asked for.",
      labelNames: ["offering", "capacity_type"],
      registers,
    }),
    evictions: new Counter({
      name: "livehost_operator_worker_evictions_total",
      help: "Worker pods evicted from nodes under an interruption notice (their workers drain to others).",
      labelNames: ["offering", "capacity_type"],
      registers,
    }),
    placeholders: new Gauge({
      name: "livehost_operator_placeholder_gpus",
      help: "GPUs a Karpenter lane holds with placeholder pods, ahead of the workers that will preempt them.",
      labelNames: ["offering", "capacity_type"],
      registers,
    }),
    lead: new Histogram({
      name: "livehost_operator_lead_seconds",
      help: "Parts of a pool's lead time measured from its nodes and pods: boot (node created to Ready), pull (pod scheduled to running), load (running to Ready).",
      labelNames: ["gpu_type", "phase"],
      buckets: [5, 15, 30, 60, 90, 120, 180, 240, 300, 420, 600, 900],
      registers,
    }),
    costRate: new Gauge({
      name: "livehost_operator_cost_per_hour",
      help: "Price per hour of the nodes asked for (booting ones are billed too), per offering and capacity type.",
      labelNames: ["offering", "capacity_type"],
      registers,
    }),
    invalid: new Gauge({
      name: "livehost_operator_invalid_objects",
      help: "Custom resources the operator ignores because their spec is invalid (see their Valid condition).",
      labelNames: ["kind"],
      registers,
    }),
    onboardingJobs: new Gauge({
      name: "livehost_operator_onboarding_jobs",
      help: "Onboarding jobs in the job workers' queue: queued (no worker yet), running (with a worker, not done).",
      labelNames: ["state"],
      registers,
    }),
    jobWorkerReplicas: new Gauge({
      name: "livehost_operator_job_worker_replicas",
      help: "Job-worker replicas: desired (the operator's target from the queue), actual (the Deployment's), ready.",
      labelNames: ["state"],
      registers,
    }),
    jobWorkerMaxReplicas: new Gauge({
      name: "livehost_operator_job_worker_max_replicas",
      help: "The most job workers the operator may run (--job-workers-max); 0 when it does not size them.",
      registers,
    }),
    reconciles: new Counter({
      name: "livehost_operator_reconciles_total",
      help: "Reconcile passes by result: ok, error, not_leader.",
      labelNames: ["result"],
      registers,
    }),
  };
}

export type OperatorMetrics = ReturnType<typeof operatorMetrics>;
