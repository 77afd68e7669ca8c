// The FaceID library: the faces a merchant registered as allowed to represent it, one descriptor each (128 numbers
// from the recognition model), in KV livehost_faces under <tenant>.<face id>. Photos are never stored, and descriptors
// never leave this module but to be compared (never returned by the API, never logged).
import { Kvm, type KV } from "@nats-io/kv";
import { StorageType } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { whileJetStreamStarts } from "../actors/index.js";
import { AlreadyExistsError, NotFoundError } from "../errors/index.js";
import type { Face } from "../proto/index.js";
import { subjects } from "../proto/index.js";

interface StoredFace {
  faceId: string;
  displayName: string;
  createTime: string;
  descriptor: number[];
}

export interface RegisteredFace {
  faceId: string;
  descriptor: Float32Array;
}

export class FaceLibrary {
  readonly #kv: KV;

  private constructor(kv: KV) {
    this.#kv = kv;
  }

  static async open(nats: NatsConnection, replicas = 1): Promise<FaceLibrary> {
    const kv = await whileJetStreamStarts(() =>
      new Kvm(nats).create(subjects.facesBucket, {
        history: 1,
        replicas,
        storage: StorageType.File,
        description: "FaceID library: face descriptors per tenant, never photos",
      }),
    );
    return new FaceLibrary(kv);
  }

  async register(tenant: string, faceId: string, displayName: string, descriptor: Float32Array): Promise<Face> {
    const stored: StoredFace = {
      faceId,
      displayName,
      createTime: new Date().toISOString(),
      descriptor: Array.from(descriptor),
    };
    try {
      await this.#kv.create(key(tenant, faceId), JSON.stringify(stored));
    } catch (err) {
      if ((await this.#stored(tenant, faceId)) !== undefined) {
        throw new AlreadyExistsError(`face ${faceId} is already registered for tenant ${tenant}`);
      }
      throw err;
    }
    return faceOf(tenant, stored);
  }

  async list(tenant: string): Promise<Face[]> {
    const faces: Face[] = [];
    for (const stored of await this.#all(tenant)) faces.push(faceOf(tenant, stored));
    return faces.sort((a, b) => (a.faceId < b.faceId ? -1 : 1));
  }

  /** The tenant's descriptors, to match a video's face against. */
  async descriptors(tenant: string): Promise<RegisteredFace[]> {
    return (await this.#all(tenant)).map((s) => ({ faceId: s.faceId, descriptor: Float32Array.from(s.descriptor) }));
  }

  async delete(tenant: string, faceId: string): Promise<void> {
    if ((await this.#stored(tenant, faceId)) === undefined) {
      throw new NotFoundError(`face ${faceId} is not registered for tenant ${tenant}`);
    }
    // Purged, not just marked deleted: the descriptor does not stay in the bucket's history.
    await this.#kv.purge(key(tenant, faceId));
  }

  async #stored(tenant: string, faceId: string): Promise<StoredFace | undefined> {
    const entry = await this.#kv.get(key(tenant, faceId));
    if (!entry || entry.operation !== "PUT" || entry.value.length === 0) return undefined;
    return entry.json<StoredFace>();
  }

  async #all(tenant: string): Promise<StoredFace[]> {
    const faces: StoredFace[] = [];
    for await (const k of await this.#kv.keys(`${tenant}.*`)) {
      const stored = await this.#stored(tenant, k.slice(tenant.length + 1));
      if (stored) faces.push(stored);
    }
    return faces;
  }
}

function key(tenant: string, faceId: string): string {
  return `${tenant}.${faceId}`;
}

function faceOf(tenant: string, stored: StoredFace): Face {
  return { tenant, faceId: stored.faceId, displayName: stored.displayName, createTime: new Date(stored.createTime) };
}
