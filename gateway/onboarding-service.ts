// OnboardingService as internal services see it (onboarding_service.proto): jobs submitted with their video streamed
// in, followed, cancelled and decided on; scripts read and edited; the FaceID library kept. Admitted and audited like
// RoomService: a job belongs to the tenant it was submitted for, and only callers acting for that tenant see it.
import type { NatsConnection } from "@nats-io/transport-node";
import type { ServerWritableStream } from "@grpc/grpc-js";
import { AvatarStore } from "../avatars/index.js";
import { checkScript } from "../brain/index.js";
import { InvalidArgumentError, NotFoundError } from "../errors/index.js";
import type { ShowScript } from "../proto/index.js";
import {
  JobState,
  OnboardingServiceService,
  type Job,
  type JobEvent,
  type ListJobsRequest,
  type OnboardingServiceServer,
  type SubmitJobRequest,
  type WatchJobRequest,
} from "../proto/index.js";
import {
  FaceLibrary,
  JobStore,
  type JobRecord,
  cancelJob,
  describeFace,
  jobEnded,
  jobIdFor,
  overrideQuality,
  readJob,
  removeJobOutputs,
  submitJob,
  checkRetry,
  updateScript,
  validateSubmission,
} from "../onboarding/index.js";
import { RoomClient, validateEnum, validateRequestId, validateRoomId } from "../rooms/index.js";
import type { Action } from "../trust/index.js";
import { clientStream, serverStream, unary, type GrpcServiceRegistration } from "../transport/index.js";
import type { Access, Admitted } from "./access.js";
import type { TenantQuotas } from "./tenant-quotas.js";

export interface OnboardingServiceDeps {
  nats: NatsConnection;
  access: Access;
  /** Videos above this are refused (RESOURCE_EXHAUSTED). Default 500 MiB. */
  uploadMaxBytes?: number;
  /** What the uploads bucket holds (JobStoreSettings.uploadsMaxBytes). */
  uploadsMaxBytes?: number;
  replicas?: number;
  /** The tenants' quotas (jobs under way). */
  quotas?: TenantQuotas;
}

const maxPhotoBytes = 10 * 1024 ** 2;

