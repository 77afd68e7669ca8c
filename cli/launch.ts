// `livehost launch`: a merchant's talking-head video, catalog and persona to a live room in one command, through
// OnboardingService (the gateway at --gateway, the caller's token as for `livehost room`): the video streamed up in
// 1 MiB chunks, then the job followed to its end with a progress line per step. Exit status: 0 the room is on air
// (or created, with --leave-stopped), 1 the job failed or was cancelled (the step and cause are printed), 3 the job
// waits for a person (quality override or script approval: `livehost job override|script --approve`). Ctrl-C stops
// following; --cancel-on-exit cancels the job too.
// `livehost face register|list|delete` keeps the tenant's FaceID library; `livehost job get|list|watch|cancel|
// override|script` follows and decides on jobs.
import { createReadStream } from "node:fs";
import { readFile, stat } from "node:fs/promises";
import { randomUUID } from "node:crypto";
import type { ServiceError } from "@grpc/grpc-js";
import type { Command } from "commander";
import { parseCatalog, parsePersonas, pickPersona } from "../brain/index.js";
import {
  type Catalog,
  Face,
  Job,
  JobEvent,
  JobEventKind,
  JobState,
  OnboardingServiceClient,
  type Persona,
  RoomSpec,
  ShowScript,
  StepState,
  type SubmitJobRequest,
} from "../proto/index.js";
import { InvalidArgumentError, LivehostError } from "../errors/index.js";
import { callUnary, fromServiceError } from "../transport/index.js";
import { gatewayOption, tenantOption, tokenOption, withGatewayClient, type ClientFlags } from "./gateway-client.js";
import { catalogFromJson, personaFromJson, readJsonFile, roomSpecFromJson, showScriptFromJson } from "./proto-json.js";

interface LaunchFlags extends ClientFlags {
  video: string;
  catalog: string;
  persona: string;
  room?: string;
  spec?: string;
  avatarId?: string;
  tenant: string;
  requestId?: string;
  minScore?: string;
  reviewScript?: boolean;
  leaveStopped?: boolean;
  cancelOnExit?: boolean;
}

/**
 * A catalog as protobuf JSON (Catalog), or in the merchant's catalog format of the sample files (brain/fixtures:
 * `roomTitle`, prices in units). A file that is neither is refused with what is wrong as protobuf JSON.
 */
function catalogFrom(json: unknown): Catalog {
  try {
    return catalogFromJson(json, "--catalog");
  } catch (err) {
    try {
      return parseCatalog(json, "--catalog");
    } catch {
      throw err;
    }
  }
}

/**
 * A persona as protobuf JSON (a list, or { personas: [...] }, gives its first), or a personas file in the sample
 * files' format, of which the one speaking the catalog's language (else its first).
 */
function personaFrom(json: unknown, catalog: Catalog): Persona {
  const { personas } = (json ?? {}) as { personas?: unknown };
  try {
    if (Array.isArray(json)) return personaFromJson(json[0], "--persona", "[0]");
    if (Array.isArray(personas) && personas.length > 0) return personaFromJson(personas[0], "--persona", "personas[0]");
    return personaFromJson(json, "--persona");
  } catch (err) {
    let found: Persona[];
    try {
      found = parsePersonas(json, "--persona");
    } catch {
      throw err;
    }
    try {
      return pickPersona(found, catalog);
    } catch {
      return found[0]!;
    }
  }
}

