// The uploaded videos, content-addressed: a video is stored once as `sha256/<hex>` in the object store
// livehost_uploads, however many jobs send it, and every read checks its bytes against its name. Which jobs use a
// video is a reference set in the jobs' KV (`videos.<hex>`), changed only by compare-and-set: the last job to let go
// deletes the video, and a job that takes it meanwhile waits for the deletion to end, then stores its own copy.
//
// An upload streams into `incoming/<nuid>` while it is hashed; once its digest is known and the job holds a
// reference, the incoming object is renamed to its content name (the object store renames by rewriting its meta,
// not its chunks), or dropped when the same bytes are stored already.
import { createHash } from "node:crypto";
import { createWriteStream } from "node:fs";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { setTimeout as sleep } from "node:timers/promises";
import type { KV } from "@nats-io/kv";
import type { ObjectStore } from "@nats-io/obj";
import { nuid } from "@nats-io/transport-node";
import { InternalError, NotFoundError } from "../errors/index.js";

/** A video's uses: the jobs holding it, and since when its last user has been deleting it (Unix ms). */
interface References {
  jobs: string[];
  deleting?: number;
}

/** A deletion that has not ended in this long was abandoned (its process died): the next user takes over. */
const abandonedDeletionMs = 30_000;

const objectName = (sha256: string) => `sha256/${sha256}`;
/** Another writer changed the references first (compare-and-set lost): read them again. */
const lostRace = (err: unknown) => err instanceof Error && /wrong last sequence|key exists/i.test(err.message);
const unlessLost = (err: unknown): undefined => {
  if (lostRace(err)) return undefined;
  throw err;
};
const referencesKey = (sha256: string) => `videos.${sha256}`;

export class VideoUploads {
  readonly #kv: KV;
  readonly #objects: ObjectStore;

  constructor(kv: KV, objects: ObjectStore) {
    this.#kv = kv;
    this.#objects = objects;
  }

  /**
   * Streams `chunks` in, hashing them, and stores the video for `jobId` under its content name. Nothing is left
   * stored when the stream fails; an empty video is not stored (bytes 0).
   */
  async put(jobId: string, chunks: AsyncIterable<Uint8Array>): Promise<{ sha256: string; bytes: number }> {
    const hash = createHash("sha256");
    let bytes = 0;
    const iterator = chunks[Symbol.asyncIterator]();
    // Pulled as the store writes: a slow store slows the upload (backpressure), nothing is buffered whole.
    const stream = new ReadableStream<Uint8Array>({
      async pull(controller) {
        const next = await iterator.next();
        if (next.done) return controller.close();
        hash.update(next.value);
        bytes += next.value.length;
        controller.enqueue(next.value);
      },
      async cancel() {
        await iterator.return?.();
      },
    });
    const incoming = `incoming/${nuid.next()}`;
    try {
      await this.#objects.put({ name: incoming, description: `video uploaded for ${jobId}` }, stream);
    } catch (err) {
      await this.#objects.delete(incoming).catch(() => undefined);
      throw err;
    }
    const sha256 = hash.digest("hex");
    if (bytes === 0) {
      await this.#objects.delete(incoming).catch(() => undefined);
      return { sha256, bytes };
    }
    await this.#hold(jobId, sha256);
    // Held: nobody deletes the content name now. Ours becomes it, unless the same bytes are there already.
    const stored = await this.#objects.info(objectName(sha256));
    if (stored && !stored.deleted) await this.#objects.delete(incoming);
    else await this.#objects.update(incoming, { name: objectName(sha256), metadata: { sha256 } });
    return { sha256, bytes };
  }

  /** Writes the video to `path`, its bytes checked against its SHA-256. */
  async fetch(sha256: string, path: string, signal?: AbortSignal): Promise<void> {
    const result = await this.#objects.get(objectName(sha256));
    if (!result) throw new NotFoundError(`the video with SHA-256 ${sha256} is no longer stored`);
    const hash = createHash("sha256");
    const source = Readable.fromWeb(result.data);
    source.on("data", (chunk: Buffer) => hash.update(chunk));
    await pipeline(source, createWriteStream(path), { signal });
    if (!(await result.error) && hash.digest("hex") === sha256) return;
    throw new InternalError(`the stored video does not match its SHA-256 ${sha256}`);
  }

  /** `jobId` is done with the video: deleted when no other job holds it. Letting go twice changes nothing. */
  async release(jobId: string, sha256: string): Promise<void> {
    const key = referencesKey(sha256);
    for (;;) {
      const entry = await this.#kv.get(key);
      if (!entry || entry.operation !== "PUT") return;
      const refs = entry.json<References>();
      if (!refs.jobs.includes(jobId)) return;
      const jobs = refs.jobs.filter((j) => j !== jobId);
      const next: References = jobs.length > 0 ? { jobs } : { jobs, deleting: Date.now() };
      const revision = await this.#kv.update(key, JSON.stringify(next), entry.revision).catch(unlessLost);
      if (revision === undefined) continue;
      if (jobs.length > 0) return;
      await this.#objects.delete(objectName(sha256)).catch(() => undefined);
      await this.#kv.delete(key, { previousSeq: revision }).catch(unlessLost);
      return;
    }
  }

  /** Adds `jobId` to the video's references, waiting out a deletion under way. */
  async #hold(jobId: string, sha256: string): Promise<void> {
    const key = referencesKey(sha256);
    for (;;) {
      const entry = await this.#kv.get(key);
      const live = entry && entry.operation === "PUT" ? entry.json<References>() : undefined;
      if (live?.deleting !== undefined && Date.now() - live.deleting < abandonedDeletionMs) {
        await sleep(100);
        continue;
      }
      // A deletion abandoned part-way may have removed the object or not: the caller looks before using it.
      const jobs = live && live.deleting === undefined ? [...new Set([...live.jobs, jobId])] : [jobId];
      const value = JSON.stringify({ jobs } satisfies References);
      const written =
        entry?.operation === "PUT"
          ? await this.#kv.update(key, value, entry.revision).catch(unlessLost)
          : await this.#kv.create(key, value).catch(unlessLost);
      if (written !== undefined) return;
    }
  }
}
