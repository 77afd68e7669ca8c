// Uploaded videos are stored by their content: the same bytes once, however many jobs send them, read back only when
// they still match their SHA-256, deleted when the last job using them lets go, and never deleted under a job that
// just took them. Against a real NATS server.
import { createHash } from "node:crypto";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Objm, type ObjectStore } from "@nats-io/obj";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { subjects } from "../proto/index.js";
import { connectNats, type NatsConnection } from "../transport/index.js";
import { sampleRoomSpec, startNatsServer, type NatsServer } from "../testing/index.js";
import { submitJob, validateSubmission } from "./jobs.js";
import { JobStore } from "./store.js";
import { submission } from "./testing/client.js";

async function* chunks(...parts: Uint8Array[]): AsyncGenerator<Uint8Array> {
  for (const part of parts) yield await Promise.resolve(part);
}

const video = (seed: number, bytes = 300_000) => new Uint8Array(bytes).map((_, i) => (i * 31 + seed) % 251);
const sha256 = (data: Uint8Array) => createHash("sha256").update(data).digest("hex");

describe("uploaded videos", () => {
  let server: NatsServer;
  let nc: NatsConnection;
  let store: JobStore;
  let objects: ObjectStore;
  let dir: string;
  /** The objects stored now (not deleted), by name. */
  const stored = async () => {
    const names: string[] = [];
    for (const info of await objects.list()) if (!info.deleted) names.push(info.name);
    return names.sort();
  };

  beforeAll(async () => {
    server = await startNatsServer();
    nc = await connectNats({ servers: server.url, name: "test" });
    store = await JobStore.open(nc);
    objects = await new Objm(nc).open(subjects.uploadsBucket);
    dir = await mkdtemp(join(tmpdir(), "uploads-"));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
    await nc.close();
    await server.stop();
  });

  it("stores the same video once under its SHA-256, reads it back whole, and deletes it when the last job lets go", async () => {
    const bytes = video(1);
    const a = await store.videos.put("j-a", chunks(bytes.subarray(0, 100_000), bytes.subarray(100_000)));
    const b = await store.videos.put("j-b", chunks(bytes));
    expect(a).toEqual({ sha256: sha256(bytes), bytes: bytes.length });
    expect(b).toEqual(a);
    expect(await stored()).toEqual([`sha256/${a.sha256}`]);

    await store.videos.fetch(a.sha256, join(dir, "a.mp4"));
    expect(new Uint8Array(await readFile(join(dir, "a.mp4")))).toEqual(bytes);

    await store.videos.release("j-a", a.sha256);
    await store.videos.release("j-a", a.sha256);
    expect(await stored()).toEqual([`sha256/${a.sha256}`]);
    await store.videos.release("j-b", a.sha256);
    expect(await stored()).toEqual([]);
    await expect(store.videos.fetch(a.sha256, join(dir, "gone.mp4"))).rejects.toThrow(/no longer stored/);
  });

  it("keeps nothing of an upload that fails part-way, nor of an empty one", async () => {
    async function* broken(): AsyncGenerator<Uint8Array> {
      yield await Promise.resolve(video(2, 200_000));
      throw new Error("the caller went away");
    }
    await expect(store.videos.put("j-c", broken())).rejects.toThrow("the caller went away");
    expect(await store.videos.put("j-d", chunks())).toMatchObject({ bytes: 0 });
    expect(await stored()).toEqual([]);
  });

  it("never deletes a video under a job that takes it while the last one lets go", async () => {
    const bytes = video(3, 50_000);
    const digest = sha256(bytes);
    for (let round = 0; round < 15; round++) {
      await store.videos.put(`j-first-${round}`, chunks(bytes));
      await Promise.all([
        store.videos.release(`j-first-${round}`, digest),
        store.videos.put(`j-next-${round}`, chunks(bytes)),
      ]);
      // Whichever went first, the job that took the video can read it.
      await store.videos.fetch(digest, join(dir, `race-${round}.mp4`));
      await store.videos.release(`j-next-${round}`, digest);
      expect(await stored()).toEqual([]);
    }
  });

  it("refuses a submission whose bytes do not match the SHA-256 it gave, and keeps nothing of it", async () => {
    const bytes = video(4);
    const job = submission({ room: sampleRoomSpec(), videoBytes: bytes.length, videoSha256: "0".repeat(64) });
    await expect(submitJob(store, { tenant: "acme", submission: job, video: chunks(bytes) })).rejects.toMatchObject({
      field: "submission.video_sha256",
    });
    expect(await stored()).toEqual([]);
    // Sent again right, the job is made and holds the video.
    const made = await submitJob(store, {
      tenant: "acme",
      submission: { ...job, requestId: `${job.requestId}-2`, videoSha256: sha256(bytes) },
      video: chunks(bytes),
    });
    expect(made.videoSha256).toBe(sha256(bytes));
    expect(await stored()).toEqual([`sha256/${sha256(bytes)}`]);
  });

  it("refuses a submission whose bytes are not as many as it said, and keeps nothing of it", async () => {
    const bytes = video(5, 40_000);
    const job = submission({ room: sampleRoomSpec(), videoBytes: 5 });
    await expect(submitJob(store, { tenant: "acme", submission: job, video: chunks(bytes) })).rejects.toMatchObject({
      field: "submission.video_bytes",
      message: "submission.video_bytes: says 5; 40000 bytes were sent",
    });
    expect(await stored()).not.toContain(`sha256/${sha256(bytes)}`);
  });
});

describe("a submission's room", () => {
  it("needs no output (the room step gives HLS), and one given is checked before the video is sent", () => {
    expect(() => validateSubmission(submission({ room: sampleRoomSpec({ output: undefined }) }))).not.toThrow();
    const bad = sampleRoomSpec();
    bad.output = { ...bad.output!, outputs: [] };
    expect(() => validateSubmission(submission({ room: bad }))).toThrow(
      expect.objectContaining({ field: expect.stringMatching(/^submission\.room\.output/) as unknown }),
    );
  });
});
