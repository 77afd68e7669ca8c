// How the workers run ONNX models: which execution providers this runtime really has (CUDA probed, CPU always),
// and sessions created with the options every worker wants.
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import * as ort from "onnxruntime-node";
import { UnavailableError } from "../../errors/index.js";
import { DataType, encodeModel } from "../../onnx/index.js";

export type ExecutionProviderChoice = "auto" | "cpu" | "cuda";

const require = createRequire(import.meta.url);

/**
 * The providers sessions are created with, and the one reported. onnxruntime lists CUDA as a backend even when its
 * provider libraries are not installed, so CUDA is probed by creating a tiny session with it.
 */
export async function executionProviders(
  choice: ExecutionProviderChoice,
): Promise<{ providers: string[]; reported: string; reason?: string }> {
  if (choice === "cpu") return { providers: ["cpu"], reported: "cpu" };
  // Without its provider library (the CPU-only install skips it) CUDA cannot load: say so without probing.
  const library = join(
    dirname(require.resolve("onnxruntime-node")),
    "..",
    "bin",
    "napi-v6",
    process.platform,
    process.arch,
  );
  if (!existsSync(join(library, "libonnxruntime_providers_cuda.so"))) {
    const reason = `CUDA execution provider unavailable: onnxruntime's CUDA libraries are not installed in ${library}`;
    if (choice === "cuda") throw new UnavailableError(reason);
    return { providers: ["cpu"], reported: "cpu", reason };
  }
  try {
    await ort.InferenceSession.create(probeModel(), { executionProviders: ["cuda"], logSeverityLevel: 4 });
    return { providers: ["cuda", "cpu"], reported: "cuda" };
  } catch (err) {
    const reason = `CUDA execution provider unavailable: ${(err as Error).message.split("\n")[0]!.slice(0, 200)}`;
    if (choice === "cuda") throw new UnavailableError(reason, { cause: err });
    return { providers: ["cpu"], reported: "cpu", reason };
  }
}

/**
 * A session on `providers`. The CPU thread pool does not spin between runs: a worker serves many streams and shares
 * its cores with the gRPC and NATS work of the same process, which spinning threads would starve.
 */
export function createSession(model: string | Uint8Array, providers: string[]): Promise<ort.InferenceSession> {
  const options: ort.InferenceSession.SessionOptions = {
    executionProviders: providers,
    extra: { session: { intra_op: { allow_spinning: "0" } } },
  };
  return typeof model === "string"
    ? ort.InferenceSession.create(model, options)
    : ort.InferenceSession.create(model, options);
}

function probeModel(): Uint8Array {
  return encodeModel({
    name: "probe",
    inputs: [{ name: "x", type: DataType.FLOAT, shape: [1] }],
    outputs: [{ name: "y", type: DataType.FLOAT, shape: [1] }],
    nodes: [{ op: "Identity", inputs: ["x"], outputs: ["y"] }],
    initializers: [],
  });
}
