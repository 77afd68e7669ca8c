// A merchant's talking-head video, made here so avatar onboarding can be tested without uploads: the drawn default
// host speaks a sentence with the embedded voice, its mouth drawn from the phoneme timings (the truth the build
// should recover), blinking now and then (motion that does not follow the speech), with a second of silence before
// and after. Encoded with GStreamer into an MP4 with or without its audio track.
import { Viseme, type VisemeId } from "../avatars/index.js";
import {
  EspeakEngine,
  defaultMouthBox,
  drawDefaultHost,
  embeddedVoices,
  renderMouth,
  synthesizeToPcm,
  visemeParams,
  visemeTrack,
} from "../gpu-workers/internal.js";
import { writeMp4 } from "../media/index.js";

export interface TalkingVideoOptions {
  width?: number;
  height?: number;
  fps?: number;
  text?: string;
  voiceId?: string;
  /** Leave the audio track out (an unusable upload). */
  withoutAudio?: boolean;
  /** Keep the mouth at rest whatever is said (a photo with a voice-over: no mouth to find). */
  stillMouth?: boolean;
}

export interface TalkingVideo {
  /** Where the mouth really is. */
  mouth: { x: number; y: number; width: number; height: number };
  seconds: number;
}

const rate = 16_000;

export async function writeTalkingVideo(path: string, options: TalkingVideoOptions = {}): Promise<TalkingVideo> {
  const width = options.width ?? 360;
  const height = options.height ?? 640;
  const fps = options.fps ?? 25;
  const voice = embeddedVoices.find((v) => v.id === (options.voiceId ?? "en-female-clear"))!;
  const engine = await EspeakEngine.start();
  let speech: Awaited<ReturnType<typeof synthesizeToPcm>>;
  try {
    speech = await synthesizeToPcm(
      engine,
      voice,
      options.text ??
        "Welcome back, everyone! This kettle pours slowly and precisely, holds one point seven litres, and today it " +
          "is only forty nine dollars. Would you believe the matching cups are free?",
      { speed: 1, sampleRate: rate },
    );
  } finally {
    await engine.close();
  }
  const silence = new Int16Array(rate);
  const audio = new Int16Array(silence.length * 2 + speech.pcm.length);
  audio.set(speech.pcm, silence.length);
  const visemes: VisemeId[] = [
    ...new Array<VisemeId>(fps).fill(Viseme.rest),
    ...visemeTrack(speech.phonemes, (speech.pcm.length / rate) * 1000, fps),
    ...new Array<VisemeId>(fps).fill(Viseme.rest),
  ];

  const mouth = defaultMouthBox(width, height);
  const faces = { open: drawDefaultHost(width, height), closed: drawDefaultHost(width, height, "closed") };
  const patches = new Map<VisemeId, Uint8Array>();
  for (const viseme of new Set([...visemes, Viseme.rest])) {
    patches.set(viseme, renderMouth(visemeParams[viseme], mouth.width, mouth.height).data);
  }
  function* frames(): Generator<Uint8Array> {
    for (let i = 0; i < visemes.length; i++) {
      const blinking = i % (fps * 3) >= fps * 2 && i % (fps * 3) < fps * 2 + 3;
      const frame = new Uint8Array(blinking ? faces.closed : faces.open);
      const patch = patches.get(options.stillMouth ? Viseme.rest : visemes[i]!)!;
      for (let y = 0; y < mouth.height; y++) {
        for (let x = 0; x < mouth.width; x++) {
          const p = (y * mouth.width + x) * 4;
          const o = ((mouth.y + y) * width + mouth.x + x) * 4;
          const alpha = patch[p + 3]! / 255;
          for (let c = 0; c < 3; c++) frame[o + c] = patch[p + c]! * alpha + frame[o + c]! * (1 - alpha);
        }
      }
      yield frame;
    }
  }
  await writeMp4(path, frames(), { width, height, fps, audio: options.withoutAudio ? undefined : audio });
  return { mouth, seconds: visemes.length / fps };
}
