// Fails a test during which GStreamer (or GLib under it) printed a warning or a critical in this process: in normal
// operation there are none ("Got data flow before segment event" is a bug). Registered for every test file in
// vitest.config.ts (testing/setup.ts). A test that injects a fault GStreamer complains about says so with allowGStreamerWarnings.
//
// The counts are the media taps addon's (media/native/taps.cc), which starts counting when the process makes its
// first pipeline; a test file that never makes one never loads it, and is not checked. Room hosts the tests run as
// child processes count theirs in `livehost_media_gstreamer_warnings_total`.
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { afterEach, beforeEach } from "vitest";

const addonPath = fileURLToPath(new URL("../media/native/build/Release/livehost_taps.node", import.meta.url));
const loaded = createRequire(import.meta.url).cache;

interface Counts {
  total: number;
  recent: string[];
}

interface LogAddon {
  logCounts?: () => [number, number, string[]];
  logQuiet?: (quiet: boolean) => void;
}

/** This process's counts, when it counts (the addon is loaded and watching). */
function counts(): Counts | undefined {
  const addon = loaded[addonPath]?.exports as LogAddon | undefined;
  try {
    const [warnings, criticals, recent] = addon?.logCounts?.() ?? [];
    return warnings === undefined ? undefined : { total: warnings + (criticals ?? 0), recent: recent ?? [] };
  } catch {
    return undefined; // loaded, not watching yet
  }
}

// Kept on the process (not in this module): the setup file and a test importing testing/ agree whatever instance of
// this module each has.
const state = ((globalThis as Record<symbol, unknown>)[Symbol.for("livehost.gstreamerWarnings")] ??= {
  before: 0,
  allowed: undefined,
}) as { before: number; allowed: string | undefined };

/**
 * The running test injects a fault that GStreamer warns about: its warnings do not fail it, and are not printed (the
 * suite's output shows only what is wrong). Say which fault.
 */
export function allowGStreamerWarnings(reason: string): void {
  state.allowed = reason;
  if (existsSync(addonPath)) (createRequire(import.meta.url)(addonPath) as LogAddon).logQuiet?.(true);
}

/** Registers the check around each test of the file (the setup file calls it). */
export function checkGStreamerWarnings(): void {
  beforeEach(() => {
    state.before = counts()?.total ?? 0;
    state.allowed = undefined;
  });
  afterEach(() => {
    (loaded[addonPath]?.exports as LogAddon | undefined)?.logQuiet?.(false);
    const now = counts();
    if (!now || now.total === state.before || state.allowed) return;
    const printed = now.total - state.before;
    throw new Error(
      `GStreamer printed ${printed} warning(s) during this test (a warning in normal operation is a bug); the last:\n` +
        now.recent.slice(-Math.min(printed, 5)).join("\n"),
    );
  });
}
