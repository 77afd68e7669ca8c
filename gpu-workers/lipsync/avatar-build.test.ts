import { describe, expect, it } from "vitest";
import { execFileSync } from "node:child_process";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { credentials } from "@grpc/grpc-js";
import { AnimateRequest, LipSyncServiceClient, animateOpen, type AnimateResponse } from "../../proto/index.js";
import { createRegistry } from "../../observability/index.js";
import { connectNats, mediaChannelOptions } from "../../transport/index.js";
import { startNatsServer, writeTalkingVideo } from "../../testing/index.js";
import { EspeakEngine, embeddedVoices, startLipSyncWorker, synthesizeToPcm } from "../internal.js";
import { AvatarRejectedError, buildAvatarPack, type AvatarBuildProgress } from "./avatar-build.js";
import { loadAvatarPack } from "../../avatars/index.js";
import { writeDefaultAvatarPack } from "./default-avatar.js";
import { Viseme, type VisemeId } from "./visemes.js";

async function tempDir() {
  const dir = await mkdtemp(join(tmpdir(), "livehost-avatar-build-"));
  return { dir, [Symbol.asyncDispose]: () => rm(dir, { recursive: true, force: true }) };
}

const size = { width: 360, height: 640 };

function probe(path: string) {
  return JSON.parse(
    execFileSync("ffprobe", ["-v", "error", "-show_streams", "-show_format", "-of", "json", path], {
      encoding: "utf8",
    }),
  ) as { streams: { codec_name: string; width: number; height: number }[]; format: { duration: string } };
}

/** Pixels of a mouth image that are the dark inside of an open mouth. */
function darkPixels(image: Uint8Array): number {
  let n = 0;
  for (let i = 0; i < image.length; i += 4) if (image[i]! + image[i + 1]! + image[i + 2]! < 300) n++;
  return n;
}

