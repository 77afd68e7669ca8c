#!/usr/bin/env node
// The livehost command's entry (see program.ts for the commands). A room host polls its GStreamer graphs' buses on
// libuv pool threads (each poll up to 100 ms), and libuv sizes its pool from UV_THREADPOOL_SIZE once, as the process
// starts: a room host started without it is started again with it, so that its rooms' polls and file reads do not
// queue behind each other.
import { spawn } from "node:child_process";

if (process.argv[2] === "room-host" && !process.env.UV_THREADPOOL_SIZE) {
  const child = spawn(process.execPath, process.argv.slice(1), {
    // A parent that forked us (livehost up, a test harness) gets the "ready" report through us.
    stdio: process.send ? ["inherit", "inherit", "inherit", "ipc"] : "inherit",
    env: { ...process.env, UV_THREADPOOL_SIZE: "64", LIVEHOST_SUPERVISOR_PID: String(process.pid) },
  });
  child.on("message", (message) => process.send?.(message));
  for (const signal of ["SIGINT", "SIGTERM"] as const) process.on(signal, () => child.kill(signal));
  child.on("exit", (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
} else {
  // Started again by the lines above: if this launcher dies (even by SIGKILL), the room host goes with it, as the
  // process its parent started would have.
  const supervisor = Number(process.env.LIVEHOST_SUPERVISOR_PID);
  if (supervisor) setInterval(() => process.ppid !== supervisor && process.kill(process.pid, "SIGKILL"), 250).unref();
  // A reader that goes away (`livehost audit | head -3`) ends every command quietly, as it ends other Unix tools:
  // unhandled, the failed write is an 'error' event that crashes the process with a stack trace.
  for (const stream of [process.stdout, process.stderr]) {
    stream.on("error", (err: NodeJS.ErrnoException) => {
      if (err.code === "EPIPE") process.exit(0);
      throw err;
    });
  }
  await import("./program.js");
}
