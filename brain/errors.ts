// Errors of the LLM path. They never reach a viewer: the room answers with the embedded brain instead, and the
// reason is counted (livehost_brain_llm_fallbacks_total{reason}).
import { LivehostError, type ErrorCode } from "../transport/index.js";

/** Why an LLM answer was not used; bounded, so it can be a metric label. */
export type LlmFailure =
  "first_token_timeout" | "stalled" | "timeout" | "http_status" | "network" | "protocol" | "guard";

const codes: Record<LlmFailure, ErrorCode> = {
  first_token_timeout: "deadline_exceeded",
  stalled: "deadline_exceeded",
  timeout: "deadline_exceeded",
  http_status: "unavailable",
  network: "unavailable",
  protocol: "internal",
  guard: "failed_precondition",
};

export class LlmError extends LivehostError {
  override name = "LlmError";
  readonly reason: LlmFailure;
  /** HTTP status for `http_status`. */
  readonly status: number | undefined;

  constructor(reason: LlmFailure, message: string, options: ErrorOptions & { status?: number } = {}) {
    super(codes[reason], message, { cause: options.cause, retryable: reason !== "guard" && reason !== "protocol" });
    this.reason = reason;
    this.status = options.status;
  }
}
