// `livehost quality <file or URL>`: the quality gate on a recording or a stream (MP4, TS, FLV, an HLS playlist, an
// http or rtmp URL): the score, and why, in words or as one JSON object. Exit status 0 when the score reaches
// --min-score, 1 below it, 2 when the input cannot be read (the message names it).
import { Option, type Command } from "commander";
import { loadAvatarPack } from "../avatars/index.js";
import { CancelledError, InvalidArgumentError } from "../errors/index.js";
import { probeMedia, scoreMedia, type QualityReport } from "../media/index.js";

interface QualityFlags {
  json?: boolean;
  seconds?: string;
  minScore: string;
  mouth?: string;
  avatar?: string;
}

export function registerQualityCommand(program: Command): void {
  program
    .command("quality")
    .description(
      "score a recording or a stream: frozen, black and missing frames, silence gaps, fps, loudness, A/V offset",
    )
    .argument("<input>", "a file (mp4, ts, flv), an HLS playlist, or an http(s):// or rtmp:// URL")
    .option("--json", "print the report as one JSON object")
    .option("--seconds <n>", "read at most this many seconds (a live stream has no end)")
    .addOption(new Option("--min-score <n>", "exit 1 when the score is below this (0 to 100)").default("70"))
    .option("--mouth <x,y,w,h>", "the mouth box in the input's pixels (default: found, see media/README.md)")
    .option("--avatar <dir>", "take the mouth box from this avatar pack, scaled to the input's size")
    .action(async (input: string, flags: QualityFlags) => {
      const minScore = Number(flags.minScore);
      if (!(minScore >= 0 && minScore <= 100)) throw new InvalidArgumentError("--min-score", "must be from 0 to 100");
      const seconds = flags.seconds === undefined ? undefined : Number(flags.seconds);
      if (seconds !== undefined && !(seconds > 0)) throw new InvalidArgumentError("--seconds", "must be positive");
      const mouth = await mouthBox(input, flags);
      const abort = new AbortController();
      const stop = () => abort.abort(new CancelledError("stopped by signal"));
      process.once("SIGINT", stop).once("SIGTERM", stop);
      const report = await scoreMedia(input, {
        ...(mouth ? { mouth } : {}),
        ...(seconds ? { seconds } : {}),
        signal: abort.signal,
      }).finally(() => process.off("SIGINT", stop).off("SIGTERM", stop));
      const passed = report.score >= minScore;
      process.stdout.write(
        flags.json ? `${JSON.stringify({ input, passed, minScore, ...report })}\n` : describe(input, report, passed),
      );
      process.exitCode = passed ? 0 : 1;
    });
}

/** --mouth as given, or the avatar pack's box scaled (and letterboxed) onto the input's frame. */
async function mouthBox(input: string, flags: QualityFlags) {
  if (flags.mouth !== undefined) {
    if (flags.avatar !== undefined) throw new InvalidArgumentError("--mouth", "give --mouth or --avatar, not both");
    const parts = flags.mouth.split(",").map(Number);
    if (parts.length !== 4 || !parts.every((n) => Number.isFinite(n) && n >= 0) || parts[2]! <= 0 || parts[3]! <= 0)
      throw new InvalidArgumentError("--mouth", `"${flags.mouth}" is not x,y,w,h in pixels`);
    return { x: parts[0]!, y: parts[1]!, width: parts[2]!, height: parts[3]! };
  }
  if (flags.avatar === undefined) return undefined;
  // A pack that cannot be read is the caller's argument, not a score below --min-score (exit 2, not 1).
  const { manifest } = await loadAvatarPack(flags.avatar).catch((err: unknown) => {
    throw new InvalidArgumentError("--avatar", (err as Error).message);
  });
  const video = (await probeMedia(input).catch(() => undefined))?.video;
  if (!video) return undefined; // scoreMedia names the unreadable input
  // As the room composes it: the pack's frame scaled to fit the output, centred.
  const scale = Math.min(video.width / manifest.width, video.height / manifest.height);
  const dx = (video.width - manifest.width * scale) / 2;
  const dy = (video.height - manifest.height * scale) / 2;
  const m = manifest.mouth;
  return { x: dx + m.x * scale, y: dy + m.y * scale, width: m.width * scale, height: m.height * scale };
}

const ms = (seconds: number) => `${Math.round(seconds * 1000)} ms`;

function describe(input: string, report: QualityReport, passed: boolean): string {
  const { video, audio, offset } = report;
  const lufs = audio.loudness.integratedLufs;
  const lines = [
    `${input}: score ${report.score}/100, ${passed ? "passes" : "FAILS"}`,
    `  video   ${video.frames} frames, ${video.fps ?? "?"} fps, ${video.blackFrames} black, ` +
      `${ms(video.frozenSeconds)} frozen, ${video.missingFrames} missing`,
    `  audio   ${audio.seconds} s, ${audio.speechSeconds} s of speech, ${audio.gaps} gap(s), ` +
      `${lufs === undefined ? "silent" : `${lufs.toFixed(1)} LUFS integrated`}` +
      (audio.loudness.rangeLu === undefined ? "" : `, LRA ${audio.loudness.rangeLu.toFixed(1)} LU`),
    `  offset  ${offset ? `${offset.ms > 0 ? "+" : ""}${offset.ms} ms (positive: audio ahead), confidence ${offset.confidence}` : "not measured (no speech with a moving mouth)"}`,
  ];
  if (report.mouthFound) {
    const m = report.mouthFound;
    lines.push(`  mouth   found at ${m.x},${m.y} ${m.width}x${m.height}`);
  }
  if (report.defects.length === 0) lines.push("  nothing found");
  for (const d of report.defects) lines.push(`  ${d.atSeconds.toFixed(2)} s  ${d.kind}: ${d.why}`);
  const penalties = Object.entries(report.penalties).map(([kind, points]) => `${kind} −${points}`);
  if (penalties.length) lines.push(`  score   100 ${penalties.join(", ")}`);
  return `${lines.join("\n")}\n`;
}
