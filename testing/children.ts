// Processes a test started and has not stopped yet are killed when the test's process exits. A test that times out
// goes on in the background and never stops what it started; vitest then ends the file's process (testing/setup.ts
// turns its SIGTERM into an exit), and without this a room host or an actor host would run on with no one to stop it.
import type { ChildProcess } from "node:child_process";

const running = new Set<ChildProcess>();
process.once("exit", () => {
  for (const child of running) child.kill("SIGKILL");
});

/** `child` goes with this process if it is still running then. */
export function killOnExit<T extends ChildProcess>(child: T): T {
  running.add(child);
  child.once("exit", () => running.delete(child));
  return child;
}
