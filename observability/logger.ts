// One structured logger for every process (pino). Values go in fields, messages stay static; personal data
// (viewer names, comment text) goes only under the `pii` field, which is redacted unless LIVEHOST_LOG_PII=true.
import { pino, type Logger, type LoggerOptions, type DestinationStream } from "pino";
import { InvalidArgumentError } from "../errors/index.js";

export type { Logger } from "pino";

export interface LoggerSettings {
  /** One of `logLevels`; defaults to LIVEHOST_LOG_LEVEL (unless empty), then "info". Tests run with "silent". */
  level?: string;
  /** Keep personal data in logs (debugging only); defaults to LIVEHOST_LOG_PII === "true". */
  keepPii?: boolean;
  /** Where lines go; stdout by default. */
  destination?: DestinationStream;
  /** Fields on every line, e.g. { role: "gateway" }. */
  base?: Record<string, unknown>;
}

/** The levels a logger takes, most detailed first; "silent" logs nothing. */
export const logLevels = ["trace", "debug", "info", "warn", "error", "fatal", "silent"] as const;

/**
 * `level` if it is one of `logLevels`; otherwise an InvalidArgumentError naming `field` (the flag or variable the
 * level came from). pino's own refusal is a stack trace that names neither.
 */
export function parseLogLevel(level: string, field: string): string {
  if (!(logLevels as readonly string[]).includes(level)) {
    throw new InvalidArgumentError(field, `"${level}" is not a log level: use one of ${logLevels.join(", ")}`);
  }
  return level;
}

export function createLogger(settings: LoggerSettings = {}): Logger {
  const options: LoggerOptions = {
    level:
      settings.level !== undefined
        ? parseLogLevel(settings.level, "level")
        : parseLogLevel(process.env.LIVEHOST_LOG_LEVEL || "info", "LIVEHOST_LOG_LEVEL"),
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
