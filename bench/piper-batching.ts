// Whether running concurrent streams' sentences together in one model run (batching) pays on a provider: 8
// concurrent streams of `text`, with up to 8 sentences a run against one, alternating over `rounds` after a warm-up.
import { PiperVoice, type EspeakEngine } from "../gpu-workers/internal.js";
import { round, summarize } from "./stats.js";

export async function piperBatching(
  model: string,
  engine: EspeakEngine,
  providers: string[],
  text: string,
  rounds = 3,
): Promise<Record<string, number>> {
  const voices = {
    batched: await PiperVoice.load(model, engine, providers, { maxBatch: 8 }),
    unbatched: await PiperVoice.load(model, engine, providers, { maxBatch: 1 }),
  };
  const walls = { batched: [] as number[], unbatched: [] as number[] };
  const firsts = { batched: [] as number[], unbatched: [] as number[] };
  for (let i = -1; i < rounds; i++) {
    for (const label of ["batched", "unbatched"] as const) {
      const started = performance.now();
      const streamFirsts = await Promise.all(
        Array.from({ length: 8 }, async () => {
          let first = 0;
          for await (const chunk of voices[label].synthesize(text, { speed: 1, sampleRate: 22_050 })) {
            first ||= performance.now() - started;
            void chunk;
          }
          return first;
        }),
      );
      if (i < 0) continue; // warm-up
      walls[label].push(performance.now() - started);
      firsts[label].push(...streamFirsts);
    }
  }
  const wall = { batched: summarize(walls.batched).p50, unbatched: summarize(walls.unbatched).p50 };
  return {
    batched_wall_ms: wall.batched,
    unbatched_wall_ms: wall.unbatched,
    batched_first_chunk_ms_p50: summarize(firsts.batched).p50,
    unbatched_first_chunk_ms_p50: summarize(firsts.unbatched).p50,
    speedup: round(wall.unbatched / wall.batched, 2),
  };
}
