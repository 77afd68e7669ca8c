// mulberry32: a small seeded generator, for work that must come out the same on every run (training the models the
// project makes: the lip-sync network, the comment understanding and its corpus; the autoscale benchmark's simulated
// night). Not for anything that needs to be unpredictable.

/** Numbers in [0, 1), the same sequence for the same seed. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}
