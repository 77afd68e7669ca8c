// Avatar packs shared through NATS (object store livehost_avatars), so that a pack built on one machine reaches every
// room host and lip-sync worker without a shared disk: each file of a pack is an object <avatar id>/<file>, and its
// pack.json is written last (a pack is complete once its pack.json is there, and gone once it is deleted). Readers
// copy a pack into their local avatars directory when a room or stream first needs it (`fetch`), or as soon as one is
// published (`watch`).
import { mkdir, readdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { StorageType } from "@nats-io/jetstream";
import { Objm, type ObjectStore } from "@nats-io/obj";
import type { NatsConnection } from "@nats-io/transport-node";
import { NotFoundError } from "../errors/index.js";
import { subjects } from "../proto/index.js";
import { loadAvatarPack } from "./pack.js";

const manifestFile = "pack.json";

export interface PublishedAvatar {
  id: string;
  /** Who it belongs to, and the job that built it. */
  tenant: string;
  jobId: string;
}

export class AvatarStore {
  readonly #store: ObjectStore;

  private constructor(store: ObjectStore) {
    this.#store = store;
  }

  static async open(nats: NatsConnection, replicas = 1): Promise<AvatarStore> {
    const store = await new Objm(nats).create(subjects.avatarsBucket, {
      replicas,
      storage: StorageType.File,
      description: "avatar packs built by onboarding jobs",
    });
    return new AvatarStore(store);
  }

  /** Publishes the pack in `dir` (checked first) as `avatar.id`; replaces a pack of the same id. */
  async publish(dir: string, avatar: PublishedAvatar): Promise<{ files: number; bytes: number }> {
    const pack = await loadAvatarPack(dir);
    if (pack.manifest.id !== avatar.id) {
      throw new NotFoundError(`the pack in ${dir} is ${pack.manifest.id}, not ${avatar.id}`);
    }
    const metadata = { tenant: avatar.tenant, jobId: avatar.jobId };
    let bytes = 0;
    const files = (await readdir(dir)).filter((f) => f !== manifestFile);
    for (const file of [...files, manifestFile]) {
      const data = await readFile(join(dir, file));
      bytes += data.length;
      await this.#store.putBlob({ name: `${avatar.id}/${file}`, metadata }, data);
    }
    return { files: files.length + 1, bytes };
  }

  /** Who published the pack, or undefined when there is none. */
  async info(avatarId: string): Promise<PublishedAvatar | undefined> {
    const info = await this.#store.info(`${avatarId}/${manifestFile}`);
    if (!info || info.deleted) return undefined;
    return { id: avatarId, tenant: info.metadata?.tenant ?? "", jobId: info.metadata?.jobId ?? "" };
  }

  /**
   * Copies the pack into `avatarsDir/<id>` (written beside it, then renamed into place: a reader never sees half a
   * pack). NOT_FOUND when no such pack is published.
   */
  async fetch(avatarId: string, avatarsDir: string): Promise<string> {
    const names = (await this.#store.list())
      .filter((i) => !i.deleted && i.name.startsWith(`${avatarId}/`))
      .map((i) => i.name);
    if (!names.includes(`${avatarId}/${manifestFile}`)) {
      throw new NotFoundError(`avatar ${avatarId} is not published`);
    }
    const target = join(avatarsDir, avatarId);
    const partial = `${target}.partial-${process.pid}-${Date.now()}`;
    await mkdir(partial, { recursive: true });
    try {
      for (const name of names) {
        const data = await this.#store.getBlob(name);
        if (!data) throw new NotFoundError(`avatar ${avatarId} lost ${name} while it was read`);
        await writeFile(join(partial, name.slice(avatarId.length + 1)), data);
      }
      await loadAvatarPack(partial);
      await rm(target, { recursive: true, force: true });
      await rename(partial, target);
      return target;
    } finally {
      await rm(partial, { recursive: true, force: true });
    }
  }

  /** Removes a published pack (a failed or cancelled job's). */
  async remove(avatarId: string): Promise<void> {
    // pack.json first: from then on the pack is gone for readers.
    await this.#store.delete(`${avatarId}/${manifestFile}`).catch(() => undefined);
    for (const info of await this.#store.list()) {
      if (!info.deleted && info.name.startsWith(`${avatarId}/`)) await this.#store.delete(info.name);
    }
  }

  /** Calls `onPack` with each pack id published from now on (and those already there), until `signal` aborts. */
  async watch(onPack: (avatarId: string) => void, signal: AbortSignal): Promise<void> {
    const watch = await this.#store.watch({ ignoreDeletes: true, includeHistory: true });
    signal.addEventListener("abort", () => watch.stop(), { once: true });
    void (async () => {
      for await (const info of watch) {
        if (info.name.endsWith(`/${manifestFile}`) && !info.deleted)
          onPack(info.name.slice(0, -manifestFile.length - 1));
      }
    })();
  }
}
