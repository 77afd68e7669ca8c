import { tmpdir } from "node:os";
import { join } from "node:path";
import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["**/*.test.ts"],
    exclude: ["node_modules/**", "dist/**"],
    // Integration tests start real servers; give them room on a slow 2-core CI machine.
    testTimeout: 60_000,
    // A test fails when GStreamer prints a warning in its process (see the file).
    setupFiles: ["testing/setup.ts"],
    hookTimeout: 60_000,
    // Child processes and ports: keep files isolated but not too parallel on 2 cores.
    pool: "forks",
    maxWorkers: 2,
    // LIVEHOST_HOME: local mode's development credential (gateways and CLIs the tests start), never the user's own.
    env: { LIVEHOST_LOG_LEVEL: "silent", LIVEHOST_HOME: join(tmpdir(), `livehost-test-home-${process.pid}`) },
  },
});