/** Submits the video and the room's spec; resolves to the job. */
async function submit(client: OnboardingServiceClient, flags: LaunchFlags): Promise<Job> {
  const catalog = catalogFrom(await readJsonFile(flags.catalog, "--catalog"));
  const persona = personaFrom(await readJsonFile(flags.persona, "--persona"), catalog);
  const base = flags.spec ? roomSpecFromJson(await readJsonFile(flags.spec, "--spec"), "--spec") : RoomSpec.create();
  const size = await stat(flags.video).catch(() => {
    throw new InvalidArgumentError("--video", `${flags.video} cannot be read`);
  });
  if (!size.isFile()) throw new InvalidArgumentError("--video", `${flags.video} is not a file`);
  const minScore = flags.minScore === undefined ? 0 : Number(flags.minScore);
  if (!Number.isFinite(minScore) || minScore < 0 || minScore > 100) {
    throw new InvalidArgumentError("--min-score", "must be 0 to 100");
  }
  return new Promise<Job>((resolve, reject) => {
    const call = client.submitJob((err: ServiceError | null, job?: Job) =>
      err ? reject(fromServiceError(err)) : resolve(job!),
    );
    void (async () => {
      const write = async (request: SubmitJobRequest) => {
        // Backpressure: wait for the HTTP/2 window before the next chunk.
        if (!call.write(request)) await new Promise((r) => call.once("drain", r));
      };
      await write({
        part: {
          $case: "submission",
          value: {
            requestId: flags.requestId ?? randomUUID(),
            tenant: flags.tenant,
            roomId: flags.room ?? "",
            avatarId: flags.avatarId ?? "",
            room: {
              ...base,
              catalog,
              persona,
              displayName: base.displayName || catalog.title,
            },
            videoBytes: size.size,
            videoSha256: "",
            minQualityScore: minScore,
            reviewScript: flags.reviewScript ?? false,
            leaveStopped: flags.leaveStopped ?? false,
          },
        },
      });
      let sent = 0;
      for await (const chunk of createReadStream(flags.video, { highWaterMark: 1024 ** 2 })) {
        await write({ part: { $case: "videoChunk", value: chunk as Buffer } });
        sent += (chunk as Buffer).length;
        progressLine(`upload ${((100 * sent) / Math.max(1, size.size)).toFixed(0)}%`);
      }
      call.end();
    })().catch((err: unknown) => {
      call.cancel();
      reject(err instanceof Error ? err : new Error(String(err)));
    });
  });
}

const tty = process.stderr.isTTY;
function progressLine(text: string): void {
  if (tty) process.stderr.write(`\r\x1b[2K${text}`);
}
function say(text: string): void {
  process.stderr.write(tty ? `\r\x1b[2K${text}\n` : `${text}\n`);
}

function bar(fraction: number): string {
  const width = 20;
  const full = Math.round(Math.max(0, Math.min(1, fraction)) * width);
  return `[${"#".repeat(full)}${".".repeat(width - full)}] ${(fraction * 100).toFixed(0).padStart(3)}%`;
}

function describe(event: JobEvent): string | undefined {
  const step = event.step ? `${event.step}: ` : "";
  switch (event.kind) {
    case JobEventKind.JOB_EVENT_KIND_QUEUED:
      return `queued (${event.message})`;
    case JobEventKind.JOB_EVENT_KIND_STEP_STARTED:
      return `${event.step} …`;
    case JobEventKind.JOB_EVENT_KIND_STEP_DONE:
      return `${event.step} done: ${event.message}`;
    case JobEventKind.JOB_EVENT_KIND_RESUMED:
      return `${step}resumed: ${event.message}`;
    case JobEventKind.JOB_EVENT_KIND_FALLBACK:
      return `${step}fallback: ${event.message}`;
    case JobEventKind.JOB_EVENT_KIND_WAITING:
      return `${step}waiting for a person: ${event.message}`;
    case JobEventKind.JOB_EVENT_KIND_DECIDED:
      return `${step}${event.message}`;
    case JobEventKind.JOB_EVENT_KIND_SUCCEEDED:
      return `succeeded: ${event.message}`;
    case JobEventKind.JOB_EVENT_KIND_FAILED:
      return `FAILED at ${event.step || "the job"} (${event.job?.failure?.code ?? ""}): ${event.message}`;
    case JobEventKind.JOB_EVENT_KIND_CANCELLED:
      return `cancelled: ${event.message}`;
    default:
      return undefined;
  }
}

/** What a person runs to let a job waiting at `step` go on. */
function decideHint(jobId: string, step: string): string {
  return step === "quality"
    ? `accept the avatar with \`livehost job override ${jobId} --reason <why>\` (or --refuse)`
    : `approve the script with \`livehost job script ${jobId} --approve\` (see it without --approve)`;
}

/** True while the job still waits at `step` (a replayed WAITING event may be one the job has since left). */
async function stillWaiting(client: OnboardingServiceClient, jobId: string, step: string): Promise<boolean> {
  const job = await callUnary(client.getJob.bind(client), { jobId });
  return (
    job.state === JobState.JOB_STATE_WAITING &&
    job.steps.some((s) => s.name === step && s.state === StepState.STEP_STATE_WAITING)
  );
}