export async function onboardingService(deps: OnboardingServiceDeps): Promise<GrpcServiceRegistration> {
  const { access } = deps;
  const store = await JobStore.open(deps.nats, { replicas: deps.replicas, uploadsMaxBytes: deps.uploadsMaxBytes });
  const faces = await FaceLibrary.open(deps.nats, deps.replicas);
  const avatars = await AvatarStore.open(deps.nats, deps.replicas);
  const rooms = new RoomClient(deps.nats);
  const admitted = <Req extends object, Res>(
    action: Action,
    handler: (request: Req, admission: Admitted) => Promise<Res>,
  ) => unary<Req, Res>(action, (request, call) => access.run(action, request, call, (a) => handler(request, a)));
  /** The script as it is now: once the job's room exists, the room's (a 24/7 room writes its next variations). */
  const currentScript = async (record: JobRecord): Promise<ShowScript | undefined> => {
    if (!record.checkpoints.room) return record.script;
    const spoken = (await access.readRoom(record.job.roomId))?.spec?.script;
    return spoken && spoken.version > (record.script?.version ?? 0) ? spoken : record.script;
  };
  /** The job, once the caller is known to act for its tenant. */
  const jobOf = async (jobId: string, admission: Admitted) => {
    const record = await readJob(store, jobId);
    admission.tenant(record.job.tenant, `job ${jobId}`);
    admission.entry.roomId = record.job.roomId;
    return record;
  };

  const implementation: OnboardingServiceServer = {
    submitJob: clientStream("SubmitJob", async (requests: AsyncIterable<SubmitJobRequest>, _signal, call) => {
      const iterator = requests[Symbol.asyncIterator]();
      const first = await iterator.next();
      const submission = first.done ? undefined : first.value.part;
      if (submission?.$case !== "submission") {
        throw new InvalidArgumentError("submission", "the first message must carry the submission");
      }
      const request = submission.value;
      return access.run("SubmitJob", request, call, async (admission) => {
        validateRequestId(request.requestId, { required: true, field: "submission.request_id" });
        const tenant = admission.tenantForCreate(request.tenant);
        // A retry: the job its first call made (its request id is enough; what else it carries must be the same).
        const made = await store.get(jobIdFor(tenant, request.requestId));
        if (made) {
          checkRetry(made, request);
          admission.entry.roomId = made.job.roomId;
          return made.job;
        }
        validateSubmission(request);
        // A new job (a retried submission is its first job again) within the tenant's jobs under way, before any upload.
        if (deps.quotas) {
          const underWay = await store.list((r) => r.job.tenant === tenant && !jobEnded(r.job.state));
          deps.quotas.checkJobs(tenant, underWay.length);
        }
        const video = (async function* () {
          for (;;) {
            const next = await iterator.next();
            if (next.done) return;
            if (next.value.part?.$case !== "videoChunk") {
              throw new InvalidArgumentError("submission", "only the first message may carry the submission");
            }
            yield next.value.part.value;
          }
        })();
        const job = await submitJob(store, { tenant, submission: request, video, uploadMaxBytes: deps.uploadMaxBytes });
        admission.entry.roomId = job.roomId;
        return job;
      });
    }),
    getJob: admitted("GetJob", async (request: { jobId: string }, admission) => {
      return (await jobOf(request.jobId, admission)).job;
    }),
    listJobs: admitted("ListJobs", async (request: ListJobsRequest, admission) => {
      validateEnum(request.state, JobState, "state");
      const size = request.pageSize === 0 ? 50 : request.pageSize;
      if (size > 500) throw new InvalidArgumentError("page_size", "must be 1 to 500");
      const serves = admission.listFilter(request.tenant);
      const records = await store.list(
        (r) =>
          serves(r.job.tenant) && (request.state === JobState.JOB_STATE_UNSPECIFIED || r.job.state === request.state),
      );
      let start = 0;
      if (request.pageToken !== "") {
        start = records.findIndex((r) => r.job.id === request.pageToken) + 1;
        if (start === 0) throw new InvalidArgumentError("page_token", "is not from a previous ListJobs");
      }
      const page = records.slice(start, start + size);
      const more = start + size < records.length;
      return { jobs: page.map((r) => r.job), nextPageToken: more ? page[page.length - 1]!.job.id : "" };
    }),
    watchJob: serverStream("WatchJob", (request: WatchJobRequest, signal, call) => watchJob(request, signal, call)),
    cancelJob: admitted("CancelJob", async (request: { jobId: string; reason: string }, admission) => {
      await jobOf(request.jobId, admission);
      if ([...request.reason].length > 200) throw new InvalidArgumentError("reason", "must be at most 200 characters");
      const { job, cleanup } = await cancelJob(store, request.jobId, request.reason);
      if (cleanup) await removeJobOutputs({ store, avatars }, job);
      return job;
    }),
    overrideQuality: admitted(
      "OverrideQuality",
      async (request: { jobId: string; accept: boolean; reason: string }, admission) => {
        await jobOf(request.jobId, admission);
        const who = admission.caller.identity;
        const { job, cleanup } = await overrideQuality(store, request.jobId, { ...request, who });
        admission.entry.message = `${request.accept ? "accepted" : "refused"}: ${request.reason}`.slice(0, 300);
        if (cleanup) await removeJobOutputs({ store, avatars }, job);
        return job;
      },
    ),
    getScript: admitted("GetScript", async (request: { jobId: string }, admission) => {
      const record = await jobOf(request.jobId, admission);
      const script = await currentScript(record);
      if (!script) throw new NotFoundError(`job ${request.jobId} has no script yet`);
      return script;
    }),
    updateScript: admitted(
      "UpdateScript",
      async (request: { jobId: string; script?: ShowScript; expectedVersion: number; approve: boolean }, admission) => {
        const record = await jobOf(request.jobId, admission);
        if (!request.script && !request.approve) {
          throw new InvalidArgumentError("script", "send a script, approve, or both");
        }
        if (request.script)
          checkScript(request.script, record.submission.room!.catalog!, { persona: record.submission.room!.persona });
        const updated = await updateScript(store, request.jobId, {
          script: request.script,
          expectedVersion: request.expectedVersion,
          approve: request.approve,
          who: admission.caller.identity,
          roomVersion: (await currentScript(record))?.version,
        });
        // A room already made by the job speaks the edit from its next line.
        if (request.script && updated.checkpoints.room) {
          await rooms.request(updated.job.roomId, {
            $case: "update",
            value: {
              roomId: updated.job.roomId,
              spec: { ...record.submission.room!, script: updated.script },
              updateMask: ["script"],
              expectedRevision: 0,
            },
          });
        }
        return updated.script!;
      },
    ),
    registerFace: admitted(
      "RegisterFace",
      async (request: { tenant: string; faceId: string; photo: Uint8Array; displayName: string }, admission) => {
        const tenant = admission.tenantForCreate(request.tenant);
        validateRoomId(request.faceId, "face_id");
        if ([...request.displayName].length > 120) {
          throw new InvalidArgumentError("display_name", "must be at most 120 characters");
        }
        if (request.photo.length === 0) throw new InvalidArgumentError("photo", "is required");
        if (request.photo.length > maxPhotoBytes) {
          throw new InvalidArgumentError("photo", `must be at most ${maxPhotoBytes} bytes`);
        }
        const descriptor = await describeFace(request.photo);
        return faces.register(tenant, request.faceId, request.displayName, descriptor);
      },
    ),
    listFaces: admitted("ListFaces", async (request: { tenant: string }, admission) => {
      const tenant = admission.tenantForCreate(request.tenant);
      return { faces: await faces.list(tenant) };
    }),
    deleteFace: admitted("DeleteFace", async (request: { tenant: string; faceId: string }, admission) => {
      const tenant = admission.tenantForCreate(request.tenant);
      validateRoomId(request.faceId, "face_id");
      await faces.delete(tenant, request.faceId);
      return {};
    }),
  };

  async function* watchJob(
    request: WatchJobRequest,
    signal: AbortSignal,
    call: ServerWritableStream<WatchJobRequest, JobEvent>,
  ): AsyncGenerator<JobEvent> {
    let job: Job | undefined;
    await access.run("WatchJob", request, call, async (admission) => {
      job = (await jobOf(request.jobId, admission)).job;
    });
    if (!job) return;
    yield* store.events(request.jobId, request.afterSequence, signal);
  }

  return { name: "livehost.v1.OnboardingService", definition: OnboardingServiceService, implementation };
}
