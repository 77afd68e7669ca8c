// What a room rendering ahead keeps of a sentence, and what it lets go (no engines: the voice's output is given by
// hand): a viseme mouth patch shown by many frames is kept once, neural patches are kept deflated and played back as
// they came, past the bound what the show needs last goes first, and answers live in what the show leaves.
import { describe, expect, it } from "vitest";
import { createLogger, createRegistry } from "../observability/index.js";
import type { WordTiming } from "../proto/index.js";
import { roomMetrics } from "./metrics.js";
import { RenderAhead, type RenderKey } from "./render-ahead.js";
import type { Spoken, Voice, VoiceOutput } from "./voice.js";

const rate = 24_000;

function renderer(maxBytesPerRoom: number) {
  const abort = new AbortController();
  const registry = createRegistry();
  const ahead = new RenderAhead({
    roomId: "r",
    // Never asked: these sentences come as a live room's voice gives them (tee), not rendered by the renderer.
    voice: {} as Voice,
    settings: { maxBytesPerRoom },
    metrics: roomMetrics(registry),
    log: createLogger({ level: "silent" }),
    enabled: () => true,
    upcoming: () => [],
    busy: () => false,
    tier: () => undefined,
    signal: abort.signal,
  });
  return { ahead, registry };
}

const key = (text: string, neural = false): RenderKey => ({
  text,
  voiceId: "zh-female-warm",
  speed: 0,
  avatarId: "default",
  neural,
  fps: 25,
});

const nowhere: VoiceOutput = { speech: () => undefined, mouth: () => undefined, words: () => undefined };

/** A sentence of `seconds` as the voice gives it: speech in two chunks, one word, a frame per 40 ms. */
async function say(
  ahead: RenderAhead,
  k: RenderKey,
  seconds: number,
  patchOf: (frame: number) => Uint8Array,
  sentence: "show" | "answer" = "show",
): Promise<void> {
  const tee = ahead.tee(k, nowhere, sentence);
  const samples = Math.round(seconds * rate);
  const pcm = Int16Array.from({ length: samples }, (_, i) => Math.round(3000 * Math.sin(i / 7)));
  const words: WordTiming[] = [{ text: k.text, startMs: 0, endMs: seconds * 1000, sourceStart: 0, sourceEnd: 1 }];
  tee.output.words!(words);
  tee.output.speech({ utteranceId: "u", pcm: pcm.subarray(0, samples / 2), sampleRateHz: rate });
  tee.output.speech({ utteranceId: "u", pcm: pcm.subarray(samples / 2), sampleRateHz: rate, final: true });
  const frames = Math.ceil(seconds * 25);
  for (let i = 0; i < frames; i++) {
    tee.output.mouth({ utteranceId: "u", index: i, patch: { x: 1, y: 2, width: 8, height: 8, rgba: patchOf(i) } });
  }
  const spoken: Spoken = {
    durationMs: seconds * 1000,
    words,
    firstChunkMs: 1,
    ttsWorkers: ["t"],
    lipsyncWorkers: ["l"],
  };
  await tee.keep(spoken);
}

/** One of `visemes` flat mouth images. */
const visemePatch = (visemes: number) => (frame: number) => new Uint8Array(8 * 8 * 4).fill(frame % visemes);

