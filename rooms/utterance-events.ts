// A room's utterance events on the viewer's clock. The room decides what to say and synthesizes it ahead of the
// audience; this ledger holds what it learned of each sentence (text, words, cues, the comments it answers) until the
// media graph says the sentence is on the output, and only then publishes: UtteranceStarted on the frame that carries
// its first sample, UtteranceEnded on the frame with its last (or at the cut), the subtitle and product cues at the
// stream time they appear, and CommentAnswered when the answer's first sentence is heard. One start and one end per
// utterance heard; a sentence cut before any of it played publishes no start, and the comments it was to answer are
// told so (CommentRejected "interrupted"); a human's line (Say, whose caller holds its id) gets its UtteranceEnded
// alone (interrupted, nothing played), so its caller learns it will not be said.
import type { UtteranceReport } from "../media/index.js";
import {
  CueFired_Kind,
  UtteranceSource as Source,
  type CueFired,
  type RoomEvent,
  type ShowProgress,
  type UtteranceSource,
  type WordTiming,
} from "../proto/index.js";

/** A sentence handed to the voice and the media graph. */
export interface UtteranceLine {
  utteranceId: string;
  source: UtteranceSource;
  text: string;
  /** The question it answers (ANSWER only). */
  commentId?: string;
  /** On an answer's first sentence: the comments it answers, told CommentAnswered when it is heard. */
  answers?: { commentIds: string[]; intent: string };
  /** A show sentence: where the show is with it. */
  show?: ShowProgress;
}

interface Entry {
  line: UtteranceLine;
  words: WordTiming[];
  /** Stream and wall time of its first sample, once it played. */
  start?: { streamTimeMs: number; outputUnixMs: number };
  /** Cues shown during it, published once it started (their times are offsets on its clock). */
  cues: { cue: CueFired; atMs: number }[];
  /** Cues due later in it, published when their frame plays (cancelled by a cut before them). */
  due: { timer: NodeJS.Timeout; atMs: number; publish: () => void }[];
  subtitle?: boolean;
  /** Its audio's length, once synthesized. */
  durationMs?: number;
}

export interface UtteranceEventsDeps {
  publish: (event: RoomEvent["event"]) => void;
  /** Comments told CommentAnswered / CommentRejected here (the room's counters). */
  answered: (count: number) => void;
  rejected: (count: number) => void;
  /** An answer's first sentence was not heard (its comments were told so): the rest of that answer is not said. */
  answerUnheard?: (questionId: string) => void;
  /** The output's stream time now, in ms (where a line not heard ends). */
  streamTimeMs?: () => number;
}

/** Sentences followed at most: one the graph never reports (a voice failure mid-way) is forgotten after as many newer. */
const maxFollowed = 256;

export class UtteranceEvents {
  readonly #deps: UtteranceEventsDeps;
  readonly #fps: number;
  readonly #entries = new Map<string, Entry>();

  constructor(fps: number, deps: UtteranceEventsDeps) {
    this.#fps = fps;
    this.#deps = deps;
  }

  /** A sentence is about to be synthesized and pushed to the media graph. */
  begin(line: UtteranceLine): void {
    this.#entries.set(line.utteranceId, { line, words: [], cues: [], due: [] });
    if (this.#entries.size <= maxFollowed) return;
    const [oldest] = this.#entries.keys();
    this.#neverHeard(oldest!);
    this.#forget(oldest!);
  }

  /**
   * The room goes off air: a sentence playing is cut where the output stops (UtteranceEnded, interrupted), so every
   * start has its end; cues not yet due are not published. Sentences not started are forgotten: their comments are
   * the room's to tell (ended, or answered again by the host that takes the room over).
   */
  close(): void {
    const now = Date.now();
    for (const [id, entry] of [...this.#entries]) {
      const start = entry.start;
      this.#forget(id);
      if (!start) {
        if (entry.line.source === Source.UTTERANCE_SOURCE_HUMAN) this.unheardLine(id);
        continue;
      }
      const playedMs = Math.max(0, Math.min(now - start.outputUnixMs, entry.durationMs ?? Infinity));
      this.#deps.publish({
        $case: "utteranceEnded",
        value: {
          utteranceId: id,
          interrupted: true,
          durationMs: Math.round(playedMs),
          streamTimeMs: start.streamTimeMs + Math.round(playedMs),
          outputUnixMs: start.outputUnixMs + Math.round(playedMs),
          words: entry.words,
        },
      });
    }
  }

