// Trains the lip-sync model from speech the embedded voices make, evaluates it on held-out lines in both languages
// against trivial baselines, and writes the ONNX model with its evaluation. `livehost models train-lipsync` runs it;
// its output is committed (gpu-workers/lipsync/model/) with this script.
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { EspeakEngine } from "../tts/espeak.js";
import { heldOutUtterances, trainingUtterances } from "./corpus.js";
import {
  buildExamples,
  contextAfter,
  contextBefore,
  featureRate,
  featureSize,
  melBands,
  type Example,
} from "./dataset.js";
import { VisemeMlp } from "./mlp.js";
import { Viseme, visemeCount } from "./visemes.js";

export interface Evaluation {
  viseme_accuracy: number;
  baseline_accuracy: number;
  baseline: string;
  by_language: Record<string, { viseme_accuracy: number; baseline_accuracy: number; frames: number }>;
  training_frames: number;
  held_out_frames: number;
  model: {
    inputs: number;
    hidden: number;
    classes: number;
    context_before: number;
    context_after: number;
    mel_bands: number;
    feature_rate_hz: number;
  };
}

/** The better of two trivial predictors: always the most frequent class, or rest-if-quiet-else-most-frequent-voiced. */
function baselines(train: Example[], test: Example[]): { name: string; accuracy: number } {
  const counts = new Array<number>(visemeCount).fill(0);
  for (const e of train) counts[e.y]!++;
  const majority = counts.indexOf(Math.max(...counts));
  const voiced = counts
    .map((c, i) => (i === Viseme.rest ? -1 : c))
    .reduce((best, c, i, all) => (c > all[best]! ? i : best), 1);
  // Energy of the centre frame (its mean log-mel), with the threshold that best separates rest on the training set.
  const energy = (e: Example) => {
    let sum = 0;
    for (let b = 0; b < melBands; b++) sum += e.x[contextBefore * melBands + b]!;
    return sum / melBands;
  };
  const candidates = [...new Set(train.map((e) => Math.round(energy(e))))].sort((a, b) => a - b);
  const score = (set: Example[], threshold: number) =>
    set.filter((e) => (energy(e) < threshold ? Viseme.rest : voiced) === e.y).length / Math.max(1, set.length);
  const threshold = candidates.reduce(
    (best, t) => (score(train, t) > score(train, best) ? t : best),
    candidates[0] ?? 0,
  );
  const majorityAccuracy = test.filter((e) => e.y === majority).length / Math.max(1, test.length);
  const energyAccuracy = score(test, threshold);
  return energyAccuracy > majorityAccuracy
    ? { name: "energy threshold (rest or the most frequent voiced viseme)", accuracy: energyAccuracy }
    : { name: "most frequent class", accuracy: majorityAccuracy };
}

export async function trainLipSyncModel(
  engine: EspeakEngine,
  outDir: string,
  log: (message: string) => void = () => undefined,
): Promise<Evaluation> {
  log("synthesizing training speech (both languages, three speeds)");
  const train = await buildExamples(engine, trainingUtterances, [0.85, 1, 1.2]);
  const byLanguage: Record<string, Example[]> = {};
  for (const lang of ["en", "zh"]) {
    byLanguage[lang] = await buildExamples(
      engine,
      heldOutUtterances.filter((u) => u.voiceId.startsWith(lang)),
    );
  }
  const test = Object.values(byLanguage).flat();
  const hidden = 48;
  const model = new VisemeMlp(featureSize, hidden, visemeCount);
  model.fitNormalization(train);
  model.train(train, { epochs: 6, onEpoch: (epoch, loss) => log(`epoch ${epoch + 1}: loss ${loss.toFixed(3)}`) });
  const baseline = baselines(train, test);
  const round = (x: number) => Math.round(x * 1000) / 1000;
  const evaluation: Evaluation = {
    viseme_accuracy: round(model.accuracy(test)),
    baseline_accuracy: round(baseline.accuracy),
    baseline: baseline.name,
    by_language: Object.fromEntries(
      Object.entries(byLanguage).map(([lang, examples]) => [
        lang,
        {
          viseme_accuracy: round(model.accuracy(examples)),
          baseline_accuracy: round(baselines(train, examples).accuracy),
          frames: examples.length,
        },
      ]),
    ),
    training_frames: train.length,
    held_out_frames: test.length,
    model: {
      inputs: featureSize,
      hidden,
      classes: visemeCount,
      context_before: contextBefore,
      context_after: contextAfter,
      mel_bands: melBands,
      feature_rate_hz: featureRate,
    },
  };
  await mkdir(outDir, { recursive: true });
  await writeFile(
    join(outDir, "viseme-mlp.onnx"),
    model.toOnnx({ trained_by: "gpu-workers/lipsync/train.ts", viseme_accuracy: String(evaluation.viseme_accuracy) }),
  );
  await writeFile(join(outDir, "evaluation.json"), `${JSON.stringify(evaluation, null, 2)}\n`);
  log(`held-out accuracy ${evaluation.viseme_accuracy} (baseline ${evaluation.baseline_accuracy})`);
  return evaluation;
}
