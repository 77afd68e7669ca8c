// The one duration parser of the tree, for options in human units: "500ms", "10s", "5m", "1h". A bare number keeps
// the unit its option has always taken (--drain-seconds 30 is seconds, --reconcile-interval 15000 is ms).
import { InvalidArgumentError } from "../errors/index.js";

/** A duration as options take it: a number in the option's own unit, or a string with a unit ("10s"). */
export type Duration = number | string;

export interface DurationRule {
  /** The unit of a bare number ("30", or 30). */
  bare: "ms" | "s";
  /** Bounds in milliseconds, inclusive. Default 0 and no upper bound. */
  minMs?: number;
  maxMs?: number;
}

const unitMs = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 } as const;
const pattern = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h)?$/;

/** Milliseconds, as a whole number; anything else throws InvalidArgumentError naming `field`. */
export function parseDuration(value: Duration, field: string, rule: DurationRule): number {
  const match = pattern.exec(typeof value === "number" ? String(value) : value.trim());
  const unit = (match?.[2] as keyof typeof unitMs | undefined) ?? rule.bare;
  const ms = match ? Number(match[1]) * unitMs[unit] : NaN;
  const min = rule.minMs ?? 0;
  const max = rule.maxMs ?? Number.MAX_SAFE_INTEGER;
  if (!Number.isInteger(ms) || ms < min || ms > max) {
    const range = rule.maxMs === undefined ? `at least ${formatMs(min)}` : `from ${formatMs(min)} to ${formatMs(max)}`;
    throw new InvalidArgumentError(
      field,
      `must be a duration ${range}: a number of ${rule.bare === "s" ? "seconds" : "milliseconds"} or one with ` +
        `its unit ("500ms", "10s", "5m", "1h"), got "${value}"`,
    );
  }
  return ms;
}

/** A bound as a person reads it: "100ms", "30s", "24h". */
function formatMs(ms: number): string {
  for (const unit of ["h", "m", "s"] as const) {
    if (ms >= unitMs[unit] && ms % unitMs[unit] === 0) return `${ms / unitMs[unit]}${unit}`;
  }
  return `${ms}ms`;
}
