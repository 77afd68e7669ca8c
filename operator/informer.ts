// A cache of one kind of Kubernetes object kept current by client-node's informer (list, then watch from the list's
// resourceVersion; a 410 Expired relists), restarted with exponential backoff when the list or the watch fails —
// client-node's ListWatch stops on an error and leaves the restart to its user.
import {
  makeInformer,
  type KubeConfig,
  type KubernetesListObject,
  type KubernetesObject,
} from "@kubernetes/client-node";
import type { Logger } from "../observability/index.js";

export interface CacheOptions<T extends KubernetesObject> {
  kubeConfig: KubeConfig;
  /** The watch path, e.g. /apis/livehost.io/v1alpha1/namespaces/ns/workerpools. */
  path: string;
  list: () => Promise<KubernetesListObject<T>>;
  labelSelector?: string;
  /** Called after every change the watch delivers (and after a relist). */
  onChange: () => void;
  logger: Logger;
  maxBackoffMs?: number;
}

export class ObjectCacheWatch<T extends KubernetesObject> {
  readonly #informer;
  readonly #options: CacheOptions<T>;
  #failures = 0;
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;
  #synced = false;

  constructor(options: CacheOptions<T>) {
    this.#options = options;
    this.#informer = makeInformer<T>(options.kubeConfig, options.path, options.list, options.labelSelector);
    const changed = () => {
      this.#failures = 0;
      options.onChange();
    };
    this.#informer.on("add", changed);
    this.#informer.on("update", changed);
    this.#informer.on("delete", changed);
    this.#informer.on("error", (err: unknown) => this.#restartLater(err));
  }

  /** Lists, then watches; resolves once the first list is in (or failed: a restart is then scheduled). */
  async start(): Promise<void> {
    await this.#informer.start();
    this.#synced = true;
    this.#options.onChange();
  }

  #restartLater(err: unknown): void {
    if (this.#stopped) return;
    this.#failures++;
    const delay = Math.min(this.#options.maxBackoffMs ?? 30_000, 250 * 2 ** Math.min(this.#failures, 10));
    this.#options.logger.warn({ err, path: this.#options.path, delayMs: delay }, "watch failed, restarting");
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      if (!this.#stopped) this.#informer.start().catch((e: unknown) => this.#restartLater(e));
    }, delay);
  }

  get synced(): boolean {
    return this.#synced;
  }

  list(): readonly T[] {
    return this.#informer.list();
  }

  get(name: string, namespace?: string): T | undefined {
    return this.#informer.get(name, namespace);
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#informer.stop();
  }
}