/** Follows the job's events after `after` until it ends or waits; resolves to the exit status. */
async function follow(
  client: OnboardingServiceClient,
  jobId: string,
  json: boolean | undefined,
  after = 0,
): Promise<number> {
  for (let attempt = 0; ; attempt++) {
    const stream = client.watchJob({ jobId, afterSequence: after });
    try {
      for await (const event of stream as AsyncIterable<JobEvent>) {
        after = event.sequence;
        if (json) process.stdout.write(`${JSON.stringify(JobEvent.toJSON(event))}\n`);
        else if (event.kind === JobEventKind.JOB_EVENT_KIND_STEP_PROGRESS) {
          progressLine(`${event.step} ${bar(event.fraction)} ${event.message}`);
        } else {
          const line = describe(event);
          if (line) say(line);
        }
        const state = event.job?.state;
        if (state === JobState.JOB_STATE_SUCCEEDED) return 0;
        if (state === JobState.JOB_STATE_FAILED || state === JobState.JOB_STATE_CANCELLED) return 1;
        if (
          state === JobState.JOB_STATE_WAITING &&
          event.kind === JobEventKind.JOB_EVENT_KIND_WAITING &&
          (await stillWaiting(client, jobId, event.step))
        ) {
          if (!json) say(decideHint(jobId, event.step));
          return 3;
        }
      }
      return 1;
    } catch (err) {
      const error = err instanceof LivehostError ? err : fromServiceError(err as ServiceError);
      if (!error.retryable || attempt >= 5) throw error;
      await new Promise((r) => setTimeout(r, 500 * (attempt + 1)));
    }
  }
}

function printJob(job: Job, json: boolean | undefined): void {
  if (json) {
    process.stdout.write(`${JSON.stringify(Job.toJSON(job))}\n`);
    return;
  }
  const state = (JobState[job.state] ?? "").replace("JOB_STATE_", "").toLowerCase();
  process.stdout.write(`${job.id}\t${state}\troom ${job.roomId}\tavatar ${job.avatarId}\n`);
  for (const step of job.steps) {
    const s = (StepState[step.state] ?? "").replace("STEP_STATE_", "").toLowerCase();
    process.stdout.write(`  ${step.name.padEnd(9)} ${s.padEnd(8)} ${step.message}\n`);
  }
  if (job.failure) process.stdout.write(`  failure: ${job.failure.code}: ${job.failure.message}\n`);
}

/** Runs `action` with an OnboardingService client, closing it after. */
const withClient = <A extends unknown[]>(action: (client: OnboardingServiceClient, ...args: A) => Promise<void>) =>
  withGatewayClient(OnboardingServiceClient, action);

