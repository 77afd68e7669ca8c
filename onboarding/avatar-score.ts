// The onboarding job's "quality" step: the avatar pack rendered speaking held-out sentences through the real engines in
// this process — the embedded TTS (espeak-ng), the lip-sync animator with the project's viseme model, the room's
// media graph — into a recording, which the quality gate scores (media's scoreMedia, with the pack's own mouth box).
// One score with its parts and the reasons; the job decides what a score below its threshold means.
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as ort from "onnxruntime-node";
import { loadAvatarPack, repoPath, type AvatarPack } from "../avatars/index.js";
import { InvalidArgumentError, UnavailableError } from "../errors/index.js";
import {
  EspeakEngine,
  MouthAnimator,
  embeddedVoices,
  onnxClassifier,
  synthesizeToPcm,
  type MouthFrame,
} from "../gpu-workers/index.js";
import {
  RoomMediaGraph,
  scoreMedia,
  type MouthFrameInput,
  type QualityPart,
  type QualityReport,
} from "../media/index.js";
import { createRegistry } from "../observability/index.js";
import { OutputConfig } from "../proto/index.js";

/**
 * What the avatar says: short live-commerce lines written for this check, in none of the data the lip-sync model was
 * trained on (gpu-workers/lipsync/corpus.ts) nor the brain's fixtures, so the score is the avatar's on speech it has
 * not been fitted to.
 */
export const heldOutSentences: Record<"zh" | "en", string[]> = {
  en: [
    "Good evening, and welcome to the kitchen corner of our shop.",
    "This little pan heats evenly, so pancakes come out golden every time.",
    "Order in the next ten minutes and the glass lid is included for free.",
  ],
  zh: [
    "欢迎来到直播间，今天给大家带来一款新品。",
    "这口平底锅受热均匀，煎蛋不粘也不糊。",
    "现在下单还送一个玻璃锅盖，数量有限。",
  ],
};

export interface ScoreAvatarOptions {
  /** The avatar pack's directory (pack.json, base video, mouth atlas). */
  avatarDir: string;
  /** What it says; default `heldOutSentences[language]`. */
  sentences?: string[];
  language: "zh" | "en";
  /** The score (0 to 100) it must reach to pass, as OnboardingService's min_quality_score. */
  threshold: number;
  signal?: AbortSignal;
  /** 0 to 1 of the step, and what it is doing. */
  onProgress?: (fraction: number, message: string) => void;
  /** Keep the recording in this directory (returned as `file`) for a person to watch; by default it is deleted. */
  keepDir?: string;
  /** Where the render's temporary files go (default the system's temp directory); removed at the end either way. */
  workDir?: string;
}

export interface AvatarScore {
  /** 0 to 100 (media's quality score). */
  score: number;
  /** The score on the 1-to-5 scale of a mean opinion score. */
  mos: number;
  parts: QualityPart[];
  /** One line per defect found, for a person (empty when nothing was). */
  reasons: string[];
  passed: boolean;
  /** Seconds of the rendering scored. */
  seconds: number;
  /** The recording, when `keepDir` was given. */
  file?: string;
  /** The full report (defects with their times, figures). */
  report: QualityReport;
}

/** The render: frame rate, the long side of the frame (the pack scaled down as a room would show it), speech rate. */
const fps = 25;
const longSide = 640;
const speechRate = 24_000;
/** Silence before the first sentence and after the last. */
const leadSeconds = 0.4;
const tailSeconds = 0.6;

/**
 * Renders the pack in `avatarDir` speaking the held-out sentences and scores the recording. Fails with
 * InvalidArgumentError for a bad option, UnavailableError when the pack or an engine cannot be loaded; `signal`
 * stops it wherever it is (its reason is thrown), and the temporary files are removed however it ends.
 */
