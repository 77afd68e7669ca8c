// Leader election on a coordination.k8s.io Lease, as client-go's leaderelection does it: take the Lease when it is
// free or its holder stopped renewing (judged by our own clock since we last saw it change, not by the holder's
// timestamps), renew it by a conditional replace, and stop being leader at once when another holder shows up or the
// renewals fail for longer than the renew deadline. On shutdown the Lease is released so a successor takes over now.
import { setTimeout as sleep } from "node:timers/promises";
import { V1MicroTime, type CoordinationV1Api, type V1Lease } from "@kubernetes/client-node";
import type { Logger } from "../observability/index.js";
import { isConflict, isNotFound } from "./errors.js";

export interface LeaderSettings {
  api: CoordinationV1Api;
  namespace: string;
  name: string;
  identity: string;
  leaseDurationMs: number;
  /** Leadership ends if no renewal succeeded for this long (< leaseDurationMs). */
  renewDeadlineMs: number;
  retryPeriodMs: number;
  logger: Logger;
  onChange: (leader: boolean) => void;
  now?: () => number;
}

export class LeaderElector {
  readonly #s: LeaderSettings;
  readonly #now: () => number;
  #leader = false;
  #lastRenew = 0;
  #observed = "";
  #observedAt = 0;

  constructor(settings: LeaderSettings) {
    this.#s = settings;
    this.#now = settings.now ?? Date.now;
  }

  /** True only while the last renewal is recent enough: a process cut off from the API stops by itself. */
  isLeader(): boolean {
    return this.#leader && this.#now() - this.#lastRenew < this.#s.renewDeadlineMs;
  }

  #set(leader: boolean): void {
    if (leader === this.#leader) return;
    this.#leader = leader;
    this.#s.logger.info({ lease: this.#s.name, identity: this.#s.identity, leader }, "leadership changed");
    this.#s.onChange(leader);
  }

  /** One attempt to take or renew the Lease. */
  async tryAcquireOrRenew(): Promise<boolean> {
    const { api, namespace, name, identity, leaseDurationMs } = this.#s;
    const now = this.#now();
    let lease: V1Lease;
    try {
      lease = await api.readNamespacedLease({ name, namespace });
    } catch (err) {
      if (!isNotFound(err)) throw err;
      try {
        await api.createNamespacedLease({
          namespace,
          body: {
            metadata: { name, namespace },
            spec: {
              holderIdentity: identity,
              leaseDurationSeconds: Math.ceil(leaseDurationMs / 1000),
              acquireTime: new V1MicroTime(now),
              renewTime: new V1MicroTime(now),
              leaseTransitions: 0,
            },
          },
        });
        this.#lastRenew = now;
        return true;
      } catch (createErr) {
        if (isConflict(createErr)) return false;
        throw createErr;
      }
    }
    const spec = lease.spec ?? {};
    const holder = spec.holderIdentity ?? "";
    const record = `${holder}|${String(spec.renewTime?.valueOf())}`;
    if (record !== this.#observed) {
      this.#observed = record;
      this.#observedAt = now;
    }
    const duration = (spec.leaseDurationSeconds ?? 0) * 1000;
    if (holder !== "" && holder !== identity && this.#observedAt + duration > now) return false;
    const taking = holder !== identity;
    try {
      await api.replaceNamespacedLease({
        name,
        namespace,
        body: {
          ...lease,
          spec: {
            ...spec,
            holderIdentity: identity,
            leaseDurationSeconds: Math.ceil(leaseDurationMs / 1000),
            renewTime: new V1MicroTime(now),
            ...(taking
              ? { acquireTime: new V1MicroTime(now), leaseTransitions: (spec.leaseTransitions ?? 0) + 1 }
              : {}),
          },
        },
      });
    } catch (err) {
      if (isConflict(err)) return false;
      throw err;
    }
    this.#lastRenew = now;
    return true;
  }

  /** Campaigns and renews every retry period until the signal aborts, then releases the Lease if held. */
  async run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      try {
        this.#set(await this.tryAcquireOrRenew());
      } catch (err) {
        this.#s.logger.warn({ err, lease: this.#s.name }, "lease renewal failed");
        if (!this.isLeader()) this.#set(false);
      }
      await sleep(this.#s.retryPeriodMs, undefined, { signal }).catch(() => undefined);
    }
    await this.release();
  }

  async release(): Promise<void> {
    if (!this.#leader) return;
    this.#set(false);
    const { api, namespace, name, identity } = this.#s;
    try {
      const lease = await api.readNamespacedLease({ name, namespace });
      if (lease.spec?.holderIdentity !== identity) return;
      await api.replaceNamespacedLease({
        name,
        namespace,
        body: { ...lease, spec: { ...lease.spec, holderIdentity: "", leaseDurationSeconds: 1 } },
      });
    } catch (err) {
      this.#s.logger.warn({ err, lease: name }, "lease not released; a successor waits for it to expire");
    }
  }
}
