// How a room's voice was shared over the last hour: seconds of the show and of answers to viewers, in one-minute
// buckets (a rolling hour, 60 numbers a kind), for ShowProgress in GetRoom and in the show's UtteranceStarted.
const bucketMs = 60_000;
const buckets = 60;

export type VoiceKind = "show" | "answer";

export class VoiceShare {
  readonly #seconds: Record<VoiceKind, Float64Array> = {
    show: new Float64Array(buckets),
    answer: new Float64Array(buckets),
  };
  /** The minute (since the epoch) each bucket holds. */
  readonly #minute = new Float64Array(buckets).fill(-1);

  /** `ms` of speech of `kind`, said at `nowMs`. */
  add(kind: VoiceKind, ms: number, nowMs = Date.now()): void {
    const minute = Math.floor(nowMs / bucketMs);
    const slot = minute % buckets;
    if (this.#minute[slot] !== minute) {
      this.#minute[slot] = minute;
      this.#seconds.show[slot] = 0;
      this.#seconds.answer[slot] = 0;
    }
    this.#seconds[kind][slot]! += ms / 1000;
  }

  /** Seconds of each kind over the hour before `nowMs`. */
  lastHour(nowMs = Date.now()): Record<VoiceKind, number> {
    const minute = Math.floor(nowMs / bucketMs);
    const total = { show: 0, answer: 0 };
    for (let slot = 0; slot < buckets; slot++) {
      if (this.#minute[slot]! <= minute - buckets) continue;
      total.show += this.#seconds.show[slot]!;
      total.answer += this.#seconds.answer[slot]!;
    }
    return total;
  }
}
