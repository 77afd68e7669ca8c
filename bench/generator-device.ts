// A talking-face generator's throughput on an execution provider, with the frames of many streams batched into one
// run and one frame at a time: video frames a second, the streams that keeps at 25 fps, and (on a GPU, through
// nvidia-smi) the device memory the process holds at each batch size. The inputs are random (a wav2lip-shaped
// graph's speed does not depend on what it draws); the session is warmed before timing.
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import * as ort from "onnxruntime-node";
import { createSession, talkingFaceContract } from "../gpu-workers/internal.js";
import { seededRandom } from "../onnx/index.js";

const fps = 25;

export interface GeneratorRun {
  batch: number;
  frames_per_s: number;
  streams_25fps: number;
  /** Device memory this process held after the runs, in MiB (nvidia-smi); null without one. */
  device_memory_mib: number | null;
}

export async function generatorOnDevice(
  bytes: Uint8Array,
  providers: string[],
  options: { batches: number[]; seconds: number },
): Promise<GeneratorRun[]> {
  const session = await createSession(bytes, providers);
  try {
    const contract = talkingFaceContract(session);
    const random = seededRandom(7);
    const runs: GeneratorRun[] = [];
    for (const batch of options.batches) {
      const mel = new Float32Array(batch * 80 * 16).map(() => random() * 8 - 4);
      const face = new Float32Array(batch * 6 * 96 * 96).map(() => random());
      const feeds = {
        [contract.mel]: new ort.Tensor("float32", mel, [batch, 1, 80, 16]),
        [contract.face]: new ort.Tensor("float32", face, [batch, 6, 96, 96]),
      };
      for (let i = 0; i < 3; i++) await session.run(feeds); // warm-up: kernels chosen, buffers allocated
      let frames = 0;
      const started = performance.now();
      while (performance.now() - started < options.seconds * 1000) {
        await session.run(feeds);
        frames += batch;
      }
      const perS = frames / ((performance.now() - started) / 1000);
      runs.push({
        batch,
        frames_per_s: Math.round(perS * 10) / 10,
        streams_25fps: Math.round((perS / fps) * 10) / 10,
        device_memory_mib: await deviceMemoryMib(),
      });
    }
    return runs;
  } finally {
    await session.release();
  }
}

/** The GPU memory this process holds (MiB), as nvidia-smi reports it; null where there is none to ask. */
async function deviceMemoryMib(): Promise<number | null> {
  try {
    const { stdout } = await promisify(execFile)(
      "nvidia-smi",
      ["--query-compute-apps=pid,used_memory", "--format=csv,noheader,nounits"],
      { timeout: 5_000 },
    );
    for (const line of stdout.trim().split("\n")) {
      const [pid, used] = line.split(",").map((s) => s.trim());
      if (Number(pid) === process.pid) return Number(used);
    }
    return null;
  } catch {
    return null;
  }
}
