// `livehost avatar build <video>`: onboard a merchant's talking-head video as an avatar pack, showing progress as it
// goes (one updating line on a terminal, a line per step otherwise). Ctrl-C or SIGTERM stops the job and leaves no
// half-written pack. An unusable upload exits with status 2 and the reason.
import type { Command } from "commander";
import { join } from "node:path";
import { CancelledError, InvalidArgumentError } from "../errors/index.js";
import { buildAvatarPack, type AvatarBuildProgress } from "../gpu-workers/index.js";
import { parsePositiveInteger } from "./config.js";

const stageNames: Record<AvatarBuildProgress["stage"], string> = {
  audio: "decoding the sound",
  labels: "hearing mouth shapes",
  mouth: "finding the mouth",
  loop: "cutting mouth images and the idle loop",
  pack: "writing the pack",
};

interface BuildFlags {
  id: string;
  out?: string;
  size: string;
  fps: string;
  loopSeconds: string;
  model?: string;
  json?: boolean;
}

export function registerAvatarCommands(program: Command): void {
  const avatar = program.command("avatar").description("avatar packs: what rooms show as their host");
  avatar
    .command("build")
    .description("build an avatar pack from a talking-head video (its own voice teaches the mouth)")
    .argument("<video>", "the video file: a steady face, speaking, with its sound")
    .requiredOption("--id <id>", "avatar id rooms will use, [a-z0-9][a-z0-9-]{0,62}")
    .option("--out <dir>", "pack directory (default: models/avatars/<id>)")
    .option("--size <WxH>", "pack frame size", "720x1280")
    .option("--fps <n>", "pack frame rate", "25")
    .option("--loop-seconds <s>", "length of the idle loop", "6")
    .option("--model <file>", "ONNX viseme model (default: the project's own)")
    .option("--json", "print the pack's manifest as one JSON line at the end")
    .action(async (video: string, flags: BuildFlags) => {
      const size = /^(\d+)x(\d+)$/.exec(flags.size);
      if (!size) throw new InvalidArgumentError("--size", `"${flags.size}" is not WIDTHxHEIGHT, e.g. 720x1280`);
      const abort = new AbortController();
      const stop = () => abort.abort(new CancelledError("stopped by signal"));
      process.once("SIGINT", stop).once("SIGTERM", stop);
      const show = progressPrinter(process.stderr);
      const { manifest, dir } = await buildAvatarPack({
        video,
        id: flags.id,
        outDir: flags.out ?? join("models", "avatars", flags.id),
        width: Number(size[1]),
        height: Number(size[2]),
        fps: parsePositiveInteger(flags.fps, "--fps"),
        loopSeconds: Number(flags.loopSeconds),
        modelPath: flags.model,
        onProgress: show,
        signal: abort.signal,
      }).finally(() => process.off("SIGINT", stop).off("SIGTERM", stop));
      if (flags.json) process.stdout.write(`${JSON.stringify(manifest)}\n`);
      else {
        const { build, mouth } = manifest;
        process.stdout.write(
          `wrote avatar "${manifest.id}" to ${dir}: mouth at ${mouth.x},${mouth.y} (${mouth.width}x${mouth.height}), ` +
            `${build?.visemesSeen.length ?? 0} of ${manifest.visemes} mouth shapes seen, ` +
            `${manifest.base.loopSeconds} s idle loop\n`,
        );
      }
    });
}

/** Progress for a person: an updating line on a terminal, a line per step (and every quarter) in a log. */
function progressPrinter(out: NodeJS.WriteStream): (progress: AvatarBuildProgress) => void {
  let lastLine = "";
  let lastStep = "";
  return ({ stage, done, total }) => {
    const percent = total > 0 ? Math.floor((done / total) * 100) : 100;
    const line = `avatar build: ${stageNames[stage]} ${percent}%`;
    if (out.isTTY) {
      out.write(`\r${line.padEnd(lastLine.length)}${done === total && stage === "pack" ? "\n" : ""}`);
    } else {
      const step = `${stage} ${Math.floor(percent / 25)}`;
      if (step !== lastStep) out.write(`${line}\n`);
      lastStep = step;
    }
    lastLine = line;
  };
}
