import { describe, expect, it } from "vitest";
import { NeuralAnimator } from "./neural-animator.js";
import { Wav2LipMel, melWindow } from "./wav2lip-mel.js";

const rate = 16_000;
const speech = (seconds: number) =>
  Int16Array.from({ length: Math.round(seconds * rate) }, (_, i) =>
    Math.round(8000 * Math.max(0, Math.sin((Math.PI * 4 * i) / rate)) * Math.sin((2 * Math.PI * 150 * i) / rate)),
  );

/** An animator whose "generator" keeps the mel windows it is given, one fake patch per window. */
function recording(fps = 25) {
  const windows: Float32Array[] = [];
  const animator = new NeuralAnimator({
    fps,
    inputRate: rate,
    render: (mels) => {
      windows.push(...mels);
      return Promise.resolve(mels.map(() => ({ width: 1, height: 1, data: new Uint8Array(4) })));
    },
    rest: () => ({ width: 1, height: 1, data: new Uint8Array(4) }),
  });
  return { animator, windows };
}

async function run(animator: NeuralAnimator, pcm: Int16Array, chunk: number) {
  const frames = [];
  for (let at = 0; at < pcm.length; at += chunk) frames.push(...(await animator.push(pcm.subarray(at, at + chunk))));
  frames.push(...(await animator.flush()));
  return frames;
}

describe("the talking face on the audio clock", () => {
  it("gives one frame per frame interval, each with the window wav2lip takes for it, however the audio is chunked", async () => {
    const pcm = speech(1.37);
    const whole = new Wav2LipMel();
    whole.push(Float32Array.from(pcm, (s) => s / 32768));
    whole.finish();
    for (const chunk of [320, 1600, pcm.length]) {
      const { animator, windows } = recording();
      const frames = await run(animator, pcm, chunk);
      expect(frames.length).toBe(Math.ceil(1.37 * 25));
      expect(frames.map((f) => f.index)).toEqual(frames.map((_, i) => i));
      windows.forEach((w, i) => expect([...w]).toEqual([...melWindow(whole, i, 25)]));
    }
  });

  it("sends a frame once its 16-column window has arrived, and the rest at flush", async () => {
    const { animator } = recording();
    // 300 ms of audio completes mel columns 0-22 (column j needs samples to j * 200 + 400): frame 2's window is
    // columns 6-21, frame 3's (9-24) is not there yet.
    const early = await animator.push(speech(0.3));
    expect(early.map((f) => f.index)).toEqual([0, 1, 2]);
    const rest = await animator.flush();
    expect(rest.map((f) => f.index)).toEqual([3, 4, 5, 6, 7]);
  });

  it("moves on across utterances and cut-ins without drifting from the stream's clock", async () => {
    const { animator } = recording(30);
    const first = await run(animator, speech(0.5), 1600);
    expect(first.length).toBe(15);
    const cut = animator.clear();
    expect(cut.index).toBe(15);
    expect(cut.ptsMs).toBe(500);
    const second = await run(animator, speech(0.2), 1600);
    expect(second.map((f) => f.index)).toEqual([16, 17, 18, 19, 20, 21]);
  });
});
