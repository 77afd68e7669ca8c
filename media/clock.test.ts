import { describe, expect, it } from "vitest";
import { OutputConfig } from "../proto/index.js";
import { MediaClock, type MouthPatch } from "./clock.js";
import { compileOutputConfig } from "./config.js";

const patch: MouthPatch = { x: 0, y: 0, width: 2, height: 2, rgba: new Uint8Array(16) };
const clock = () => new MediaClock({ fps: 25, samplesPerFrame: 1920, startBufferMs: 0 });

describe("media clock", () => {
  it("gives every frame exactly one frame of audio, silence when nothing is said", () => {
    const c = clock();
    const ticks = [c.next(), c.next()];
    expect(ticks.map((t) => [t.index, t.audio.length, t.idle])).toEqual([
      [0, 1920, "silence"],
      [1, 1920, "silence"],
    ]);
  });

  it("keeps the mouth on its audio when speech arrives late", () => {
    const c = clock();
    const pcm = new Int16Array(1920 * 2).fill(1000);
    c.pushSpeech({ utteranceId: "u", pcm: pcm.subarray(0, 1920), sampleRateHz: 48_000 });
    c.pushMouthFrame({ utteranceId: "u", index: 0, patch });
    c.pushMouthFrame({ utteranceId: "u", index: 1, patch });
    const first = c.next();
    const late = c.next(); // the second chunk has not arrived: a silent, idle frame; the utterance waits
    c.pushSpeech({ utteranceId: "u", pcm: pcm.subarray(1920), sampleRateHz: 48_000, final: true });
    const resumed = c.next();
    expect([first.mouth, first.audio[0]]).toEqual([patch, 1000]);
    expect([late.idle, late.audio[0]]).toEqual(["speech_late", 0]);
    expect([resumed.mouth, resumed.audio[0], resumed.ended.map((u) => u.id)]).toEqual([patch, 1000, ["u"]]);
  });

  it("lets a sentence wait a frame or two for its first mouth frame instead of opening with the idle mouth", () => {
    const c = new MediaClock({ fps: 25, samplesPerFrame: 1920, startBufferMs: 0, mouthWaitFrames: 2 });
    c.pushSpeech({ utteranceId: "u", pcm: new Int16Array(1920 * 4).fill(5), sampleRateHz: 48_000, final: true });
    const waiting = c.next();
    c.pushMouthFrame({ utteranceId: "u", index: 0, patch });
    const started = c.next();
    expect([waiting.idle, waiting.audio[0], waiting.started]).toEqual(["silence", 0, undefined]);
    expect([started.mouth, started.audio[0], started.started]).toEqual([patch, 5, "u"]);
    // Without a lip-sync worker the sentence starts after the wait, with the idle mouth.
    c.pushSpeech({ utteranceId: "v", pcm: new Int16Array(1920).fill(9), sampleRateHz: 48_000, final: true });
    const rest = [c.next(), c.next(), c.next(), c.next(), c.next(), c.next()];
    expect(rest.map((t) => t.started).filter(Boolean)).toEqual(["v"]);
    expect(
      rest.findIndex((t) => t.started === "v") - rest.findIndex((t) => t.ended.some((u) => u.id === "u")),
    ).toBeGreaterThanOrEqual(2);
  });

  it("fires a cue on the frame that plays its sample, and interrupt drops queued speech at once", () => {
    const c = clock();
    c.pushSpeech({ utteranceId: "u", pcm: new Int16Array(48_000).fill(7), sampleRateHz: 48_000, final: true });
    c.cue({ utteranceId: "u", atMs: 100 }, { type: "show", overlayId: "card" }); // sample 4800: frame 2
    const actions = [c.next(), c.next(), c.next()].map((t) => t.actions.length);
    expect(actions).toEqual([0, 0, 1]);
    expect(c.interrupt()).toEqual([{ id: "u", samples: 3 * c.samplesPerFrame }]); // what was heard of it
    c.pushSpeech({ utteranceId: "u", pcm: new Int16Array(1920).fill(7), sampleRateHz: 48_000 }); // late chunk: ignored
    expect(c.next()).toMatchObject({ idle: "silence" });
    expect(c.next().audio.every((s) => s === 0)).toBe(true);
  });

  it("resamples speech to the 48 kHz clock", () => {
    const c = clock();
    c.pushSpeech({ utteranceId: "u", pcm: new Int16Array(16_000).fill(500), sampleRateHz: 16_000, final: true });
    expect(c.queuedSeconds).toBeCloseTo(1, 2);
  });

  it("takes speech bytes at any offset of a shared buffer (as decoded from gRPC), with the right samples", () => {
    const c = clock();
    const samples = Int16Array.from({ length: 1920 }, (_, i) => i - 960);
    const shared = Buffer.alloc(samples.byteLength + 1);
    Buffer.from(samples.buffer).copy(shared, 1);
    c.pushSpeech({ utteranceId: "u", pcm: shared.subarray(1), sampleRateHz: 48_000, final: true });
    expect(Array.from(c.next().audio)).toEqual(Array.from(samples));
  });

  it("refuses bad speech, naming the field", () => {
    const c = clock();
    expect(() => c.pushSpeech({ utteranceId: "u", pcm: new Int16Array(10), sampleRateHz: 8000 })).toThrow(
      /speech\.sampleRateHz/,
    );
    expect(() => c.pushSpeech({ utteranceId: "", pcm: new Int16Array(10), sampleRateHz: 16_000 })).toThrow(
      /speech\.utteranceId/,
    );
    expect(() => c.pushSpeech({ utteranceId: "u", pcm: new Uint8Array(3), sampleRateHz: 16_000 })).toThrow(
      /speech\.pcm/,
    );
  });
});

