// A small actor type for testing and benchmarking the runtime: it adds numbers, remembers how many times it applied
// each message id (so a duplicate effect is visible), fails on request, and records reminders and timers it got.
import { InvalidArgumentError } from "../errors/index.js";
import type { ActorTypeDefinition } from "../actors/index.js";

export interface CounterState {
  total: number;
  /** message id -> times applied; any value above 1 is a duplicate effect. */
  applied: Record<string, number>;
  reminders: { name: string; hostId: string; at: number }[];
  timers: number;
  hosts: string[];
}

export type CounterOp =
  | { op: "add"; n: number }
  | { op: "fail" }
  | { op: "get" }
  | { op: "boom" }
  | { op: "remind"; name: string; at: number }
  | { op: "timer"; ms: number }
  | { op: "keepAlive" }
  | { op: "slow"; ms: number }
  /** Makes the event loop of the process hosting the actor busy `ms` of every `every` ms (an overloaded host); 0 stops. */
  | { op: "lag"; ms: number; every: number };

/** A counter's reply to { op: "get" }: its state, where it runs and its activation epoch. */
export type CounterSnapshot = CounterState & { hostId: string; epoch: number };

/** The wire form of a counter op (tells and asks). */
export const encodeOp = (op: CounterOp): Uint8Array => new TextEncoder().encode(JSON.stringify(op));

/** The busy loop "lag" runs in this process, if any. */
let lagging: NodeJS.Timeout | undefined;

function lag(ms: number, every: number): void {
  clearInterval(lagging);
  lagging = undefined;
  if (ms <= 0) return;
  lagging = setInterval(() => {
    const until = performance.now() + ms;
    while (performance.now() < until) {
      // busy: nothing else runs on this thread meanwhile
    }
  }, every);
  lagging.unref();
}

export const counterActor: ActorTypeDefinition<CounterState, CounterOp> = {
  name: "counter",
  subjectPrefix: "counters",
  stream: "COUNTERS",
  channels: ["ops"],
  idleTimeoutMs: Number(process.env.COUNTER_IDLE_MS ?? 300_000),
  maxAttempts: 3,
  initialState: () => ({ total: 0, applied: {}, reminders: [], timers: 0, hosts: [] }),
  decode(_channel, data) {
    const value = JSON.parse(new TextDecoder().decode(data)) as CounterOp;
    if (typeof value !== "object" || value === null || typeof value.op !== "string") throw new Error("not an op");
    return value;
  },
  async handle(ctx, message) {
    if (!ctx.state.hosts.includes(ctx.hostId)) ctx.state.hosts.push(ctx.hostId);
    switch (message.kind) {
      case "reminder":
        ctx.state.reminders.push({ name: message.name, hostId: ctx.hostId, at: Date.now() });
        return;
      case "timer":
        ctx.state.timers++;
        return;
      case "tell":
      case "ask": {
        const op = message.body;
        if (op.op === "add") {
          ctx.state.total += op.n;
          ctx.state.applied[message.messageId] = (ctx.state.applied[message.messageId] ?? 0) + 1;
        } else if (op.op === "fail") {
          throw new Error("this message always fails");
        } else if (op.op === "boom") {
          throw new InvalidArgumentError("n", "must be a number");
        } else if (op.op === "remind") {
          await ctx.setReminder(op.name, new Date(op.at));
        } else if (op.op === "timer") {
          ctx.setTimer("tick", op.ms, { repeat: true });
        } else if (op.op === "keepAlive") {
          ctx.keepAlive(true);
        } else if (op.op === "slow") {
          await new Promise((resolve) => setTimeout(resolve, op.ms));
        } else if (op.op === "lag") {
          lag(op.ms, op.every);
        }
        if (op.op === "get") return { ...ctx.state, hostId: ctx.hostId, epoch: ctx.epoch };
        return { total: ctx.state.total, hostId: ctx.hostId, epoch: ctx.epoch, timers: ctx.state.timers };
      }
    }
  },
};
