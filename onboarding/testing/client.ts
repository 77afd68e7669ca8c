// OnboardingService from a test's or a benchmark's side: a submission streamed with its video, and a job followed.
import type { OnboardingServiceClient } from "../../proto/index.js";
import {
  JobEventKind,
  JobState,
  type Job,
  type JobEvent,
  type JobSubmission,
  type SubmitJobRequest,
} from "../../proto/index.js";
import { fromServiceError } from "../../transport/index.js";

/** A submission with every field at its default but the room spec and the request id. */
export function submission(fields: Partial<JobSubmission> & Pick<JobSubmission, "room">): JobSubmission {
  return {
    requestId: `job-${Math.random().toString(36).slice(2)}`,
    tenant: "",
    roomId: "",
    avatarId: "",
    videoBytes: 0,
    videoSha256: "",
    minQualityScore: 0,
    reviewScript: false,
    leaveStopped: false,
    ...fields,
  };
}

/** SubmitJob: the submission, then the video in chunks (waiting for the stream to drain between them). */
export function submitVideo(
  client: OnboardingServiceClient,
  job: JobSubmission,
  video: Uint8Array,
  chunkBytes = 1024 ** 2,
): Promise<Job> {
  return new Promise<Job>((resolve, reject) => {
    const call = client.submitJob((err, answer) => (err ? reject(fromServiceError(err)) : resolve(answer)));
    const write = async (request: SubmitJobRequest) => {
      if (!call.write(request)) await new Promise((r) => call.once("drain", r));
    };
    void (async () => {
      await write({ part: { $case: "submission", value: job } });
      for (let at = 0; at < video.length; at += chunkBytes) {
        await write({ part: { $case: "videoChunk", value: video.subarray(at, at + chunkBytes) } });
      }
      call.end();
    })();
  });
}

/** The job's events from the first until it ends or waits for a person; `onEvent` sees each as it comes. */
export async function followJob(
  client: OnboardingServiceClient,
  jobId: string,
  onEvent: (event: JobEvent) => void = () => undefined,
): Promise<JobEvent[]> {
  const events: JobEvent[] = [];
  const stream = client.watchJob({ jobId, afterSequence: 0 });
  for await (const event of stream as AsyncIterable<JobEvent>) {
    events.push(event);
    onEvent(event);
    const state = event.job?.state;
    const ended = [JobState.JOB_STATE_SUCCEEDED, JobState.JOB_STATE_FAILED, JobState.JOB_STATE_CANCELLED];
    if ((state !== undefined && ended.includes(state)) || event.kind === JobEventKind.JOB_EVENT_KIND_WAITING) break;
  }
  stream.cancel();
  return events;
}