describe("output configuration", () => {
  const video = { widthPx: 720, heightPx: 1280, fps: 25, bitrateKbps: 2500 };
  const hls = { kind: { $case: "hls" as const, value: { segmentDurationS: 0, playlistLength: 0 } } };
  const compile = (partial: Parameters<typeof OutputConfig.fromPartial>[0]) => () =>
    compileOutputConfig(OutputConfig.fromPartial(partial));

  it("compiles portrait and 16:9 with defaults", () => {
    expect(compileOutputConfig(OutputConfig.fromPartial({ video, outputs: [hls] }))).toMatchObject({
      width: 720,
      height: 1280,
      fps: 25,
      samplesPerFrame: 1920,
      audioKbps: 128,
      hls: { segmentSeconds: 2, playlistLength: 6 },
      keyframeInterval: 50,
    });
  });

  it.each([
    [{ video: { ...video, widthPx: 721 }, outputs: [hls] }, /output\.video.*width_px|even/],
    [{ video: { ...video, fps: 29 }, outputs: [hls] }, /output\.video\.fps/],
    [{ video: { ...video, bitrateKbps: 50_000 }, outputs: [hls] }, /output\.video\.bitrate_kbps/],
    [{ video, outputs: [] }, /output\.outputs: needs at least one/],
    [{ outputs: [hls] }, /output\.video: is required/],
    [
      { video, outputs: [{ kind: { $case: "rtmp", value: { url: "rtmp://cdn.example.com", streamKeySecret: "k" } } }] },
      /outputs\[0\]\.rtmp\.url: has no application/,
    ],
    [
      {
        video,
        outputs: [{ kind: { $case: "rtmp", value: { url: "rtmp://cdn.example.com/live", streamKeySecret: "" } } }],
      },
      /outputs\[0\]\.rtmp\.stream_key_secret/,
    ],
    [
      { video, outputs: [{ kind: { $case: "recording", value: { path: "../etc" } } }] },
      /outputs\[0\]\.recording\.path/,
    ],
    [
      { video, outputs: [{ kind: { $case: "recording", value: { path: "r", segmentDurationS: 5 } } }] },
      /recording\.segment_duration_s/,
    ],
  ] as const)("refuses %j", (partial, message) => {
    expect(compile(partial as unknown as Parameters<typeof OutputConfig.fromPartial>[0])).toThrow(message);
  });
});
