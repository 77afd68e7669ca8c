// A merchant's path from upload to air, through the real engines: the face registered from a photo (face-api on
// TensorFlow.js), a talking-head video made from a real photo streamed up over gRPC, the job run by a job worker
// (material checks, FaceID, the avatar built and published through NATS, its quality scored from a render, the script
// written, here by the embedded brain since the LLM configured is down, the room created and started), and the room on
// air with the new avatar speaking the script. Bad material is refused at its step with its cause, and nothing it made
// is left.
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { credentials } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AvatarStore } from "../avatars/index.js";
import { JobEventKind, JobState, OnboardingServiceClient, RoomState, type JobSubmission } from "../proto/index.js";
import { bearerToken, callUnary } from "../transport/index.js";
import { findToken } from "../trust/index.js";
import { createRegistry, rootLogger } from "../observability/index.js";
import { eventually, startTestRoomStack, testFrame, type TestRoomStack } from "../testing/index.js";
import {
  facePhoto,
  followJob,
  hostFace,
  makeTalkingHeadVideo,
  otherFace,
  startOnboardingWorker,
  submission,
  submitVideo,
} from "../onboarding/internal.js";

let stack: TestRoomStack & { gateway: NonNullable<TestRoomStack["gateway"]> };
let client: OnboardingServiceClient;
let dir: string;
let closeWorker: () => Promise<void>;

beforeAll(async () => {
  stack = await startTestRoomStack({ live: true, gateway: true });
  const worker = await startOnboardingWorker({
    nats: stack.nc,
    registry: createRegistry(),
    logger: rootLogger(),
    ackWaitMs: 5_000,
    // An LLM that is down (nothing listens there): the embedded brain writes the script, and the job says so.
    llm: { endpoint: "http://127.0.0.1:9/v1", model: "down", firstTokenTimeoutMs: 500, totalTimeoutMs: 2_000 },
  });
  closeWorker = () => worker.close();
  const token = await findToken();
  client = new OnboardingServiceClient(stack.gateway.grpc.address, credentials.createInsecure(), {
    interceptors: [bearerToken(token!)],
  });
  dir = await mkdtemp(join(tmpdir(), "livehost-onboarding-e2e-"));
}, 120_000);

