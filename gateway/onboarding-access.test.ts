// Merchants kept apart in onboarding: a job and a FaceID library belong to the tenant they were made for; callers of
// other tenants get PERMISSION_DENIED (never the job's content), listings show only the caller's tenants, roles get
// what the policy gives them, and a caller without an identity gets UNAUTHENTICATED. A real nats-server, gateway and
// gRPC with bearer tokens.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { credentials, status, type ServiceError } from "@grpc/grpc-js";
import { SignJWT, exportJWK, generateKeyPair, type CryptoKey } from "jose";
import { startGateway, type Gateway } from "./internal.js";
import { createRegistry } from "../observability/index.js";
import { JobEventKind, JobState, OnboardingServiceClient, ShowScript, type Job } from "../proto/index.js";
import { bearerToken } from "../transport/index.js";
import { sampleRoomSpec, startTestRoomStack, type TestRoomStack } from "../testing/index.js";
import { JobStore, facePhoto, hostFace, submission, submitVideo } from "../onboarding/internal.js";

const policy = `
tenants:
  acme: {}
  globex: {}
  initech: { quotas: { jobsUnderWay: 2 } }
callers:
  - { identity: "svc:acme", tenants: [acme], role: merchant }
  - { identity: "svc:globex", tenants: [globex], role: merchant }
  - { identity: "svc:console", tenants: [acme], role: console }
  - { identity: "svc:ingest", tenants: ["*"], role: ingest }
  - { identity: "svc:initech", tenants: [initech], role: merchant }
`;

let stack: TestRoomStack;
let gateway: Gateway;
let dir: string;
let key: CryptoKey;
const clients: OnboardingServiceClient[] = [];

async function as(subject?: string): Promise<OnboardingServiceClient> {
  const token = subject
    ? await new SignJWT({})
        .setProtectedHeader({ alg: "ES256", kid: "k" })
        .setSubject(subject)
        .setAudience("livehost")
        .setIssuedAt()
        .setExpirationTime("10m")
        .sign(key)
    : undefined;
  const client = new OnboardingServiceClient(gateway.grpc.address, credentials.createInsecure(), {
    interceptors: token ? [bearerToken(token)] : [],
  });
  clients.push(client);
  return client;
}

type Unary<Req, Res> = (req: Req, callback: (err: ServiceError | null, res: Res) => void) => unknown;
/** The answer, or the status code and message a client in any language sees. */
function call<Req, Res>(method: Unary<Req, Res>, request: Req): Promise<Res | { code: status; details: string }> {
  return new Promise((resolve) =>
    method(request, (err, res) => resolve(err ? { code: err.code, details: err.details } : res)),
  );
}

/** A job (its video is not one: no job worker runs here), or the status its submission got. */
const submit = (client: OnboardingServiceClient, requestId: string): Promise<Job | { code: status }> =>
  submitVideo(
    client,
    submission({ requestId, room: sampleRoomSpec({ avatar: undefined }) }),
    Buffer.alloc(4096, 1),
  ).catch((err: Error) => ({ code: (err.cause as ServiceError).code }));

let acmeJob: Job;

beforeAll(async () => {
  stack = await startTestRoomStack();
  dir = await mkdtemp(join(tmpdir(), "livehost-onboarding-access-"));
  ({ privateKey: key } = await generateKeyPair("ES256", { extractable: true }));
  const { d: _d, ...publicJwk } = await exportJWK(key);
  await writeFile(join(dir, "jwks.json"), JSON.stringify({ keys: [{ ...publicJwk, kid: "k", alg: "ES256" }] }));
  await writeFile(join(dir, "policy.yaml"), policy);
  const auth = { jwksFile: join(dir, "jwks.json"), policyFile: join(dir, "policy.yaml") };
  gateway = await startGateway({ nats: stack.nc, registry: createRegistry(), auth });
  // No job worker runs here: jobs stay queued, which is all these checks need.
  const job = await submit(await as("svc:acme"), "acme-1");
  if (!("id" in job)) throw new Error(`setup: ${JSON.stringify(job)}`);
  acmeJob = job;
}, 120_000);

