// Runs before every test file (vitest.config.ts setupFiles).
import { checkGStreamerWarnings } from "./gstreamer-warnings.js";

checkGStreamerWarnings();
