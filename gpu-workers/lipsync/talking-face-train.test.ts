// The project's own talking-face generator: the committed model loads as a user's wav2lip export does and is served
// by a worker started with `neural`, its mouth follows the sound, and the command that trains it runs (tiny setting)
// and comes out the same from the same seed.
import { describe, expect, it } from "vitest";
import { createHash } from "node:crypto";
import { mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { credentials } from "@grpc/grpc-js";
import * as ort from "onnxruntime-node";
import { LipSyncServiceClient, WorkerState, type AnimationFrame } from "../../proto/internal.js";
import { createRegistry } from "../../observability/index.js";
import { connectNats, mediaChannelOptions } from "../../transport/index.js";
import { animateUtterance, eventually, recordAnnouncements, startNatsServer } from "../../testing/index.js";
import { EspeakEngine, embeddedVoices, startLipSyncWorker, synthesizeToPcm } from "../internal.js";
import { heldOutUtterances, trainingUtterances } from "./corpus.js";
import { defaultFaceBox, defaultMouthBox } from "./default-avatar.js";
import { projectGeneratorPath } from "./lipsync-worker.js";
import { talkingFaceContract } from "./talking-face.js";
import { trainTalkingFace } from "./talking-face-train.js";

const rate = 16_000;
const modelUrl = new URL("./model/talking-face.onnx", import.meta.url);

/** One utterance through a RENDERER_NEURAL stream in 100 ms chunks: its frames, once "flushed" has come. */
const animate = (client: LipSyncServiceClient, pcm: Int16Array) => animateUtterance(client, pcm, { rate });

/** How open the drawn mouth is on a frame's face patch: the share of the mouth box's px dark as a mouth's inside. */
function opening(frame: AnimationFrame): number {
  const face = defaultFaceBox(720, 1280);
  const mouth = defaultMouthBox(720, 1280);
  const data = frame.patch!.data;
  let dark = 0;
  for (let y = mouth.y - face.y; y < mouth.y - face.y + mouth.height; y++) {
    for (let x = mouth.x - face.x; x < mouth.x - face.x + mouth.width; x++) {
      const o = (y * face.width + x) * 4;
      if (0.299 * data[o]! + 0.587 * data[o + 1]! + 0.114 * data[o + 2]! < 0.3 * 255) dark++;
    }
  }
  return dark / (mouth.width * mouth.height);
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

describe("the project's talking-face generator", () => {
  it("is a small wav2lip-shaped model, checked by the contract a user's export goes through", async () => {
    expect((await stat(modelUrl)).size).toBeLessThan(5 * 2 ** 20);
    const session = await ort.InferenceSession.create(await readFile(modelUrl));
    expect(talkingFaceContract(session)).toEqual({
      mel: "audio_sequences",
      face: "face_sequences",
      output: "output",
      batched: true,
    });
    expect(projectGeneratorPath).toBe("gpu-workers/lipsync/model/talking-face.onnx");
  });

  it.each([
    ["started with neural", { neural: true }],
    ["given it with --model, as a user's export", { modelPath: fileURLToPath(modelUrl) }],
  ])("is served by a worker %s, and opens the mouth for an open vowel, not for silence", async (_, loading) => {
    await using nats = await startNatsServer({ jetstream: false });
    const nc = await connectNats({ servers: nats.url, name: "test" });
    const announcements = await recordAnnouncements(nc, "lipsync");
    const lipsync = await startLipSyncWorker({
      nats: nc,
      registry: createRegistry(),
      executionProvider: "cpu",
      maxStreams: 4,
      ...loading,
    });
    const client = new LipSyncServiceClient(lipsync.worker.address, credentials.createInsecure(), mediaChannelOptions);
    try {
      await eventually(() => expect(announcements.at(-1)?.state).toBe(WorkerState.WORKER_STATE_READY));
      expect(announcements.at(-1)?.labels).toMatchObject({ renderers: "viseme,neural" });
      const voice = embeddedVoices.find((v) => v.id === "en-female-clear")!;
      await using engine = await EspeakEngine.start();
      const { pcm } = await synthesizeToPcm(engine, voice, "Ah! Aah! Ah!", { speed: 1, sampleRate: rate });
      const open = await animate(client, pcm);
      const closed = await animate(client, new Int16Array(rate));
      expect(open.length).toBe(Math.ceil((pcm.length / rate) * 25));
      expect(closed.length).toBe(25);
      const openMouth = mean(open.map(opening));
      const closedMouth = mean(closed.map(opening));
      // The rest mouth is a closed line (~5 % of the box dark); an "ah" opens it two to four times as wide.
      expect(closedMouth).toBeLessThan(0.08);
      expect(openMouth).toBeGreaterThan(closedMouth + 0.06);
    } finally {
      client.close();
      await lipsync.close(1_000);
      await nc.close();
    }
  });

  it("is trained by a command that runs on a tiny setting, the same model from the same seed", async () => {
    const dirs = [await mkdtemp(join(tmpdir(), "livehost-face-a-")), await mkdtemp(join(tmpdir(), "livehost-face-b-"))];
    try {
      const tiny = {
        seed: 7,
        epochs: 1,
        speeds: [1],
        training: trainingUtterances.slice(0, 1),
        heldOut: heldOutUtterances.slice(0, 1),
      };
      // espeak-ng's audio depends on what its engine said before: each run gets a fresh engine, as the command does.
      const runs = [];
      for (const dir of dirs) {
        await using engine = await EspeakEngine.start();
        runs.push(await trainTalkingFace(engine, dir, tiny));
      }
      const [first, second] = runs;
      expect(first!.model.sha256).toBe(second!.model.sha256);
      const bytes = await readFile(join(dirs[0]!, "talking-face.onnx"));
      expect(createHash("sha256").update(bytes).digest("hex")).toBe(first!.model.sha256);
      // The export is the trained network, and the evaluation ran on the written file.
      expect(first!.onnx_vs_training_max_abs_diff).toBeLessThan(1e-4);
      expect(first!.frames).toBeGreaterThan(10);
      expect(first!.lower_face_l1).toBeGreaterThan(0);
      const written = await readFile(join(dirs[0]!, "talking-face-evaluation.json"), "utf8");
      expect(JSON.parse(written)).toMatchObject({ seed: 7, epochs: 1, held_out_lines: 1 });
      const session = await ort.InferenceSession.create(bytes);
      expect(talkingFaceContract(session).batched).toBe(true);
    } finally {
      for (const dir of dirs) await rm(dir, { recursive: true, force: true });
    }
  });
});
