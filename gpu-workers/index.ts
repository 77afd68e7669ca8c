// gpu-workers: the TTS and lip-sync worker pools. Every worker shares one core (gRPC server with health, stream cap,
// NATS announcements, drain on shutdown); the speech and lip-sync models plug into it.
export { startWorker, type Worker, type WorkerOptions, type WorkerKindName } from "./worker.js";
export { StreamSlots } from "./slots.js";
