// Listening to worker announcements the way rooms and the operator do, for tests that check what workers say.
import type { NatsConnection } from "@nats-io/transport-node";
import { WorkerAnnouncement, subjects } from "../proto/index.js";

/** Every announcement on workers.<kind>.announce from now on, decoded, in arrival order. */
export async function recordAnnouncements(nc: NatsConnection, kind: "tts" | "lipsync"): Promise<WorkerAnnouncement[]> {
  const announcements: WorkerAnnouncement[] = [];
  nc.subscribe(subjects.workerAnnounce(kind), {
    callback: (_err, msg) => {
      announcements.push(WorkerAnnouncement.decode(msg.data));
    },
  });
  await nc.flush();
  return announcements;
}