export function registerLaunchCommands(program: Command): void {
  const withCall = (command: Command) =>
    command.addOption(gatewayOption()).addOption(tokenOption()).option("--json", "print protobuf JSON");

  withCall(program.command("launch"))
    .description("a merchant's video, catalog and persona to a live room (OnboardingService), with progress")
    .requiredOption("--video <file>", "talking-head video: one face, speaking, with its sound")
    .requiredOption("--catalog <file>", "Catalog as protobuf JSON")
    .requiredOption("--persona <file>", "Persona as protobuf JSON (or a personas file: its first)")
    .option(
      "--spec <file>",
      "RoomSpec JSON for the rest of the room (voice, output, schedule...); without an output, HLS at 720x1280",
    )
    .option("--room <room-id>", "room id (default: derived from the job)")
    .option("--avatar-id <id>", "avatar id to build (default: derived from the job)")
    .addOption(tenantOption())
    .option("--request-id <id>", "idempotency key: a retry with it follows the same job (default: random)")
    .option("--min-score <0-100>", "quality score the avatar needs (default: the gateway's, 60)")
    .option("--review-script", "stop after the script for `livehost job script <job-id> --approve`")
    .option("--leave-stopped", "create the room but do not start it")
    .option("--cancel-on-exit", "cancel the job when interrupted (Ctrl-C)")
    .action(
      withClient(async (client, flags: LaunchFlags) => {
        const job = await submit(client, flags);
        say(`job ${job.id}: room ${job.roomId}, avatar ${job.avatarId}`);
        const stop = () => {
          if (flags.cancelOnExit) {
            client.cancelJob({ jobId: job.id, reason: "launch interrupted" }, () => process.exit(130));
          } else process.exit(130);
        };
        process.once("SIGINT", stop).once("SIGTERM", stop);
        try {
          process.exitCode = await follow(client, job.id, flags.json);
        } finally {
          process.off("SIGINT", stop).off("SIGTERM", stop);
        }
      }),
    );

  const job = program.command("job").description("onboarding jobs: follow them, cancel them, decide on them");
  withCall(job.command("get").argument("<job-id>")).action(
    withClient(async (client, jobId: string, flags: ClientFlags) => {
      printJob(await callUnary(client.getJob.bind(client), { jobId }), flags.json);
    }),
  );
  withCall(job.command("list"))
    .option("--tenant <tenant>", "only this tenant's jobs", "")
    .action(
      withClient(async (client, flags: ClientFlags & { tenant: string }) => {
        let pageToken = "";
        do {
          const page = await callUnary(client.listJobs.bind(client), {
            pageSize: 500,
            pageToken,
            tenant: flags.tenant,
            state: JobState.JOB_STATE_UNSPECIFIED,
          });
          for (const j of page.jobs) printJob(j, flags.json);
          pageToken = page.nextPageToken;
        } while (pageToken !== "");
      }),
    );
  withCall(job.command("watch").argument("<job-id>"))
    .option("--after <sequence>", "events after this sequence (0: from the first)", "0")
    .action(
      withClient(async (client, jobId: string, flags: ClientFlags & { after: string }) => {
        const after = /^\d+$/.test(flags.after) ? Number(flags.after) : NaN;
        if (!Number.isSafeInteger(after)) {
          throw new InvalidArgumentError(
            "--after",
            `must be an event sequence, a whole number from 0, got "${flags.after}"`,
          );
        }
        process.exitCode = await follow(client, jobId, flags.json, after);
      }),
    );
  withCall(job.command("cancel").argument("<job-id>"))
    .option("--reason <text>", "why", "")
    .action(
      withClient(async (client, jobId: string, flags: ClientFlags & { reason: string }) => {
        printJob(await callUnary(client.cancelJob.bind(client), { jobId, reason: flags.reason }), flags.json);
      }),
    );
  withCall(job.command("override").argument("<job-id>"))
    .description("accept (or --refuse) an avatar the quality gate stopped; the reason is kept and audited")
    .requiredOption("--reason <text>", "why")
    .option("--refuse", "end the job instead")
    .action(
      withClient(async (client, jobId: string, flags: ClientFlags & { reason: string; refuse?: boolean }) => {
        const request = { jobId, accept: !flags.refuse, reason: flags.reason };
        printJob(await callUnary(client.overrideQuality.bind(client), request), flags.json);
      }),
    );
  withCall(job.command("script").argument("<job-id>"))
    .description("print the job's show script (protobuf JSON), or replace it with --set <file>")
    .option("--set <file>", "ShowScript JSON to store (checked by the guard)")
    .option("--approve", "approve it: a job waiting for review goes on")
    .action(
      withClient(async (client, jobId: string, flags: ClientFlags & { set?: string; approve?: boolean }) => {
        const script = flags.set ? showScriptFromJson(await readJsonFile(flags.set, "--set"), "--set") : undefined;
        const result =
          script || flags.approve
            ? await callUnary(client.updateScript.bind(client), {
                jobId,
                script,
                expectedVersion: 0,
                approve: flags.approve ?? false,
              })
            : await callUnary(client.getScript.bind(client), { jobId });
        process.stdout.write(`${JSON.stringify(ShowScript.toJSON(result), null, 2)}\n`);
      }),
    );

  /** One face per line: tab-separated, or protobuf JSON with --json. */
  const printFace = (f: Face, json: boolean | undefined) =>
    process.stdout.write(json ? `${JSON.stringify(Face.toJSON(f))}\n` : `${f.tenant}\t${f.faceId}\t${f.displayName}\n`);
  const face = program.command("face").description("the tenant's FaceID library: faces allowed to host its rooms");
  withCall(face.command("register").argument("<face-id>").argument("<photo>"))
    .addOption(tenantOption())
    .option("--name <text>", "who it is", "")
    .action(
      withClient(
        async (client, faceId: string, photoFile: string, flags: ClientFlags & { tenant: string; name: string }) => {
          const photo = await readFile(photoFile).catch(() => {
            throw new InvalidArgumentError("photo", `${photoFile} cannot be read`);
          });
          const request = { tenant: flags.tenant, faceId, photo, displayName: flags.name };
          printFace(await callUnary(client.registerFace.bind(client), request), flags.json);
        },
      ),
    );
  withCall(face.command("list"))
    .addOption(tenantOption())
    .action(
      withClient(async (client, flags: ClientFlags & { tenant: string }) => {
        const { faces } = await callUnary(client.listFaces.bind(client), { tenant: flags.tenant });
        for (const f of faces) printFace(f, flags.json);
      }),
    );
  withCall(face.command("delete").argument("<face-id>"))
    .addOption(tenantOption())
    .action(
      withClient(async (client, faceId: string, flags: ClientFlags & { tenant: string }) => {
        await callUnary(client.deleteFace.bind(client), { tenant: flags.tenant, faceId });
      }),
    );
}