describe("what a room rendering ahead keeps", () => {
  it("keeps each distinct viseme patch once, and plays the sentence back as the voice gave it", async () => {
    const { ahead } = renderer(1 << 20);
    await say(ahead, key("一句话。"), 2, visemePatch(3));
    const render = ahead.kept.get(key("一句话。"))!;
    expect(render.frames).toHaveLength(50);
    // Speech (2 s at 24 kHz, 16-bit) and three patches of 256 bytes, not fifty.
    const speech = 2 * rate * 2;
    expect(ahead.kept.bytes).toBeGreaterThanOrEqual(speech + 3 * 256);
    expect(ahead.kept.bytes).toBeLessThan(speech + 10 * 256 + 50 * 64);

    const heard: { speech: number; final: boolean[]; frames: Uint8Array[]; words: WordTiming[] } = {
      speech: 0,
      final: [],
      frames: [],
      words: [],
    };
    const spoken = await ahead.play(
      render,
      "again",
      {
        speech: (chunk) => {
          expect(chunk.utteranceId).toBe("again");
          heard.speech += chunk.pcm.length;
          heard.final.push(chunk.final ?? false);
        },
        mouth: (frame) => heard.frames.push(frame.patch.rgba),
        words: (words) => heard.words.push(...words),
      },
      new AbortController().signal,
    );
    expect(spoken).toMatchObject({ durationMs: 2000, prerendered: true, ttsWorkers: [], lipsyncWorkers: [] });
    expect(heard.speech).toBe(2 * rate);
    expect(heard.final).toEqual([false, true]);
    expect(heard.frames.map((p) => p[0])).toEqual(Array.from({ length: 50 }, (_, i) => i % 3));
    expect(heard.words.map((w) => w.text)).toEqual(["一句话。"]);
  });

  it("keeps neural patches deflated and gives them back whole", async () => {
    const { ahead } = renderer(1 << 20);
    // Mostly transparent faces, each a little different, as a face box's lower face is.
    const face = (frame: number) => {
      const rgba = new Uint8Array(8 * 8 * 4);
      rgba.fill(frame, 0, 16);
      return rgba;
    };
    await say(ahead, key("一句话。", true), 1, face);
    const render = ahead.kept.get(key("一句话。", true))!;
    expect(ahead.kept.bytes).toBeLessThan(rate * 2 + 25 * 256);
    const frames: Uint8Array[] = [];
    const out = { ...nowhere, mouth: (f: { patch: { rgba: Uint8Array } }) => void frames.push(f.patch.rgba) };
    await ahead.play(render, "again", out, new AbortController().signal);
    expect(frames.map((f) => [...f])).toEqual(Array.from({ length: 25 }, (_, i) => [...face(i)]));
    // A sentence cut before it is played gives nothing to the media graph.
    frames.length = 0;
    await expect(ahead.play(render, "cut", out, AbortSignal.abort())).rejects.toThrow();
    expect(frames).toEqual([]);
  });

  it("stays within its bound, letting go first what the show needs last", async () => {
    const one = 1 * rate * 2;
    const { ahead, registry } = renderer(Math.round(2.5 * one) + 4_096);
    const sentences = ["一。", "二。", "三。"].map((t) => key(t));
    // The show will say 三 next, then 一, then 二.
    ahead.kept.plan([sentences[2]!, sentences[0]!, sentences[1]!]);
    for (const k of sentences.slice(0, 2)) await say(ahead, k, 1, visemePatch(2));
    expect(ahead.kept.size).toBe(2);
    await say(ahead, sentences[2]!, 1, visemePatch(2));
    // 二 was needed last: it made room for 三.
    expect(ahead.kept.has(sentences[1]!)).toBe(false);
    expect(ahead.kept.has(sentences[0]!) && ahead.kept.has(sentences[2]!)).toBe(true);
    expect(ahead.kept.bytes).toBeLessThanOrEqual(ahead.kept.maxBytes);
    const text = await registry.metrics();
    expect(text).toMatch(/livehost_room_prerender_sentences_total\{outcome="evicted"\} 1/);
    expect(text).toMatch(new RegExp(`livehost_room_prerender_kept_bytes ${ahead.kept.bytes}\\b`));
    // A sentence needed after everything kept does not push out what is needed sooner.
    ahead.kept.plan([sentences[2]!, sentences[0]!, key("四。")]);
    await say(ahead, key("四。"), 1, visemePatch(2));
    expect(ahead.kept.has(key("四。"))).toBe(false);
    ahead.kept.clear();
    expect(ahead.kept.bytes).toBe(0);
  });

  it("keeps answers in what the show leaves, letting go the least recently played answer first", async () => {
    const one = 1 * rate * 2;
    const { ahead, registry } = renderer(Math.round(3.5 * one) + 4_096);
    const show = key("节目。");
    ahead.kept.plan([show]);
    await say(ahead, show, 1, visemePatch(2));
    const [a, b, c] = ["答一。", "答二。", "答三。"].map((t) => key(t));
    await say(ahead, a!, 1, visemePatch(2), "answer");
    await say(ahead, b!, 1, visemePatch(2), "answer");
    // The first answer is asked again: played from what was kept, it is now the most recently used.
    expect(ahead.takeAnswer(a!)).toBeDefined();
    expect(ahead.takeAnswer(c!)).toBeUndefined();
    await say(ahead, c!, 1, visemePatch(2), "answer");
    expect(ahead.kept.has(a!) && ahead.kept.has(c!) && ahead.kept.has(show)).toBe(true);
    expect(ahead.kept.has(b!)).toBe(false);
    // The show's sentences come first: one more needs the room of the answers, and takes it.
    const next = key("节目二。");
    ahead.kept.plan([show, next]);
    await say(ahead, next, 1, visemePatch(2));
    expect(ahead.kept.has(next) && ahead.kept.has(show)).toBe(true);
    expect(ahead.kept.bytes).toBeLessThanOrEqual(ahead.kept.maxBytes);
    const text = await registry.metrics();
    expect(text).toMatch(/livehost_room_answer_sentences_total\{from="kept"\} 1/);
    expect(text).toMatch(/livehost_room_answer_sentences_total\{from="live"\} 1/);
  });
});
