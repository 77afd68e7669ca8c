// The status conditions the operator sets on its custom resources, as pure functions: Valid, the room directory's
// state, and setCondition, which moves a condition's lastTransitionTime only when its status changes.
import { subjects } from "../proto/index.js";
import type { RoomDirectoryView } from "./demand.js";
import type { Condition } from "./resources.js";

/** A condition list with one condition set; lastTransitionTime moves only when the status changes. */
export function setCondition(
  conditions: readonly Condition[] | undefined,
  next: Omit<Condition, "lastTransitionTime">,
  now: number,
): Condition[] {
  const previous = conditions?.find((c) => c.type === next.type);
  const lastTransitionTime =
    previous && previous.status === next.status ? previous.lastTransitionTime : new Date(now).toISOString();
  return [...(conditions ?? []).filter((c) => c.type !== next.type), { ...next, lastTransitionTime }];
}

export const validCondition = (generation: number | undefined): Omit<Condition, "lastTransitionTime"> => ({
  type: "Valid",
  status: "True",
  reason: "SpecAccepted",
  message: "spec is valid",
  observedGeneration: generation,
});

export const invalidCondition = (
  generation: number | undefined,
  message: string,
): Omit<Condition, "lastTransitionTime"> => ({
  type: "Valid",
  status: "False",
  reason: "InvalidSpec",
  message,
  observedGeneration: generation,
});

export const roomDirectoryCondition = (directory: RoomDirectoryView): Omit<Condition, "lastTransitionTime"> =>
  directory.state === "watching"
    ? {
        type: "RoomDirectory",
        status: "True",
        reason: "Watching",
        message: `rooms on air and scheduled in KV bucket ${subjects.roomDirectoryBucket} count in the demand`,
      }
    : directory.state === "syncing"
      ? {
          type: "RoomDirectory",
          status: "Unknown",
          reason: "Syncing",
          message: "loading the room directory; demand is the workers' load until then",
        }
      : {
          type: "RoomDirectory",
          status: "False",
          reason: "Unreachable",
          message: `${directory.message}; demand falls back to the workers' load`,
        };