afterAll(async () => {
  client?.close();
  await closeWorker?.();
  await stack?.[Symbol.asyncDispose]();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** Streams the submission and the video. */
const submit = (fields: Partial<JobSubmission>, video: Buffer) =>
  submitVideo(
    client,
    submission({ room: stack.liveSpec({ avatar: undefined }), minQualityScore: 1, ...fields }),
    video,
    64 * 1024,
  );
const follow = (jobId: string) => followJob(client, jobId);

describe("onboarding, end to end", () => {
  it("takes a registered host's video to a live room that shows the new avatar and speaks the script", async () => {
    const photo = await facePhoto(hostFace, { degrees: 4, light: { brightness: 15 } });
    const face = await callUnary(client.registerFace.bind(client), {
      tenant: "",
      faceId: "host",
      photo,
      displayName: "Host",
    });
    expect(face.faceId).toBe("host");
    const video = await makeTalkingHeadVideo({
      out: join(dir, "host.mp4"),
      seconds: 14,
      width: testFrame.width,
      height: testFrame.height,
    });
    const job = await submit({}, await readFile(video.path));
    expect(job.state).toBe(JobState.JOB_STATE_QUEUED);
    const events = await follow(job.id);
    const last = events.at(-1)!;
    expect(last.job?.failure).toBeUndefined();
    expect(last.kind).toBe(JobEventKind.JOB_EVENT_KIND_SUCCEEDED);
    const done = last.job!;
    expect(done.faceId).toBe("host");
    expect(done.quality?.score).toBeGreaterThan(0);
    expect(done.quality?.parts.length).toBeGreaterThan(0);
    expect(done.scriptVersion).toBe(1);
    const fallback = events.find((e) => e.kind === JobEventKind.JOB_EVENT_KIND_FALLBACK);
    expect(fallback).toMatchObject({ step: "script" });
    expect(fallback!.message).toMatch(/embedded brain/);
    const script = await callUnary(client.getScript.bind(client), { jobId: job.id });
    expect(script).toMatchObject({ author: "embedded", version: 1 });
    expect(script.fallbackReason).not.toBe("");
    const lines = new Set(script.variations.flatMap((v) => v.lines.map((l) => l.text)));
    // The room is on air with the avatar the job built, speaking the script.
    const room = await eventually(
      async () => {
        const r = await stack.get(done.roomId);
        expect(r.status?.state).toBe(RoomState.ROOM_STATE_LIVE);
        return r;
      },
      { timeoutMs: 60_000 },
    );
    expect(room.spec?.avatar?.avatarId).toBe(done.avatarId);
    // The pack carries the boxes face-api's landmarks gave: the mouth inside the face.
    const pack = JSON.parse(await readFile(join(stack.avatarsDir, done.avatarId, "pack.json"), "utf8")) as {
      mouth: { x: number; y: number; width: number; height: number };
      face: { x: number; y: number; width: number; height: number };
    };
    expect(pack.face.width).toBeGreaterThan(pack.mouth.width);
    expect(pack.mouth.x).toBeGreaterThanOrEqual(pack.face.x);
    expect(pack.mouth.y + pack.mouth.height).toBeLessThanOrEqual(pack.face.y + pack.face.height + 4);
    expect(room.tenant).toBe(done.tenant);
    await eventually(() => expect(stack.utterances(done.roomId).length).toBeGreaterThan(0), { timeoutMs: 60_000 });
    const first = stack.utterances(done.roomId)[0]!;
    expect([...lines].some((line) => line.includes(first.text) || first.text.includes(line))).toBe(true);
    const listed = await callUnary(client.listJobs.bind(client), { pageSize: 0, pageToken: "", tenant: "", state: 0 });
    expect(listed.jobs.map((j) => j.id)).toContain(job.id);
  }, 300_000);

  it("refuses a video whose face is not registered, at faceid, and leaves no avatar behind", async () => {
    const video = await makeTalkingHeadVideo({
      out: join(dir, "stranger.mp4"),
      seconds: 12,
      width: testFrame.width,
      height: testFrame.height,
      photo: otherFace,
    });
    const job = await submit({}, await readFile(video.path));
    const events = await follow(job.id);
    const failed = events.at(-1)!.job!;
    expect(failed.state).toBe(JobState.JOB_STATE_FAILED);
    expect(failed.failure).toMatchObject({ step: "faceid", code: "face_not_registered" });
    const avatars = await AvatarStore.open(stack.nc);
    expect(await avatars.info(failed.avatarId)).toBeUndefined();
  }, 240_000);

  it("refuses a video with nobody in it at the material step, naming the cause", async () => {
    const video = await makeTalkingHeadVideo({
      out: join(dir, "empty.mp4"),
      seconds: 12,
      width: testFrame.width,
      height: testFrame.height,
      noFace: true,
    });
    const job = await submit({}, await readFile(video.path));
    const failed = (await follow(job.id)).at(-1)!.job!;
    expect(failed.failure).toMatchObject({ step: "material", code: "no_face" });
    expect(failed.failure?.message).toMatch(/face/i);
  }, 240_000);

  it("refuses a bad submission before any video is stored", async () => {
    await expect(submit({ requestId: "" }, Buffer.alloc(10))).rejects.toThrow(/request_id/);
    await expect(submit({ room: stack.liveSpec({ catalog: undefined }) }, Buffer.alloc(10))).rejects.toThrow(/catalog/);
    // A catalog whose own words the guard refuses (a medical claim): refused naming the field, before any upload.
    const spec = stack.liveSpec({ avatar: undefined });
    spec.catalog!.products[0]!.sellingPoints = ["每天一杯，治疗失眠"];
    await expect(submit({ room: spec }, Buffer.alloc(10))).rejects.toMatchObject({
      field: "submission.room.catalog.products[0].selling_points[0]",
    });
    await expect(
      callUnary(client.registerFace.bind(client), {
        tenant: "",
        faceId: "nobody",
        photo: Buffer.from("not an image"),
        displayName: "",
      }),
    ).rejects.toThrow(/photo/);
  }, 60_000);
});
