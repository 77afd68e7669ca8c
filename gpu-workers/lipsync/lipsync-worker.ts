// A lip-sync worker process: the shared worker core around the viseme model (onnxruntime, CUDA when its provider
// loads) and the mouth renderer. --model is either a viseme model with the project's I/O contract (see mlp.ts; the
// project's own by default) or a wav2lip-shaped talking-face generator (talking-face.ts; told apart by its inputs):
// with a generator the worker serves both renderers, the project's viseme model staying as the cheap tier. --neural
// serves the project's own trained generator (model/talking-face.onnx) where --model is not a generator.
import { mkdtemp, readdir, readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as ort from "onnxruntime-node";
import { rootLogger, type Logger } from "../../observability/index.js";
import { decodeVideo } from "../../media/index.js";
import { AvatarStore, loadAvatarPack, repoPath, type AvatarPack } from "../../avatars/index.js";
import { UnavailableError } from "../../errors/index.js";
import { UnusableModelError } from "../errors.js";
import { createSession, executionProviders, type ExecutionProviderChoice } from "../onnx/runtime.js";
import { startWorker, type Worker, type WorkerHosting } from "../worker.js";
import { onnxClassifier, type VisemeClassifier } from "./animator.js";
import {
  defaultAvatar,
  lipSyncService,
  lipSyncStreamCost,
  neuralStreamCost,
  type AvatarMouth,
  type TalkingFaceModel,
} from "./lipsync-service.js";
import { defaultFaceBox, drawDefaultHost } from "./default-avatar.js";
import { faceInput, isTalkingFaceModel, talkingFaceContract, type NeuralFace } from "./talking-face.js";
import { StreamCapacity } from "../capacity.js";

export interface LipSyncWorkerOptions extends WorkerHosting {
  /**
   * An ONNX viseme model (input "features" [N, 360], output "viseme_probs" [N, 10]; the project's by default), or a
   * wav2lip-shaped generator (mel [B,1,80,16] and face [B,6,96,96] → [B,3,96,96]) for RENDERER_NEURAL streams.
   */
  modelPath?: string;
  /**
   * Serve RENDERER_NEURAL with the project's own talking-face generator (gpu-workers/lipsync/model/talking-face.onnx,
   * made by `livehost models train-talking-face`) where modelPath is not a generator. It is loaded as a user's
   * export is.
   */
  neural?: boolean;
  executionProvider?: ExecutionProviderChoice;
  /** A directory of avatar packs (one per subdirectory); the built-in default avatar when absent. */
  avatarsDir?: string;
  /**
   * Measure the capacity at start and then under load (the process's CPU time per second of stream served) every
   * this many ms, for a process that is the worker alone (the CLI role): in a process shared with rooms and media
   * their CPU would be taken for the streams'. Default: the cap (maxStreams) stands.
   */
  capacityWindowMs?: number;
}

/** The project's own talking-face generator, relative to the repository (see talking-face-train.ts). */
export const projectGeneratorPath = "gpu-workers/lipsync/model/talking-face.onnx";

export interface LipSyncWorker extends AsyncDisposable {
  readonly worker: Worker;
  close(graceMs?: number): Promise<void>;
}

export async function startLipSyncWorker(options: LipSyncWorkerOptions): Promise<LipSyncWorker> {
  const log = (options.logger ?? rootLogger()).child({ role: "lipsync-worker" });
  let classify: VisemeClassifier | undefined;
  let generator: TalkingFaceModel | undefined;
  /**
   * What a second of a RENDERER_NEURAL stream costs against one of the viseme path, measured at start (with
   * capacityWindowMs): the capacity counts viseme streams, a neural one counts this many, and the neural streams this
   * worker sustains follow the capacity as it is measured under load.
   */
  let neuralWeight: number | undefined;
  const capacity = new StreamCapacity({ cap: options.maxStreams ?? 16 });
  let provider = "cpu";
  let problem: string | undefined;
  const visemeModel = repoPath("gpu-workers/lipsync/model/viseme-mlp.onnx");
  const modelPath = options.modelPath ?? visemeModel;
  try {
    const eps = await executionProviders(options.executionProvider ?? "auto");
    provider = eps.reported;
    /** A generator's session as the worker serves it, checked against wav2lip's contract. */
    const asGenerator = (session: ort.InferenceSession, path: string): TalkingFaceModel => {
      try {
        const model = { session, Tensor: ort.Tensor, contract: talkingFaceContract(session) };
        log.info({ model: path, ...model.contract }, "talking-face generator loaded");
        return model;
      } catch (err) {
        throw new UnusableModelError(`${path}: ${(err as Error).message}`, { cause: err });
      }
    };
    let session = await createSession(await readFile(modelPath), eps.providers);
    if (isTalkingFaceModel(session)) {
      generator = asGenerator(session, modelPath);
      session = await createSession(await readFile(visemeModel), eps.providers);
    } else if (options.neural) {
      const path = repoPath(projectGeneratorPath);
      generator = asGenerator(await createSession(await readFile(path), eps.providers), path);
    }
    for (const name of ["features"]) {
      if (!session.inputNames.includes(name)) throw new UnusableModelError(`${modelPath} has no "${name}" input`);
    }
    if (!session.outputNames.includes("viseme_probs"))
      throw new UnusableModelError(`${modelPath} has no "viseme_probs" output`);
    classify = onnxClassifier(session, ort.Tensor);
    // What one stream costs here, on this provider: the slots and the announcements follow what that sustains.
    if (options.capacityWindowMs !== undefined) {
      capacity.measured(await lipSyncStreamCost(classify, defaultAvatar), "start");
      log.info(
        { costPerStreamSecond: capacity.costPerStreamSecond, streams: capacity.streams, cap: capacity.cap },
        "measured capacity",
      );
      if (generator) {
        const cost = await neuralStreamCost(generator, { ...defaultAvatar, face: defaultFace() });
        neuralWeight = Math.max(1, cost / (capacity.costPerStreamSecond ?? cost));
        // 0 says not even one keeps up here.
        log.info(
          { costPerStreamSecond: cost, weight: neuralWeight, streams: capacity.streamsAt(neuralWeight) },
          "measured neural capacity",
        );
      }
    }
  } catch (err) {
    problem = `lip-sync model unavailable: ${(err as Error).message}`;
  }
  // A pack's face is prepared for the generator only on a worker that has one (it decodes a frame of the pack).
  const withFace = generator ? packFace : () => Promise.resolve(undefined);
  const avatars: AvatarMouth[] = [];
  if (options.avatarsDir) {
    try {
      for (const entry of await readdir(options.avatarsDir, { withFileTypes: true })) {
        if (!entry.isDirectory()) continue;
        const pack = await loadAvatarPack(join(options.avatarsDir, entry.name));
        avatars.push(await packAvatar(pack, withFace));
      }
    } catch (err) {
      // A corrupt pack is not papered over: the worker says it is not ready, and why.
      problem = [problem, (err as Error).message].filter(Boolean).join("; ");
    }
  }
  if (!avatars.some((a) => a.id === defaultAvatar.id)) {
    avatars.push(generator ? { ...defaultAvatar, face: defaultFace() } : defaultAvatar);
  }
  // Packs built by onboarding jobs arrive through NATS while the worker runs: loaded, then announced.
  const byId = new Map(avatars.map((a) => [a.id, a]));
  const capabilities = classify ? [...byId.keys()] : [];
  const watching = new AbortController();
  if (classify) {
    await watchPublishedAvatars(options, watching.signal, log, async (avatarId, pack) => {
      byId.set(avatarId, { ...(await packAvatar(pack, withFace)), id: avatarId });
      if (!capabilities.includes(avatarId)) capabilities.push(avatarId);
    });
  }
  const labels: Record<string, string> = { ...options.labels, renderers: generator ? "viseme,neural" : "viseme" };
  const neuralStreams = () => {
    const streams = neuralWeight === undefined ? undefined : capacity.streamsAt(neuralWeight);
    if (streams !== undefined) labels.neural_streams = String(streams);
  };
  neuralStreams();
  const worker = await startWorker({
    kind: "lipsync",
    nats: options.nats,
    registry: options.registry,
    services: (slots) =>
      classify
        ? [
            lipSyncService({
              classify,
              generator,
              slots,
              registry: options.registry,
              avatars: byId,
              capacity,
              neuralWeight,
            }),
          ]
        : [],
    capabilities,
    workerId: options.workerId,
    grpcHost: options.grpcHost,
    grpcPort: options.grpcPort,
    advertiseAddress: options.advertiseAddress,
    maxStreams: options.maxStreams ?? 16,
    capacity,
    capacityWindowMs: options.capacityWindowMs,
    executionProvider: provider,
    // The renderers it serves, where placement reads what a worker is (capabilities are its avatars), and the neural
    // streams it sustains as last measured (the announced capacity counts viseme streams).
    labels,
    logger: log,
  });
  if (problem) worker.setNotReady(problem);
  // The announcements read the labels as they go out: the neural streams follow the capacity measured under load.
  const relabel =
    neuralWeight !== undefined && options.capacityWindowMs !== undefined
      ? setInterval(neuralStreams, options.capacityWindowMs)
      : undefined;
  relabel?.unref();
  const close = (graceMs?: number) => {
    clearInterval(relabel);
    watching.abort();
    return worker.close(graceMs);
  };
  return { worker, close, [Symbol.asyncDispose]: () => close() };
}

/**
 * Loads each avatar pack published through NATS (onboarding jobs) as it appears. A worker whose NATS user may not read
 * the avatar store serves the packs it started with, and says so.
 */
async function watchPublishedAvatars(
  options: LipSyncWorkerOptions,
  signal: AbortSignal,
  log: Logger,
  add: (avatarId: string, pack: AvatarPack) => Promise<void>,
): Promise<void> {
  try {
    const store = await AvatarStore.open(options.nats);
    const dir = options.avatarsDir ?? (await mkdtemp(join(tmpdir(), "livehost-avatars-")));
    await store.watch((avatarId) => {
      void (async () => {
        await add(avatarId, await loadAvatarPack(await store.fetch(avatarId, dir)));
        log.info({ avatar: avatarId }, "avatar pack added from the avatar store");
      })().catch((err: unknown) => log.warn({ err, avatar: avatarId }, "a published avatar pack could not be loaded"));
    }, signal);
  } catch (err) {
    log.warn({ err }, "avatar store unavailable: only the packs the worker started with are served");
  }
}

async function packAvatar(
  pack: AvatarPack,
  withFace: (pack: AvatarPack) => Promise<NeuralFace | undefined>,
): Promise<AvatarMouth> {
  const face = await withFace(pack);
  return { id: pack.manifest.id, ...pack.manifest.mouth, mouthImage: pack.mouthImage, ...(face ? { face } : {}) };
}

/** A pack's face for the generator: its face box on the first frame of its idle loop (none without a face box). */
async function packFace(pack: AvatarPack): Promise<NeuralFace | undefined> {
  const { face: box, width, height, fps, base } = pack.manifest;
  if (!box) return undefined;
  let first: Uint8Array | undefined;
  await decodeVideo(join(pack.dir, base.video), { width, height, fps }, (rgba, index) => {
    if (index === 0) first = Uint8Array.from(rgba);
  });
  if (!first) throw new UnavailableError(`avatar pack ${pack.dir}: ${base.video} has no frames`);
  return { box, input: faceInput(first, width, box) };
}

/** The built-in default avatar's face: the drawn host, as its pack's picture shows it. */
function defaultFace(): NeuralFace {
  const box = defaultFaceBox(720, 1280);
  return { box, input: faceInput(drawDefaultHost(720, 1280), 720, box) };
}