  #forget(utteranceId: string) {
    for (const due of this.#entries.get(utteranceId)?.due ?? []) clearTimeout(due.timer);
    this.#entries.delete(utteranceId);
  }

  /** Word timings the voice gave for it (more may follow). */
  words(utteranceId: string, words: WordTiming[]): void {
    this.#entries.get(utteranceId)?.words.push(...words);
  }

  /** Its synthesis finished: how long it is. */
  synthesized(utteranceId: string, durationMs: number): void {
    const entry = this.#entries.get(utteranceId);
    if (entry) entry.durationMs = durationMs;
  }

  /** Its subtitle overlay was scheduled (true) or refused; published as a cue when it shows. */
  subtitle(utteranceId: string, shown: boolean): void {
    const entry = this.#entries.get(utteranceId);
    if (!entry) return;
    entry.subtitle = shown;
    if (shown && entry.start) this.#publishSubtitle(entry);
  }

  /** An overlay cued `atMs` into the utterance; CueFired goes out with the stream time it shows at. */
  cue(utteranceId: string, cue: Omit<CueFired, "streamTimeMs" | "outputUnixMs">, atMs: number): void {
    const entry = this.#entries.get(utteranceId);
    if (!entry) return;
    const full = { ...cue, streamTimeMs: 0, outputUnixMs: 0 };
    if (entry.start) this.#publishCue(entry, full, atMs);
    else entry.cues.push({ cue: full, atMs });
  }

  /** What the media graph reported of an utterance on the output. */
  onMedia(report: UtteranceReport): void {
    const entry = this.#entries.get(report.utteranceId);
    if (!entry) return;
    const streamTimeMs = Math.round((report.frame * 1000) / this.#fps);
    if (report.state === "started") {
      this.#started(entry, { streamTimeMs, outputUnixMs: report.outputUnixMs });
      return;
    }
    this.#entries.delete(report.utteranceId);
    // Its cues: every one has shown by its last frame; a cut drops those after it.
    for (const due of entry.due) {
      clearTimeout(due.timer);
      if (report.state === "ended" || due.atMs <= report.playedMs) due.publish();
    }
    if (!entry.start) {
      // Cut before a sample of it played (or a report that never came for its start): nothing was heard.
      if (report.playedMs === 0 || report.state === "interrupted") return this.#told(entry, streamTimeMs);
      this.#started(entry, { streamTimeMs, outputUnixMs: report.outputUnixMs });
    }
    this.#deps.publish({
      $case: "utteranceEnded",
      value: {
        utteranceId: report.utteranceId,
        interrupted: report.state === "interrupted",
        durationMs: Math.round(report.playedMs),
        // The frame after its last sample (ended), or the frame the cut took effect on.
        streamTimeMs: report.state === "ended" ? Math.round(((report.frame + 1) * 1000) / this.#fps) : streamTimeMs,
        outputUnixMs: report.outputUnixMs,
        words: entry.words,
      },
    });
  }

  /**
   * The media graph was interrupted and dropped `dropped` (it reports each of those); any other sentence begun and
   * not started never reached it, and is not heard.
   */
  interrupted(dropped: readonly string[]): void {
    for (const [id, entry] of [...this.#entries]) {
      if (!entry.start && !dropped.includes(id)) this.#neverHeard(id);
    }
  }

  /** A sentence that will not reach the output (cut while synthesized, or its voice failed before any audio). */
  abandoned(utteranceId: string, reachedMedia: boolean): void {
    if (!reachedMedia) this.#neverHeard(utteranceId);
  }

  #neverHeard(utteranceId: string) {
    const entry = this.#entries.get(utteranceId);
    if (!entry || entry.start) return;
    this.#entries.delete(utteranceId);
    this.#told(entry);
  }