export async function scoreAvatar(options: ScoreAvatarOptions): Promise<AvatarScore> {
  const { avatarDir, language, threshold, signal, onProgress } = options;
  if (language !== "zh" && language !== "en") throw new InvalidArgumentError("language", 'must be "zh" or "en"');
  if (!(threshold >= 0 && threshold <= 100)) throw new InvalidArgumentError("threshold", "must be from 0 to 100");
  const sentences = options.sentences ?? heldOutSentences[language];
  if (sentences.length === 0 || sentences.some((s) => s.trim() === ""))
    throw new InvalidArgumentError("sentences", "must be one or more non-empty sentences");
  signal?.throwIfAborted();

  const pack = await loadAvatarPack(avatarDir);
  const work = await mkdtemp(join(options.workDir ?? tmpdir(), "livehost-avatar-score-"));
  try {
    onProgress?.(0.05, "quality: synthesizing the held-out sentences");
    const pcm = await speak(sentences, language, signal);
    signal?.throwIfAborted();
    onProgress?.(0.3, "quality: animating the mouth");
    const frames = await animate(pack, pcm, signal);
    signal?.throwIfAborted();
    onProgress?.(0.45, "quality: rendering the avatar speaking");
    const { file, width, height } = await render(pack, pcm, frames, work, signal);
    onProgress?.(0.75, "quality: scoring the rendering");
    const report = await scoreMedia(file, { mouth: mouthInFrame(pack, width, height), ...(signal ? { signal } : {}) });
    let kept: string | undefined;
    if (options.keepDir) {
      await mkdir(options.keepDir, { recursive: true });
      kept = join(options.keepDir, `${pack.manifest.id}-quality.mp4`);
      await copyFile(file, kept);
    }
    onProgress?.(1, `quality: score ${report.score}`);
    return {
      score: report.score,
      mos: report.mos!,
      parts: report.parts!,
      reasons: report.defects.map((d) => d.why),
      passed: report.score >= threshold,
      seconds: Math.round((report.toSeconds - report.fromSeconds) * 100) / 100,
      ...(kept ? { file: kept } : {}),
      report,
    };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/**
 * The sentences as one utterance at 24 kHz, as a room speaks a line of several (the TTS makes the pauses between
 * them), with silence before and after.
 */
async function speak(sentences: string[], language: "zh" | "en", signal?: AbortSignal): Promise<Int16Array> {
  const voice = embeddedVoices.find((v) => v.lang === language)!;
  await using engine = await EspeakEngine.start();
  const { pcm } = await synthesizeToPcm(engine, voice, sentences.join(language === "zh" ? "" : " "), {
    speed: 1,
    sampleRate: speechRate,
    ...(signal ? { signal } : {}),
  });
  const out = new Int16Array(Math.round((leadSeconds + tailSeconds) * speechRate) + pcm.length);
  out.set(pcm, Math.round(leadSeconds * speechRate));
  return out;
}

/** One mouth frame per video frame from the lip-sync animator, fed 100 ms at a time as a room streams speech. */
async function animate(pack: AvatarPack, pcm: Int16Array, signal?: AbortSignal): Promise<MouthFrameInput[]> {
  const modelPath = repoPath("gpu-workers/lipsync/model/viseme-mlp.onnx");
  const session = await ort.InferenceSession.create(await readFile(modelPath)).catch((err: unknown) => {
    throw new UnavailableError(`lip-sync model ${modelPath} cannot be loaded`, { cause: err });
  });
  try {
    const animator = new MouthAnimator({ fps, inputRate: speechRate, classify: onnxClassifier(session, ort.Tensor) });
    const { mouth } = pack.manifest;
    const frames: MouthFrameInput[] = [];
    // The pack's own mouth image for each viseme, as the lip-sync worker sends it for a pack that has them.
    const take = (made: MouthFrame[]) => {
      for (const f of made) {
        frames.push({ utteranceId: "held-out", index: f.index, patch: { ...mouth, rgba: pack.mouthImage(f.viseme) } });
      }
    };
    const chunk = speechRate / 10;
    for (let at = 0; at < pcm.length; at += chunk) {
      signal?.throwIfAborted();
      take(await animator.push(pcm.subarray(at, at + chunk)));
    }
    take(await animator.flush());
    return frames;
  } finally {
    await session.release();
  }
}

/** The room's media graph renders the speech and mouth frames over the pack's idle loop into an MP4 in `dir`. */
async function render(
  pack: AvatarPack,
  pcm: Int16Array,
  frames: MouthFrameInput[],
  dir: string,
  signal?: AbortSignal,
): Promise<{ file: string; width: number; height: number }> {
  signal?.throwIfAborted();
  const { manifest } = pack;
  const scale = longSide / Math.max(manifest.width, manifest.height);
  const width = Math.max(240, Math.round((manifest.width * scale) / 2) * 2);
  const height = Math.max(240, Math.round((manifest.height * scale) / 2) * 2);
  const graph = new RoomMediaGraph({
    roomId: "avatar-score",
    output: OutputConfig.fromPartial({
      video: { widthPx: width, heightPx: height, fps, bitrateKbps: 1200 },
      audioBitrateKbps: 96,
      outputs: [{ kind: { $case: "recording", value: { path: "recordings", segmentDurationS: 0 } } }],
    }),
    avatarDir: pack.dir,
    outputDir: dir,
    registry: createRegistry(),
    x264Preset: "veryfast",
    // The speech, and the graph's start buffer (100 ms) before it.
    pace: { renderSeconds: pcm.length / speechRate + 0.2 },
  });
  graph.pushSpeech({ utteranceId: "held-out", pcm, sampleRateHz: speechRate, final: true });
  for (const frame of frames) graph.pushMouthFrame(frame);
  const stop = () => void graph.stop();
  signal?.addEventListener("abort", stop, { once: true });
  try {
    await graph.start();
    await graph.done;
  } finally {
    signal?.removeEventListener("abort", stop);
  }
  signal?.throwIfAborted();
  const [file] = await readdir(join(dir, "recordings"));
  if (!file) throw new UnavailableError("the avatar's rendering wrote no recording");
  return { file: join(dir, "recordings", file), width, height };
}

/** The pack's mouth box on the rendered frame: the pack scaled to fit and centred, as the room composes it. */
function mouthInFrame(pack: AvatarPack, width: number, height: number) {
  const { manifest } = pack;
  const scale = Math.min(width / manifest.width, height / manifest.height);
  const dx = (width - manifest.width * scale) / 2;
  const dy = (height - manifest.height * scale) / 2;
  const m = manifest.mouth;
  return { x: dx + m.x * scale, y: dy + m.y * scale, width: m.width * scale, height: m.height * scale };
}
