// What a job made, removed when it does not succeed (nothing half-created is left): its avatar, unless another job
// published that id since, and its hold on its uploaded video (deleted once no running job uses the same bytes).
import type { AvatarStore } from "../avatars/index.js";
import { JobState, type Job } from "../proto/index.js";
import type { JobStore } from "./store.js";

export async function removeJobOutputs(deps: { store: JobStore; avatars: AvatarStore }, job: Job): Promise<void> {
  if (job.state !== JobState.JOB_STATE_SUCCEEDED) {
    const avatar = await deps.avatars.info(job.avatarId);
    if (avatar?.jobId === job.id) await deps.avatars.remove(job.avatarId);
  }
  await deps.store.videos.release(job.id, job.videoSha256);
}
