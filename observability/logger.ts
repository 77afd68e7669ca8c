// One structured logger for every process (pino). Values go in fields, messages stay static; personal data
// (viewer names, comment text) goes only under the `pii` field, which is redacted unless LIVEHOST_LOG_PII=true.
import { pino, type Logger, type LoggerOptions, type DestinationStream } from "pino";

export type { Logger } from "pino";

export interface LoggerSettings {
  /** pino level; defaults to LIVEHOST_LOG_LEVEL, then "info". Tests run with "silent". */
  level?: string;
  /** Keep personal data in logs (debugging only); defaults to LIVEHOST_LOG_PII === "true". */
  keepPii?: boolean;
  /** Where lines go; stdout by default. */
  destination?: DestinationStream;
  /** Fields on every line, e.g. { role: "gateway" }. */
  base?: Record<string, unknown>;
}

export function createLogger(settings: LoggerSettings = {}): Logger {
  const options: LoggerOptions = {
    level: settings.level ?? process.env.LIVEHOST_LOG_LEVEL ?? "info",
    base: { pid: process.pid, ...settings.base },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
  };
  const keepPii = settings.keepPii ?? process.env.LIVEHOST_LOG_PII === "true";
  if (!keepPii) options.redact = { paths: ["pii", "*.pii"], censor: "[redacted]" };
  return settings.destination ? pino(options, settings.destination) : pino(options);
}

let root: Logger | undefined;

/** The process-wide logger; roles derive children with `rootLogger().child({ role })`. */
export function rootLogger(): Logger {
  root ??= createLogger();
  return root;
}
