// Waiting on a stream's flow-control events (a Readable's 'readable', a Writable's 'drain') without leaking
// listeners: both gRPC stream helpers pace themselves with it.
import type { EventEmitter } from "node:events";

/** Resolves on the first of `events`, or when `signal` aborts; every listener is removed either way. */
export function firstOf(emitter: EventEmitter, events: readonly string[], signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      for (const event of events) emitter.off(event, done);
      signal.removeEventListener("abort", done);
      resolve();
    };
    for (const event of events) emitter.on(event, done);
    signal.addEventListener("abort", done, { once: true });
  });
}
