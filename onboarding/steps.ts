// The steps a job worker runs, with the real engines: GStreamer decodes the video, face-api (TensorFlow.js, CPU)
// finds and recognises the face, the lip-sync pool's builder makes the avatar pack, the room's media graph renders it
// speaking for the quality score, the brain (an LLM when configured) writes the script, and the room is created and
// started through its actor like any CreateRoom. Each step works from the job's record and what earlier steps
// checkpointed, so a worker that takes a job up half-way needs nothing from the worker before it but NATS.
import { existsSync } from "node:fs";
import { join } from "node:path";
import type { AvatarStore } from "../avatars/index.js";
import { llmOptionsFromEnv, writeScript, type LlmOptions } from "../brain/index.js";
import { AlreadyExistsError, PermissionDeniedError, againOnDeadline } from "../errors/index.js";
import { AvatarRejectedError, buildAvatarPack } from "../gpu-workers/index.js";
import { RoomClient } from "../rooms/index.js";
import type { Logger } from "../observability/index.js";
import { AvatarRenderer, OutputConfig } from "../proto/index.js";
import { scoreAvatar } from "./avatar-score.js";
import type { FaceLibrary } from "./face-library.js";
import { loadFaceModel, matchFace, type FaceModel } from "./faces.js";
import { checkMaterial, MaterialRefusedError, type MaterialLimits } from "./material.js";
import { removeJobOutputs } from "./outputs.js";
import type { JobStore, JobRecord } from "./store.js";
import { StepRefusedError, type JobSteps, type StepContext } from "./worker.js";

/**
 * What a job's room streams when its spec names no output (the proto: catalog and persona are what it needs): HLS
 * for the viewer page at the avatar's default size, as the demo's room does. Its owner may change it by UpdateRoom.
 */
const defaultRoomOutput = OutputConfig.fromPartial({
  video: { widthPx: 720, heightPx: 1280, fps: 25, bitrateKbps: 2000 },
  audioBitrateKbps: 128,
  outputs: [{ kind: { $case: "hls", value: { segmentDurationS: 2, playlistLength: 6 } } }],
});

export interface StepDeps {
  store: JobStore;
  faces: FaceLibrary;
  avatars: AvatarStore;
  /** Limits on the material (length, size, resolution); the defaults of material.ts otherwise. */
  limits?: Partial<MaterialLimits>;
  /** The LLM that writes scripts; default from the environment (LIVEHOST_LLM_*), else the embedded brain. */
  llm?: LlmOptions;
  /** Variations of the script written ahead (a 24/7 room speaks them in turn). Default 3. */
  scriptVariations?: number;
  logger: Logger;
}

