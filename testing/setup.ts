// Runs before every test file (vitest.config.ts setupFiles).
import { checkGStreamerWarnings } from "./gstreamer-warnings.js";

checkGStreamerWarnings();

// Vitest ends a test file's process with SIGTERM. Ending it as an exit instead runs the "exit" handlers that stop
// what the file started and left running (the servers and role processes of a test that timed out).
process.once("SIGTERM", () => process.exit(143));
