// The actor runtime's metrics: what an SRE needs to see activation, failover and mailbox budgets met or missed.
// Labels are bounded: actor type and a small set of reasons, never an actor id.
import { Counter, Gauge, Histogram, latencyBuckets, type Registry } from "../observability/index.js";

export class ActorMetrics {
  readonly active: Gauge<"type">;
  readonly activations: Counter<"type" | "reason">;
  readonly activationSeconds: Histogram<"type">;
  readonly deactivations: Counter<"type" | "reason">;
  readonly failovers: Counter<"type">;
  readonly handlerSeconds: Histogram<"type" | "kind">;
  readonly mailboxLagSeconds: Histogram<"type">;
  readonly mailboxPending: Gauge<"type">;
  readonly deadLetters: Counter<"type" | "reason">;
  readonly rejected: Counter<"type" | "reason">;
  readonly duplicates: Counter<"type">;
  readonly leaseLost: Counter<"type">;
  readonly consumersRecreated: Counter<"type">;
  readonly hostLeaseLost: Counter;
  readonly activationRetries: Counter<"type" | "outcome">;
  readonly shedding: Gauge<"reason">;
  readonly loopDelaySeconds: Gauge;
  readonly activationsShed: Counter<"type" | "reason">;

  constructor(registry: Registry) {
    const registers = [registry];
    this.active = new Gauge({
      name: "livehost_actors_active",
      help: "Active actors on this host.",
      labelNames: ["type"],
      registers,
    });
    this.activations = new Counter({
      name: "livehost_actor_activations_total",
      help: "Activations on this host, by reason: placed (first message or request), takeover (failover), handover (drain elsewhere).",
      labelNames: ["type", "reason"],
      registers,
    });
    this.activationSeconds = new Histogram({
      name: "livehost_actor_activation_seconds",
      help: "Time to activate an actor: lease, state load with fencing, mailbox consumer. Budget 50 ms p99.",
      labelNames: ["type"],
      buckets: latencyBuckets,
      registers,
    });
    this.deactivations = new Counter({
      name: "livehost_actor_deactivations_total",
      help: "Deactivations, by reason: idle, drain, lease_lost, stopped.",
      labelNames: ["type", "reason"],
      registers,
    });
    this.failovers = new Counter({
      name: "livehost_actor_failovers_total",
      help: "Actors this host took over from a dead or unresponsive host.",
      labelNames: ["type"],
      registers,
    });
    this.handlerSeconds = new Histogram({
      name: "livehost_actor_handler_seconds",
      help: "Time to handle one message, state write included, by message kind.",
      labelNames: ["type", "kind"],
      buckets: latencyBuckets,
      registers,
    });
    this.mailboxLagSeconds = new Histogram({
      name: "livehost_actor_mailbox_lag_seconds",
      help: "Time from a durable message being stored to its handling starting.",
      labelNames: ["type"],
      buckets: latencyBuckets,
      registers,
    });
    this.mailboxPending = new Gauge({
      name: "livehost_actor_mailbox_pending",
      help: "Messages waiting in the mailboxes of this host's active actors, as last reported by JetStream.",
      labelNames: ["type"],
      registers,
    });
    this.deadLetters = new Counter({
      name: "livehost_actor_dead_letters_total",
      help: "Messages sent to the dead-letter subject, by reason: malformed, handler_failed.",
      labelNames: ["type", "reason"],
      registers,
    });
    this.rejected = new Counter({
      name: "livehost_actor_messages_rejected_total",
      help: "Malformed messages and requests rejected without reaching a handler.",
      labelNames: ["type", "reason"],
      registers,
    });
    this.duplicates = new Counter({
      name: "livehost_actor_duplicates_skipped_total",
      help: "Redelivered messages whose effects were already in the actor's state (acked, not handled again).",
      labelNames: ["type"],
      registers,
    });
    this.leaseLost = new Counter({
      name: "livehost_actor_lease_lost_total",
      help: "Activations stopped because another host took the lease or wrote the state (fencing).",
      labelNames: ["type"],
      registers,
    });
    this.consumersRecreated = new Counter({
      name: "livehost_actor_consumers_recreated_total",
      help: "Mailbox consumers made again from the state's cursor after they were lost (with their NATS server, or deleted).",
      labelNames: ["type"],
      registers,
    });
    this.activationRetries = new Counter({
      name: "livehost_actor_activation_retries_total",
      help: "Activations that failed on this host and were tried again (scheduled), or given up after 10 tries (given_up: left to the actor's next message).",
      labelNames: ["type", "outcome"],
      registers,
    });
    this.hostLeaseLost = new Counter({
      name: "livehost_actor_host_lease_lost_total",
      help: "Times this host found its host lease taken (declared dead by others) and gave up every actor.",
      registers,
    });
    this.shedding = new Gauge({
      name: "livehost_actor_host_shedding",
      help: "1 while this host takes no new actors, by reason: loop_delay (its event loop lags) or capacity (it runs as many as it may).",
      labelNames: ["reason"],
      registers,
    });
    this.loopDelaySeconds = new Gauge({
      name: "livehost_actor_host_loop_delay_p99_seconds",
      help: "The host's event loop p99 delay over the last second: above --max-loop-delay it sheds load.",
      registers,
    });
    this.activationsShed = new Counter({
      name: "livehost_actor_activations_shed_total",
      help: "Activations this host refused while it shed load (another host took them), by reason: loop_delay, capacity.",
      labelNames: ["type", "reason"],
      registers,
    });
  }
}