export function onboardingSteps(deps: StepDeps): JobSteps {
  const rooms = new RoomClient(deps.store.nats);
  let model: Promise<FaceModel> | undefined;
  const faceModel = () => (model ??= loadFaceModel());
  const llm = deps.llm ?? llmOptionsFromEnv();

  /** The job's video in this worker's scratch directory (fetched once per worker, checked against its SHA-256). */
  const videoOf = async (ctx: StepContext) => {
    const path = join(ctx.scratch, "video");
    if (!existsSync(path)) await deps.store.videos.fetch(ctx.record.job.videoSha256, path, ctx.signal);
    return path;
  };
  /** The job's avatar pack on this worker: built here, or fetched from the avatar store when resumed elsewhere. */
  const packOf = async (ctx: StepContext) => {
    const dir = join(ctx.scratch, "avatars", ctx.record.job.avatarId);
    if (!existsSync(join(dir, "pack.json")))
      await deps.avatars.fetch(ctx.record.job.avatarId, join(ctx.scratch, "avatars"));
    return dir;
  };

  const descriptors = new Map<string, Float32Array>();
  const inspect = async (ctx: StepContext) => {
    const report = await checkMaterial(await videoOf(ctx), {
      faces: await faceModel(),
      limits: deps.limits,
      signal: ctx.signal,
      onProgress: (fraction: number, message: string) => ctx.progress(fraction, message),
    }).catch(refusal);
    if (report.descriptor) descriptors.set(ctx.record.job.id, report.descriptor);
    return report;
  };

  return {
    run: {
      material: async (ctx) => {
        const report = await inspect(ctx);
        return {
          message:
            `${report.durationS.toFixed(0)} s ${report.width}x${report.height} at ${report.fps.toFixed(0)} fps, ` +
            `speech ${(report.speechFraction * 100).toFixed(0)}%, one face in ` +
            `${(report.oneFaceFraction * 100).toFixed(0)}% of ${report.framesSampled} frames`,
          checkpoints: {
            material: {
              durationS: report.durationS,
              width: report.width,
              height: report.height,
              fps: report.fps,
              speechFraction: report.speechFraction,
              faceBox: report.faceBox,
              mouthBox: report.mouthBox,
            },
          },
        };
      },
      faceid: async (ctx) => {
        // The face seen in the video stays on the worker that saw it (never in the job's record); a worker taking the
        // job up elsewhere looks again.
        const seen = descriptors.get(ctx.record.job.id) ?? (await inspect(ctx)).descriptor;
        descriptors.delete(ctx.record.job.id);
        const library = await deps.faces.descriptors(ctx.record.job.tenant);
        if (library.length === 0) {
          throw new StepRefusedError(
            "face_not_registered",
            `tenant ${ctx.record.job.tenant} has no registered face: register the host's face first (RegisterFace)`,
          );
        }
        const match = seen ? matchFace(seen, library) : undefined;
        if (!match) {
          throw new StepRefusedError(
            "face_not_registered",
            "the face in the video matches none the tenant registered: only registered faces may host its rooms",
          );
        }
        return {
          message: `matches registered face ${match.faceId} (distance ${match.distance.toFixed(2)})`,
          job: { faceId: match.faceId },
        };
      },
      avatar: async (ctx) => {
        const { job, submission } = ctx.record;
        const published = await deps.avatars.info(job.avatarId);
        if (published && published.jobId !== job.id) {
          throw new StepRefusedError("avatar_exists", `avatar ${job.avatarId} was already made by another job`);
        }
        const material = ctx.record.checkpoints.material;
        const video = submission.room?.output?.video;
        const dir = join(ctx.scratch, "avatars", job.avatarId);
        await buildAvatarPack({
          video: await videoOf(ctx),
          id: job.avatarId,
          outDir: dir,
          width: video?.widthPx || 720,
          height: video?.heightPx || 1280,
          fps: video?.fps || 25,
          loopSeconds: 6,
          mouthBox: material?.mouthBox,
          faceBox: material?.faceBox,
          onProgress: (p) => ctx.progress(p.total > 0 ? p.done / p.total : 0, `avatar: ${p.stage}`),
          signal: ctx.signal,
        }).catch((err: unknown) => {
          // The merchant's material (a still photo, no speech the mouth follows): a refusal with its cause, as the
          // material step's are, not an internal failure.
          if (err instanceof AvatarRejectedError)
            throw new StepRefusedError(err.reason.replace(/-/g, "_"), err.message);
          throw err;
        });
        const { files, bytes } = await deps.avatars.publish(dir, {
          id: job.avatarId,
          tenant: job.tenant,
          jobId: job.id,
        });
        return {
          message: `avatar ${job.avatarId} built and published (${files} files, ${(bytes / 1024 ** 2).toFixed(1)} MB)`,
          checkpoints: { avatar: { id: job.avatarId, files, bytes } },
        };
      },
      quality: async (ctx) => {
        const threshold = ctx.record.submission.minQualityScore;
        const verdict = await scoreAvatar({
          avatarDir: await packOf(ctx),
          language: ctx.record.submission.room?.catalog?.language.startsWith("zh") ? "zh" : "en",
          threshold,
          signal: ctx.signal,
          workDir: ctx.scratch,
          onProgress: (fraction: number, message: string) => ctx.progress(fraction, message),
        });
        const quality = {
          score: verdict.score,
          mos: verdict.mos,
          parts: verdict.parts.map((p) => ({ name: p.name, value: p.value ?? 0, mos: p.mos })),
          reasons: verdict.reasons,
          threshold,
          passed: verdict.score >= threshold,
          overriddenBy: "",
          overrideReason: "",
        };
        const summary = `score ${verdict.score.toFixed(0)} (MOS ${verdict.mos.toFixed(1)}) against ${threshold}`;
        return {
          message: quality.passed ? summary : `${summary}: ${verdict.reasons.join("; ")}`,
          job: { quality },
          wait: quality.passed
            ? undefined
            : `the avatar scored below ${threshold}: a person decides (OverrideQuality): ${verdict.reasons.join("; ")}`,
        };
      },
      script: async (ctx) => {
        const { submission } = ctx.record;
        const script = await writeScript({
          catalog: submission.room!.catalog!,
          persona: submission.room!.persona!,
          llm,
          variations: deps.scriptVariations ?? 3,
          // The room runs 24/7: it writes fresh variations as it goes through these.
          rewriteAhead: true,
          signal: ctx.signal,
        });
        if (script.fallbackReason !== "") {
          await ctx.fallback(`the embedded brain wrote the script: ${script.fallbackReason}`);
        }
        const lines = script.variations.reduce((n, v) => n + v.lines.length, 0);
        const message = `${script.variations.length} variation(s), ${lines} lines, written by ${script.author}`;
        return {
          message,
          script,
          job: { scriptVersion: script.version },
          wait: submission.reviewScript ? "the script waits for the merchant's approval (UpdateScript)" : undefined,
        };
      },
      room: async (ctx) => {
        const { job, submission, script } = ctx.record;
        // The merchant's renderer choice stays; the avatar is the one the job built.
        const avatar = {
          renderer: AvatarRenderer.AVATAR_RENDERER_VISEME,
          ...submission.room!.avatar,
          avatarId: job.avatarId,
        };
        const spec = { ...submission.room!, avatar, script, output: submission.room!.output ?? defaultRoomOutput };
        const created = await ask(() =>
          rooms.request(
            job.roomId,
            {
              $case: "create",
              value: { requestId: `onboarding:${job.id}`, roomId: job.roomId, spec, tenant: job.tenant },
            },
            { timeoutMs: askTimeoutMs, signal: ctx.signal },
          ),
        ).catch((err: unknown) => {
          if (err instanceof AlreadyExistsError || err instanceof PermissionDeniedError) {
            throw new StepRefusedError("room_exists", `room ${job.roomId} already exists: ${err.message}`);
          }
          throw err;
        });
        if (!created.room) throw new Error(`room ${job.roomId} was not created`);
        if (submission.leaveStopped) {
          return {
            message: `room ${job.roomId} created (left stopped)`,
            checkpoints: { room: { id: job.roomId, started: false } },
          };
        }
        await ask(() =>
          rooms.request(
            job.roomId,
            { $case: "start", value: { roomId: job.roomId, requestId: `onboarding:${job.id}` } },
            { timeoutMs: askTimeoutMs, signal: ctx.signal },
          ),
        );
        return {
          message: `room ${job.roomId} is going on air`,
          checkpoints: { room: { id: job.roomId, started: true } },
        };
      },
    },
    cleanup: (record: JobRecord) => removeJobOutputs(deps, record.job),
  };
}

/** A room being created or started on a busy host may take a while to answer: asked patiently, and again. */
const askTimeoutMs = 30_000;

/**
 * Asks a room, again when the ask times out (the asks are idempotent: the same request id creates or starts the
 * room once); after three tries the timeout is the step's failure, retried from this step by another attempt.
 */
const ask = <T>(request: () => Promise<T>): Promise<T> => againOnDeadline(request, 3);

/** A material check's refusal becomes the job's, with its check as the failure code. */
function refusal(err: unknown): never {
  if (err instanceof MaterialRefusedError) throw new StepRefusedError(err.check, err.message);
  throw err;
}
