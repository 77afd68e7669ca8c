// The room host process: hosts room actors. It owns the rooms' durable inbox and answers status requests as a NATS
// micro service ("livehost-room-host"), so operators and the demo can find every host with $SRV.PING.
import { hostname } from "node:os";
import { randomUUID } from "node:crypto";
import { Svcm, type Service } from "@nats-io/services";
import type { NatsConnection } from "@nats-io/transport-node";
import { rootLogger, Gauge, type Logger, type Registry } from "../observability/index.js";
import { ensureRoomInbox, jetstreamManager, type InboxSettings } from "./inbox.js";

export interface RoomHostOptions {
  nats: NatsConnection;
  registry: Registry;
  /** Default "<hostname>-<random>". */
  hostId?: string;
  inbox?: InboxSettings;
  logger?: Logger;
}

export interface RoomHostStatus {
  hostId: string;
  actors: number;
  startedAt: string;
}

export interface RoomHost extends AsyncDisposable {
  readonly id: string;
  /** The NATS subject answering RoomHostStatus as JSON. */
  readonly statusSubject: string;
  status(): RoomHostStatus;
  close(): Promise<void>;
}

export const roomHostServiceName = "livehost-room-host";

export async function startRoomHost(options: RoomHostOptions): Promise<RoomHost> {
  const id = options.hostId ?? `${hostname()}-${randomUUID().slice(0, 8)}`;
  const log = (options.logger ?? rootLogger()).child({ role: "room-host", hostId: id });
  const startedAt = new Date().toISOString();

  await ensureRoomInbox(await jetstreamManager(options.nats), options.inbox);

  const actorsGauge = new Gauge({
    name: "livehost_room_host_actors",
    help: "Room actors active on this host.",
    registers: [options.registry],
  });
  actorsGauge.set(0);

  const status = (): RoomHostStatus => ({ hostId: id, actors: 0, startedAt });
  const statusSubject = `livehost.hosts.${id}.status`;
  const service: Service = await new Svcm(options.nats).add({
    name: roomHostServiceName,
    version: "0.1.0",
    description: "livehost room host",
    metadata: { hostId: id },
  });
  service.addEndpoint("status", {
    subject: statusSubject,
    handler: (err, msg) => {
      if (err) return;
      msg.respond(JSON.stringify(status()));
    },
  });
  log.info({ statusSubject }, "room host ready");

  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      await service.stop();
      log.info("room host stopped");
    })());
  return { id, statusSubject, status, close, [Symbol.asyncDispose]: close };
}
