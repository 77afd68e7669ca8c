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

  it("gives an interactive job the thread before normal jobs queued earlier, and a cancelled waiting job never runs", async () => {
    await using engine = await EspeakEngine.start();
    const finished: string[] = [];
    const run = async (name: string, job: ReturnType<EspeakEngine["synthesize"]>) => {
      for await (const _chunk of job);
      finished.push(name);
    };
    const show = "This is one of the show's long lines about the kettle, read at its normal pace for the viewers.";
    // Four show lines queued (the first goes to the thread at once), one cancelled while it waits, then an answer.
    const normal = [0, 1, 2, 3].map(() => engine.synthesize(show, "en-us+m3", 175));
    normal[2]!.cancel();
    const answer = engine.synthesize("Yes, it is in stock.", "en-us+m3", 175, undefined, "interactive");
    await Promise.all([
      run("show 0", normal[0]!),
      run("show 1", normal[1]!),
      run("show 3", normal[3]!),
      run("answer", answer),
    ]);
    // The answer waited only for the line already on the thread.
    expect(finished).toEqual(["show 0", "answer", "show 1", "show 3"]);
  });
});
