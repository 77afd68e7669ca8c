// A compose worker: the thread that makes the frames of the live rooms assigned to it (see compose-pool.ts). Each
// room comes with its own message port: commands in (speech, mouth frames, overlays, cues), reports out; the room's
// pacing, clock, picture and pushes to its encoder's appsrc all run here, so a busy main thread delays none of them.
// An error in one room's command or frame is caught for that room (see RoomFrames); the thread goes on.
import { parentPort, type MessagePort } from "node:worker_threads";
import { NativeSink } from "./appsrc.js";
import { FramePacer, RoomFrames, type FrameCommand, type FramesInit } from "./frames.js";

/** The pool's messages to a worker. */
export type ToWorker = { type: "add"; port: MessagePort; init: FramesInit };
/** A worker's messages to the pool. */
export type FromWorker = { type: "ready" };

/** A room's messages on its port, besides its commands. */
export type ToRoom =
  | FrameCommand
  | { type: "attach"; video: bigint; audio: bigint }
  | { type: "detach"; id: number }
  | { type: "start" }
  | { type: "stop" };
/** On a room's port, besides its reports: the answers to detach and stop. */
export type RoomAck = { type: "detached"; id: number } | { type: "stopped" };

const pacer = new FramePacer();

function addRoom(port: MessagePort, init: FramesInit) {
  const room = new RoomFrames(init, (report) => port.postMessage(report));
  port.on("message", (message: ToRoom) => {
    try {
      switch (message.type) {
        case "attach":
          room.attach(new NativeSink(message.video, message.audio));
          return;
        case "detach":
          room.detach();
          port.postMessage({ type: "detached", id: message.id } satisfies RoomAck);
          return;
        case "start":
          pacer.add(room, () => undefined);
          return;
        case "stop":
          pacer.delete(room);
          room.close();
          port.postMessage({ type: "stopped" } satisfies RoomAck);
          port.close();
          return;
        default:
          room.apply(message);
      }
    } catch (err) {
      port.postMessage({
        type: "refused",
        command: message.type,
        error: err instanceof Error ? err.message : String(err),
      });
    }
  });
}

parentPort!.on("message", (message: ToWorker) => {
  if (message.type === "add") addRoom(message.port, message.init);
});
parentPort!.postMessage({ type: "ready" } satisfies FromWorker);