afterAll(async () => {
  for (const client of clients) client.close();
  await gateway?.close(0);
  await stack?.[Symbol.asyncDispose]();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe("onboarding: merchants kept apart", () => {
  it("a retried SubmitJob gets the job its first call made, from a first message that carries its request id alone; another submission under its request id is ALREADY_EXISTS", async () => {
    const acme = await as("svc:acme");
    const retry = { ...submission({ requestId: "acme-1", room: undefined }), room: undefined };
    expect(await submitVideo(acme, retry, new Uint8Array(0))).toMatchObject({ id: acmeJob.id });
    // The whole submission sent again is the same retry; another submission under the used request id is not.
    const first = submission({ requestId: "acme-1", room: sampleRoomSpec({ avatar: undefined }) });
    expect(await submitVideo(acme, first, Buffer.alloc(4096, 1))).toMatchObject({ id: acmeJob.id });
    for (const [field, other] of [
      ["room_id", { roomId: "another-room" }],
      ["room", { room: sampleRoomSpec({ avatar: undefined, displayName: "another show" }) }],
      ["video_sha256", { videoSha256: "0".repeat(64) }],
    ] as const) {
      await expect(submitVideo(acme, { ...first, ...other }, Buffer.alloc(4096, 1))).rejects.toMatchObject({
        code: "already_exists",
        message: expect.stringContaining(
          `made job ${acmeJob.id} from another submission (its ${field} differs)`,
        ) as unknown,
      });
    }
    // A new request id with no room is a new submission, refused naming what it lacks.
    await expect(submitVideo(acme, { ...retry, requestId: "acme-new" }, new Uint8Array(0))).rejects.toMatchObject({
      code: "invalid_argument",
      message: expect.stringMatching(/^submission\.room/) as unknown,
    });
  });

  it("a job is its tenant's: another merchant can neither read, list, watch nor cancel it", async () => {
    expect(acmeJob).toMatchObject({ tenant: "acme", state: JobState.JOB_STATE_QUEUED });
    const globex = await as("svc:globex");
    expect(await call(globex.getJob.bind(globex), { jobId: acmeJob.id })).toMatchObject({
      code: status.PERMISSION_DENIED,
    });
    expect(await call(globex.cancelJob.bind(globex), { jobId: acmeJob.id, reason: "" })).toMatchObject({
      code: status.PERMISSION_DENIED,
    });
    expect(await call(globex.getScript.bind(globex), { jobId: acmeJob.id })).toMatchObject({
      code: status.PERMISSION_DENIED,
    });
    const listed = (await call(globex.listJobs.bind(globex), { pageSize: 0, pageToken: "", tenant: "", state: 0 })) as {
      jobs: Job[];
    };
    expect(listed.jobs.map((j) => j.id)).not.toContain(acmeJob.id);
    expect(
      await call(globex.listJobs.bind(globex), { pageSize: 0, pageToken: "", tenant: "acme", state: 0 }),
    ).toMatchObject({ code: status.PERMISSION_DENIED });
    const watch = globex.watchJob({ jobId: acmeJob.id, afterSequence: 0 });
    const refused = await new Promise<ServiceError>((resolve) =>
      watch.on("error", resolve).on("data", () => undefined),
    );
    expect(refused.code).toBe(status.PERMISSION_DENIED);
    // Its own merchant sees it, and the same request id returns the same job.
    const acme = await as("svc:acme");
    expect(await call(acme.getJob.bind(acme), { jobId: acmeJob.id })).toMatchObject({ id: acmeJob.id });
    expect(await submit(acme, "acme-1")).toMatchObject({ id: acmeJob.id });
  });

  it("a tenant at its quota of jobs under way is refused before any upload, until one of them ends", async () => {
    const initech = await as("svc:initech");
    const first = (await submit(initech, "initech-1")) as Job;
    expect(first.state).toBe(JobState.JOB_STATE_QUEUED);
    expect(await submit(initech, "initech-2")).toMatchObject({ state: JobState.JOB_STATE_QUEUED });
    expect(await submit(initech, "initech-3")).toEqual({ code: status.RESOURCE_EXHAUSTED });
    // Sending a job again is not a new job; other tenants are not held back.
    expect(await submit(initech, "initech-1")).toMatchObject({ id: first.id });
    expect(await submit(await as("svc:globex"), "globex-quota")).toMatchObject({ state: JobState.JOB_STATE_QUEUED });
    // One ends: there is room for another.
    await call(initech.cancelJob.bind(initech), { jobId: first.id, reason: "not this one" });
    expect(await submit(initech, "initech-3")).toMatchObject({ state: JobState.JOB_STATE_QUEUED });
  });

  it("once the job's room has written its show's next version, GetScript returns the room's and UpdateScript edits that", async () => {
    const acme = await as("svc:acme");
    const job = (await submit(acme, "acme-script")) as Job;
    const lines = (text: string) => [{ lines: [{ kind: "opening", productId: "", text }] }];
    // The job wrote version 1 and made its room; the room, on air for a while, has written versions 2 and 3 since.
    const spec = sampleRoomSpec({ avatar: undefined });
    spec.script = ShowScript.fromPartial({
      version: 3,
      author: "embedded",
      rewriteAhead: true,
      variations: lines("大家好！"),
    });
    await stack.create(job.roomId, spec);
    const store = await JobStore.open(stack.nc);
    await store.change(job.id, (r) => {
      r.script = ShowScript.fromPartial({
        version: 1,
        author: "embedded",
        rewriteAhead: true,
        variations: lines("宝子们好！"),
      });
      r.job.scriptVersion = 1;
      r.checkpoints.room = { id: job.roomId, started: true };
      return [{ kind: JobEventKind.JOB_EVENT_KIND_STEP_DONE, step: "room" }];
    });

    expect(await call(acme.getScript.bind(acme), { jobId: job.id })).toMatchObject({ version: 3 });
    const edit = ShowScript.fromPartial({ variations: lines("欢迎来到直播间！") });
    const stale = await call(acme.updateScript.bind(acme), {
      jobId: job.id,
      script: edit,
      expectedVersion: 1,
      approve: false,
    });
    expect(stale).toMatchObject({ code: status.ABORTED });
    expect((stale as { details: string }).details).toContain("at version 3");
    expect(
      await call(acme.updateScript.bind(acme), { jobId: job.id, script: edit, expectedVersion: 3, approve: false }),
    ).toMatchObject({ version: 4, author: "merchant", rewriteAhead: false });
    const room = await stack.get(job.roomId);
    expect(room.spec?.script).toMatchObject({ version: 4, author: "merchant", variations: edit.variations });
  });

  it("roles: a console follows its tenant's jobs but submits none; an ingest sees none; no identity, nothing", async () => {
    const console = await as("svc:console");
    expect(await call(console.getJob.bind(console), { jobId: acmeJob.id })).toMatchObject({ id: acmeJob.id });
    expect(await submit(console, "console-1")).toMatchObject({ code: status.PERMISSION_DENIED });
    const ingest = await as("svc:ingest");
    expect(await call(ingest.getJob.bind(ingest), { jobId: acmeJob.id })).toMatchObject({
      code: status.PERMISSION_DENIED,
    });
    const nobody = await as();
    expect(await call(nobody.getJob.bind(nobody), { jobId: acmeJob.id })).toMatchObject({
      code: status.UNAUTHENTICATED,
    });
    expect(await submit(nobody, "nobody-1")).toMatchObject({ code: status.UNAUTHENTICATED });
  });

  it("a FaceID library is its tenant's: listed, deleted and matched only there; descriptors never returned", async () => {
    const acme = await as("svc:acme");
    const globex = await as("svc:globex");
    const photo = await facePhoto(hostFace);
    const face = await call(acme.registerFace.bind(acme), { tenant: "", faceId: "host", photo, displayName: "Host" });
    expect(face).toMatchObject({ tenant: "acme", faceId: "host", displayName: "Host" });
    expect(Object.keys(face as object).sort()).toEqual(["createTime", "displayName", "faceId", "tenant"]);
    expect(
      await call(acme.registerFace.bind(acme), { tenant: "", faceId: "host", photo, displayName: "" }),
    ).toMatchObject({ code: status.ALREADY_EXISTS });
    // A photo of up to 10 MiB reaches the service (here no image: refused naming the field, not by the transport).
    const large = new Uint8Array(9 * 1024 * 1024).fill(7);
    expect(
      await call(acme.registerFace.bind(acme), { tenant: "", faceId: "big", photo: large, displayName: "" }),
    ).toMatchObject({ code: status.INVALID_ARGUMENT, details: expect.stringMatching(/^photo: /) as unknown });
    expect(await call(globex.listFaces.bind(globex), { tenant: "" })).toEqual({ faces: [] });
    expect(await call(globex.listFaces.bind(globex), { tenant: "acme" })).toMatchObject({
      code: status.PERMISSION_DENIED,
    });
    expect(await call(globex.deleteFace.bind(globex), { tenant: "acme", faceId: "host" })).toMatchObject({
      code: status.PERMISSION_DENIED,
    });
    expect(await call(globex.deleteFace.bind(globex), { tenant: "", faceId: "host" })).toMatchObject({
      code: status.NOT_FOUND,
    });
    expect(await call(acme.listFaces.bind(acme), { tenant: "" })).toMatchObject({ faces: [{ faceId: "host" }] });
    expect(await call(acme.deleteFace.bind(acme), { tenant: "", faceId: "host" })).toEqual({});
    expect(await call(acme.listFaces.bind(acme), { tenant: "" })).toEqual({ faces: [] });
  }, 60_000);
});
