// Duplicated frames at a regular cadence: a 25 fps stream made from 12.5 (every other frame a copy of the one before)
// or from 15 (two copies in every five). The frozen rule finds long stills; this finds short ones that come back at the
// same phase of a short period. A host's own holds (a mouth shape kept a few frames, the idle loop at rest) fall at
// any phase, so over four seconds of motion every phase of every period sees changes; a cadence leaves some phase of
// some period without a single change while the others change so often that a dozen or so were due there.

export interface CadenceVerdict {
  /** The frames judged: from the first one's time to the last one's end. */
  from: number;
  to: number;
  /** Undefined: too little motion to tell. */
  duplicated?: boolean;
  /** Distinct pictures per second where duplicated: fps × (period − dead phases) / period. */
  pictureFps?: number;
}

/** Frames per verdict (4 s at 25 fps), one verdict every `hopFrames`. */
const windowFrames = 100;
const hopFrames = 25;
/** Periods tried: 2 (12.5 of 25), 3, 4, 5 (15 or 20 of 25), 6. */
const periods = [2, 3, 4, 5, 6];
/** The phases that do change must change at least this often to tell at all ... */
const liveShare = 0.5;
/**
 * ... and a phase without a change counts as dead only where the live phases' rate makes this many changes due
 * there: a host's holds, as good as random against the phase, leave 8 due changes all missing about once in 3000.
 */
const dueChanges = 8;

interface Seen {
  index: number;
  moved: boolean;
  t: number;
}

export class DuplicateCadence {
  #ring: Seen[] = [];
  #sinceVerdict = 0;

  /**
   * One frame: its number on the stream (missing frames skip numbers, keeping the phase), whether it differs from the
   * one before, its time. Every `hopFrames` frames, the verdict on the last `windowFrames`.
   */
  push(index: number, moved: boolean, t: number, frameSeconds: number): CadenceVerdict | undefined {
    this.#ring.push({ index, moved, t });
    if (this.#ring.length > windowFrames) this.#ring.shift();
    if (++this.#sinceVerdict < hopFrames || this.#ring.length < windowFrames) return undefined;
    this.#sinceVerdict = 0;
    return this.#judge(frameSeconds);
  }

  #judge(frameSeconds: number): CadenceVerdict {
    const frames = this.#ring;
    const verdict: CadenceVerdict = { from: frames[0]!.t, to: frames.at(-1)!.t + frameSeconds };
    let decided = false;
    for (const period of periods) {
      const moved = new Array<number>(period).fill(0);
      const seen = new Array<number>(period).fill(0);
      for (const f of frames) {
        seen[f.index % period]!++;
        if (f.moved) moved[f.index % period]!++;
      }
      let dead = 0;
      let liveMoved = 0;
      let liveSeen = 0;
      for (let p = 0; p < period; p++) {
        if (moved[p] === 0) dead++;
        else {
          liveMoved += moved[p]!;
          liveSeen += seen[p]!;
        }
      }
      if (liveSeen === 0 || liveMoved < liveShare * liveSeen) continue; // not moving enough to tell at this period
      decided = true;
      const due = (liveMoved / liveSeen) * Math.min(...seen);
      if (dead > 0 && due >= dueChanges) {
        return { ...verdict, duplicated: true, pictureFps: ((period - dead) / period) * (1 / frameSeconds) };
      }
    }
    return decided ? { ...verdict, duplicated: false } : verdict;
  }
}