describe("livehost avatar build", () => {
  it("turns a talking-head video into a pack: the mouth found, an atlas that opens with speech, an idle loop from its quietest stretch", async () => {
    await using tmp = await tempDir();
    const video = join(tmp.dir, "merchant.mp4");
    const truth = await writeTalkingVideo(video, size);
    const progress: AvatarBuildProgress[] = [];
    const { manifest, dir } = await buildAvatarPack({
      video,
      outDir: join(tmp.dir, "avatars", "merchant-1"),
      id: "merchant-1",
      ...size,
      loopSeconds: 3,
      onProgress: (p) => progress.push(p),
    });

    // It said what it was doing, stage by stage, to the end.
    expect([...new Set(progress.map((p) => p.stage))]).toEqual(["audio", "labels", "mouth", "loop", "pack"]);
    expect(progress.filter((p) => p.stage === "mouth").length).toBeGreaterThan(3);
    expect(progress.at(-1)).toMatchObject({ stage: "pack", done: 1, total: 1 });

    // The mouth box is on the real mouth.
    const centre = { x: manifest.mouth.x + manifest.mouth.width / 2, y: manifest.mouth.y + manifest.mouth.height / 2 };
    expect(centre.x).toBeGreaterThan(truth.mouth.x);
    expect(centre.x).toBeLessThan(truth.mouth.x + truth.mouth.width);
    expect(centre.y).toBeGreaterThan(truth.mouth.y);
    expect(centre.y).toBeLessThan(truth.mouth.y + truth.mouth.height);
    expect(manifest.build!.mouthCorrelation).toBeGreaterThan(0.5);
    expect(manifest.build!.visemesSeen.length).toBeGreaterThanOrEqual(5);

    // A pack the worker accepts, whose open mouth shows more of the dark inside than the mouth at rest.
    const pack = await loadAvatarPack(dir);
    expect(darkPixels(pack.mouthImage(Viseme.open))).toBeGreaterThan(darkPixels(pack.mouthImage(Viseme.rest)) + 20);
    const base = probe(join(dir, "base.mp4"));
    expect(base.streams[0]).toMatchObject({ codec_name: "h264", ...size });
    expect(Number(base.format.duration)).toBeCloseTo(3, 1);
    expect(probe(join(dir, "base.png")).streams[0]).toMatchObject(size);

    // And it renders: a lip-sync worker serving the pack draws its frames from the new atlas.
    await using nats = await startNatsServer({ jetstream: false });
    const nc = await connectNats({ servers: nats.url, name: "test" });
    await using lipsync = await startLipSyncWorker({
      nats: nc,
      registry: createRegistry(),
      avatarsDir: join(tmp.dir, "avatars"),
      executionProvider: "cpu",
    });
    const client = new LipSyncServiceClient(lipsync.worker.address, credentials.createInsecure(), mediaChannelOptions);
    const call = client.animate();
    const frames: AnimateResponse[] = [];
    const flushed = new Promise<void>((resolve, reject) => {
      call.on("data", (r: AnimateResponse) => {
        frames.push(r);
        if (r.message?.$case === "flushed") resolve();
      });
      call.on("error", reject);
    });
    const open = animateOpen({ sampleRateHz: 16_000, roomId: "r1" });
    if (open.message?.$case === "open") open.message.value.avatarId = "merchant-1";
    call.write(open);
    await using engine = await EspeakEngine.start();
    const voice = embeddedVoices.find((v) => v.id === "en-male-bright")!;
    const speech = (await synthesizeToPcm(engine, voice, "Hello there, welcome!", { speed: 1, sampleRate: 16_000 }))
      .pcm;
    call.write(
      AnimateRequest.fromPartial({
        message: { $case: "audio", value: { pcm: Buffer.from(speech.buffer), utteranceId: "u1" } },
      }),
    );
    call.write(AnimateRequest.fromPartial({ message: { $case: "flush", value: { utteranceId: "u1" } } }));
    await flushed;
    call.end();
    client.close();
    await nc.close();
    const frame = frames
      .flatMap((r) => (r.message?.$case === "frame" ? [r.message.value] : []))
      .find((f) => f.mouth!.viseme !== Viseme.rest)!;
    expect(frame.patch).toMatchObject({ xPx: manifest.mouth.x, yPx: manifest.mouth.y, widthPx: manifest.mouth.width });
    expect(Buffer.from(frame.patch!.data).equals(Buffer.from(pack.mouthImage(frame.mouth!.viseme as VisemeId)))).toBe(
      true,
    );
  });

  it("rejects unusable uploads with the reason, and leaves the pack already there untouched", async () => {
    await using tmp = await tempDir();
    const outDir = join(tmp.dir, "avatars", "merchant-1");
    await writeDefaultAvatarPack(outDir, size);
    const before = await readFile(join(outDir, "pack.json"), "utf8");
    const build = (video: string) => buildAvatarPack({ video, outDir, id: "merchant-1", ...size });
    const reason = (video: string) =>
      build(video).then(
        () => "accepted",
        (err: unknown) => (err instanceof AvatarRejectedError ? `${err.reason} (${err.field})` : String(err)),
      );

    const silentFilm = join(tmp.dir, "silent-film.mp4");
    await writeTalkingVideo(silentFilm, { ...size, withoutAudio: true });
    expect(await reason(silentFilm)).toBe("no-audio (video)");
    await expect(build(silentFilm)).rejects.toThrow(/no audio track/);

    const photo = join(tmp.dir, "photo-with-voice-over.mp4");
    await writeTalkingVideo(photo, { ...size, stillMouth: true });
    expect(await reason(photo)).toBe("no-mouth (video)");

    const notAVideo = join(tmp.dir, "notes.mp4");
    await writeFile(notAVideo, "these are my notes, not a video\n".repeat(100));
    expect(await reason(notAVideo)).toBe("unreadable (video)");
    expect(await reason(join(tmp.dir, "missing.mp4"))).toBe("unreadable (video)");

    const clip = join(tmp.dir, "clip.mp4");
    execFileSync("gst-launch-1.0", [
      "-q",
      "videotestsrc",
      "num-buffers=25",
      "!",
      "video/x-raw,width=320,height=240,framerate=25/1",
      "!",
      "x264enc",
      "!",
      "mux.",
      "audiotestsrc",
      "num-buffers=10",
      "samplesperbuffer=1600",
      "wave=silence",
      "!",
      "audio/x-raw,rate=16000",
      "!",
      "avenc_aac",
      "!",
      "mux.",
      "mp4mux",
      "name=mux",
      "!",
      "filesink",
      `location=${clip}`,
    ]);
    expect(await reason(clip)).toBe("too-short (video)");

    const quiet = join(tmp.dir, "quiet.mp4");
    execFileSync("gst-launch-1.0", [
      "-q",
      "videotestsrc",
      "num-buffers=100",
      "!",
      "video/x-raw,width=320,height=240,framerate=25/1",
      "!",
      "x264enc",
      "!",
      "mux.",
      "audiotestsrc",
      "num-buffers=40",
      "samplesperbuffer=1600",
      "wave=silence",
      "!",
      "audio/x-raw,rate=16000",
      "!",
      "avenc_aac",
      "!",
      "mux.",
      "mp4mux",
      "name=mux",
      "!",
      "filesink",
      `location=${quiet}`,
    ]);
    expect(await reason(quiet)).toBe("no-speech (video)");

    // Nothing half-written, and the previous pack still serves.
    expect(await readFile(join(outDir, "pack.json"), "utf8")).toBe(before);
    expect(await readdir(join(tmp.dir, "avatars"))).toEqual(["merchant-1"]);
  });
});
