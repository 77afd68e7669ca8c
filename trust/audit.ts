// The audit trail: who did what to which room, when, and what they got. Records go to the JetStream stream AUDIT,
// append-only (the stream refuses deletes and purges; only its retention by age and size removes records), and are
// read back in order by `livehost audit`.
import { hostname } from "node:os";
import type { NatsConnection } from "@nats-io/transport-node";
import {
  DeliverPolicy,
  DiscardPolicy,
  RetentionPolicy,
  StorageType,
  jetstream,
  jetstreamManager,
  type OrderedConsumerOptions,
} from "@nats-io/jetstream";
import { ensureStream } from "../actors/index.js";
import { Counter, rootLogger, type Logger, type Registry } from "../observability/index.js";
import { AuditRecord, subjects } from "../proto/index.js";

export interface AuditSettings {
  /** How long records are kept. Default 90 days. */
  retentionMs?: number;
  /** Most bytes kept; the oldest records go first. Default 1 GiB. */
  maxBytes?: number;
  replicas?: number;
}

const nanos = (ms: number) => ms * 1_000_000;

/** Creates or updates the AUDIT stream; the gateway owns it (it is the only writer). */
export async function ensureAuditStream(nats: NatsConnection, settings: AuditSettings = {}): Promise<void> {
  await ensureStream(await jetstreamManager(nats), {
    name: subjects.auditStream,
    subjects: [subjects.allAudit],
    retention: RetentionPolicy.Limits,
    storage: StorageType.File,
    discard: DiscardPolicy.Old,
    num_replicas: settings.replicas ?? 1,
    max_age: nanos(settings.retentionMs ?? 90 * 24 * 3600_000),
    max_bytes: settings.maxBytes ?? 1024 ** 3,
    deny_delete: true,
    deny_purge: true,
  });
}

export type AuditEntry = Omit<AuditRecord, "time" | "gateway">;

/** Writes records, each acknowledged by JetStream before `write` returns; a failure is logged and counted. */
export class AuditLog {
  readonly #nats: NatsConnection;
  readonly #gateway: string;
  readonly #log: Logger;
  readonly #written: Counter;
  readonly #failed: Counter;

  private constructor(nats: NatsConnection, registry: Registry | undefined, logger: Logger | undefined) {
    this.#nats = nats;
    this.#gateway = hostname();
    this.#log = (logger ?? rootLogger()).child({ component: "audit" });
    this.#written = new Counter({
      name: "livehost_audit_records_total",
      help: "Audit records written, by action and result (ok or the error code the caller got).",
      labelNames: ["action", "result"],
      registers: registry ? [registry] : [],
    });
    this.#failed = new Counter({
      name: "livehost_audit_write_failures_total",
      help: "Audit records JetStream did not acknowledge (the action itself went ahead): page someone.",
      registers: registry ? [registry] : [],
    });
  }

  static async open(
    nats: NatsConnection,
    options: AuditSettings & { registry?: Registry; logger?: Logger } = {},
  ): Promise<AuditLog> {
    await ensureAuditStream(nats, options);
    return new AuditLog(nats, options.registry, options.logger);
  }

  async write(entry: AuditEntry): Promise<void> {
    const record = AuditRecord.fromPartial({ ...entry, time: new Date(), gateway: this.#gateway });
    try {
      await jetstream(this.#nats).publish(
        subjects.audit(entry.tenant, entry.action),
        AuditRecord.encode(record).finish(),
        {
          timeout: 5_000,
        },
      );
      this.#written.inc({ action: entry.action, result: entry.result });
    } catch (err) {
      this.#failed.inc();
      this.#log.error({ err, record: AuditRecord.toJSON(record) }, "audit record not written");
    }
  }
}

export interface AuditQuery {
  /** Only records at or after this time. Default: all kept. */
  since?: Date;
  /** Only this tenant's records ("_" for calls without one). */
  tenant?: string;
  roomId?: string;
  identity?: string;
  signal?: AbortSignal;
}

/** The records kept, oldest first, up to the stream's end when the read began. */
export async function* readAudit(nats: NatsConnection, query: AuditQuery = {}): AsyncGenerator<AuditRecord> {
  const js = jetstream(nats);
  const jsm = await jetstreamManager(nats);
  const filter = query.tenant ? `livehost.audit.${query.tenant}.>` : subjects.allAudit;
  const { state } = await jsm.streams.info(subjects.auditStream, { subjects_filter: filter });
  if (state.messages === 0) return;
  const start: Partial<OrderedConsumerOptions> = query.since
    ? { deliver_policy: DeliverPolicy.StartTime, opt_start_time: query.since.toISOString() }
    : { deliver_policy: DeliverPolicy.All };
  const consumer = await js.consumers.get(subjects.auditStream, { ...start, filter_subjects: filter });
  if ((await consumer.info()).num_pending === 0) return;
  const messages = await consumer.consume({ max_messages: 256 });
  const stop = () => void messages.close();
  query.signal?.addEventListener("abort", stop, { once: true });
  try {
    for await (const message of messages) {
      const record = AuditRecord.decode(message.data);
      const matches =
        (!query.roomId || record.roomId === query.roomId) && (!query.identity || record.identity === query.identity);
      if (matches) yield record;
      if (message.info.pending === 0 || message.seq >= state.last_seq) break;
    }
  } finally {
    query.signal?.removeEventListener("abort", stop);
    await messages.close();
  }
}
