import { describe, expect, it } from "vitest";
import { VoiceShare } from "./voice-share.js";

describe("the voice's share over the last hour", () => {
  it("adds the show's and the answers' seconds, and forgets what is more than an hour old", () => {
    const share = new VoiceShare();
    const t0 = Date.UTC(2026, 11, 5, 10, 0, 0);
    share.add("show", 4_000, t0);
    share.add("answer", 2_500, t0 + 30_000);
    share.add("show", 1_000, t0 + 30 * 60_000);
    expect(share.lastHour(t0 + 31 * 60_000)).toEqual({ show: 5, answer: 2.5 });
    // An hour and a minute on: the first minute is gone, the half hour's sentence stays.
    expect(share.lastHour(t0 + 61 * 60_000)).toEqual({ show: 1, answer: 0 });
    // Its bucket taken over by a new minute: only the new seconds count.
    share.add("answer", 3_000, t0 + 60 * 60_000 * 2);
    expect(share.lastHour(t0 + 60 * 60_000 * 2)).toEqual({ show: 0, answer: 3 });
  });
});
