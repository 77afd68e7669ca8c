// espeak-ng keeps its state in process globals: the engine is one per process, shared by every speech worker in it.
import { describe, expect, it } from "vitest";
import { EspeakEngine } from "./espeak.js";

async function samplesOf(engine: EspeakEngine, text: string): Promise<number> {
  let samples = 0;
  for await (const chunk of engine.synthesize(text, "en-us+m3", 175)) samples += chunk.samples.length;
  return samples;
}

describe("the espeak-ng engine", () => {
  it("is one per process: users started at once share it, and it runs until the last of them closes it", async () => {
    const [first, second] = await Promise.all([EspeakEngine.start(), EspeakEngine.start()]);
    expect(second).toBe(first);
    const [a, b] = await Promise.all([samplesOf(first, "Hello there."), samplesOf(second, "Hello there.")]);
    expect([a > 0, b > 0]).toEqual([true, true]);
    await first.close();
    expect(await samplesOf(second, "Still here.")).toBeGreaterThan(0);
    await second.close();
    // A new user after the last one closed gets a new engine.
    await using third = await EspeakEngine.start();
    expect(third).not.toBe(first);
    expect(await samplesOf(third, "Hello again.")).toBeGreaterThan(0);
  });
});
