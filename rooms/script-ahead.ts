// A 24/7 room's show kept fresh (ShowScript.rewrite_ahead): while the room speaks the last variation of its script,
// the next variations are written (by the LLM configured on the host, else the embedded brain; every line through the
// guard) and the room speaks them from the first loop that starts once they are ready. The room's actor persists the
// new script as the room's spec, so a room that moves host goes on with it.
import { SpanStatusCode } from "@opentelemetry/api";
import { writeScript, type LlmOptions, type ShowPosition } from "../brain/index.js";
import type { Logger } from "../observability/index.js";
import { tracer } from "../observability/index.js";
import type { RoomSpec, ShowScript } from "../proto/index.js";
import type { RoomMetrics } from "./metrics.js";

const spans = tracer("rooms");

export interface ScriptAheadDeps {
  llm?: LlmOptions;
  log: Logger;
  metrics: RoomMetrics;
  /** The room's: stopping the room stops the writing. */
  signal: AbortSignal;
}

/** Writing under way (or done) for the loop it was started for, until the room speaks it. */
interface Writing {
  forLoop: number;
  abort: AbortController;
  written?: ShowScript;
}

export class ScriptAhead {
  readonly #deps: ScriptAheadDeps;
  #next?: Writing;
  /** The last cycle of variations writing was started in: one try per cycle, failed or not. */
  #triedInLoop = -1;

  constructor(deps: ScriptAheadDeps) {
    this.#deps = deps;
  }

  /**
   * Called before each show sentence with where the show is. Starts writing when the show is in the last variation
   * of its script; returns the new script when the show is at the start of a loop and the script is ready.
   */
  at(spec: RoomSpec, position: ShowPosition): ShowScript | undefined {
    const script = spec.script;
    if (!script?.rewriteAhead || script.variations.length === 0) return undefined;
    const next = this.#next;
    if (next?.written && position.line === 0 && position.sentence === 0 && position.loop >= next.forLoop) {
      this.#next = undefined;
      if (position.loop > next.forLoop) this.#deps.metrics.scriptRewritesLate.inc();
      return next.written;
    }
    const variations = script.variations.length;
    if (!next && position.loop % variations === variations - 1 && this.#triedInLoop !== position.loop) {
      this.#triedInLoop = position.loop;
      this.#write(spec, script, position.loop + 1);
    }
    return undefined;
  }

  /** The next variations once written, with the loop they are for (rendering ahead reads them before they are spoken). */
  written(): { script: ShowScript; forLoop: number } | undefined {
    const next = this.#next;
    return next?.written ? { script: next.written, forLoop: next.forLoop } : undefined;
  }

  /** The script, catalog or persona changed under it (an edit): what was being written for the old one is dropped. */
  reset(): void {
    this.#next?.abort.abort(new Error("the room's script changed"));
    this.#next = undefined;
    this.#triedInLoop = -1;
  }

  #write(spec: RoomSpec, current: ShowScript, forLoop: number): void {
    const { llm, log, metrics } = this.#deps;
    const abort = new AbortController();
    const next: Writing = { forLoop, abort };
    this.#next = next;
    const signal = AbortSignal.any([this.#deps.signal, abort.signal]);
    const started = performance.now();
    const span = spans.startSpan("room.script.rewrite", {
      attributes: { "livehost.script.version": current.version + 1, "livehost.show.loop": forLoop },
    });
    writeScript({
      catalog: spec.catalog!,
      persona: spec.persona,
      llm,
      variations: current.variations.length,
      firstLoop: forLoop,
      seed: current.version,
      after: current,
      version: current.version + 1,
      rewriteAhead: true,
      signal,
      logger: log,
    })
      .then((written) => {
        if (this.#next !== next) return;
        next.written = written;
        metrics.scriptRewrites.inc({ author: written.author });
        metrics.scriptRewriteSeconds.observe((performance.now() - started) / 1_000);
        span.setAttribute("livehost.script.author", written.author);
        log.info(
          { version: written.version, author: written.author, fallback: written.fallbackReason || undefined },
          "the show's next variations are written; spoken from the next loop",
        );
      })
      .catch((err: unknown) => {
        if (this.#next === next) this.#next = undefined;
        if (signal.aborted) return;
        metrics.scriptRewrites.inc({ author: "failed" });
        span.setStatus({ code: SpanStatusCode.ERROR, message: (err as Error).message });
        log.warn({ err }, "the show's next variations could not be written: the room says these again");
      })
      .finally(() => span.end());
  }
}
