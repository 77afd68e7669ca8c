// The room directory: every room's record (Room, protobuf) in one KV bucket, keyed by room id. A room's actor writes
// its record after every change (a write never replaces a newer revision, so a host that lost the room cannot undo
// its successor); gateways read it for GetRoom and ListRooms without waking rooms up.
import { Kvm, type KV } from "@nats-io/kv";
import { StorageType } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { whileJetStreamStarts } from "../actors/index.js";
import { Room, RoomState, subjects } from "../proto/index.js";
import { InvalidArgumentError } from "../errors/index.js";

export interface ListRoomsQuery {
  pageSize: number;
  /** The last room id of the previous page. */
  pageToken: string;
  state: RoomState;
  labels: Record<string, string>;
  /** Only rooms of tenants this accepts (the caller's); every room when absent. */
  tenants?: (tenant: string) => boolean;
}

export class RoomDirectory {
  readonly #kv: KV;

  private constructor(kv: KV) {
    this.#kv = kv;
  }

  /** Opens the bucket, creating it if this is the first process to need it. */
  static async open(nats: NatsConnection, replicas = 1): Promise<RoomDirectory> {
    const kv = await whileJetStreamStarts(() =>
      new Kvm(nats).create(subjects.roomDirectoryBucket, {
        history: 1,
        replicas,
        storage: StorageType.File,
        description: "every room's record, written by its actor",
      }),
    );
    return new RoomDirectory(kv);
  }

  async get(roomId: string): Promise<Room | undefined> {
    const entry = await this.#kv.get(roomId);
    if (!entry || entry.operation !== "PUT" || entry.value.length === 0) return undefined;
    return Room.decode(entry.value);
  }

  /**
   * Stores `room` unless the directory already has this revision or a newer one; with `sameRevision`, also over its
   * own revision (what changes between revisions: counters, quality, where the show is). A successor always writes a
   * newer revision first, so a host that lost the room cannot undo it either way.
   */
  async put(room: Room, options: { sameRevision?: boolean } = {}): Promise<void> {
    for (let attempt = 0; attempt < 5; attempt++) {
      const entry = await this.#kv.get(room.id);
      const stored = entry?.operation === "PUT" && entry.value.length > 0 ? Room.decode(entry.value) : undefined;
      if (stored && (stored.revision > room.revision || (stored.revision === room.revision && !options.sameRevision))) {
        return;
      }
      try {
        if (entry) await this.#kv.update(room.id, Room.encode(room).finish(), entry.revision);
        else await this.#kv.create(room.id, Room.encode(room).finish());
        return;
      } catch (err) {
        // Someone wrote in between: read again and compare revisions.
        if (attempt === 4) throw err;
      }
    }
  }

  async list(query: ListRoomsQuery): Promise<{ rooms: Room[]; nextPageToken: string }> {
    const pageSize = query.pageSize === 0 ? 50 : query.pageSize;
    if (pageSize > 500) throw new InvalidArgumentError("page_size", "must be at most 500");
    // A set: the key listing is a consumer over the bucket, and a room written while it runs can be listed twice.
    const keys = new Set<string>();
    for await (const key of await this.#kv.keys()) if (key > query.pageToken) keys.add(key);
    const ids = [...keys].sort();
    const rooms: Room[] = [];
    let last = "";
    for (const id of ids) {
      if (rooms.length === pageSize) return { rooms, nextPageToken: last };
      last = id;
      const room = await this.get(id);
      if (!room) continue;
      if (query.tenants && !query.tenants(room.tenant)) continue;
      if (query.state !== RoomState.ROOM_STATE_UNSPECIFIED && room.status?.state !== query.state) continue;
      if (!Object.entries(query.labels).every(([k, v]) => room.spec?.labels[k] === v)) continue;
      rooms.push(room);
    }
    return { rooms, nextPageToken: "" };
  }
}
