// The policy as a file that changes under a running gateway (a ConfigMap update swaps the mounted file): checked on
// every change, applied whole when valid, and when not, the policy in force stays and the error is logged and counted.
import { readFile } from "node:fs/promises";
import { unwatchFile, watchFile } from "node:fs";
import { Counter, Gauge, rootLogger, type Logger, type Registry } from "../observability/index.js";
import { InvalidArgumentError } from "../errors/index.js";
import { Policy } from "./policy.js";

export class PolicyFile implements Disposable {
  readonly file: string;
  #policy: Policy;
  readonly #log: Logger;
  readonly #reloads: Counter;
  readonly #loadedAt: Gauge;

  private constructor(file: string, policy: Policy, registry: Registry | undefined, logger: Logger | undefined) {
    this.file = file;
    this.#policy = policy;
    this.#log = (logger ?? rootLogger()).child({ component: "policy" });
    const registers = registry ? [registry] : [];
    this.#reloads = new Counter({
      name: "livehost_policy_reloads_total",
      help: "Policy file changes seen, by result (applied, or rejected: the policy in force stays).",
      labelNames: ["result"],
      registers,
    });
    this.#loadedAt = new Gauge({
      name: "livehost_policy_loaded_timestamp_seconds",
      help: "When the policy in force was read.",
      registers,
    });
    this.#loadedAt.setToCurrentTime();
  }

  /** Reads and checks the file (a bad one is an error naming the field), then follows its changes. */
  static async open(file: string, options: { registry?: Registry; logger?: Logger; pollMs?: number } = {}) {
    const policyFile = new PolicyFile(file, await read(file), options.registry, options.logger);
    watchFile(file, { interval: options.pollMs ?? 5_000, persistent: false }, () => void policyFile.reload());
    return policyFile;
  }

  get current(): Policy {
    return this.#policy;
  }

  /** Reads the file again now; resolves to whether the new policy was applied. */
  async reload(): Promise<boolean> {
    try {
      this.#policy = await read(this.file);
      this.#reloads.inc({ result: "applied" });
      this.#loadedAt.setToCurrentTime();
      this.#log.info({ file: this.file }, "policy reloaded");
      return true;
    } catch (err) {
      this.#reloads.inc({ result: "rejected" });
      this.#log.error({ err, file: this.file }, "policy change rejected; the policy in force stays");
      return false;
    }
  }

  [Symbol.dispose](): void {
    unwatchFile(this.file);
  }
}

async function read(file: string): Promise<Policy> {
  const text = await readFile(file, "utf8").catch((err: NodeJS.ErrnoException) => {
    throw new InvalidArgumentError("--auth-policy", `cannot read "${file}": ${err.code ?? err.message}`, {
      cause: err,
    });
  });
  return Policy.parse(text, "policy");
}
