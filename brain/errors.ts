// Errors of the brain. An LLM failure never reaches a viewer: the room answers with the embedded brain instead, and
// the reason is counted (livehost_brain_llm_fallbacks_total{reason}).
import { InternalError, LivehostError, type ErrorCode } from "../errors/index.js";

/** Why an LLM answer was not used; bounded, so it can be a metric label. */
export type LlmFailure =
  "first_token_timeout" | "stalled" | "timeout" | "http_status" | "network" | "protocol" | "refusal" | "guard";

const codes: Record<LlmFailure, ErrorCode> = {
  first_token_timeout: "deadline_exceeded",
  stalled: "deadline_exceeded",
  timeout: "deadline_exceeded",
  http_status: "unavailable",
  network: "unavailable",
  protocol: "internal",
  refusal: "failed_precondition",
  guard: "failed_precondition",
};

/** An LLM answer that was not used. Its reason decides the code, and whether asking again may help. */
export class LlmError extends LivehostError {
  override name = "LlmError";
  readonly code: ErrorCode;
  override readonly retryable: boolean;
  readonly reason: LlmFailure;
  /** HTTP status for `http_status`. */
  readonly status: number | undefined;

  constructor(reason: LlmFailure, message: string, options: ErrorOptions & { status?: number } = {}) {
    super(message, { cause: options.cause });
    this.code = codes[reason];
    this.retryable = reason !== "guard" && reason !== "protocol" && reason !== "refusal";
    this.reason = reason;
    this.status = options.status;
  }
}

/** A cue template names a slot the caller gave no value for: a bug in the template or its caller. */
export class TemplateSlotError extends InternalError {
  override name = "TemplateSlotError";
  readonly slot: string;

  constructor(slot: string) {
    super(`template slot {${slot}} has no value`);
    this.slot = slot;
  }
}