  /**
   * A human's line that will not be said (cut, or waiting when the room went off air): its UtteranceEnded alone,
   * interrupted, nothing played, at the output's time now.
   */
  unheardLine(utteranceId: string, streamTimeMs = this.#deps.streamTimeMs?.() ?? 0): void {
    this.#deps.publish({
      $case: "utteranceEnded",
      value: { utteranceId, interrupted: true, durationMs: 0, streamTimeMs, outputUnixMs: Date.now(), words: [] },
    });
  }

  /** A sentence none of which was heard: an answer's comments are told it was cut, a human's line ends unheard. */
  #told(entry: Entry, streamTimeMs?: number) {
    if (entry.line.source === Source.UTTERANCE_SOURCE_HUMAN) this.unheardLine(entry.line.utteranceId, streamTimeMs);
    const answers = entry.line.answers;
    if (!answers) return;
    for (const commentId of answers.commentIds) {
      this.#deps.publish({
        $case: "commentRejected",
        value: { commentId, reason: "interrupted", field: "", message: "the answer was cut before it was said" },
      });
    }
    this.#deps.rejected(answers.commentIds.length);
    if (entry.line.commentId) this.#deps.answerUnheard?.(entry.line.commentId);
  }

  #started(entry: Entry, start: { streamTimeMs: number; outputUnixMs: number }) {
    entry.start = start;
    const { line } = entry;
    if (line.answers) {
      for (const commentId of line.answers.commentIds) {
        this.#deps.publish({
          $case: "commentAnswered",
          value: {
            commentId,
            utteranceId: line.utteranceId,
            intent: line.answers.intent,
            answeredTogether: line.answers.commentIds.length,
          },
        });
      }
      this.#deps.answered(line.answers.commentIds.length);
    }
    this.#deps.publish({
      $case: "utteranceStarted",
      value: {
        utteranceId: line.utteranceId,
        source: line.source,
        text: line.text,
        words: [...entry.words],
        streamTimeMs: start.streamTimeMs,
        commentId: line.commentId ?? "",
        outputUnixMs: start.outputUnixMs,
        show: line.show,
      },
    });
    if (entry.subtitle) this.#publishSubtitle(entry);
    for (const { cue, atMs } of entry.cues.splice(0)) this.#publishCue(entry, cue, atMs);
  }

  #publishSubtitle(entry: Entry) {
    const lastWord = entry.words.at(-1);
    this.#publishCue(
      entry,
      {
        kind: CueFired_Kind.KIND_SUBTITLE,
        utteranceId: entry.line.utteranceId,
        productId: "",
        couponId: "",
        text: entry.line.text,
        streamTimeMs: 0,
        durationMs: Math.round(entry.durationMs ?? lastWord?.endMs ?? 0),
        outputUnixMs: 0,
      },
      0,
    );
  }

  /** Publishes a cue when its frame goes out (at once if that has passed). */
  #publishCue(entry: Entry, cue: CueFired, atMs: number) {
    const start = entry.start!;
    const outputUnixMs = start.outputUnixMs + Math.round(atMs);
    const publish = () =>
      this.#deps.publish({
        $case: "cueFired",
        value: { ...cue, streamTimeMs: start.streamTimeMs + Math.round(atMs), outputUnixMs },
      });
    const wait = outputUnixMs - Date.now();
    if (wait <= 0 || !this.#entries.has(entry.line.utteranceId)) return publish();
    const due = {
      atMs,
      publish,
      timer: setTimeout(() => {
        entry.due.splice(entry.due.indexOf(due), 1);
        publish();
      }, wait),
    };
    entry.due.push(due);
  }
}
