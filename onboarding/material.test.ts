import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CancelledError, FailedPreconditionError } from "../errors/index.js";
import { buildAvatarPack } from "../gpu-workers/index.js";
import { describeFace, faceMatchThreshold, loadFaceModel, type RegisteredFace } from "./faces.js";
import { checkMaterial, MaterialRefusedError, type CheckMaterialOptions, type MaterialReport } from "./material.js";
import { facePhoto, hostFace, makeTalkingHeadVideo, otherFace, type TalkingHead } from "./testing/talking-head.js";

let dir: string;
let host: RegisteredFace;
let colleague: RegisteredFace;
/** 12 s of the host talking, 360x640 (kept small for speed). */
let video: TalkingHead;
let report: MaterialReport;
const progress: [number, string][] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "livehost-material-"));
  host = { faceId: "host", descriptor: await describeFace(await facePhoto(hostFace)) };
  colleague = { faceId: "colleague", descriptor: await describeFace(await facePhoto(otherFace)) };
  video = await makeTalkingHeadVideo({ out: join(dir, "host.mp4"), seconds: 12, width: 360, height: 640 });
});

afterAll(() => rm(dir, { recursive: true, force: true }));

/** The check a video fails, or "accepted". */
async function verdict(path: string, options: Partial<CheckMaterialOptions> = {}): Promise<string> {
  const faces = await loadFaceModel();
  return checkMaterial(path, { faces, library: [host, colleague], ...options }).then(
    () => "accepted",
    (err: unknown) => (err instanceof MaterialRefusedError ? err.check : String(err)),
  );
}

const centre = (b: { x: number; y: number; width: number; height: number }) => ({
  x: b.x + b.width / 2,
  y: b.y + b.height / 2,
});

describe("material check", () => {
  it("passes a registered host talking to the camera, with her face and mouth boxes", async () => {
    report = await checkMaterial(video.path, {
      faces: await loadFaceModel(),
      library: [colleague, host],
      onProgress: (fraction, message) => progress.push([fraction, message]),
    });
    expect(report).toMatchObject({ width: 360, height: 640, fps: 25, hasAudio: true, faceId: "host" });
    expect(report.durationS).toBeCloseTo(12, 0);
    expect(report.faceDistance).toBeLessThan(faceMatchThreshold);
    expect(report.speechFraction).toBeGreaterThan(0.6);
    expect(report.framesSampled).toBeGreaterThanOrEqual(23);
    expect(report.oneFaceFraction).toBe(1);
    expect(report.severalFacesFraction).toBe(0);

    // The mouth box sits on the mouth (where the video's maker put it), in the lower half of the face box.
    const [found, truth] = [centre(report.mouthBox), centre(video.mouth!)];
    expect(Math.abs(found.x - truth.x)).toBeLessThan(8);
    expect(Math.abs(found.y - truth.y)).toBeLessThan(8);
    expect(report.mouthBox.width).toBeGreaterThan(video.mouth!.width * 0.8);
    expect(report.mouthBox.width).toBeLessThan(video.mouth!.width * 1.25);
    const face = report.faceBox;
    expect(found.x).toBeGreaterThan(face.x);
    expect(found.x).toBeLessThan(face.x + face.width);
    expect(found.y).toBeGreaterThan(face.y + face.height / 2);
    expect(found.y).toBeLessThan(face.y + face.height);

    // It said how far it was, in order, to the end.
    const fractions = progress.map(([f]) => f);
    expect(fractions).toEqual([...fractions].sort((a, b) => a - b));
    expect(progress.at(-1)).toEqual([1, "material checked"]);
    expect(progress.some(([, m]) => m === "looking for the host's face")).toBe(true);
  });

  it("refuses each unfit upload with the check it fails", async () => {
    const short = { limits: { minSeconds: 3 } };
    const make = (name: string, change: object) =>
      makeTalkingHeadVideo({ out: join(dir, `${name}.mp4`), seconds: 4, width: 360, height: 640, ...change });
    const [nobody, two, silent] = await Promise.all([
      make("nobody", { noFace: true }),
      make("two", { secondPerson: true }),
      make("silent", { silent: true }),
    ]);
    const notes = join(dir, "notes.mp4");
    await writeFile(notes, "these are my notes, not a video\n".repeat(100));

    expect(await verdict(notes)).toBe("unreadable");
    expect(await verdict(join(dir, "missing.mp4"))).toBe("unreadable");
    expect(await verdict(nobody.path, short)).toBe("no_face");
    expect(await verdict(two.path, short)).toBe("several_faces");
    expect(await verdict(silent.path, short)).toBe("silent");
    expect(await verdict(video.path, { limits: { minSeconds: 3, maxSeconds: 8 } })).toBe("too_long");
    expect(await verdict(video.path, { limits: { maxBytes: 100_000 } })).toBe("too_large");
    expect(await verdict(nobody.path)).toBe("too_short");
    expect(await verdict(video.path, { limits: { minShortSide: 480 } })).toBe("resolution");
    expect(await verdict(video.path, { library: [] })).toBe("face_not_registered");
    expect(await verdict(video.path, { library: [colleague], limits: { sampleFps: 1 } })).toBe("face_not_registered");

    // A refusal is a failed precondition whose message says what to do.
    const refused = await checkMaterial(silent.path, { faces: await loadFaceModel(), ...short }).catch(
      (e: unknown) => e,
    );
    expect(refused).toBeInstanceOf(FailedPreconditionError);
    expect((refused as Error).message).toMatch(/speech is heard in 0% of the video; .*talk to the camera/);
  });

  it("stops looking when the job is cancelled", async () => {
    const controller = new AbortController();
    const reason = new CancelledError("job cancelled");
    const checking = checkMaterial(video.path, {
      faces: await loadFaceModel(),
      library: [host],
      signal: controller.signal,
      onProgress: (fraction, message) => {
        if (message === "looking for the host's face" && fraction > 0.1) controller.abort(reason);
      },
    });
    await expect(checking).rejects.toBe(reason);
  });

  it("gives the avatar pack the mouth box the landmarks found", async () => {
    // A 480x640 pack letterboxes the 360x640 video 60 pixels in from the left.
    const { manifest } = await buildAvatarPack({
      video: video.path,
      outDir: join(dir, "avatars", "host-1"),
      id: "host-1",
      width: 480,
      height: 640,
      loopSeconds: 3,
      mouthBox: report.mouthBox,
    });
    const { x, y, width, height } = report.mouthBox;
    expect(Math.abs(manifest.mouth.x - (x + 60))).toBeLessThanOrEqual(1);
    expect(Math.abs(manifest.mouth.y - y)).toBeLessThanOrEqual(1);
    expect(Math.abs(manifest.mouth.width - width)).toBeLessThanOrEqual(1);
    expect(Math.abs(manifest.mouth.height - height)).toBeLessThanOrEqual(1);
    expect(
      [manifest.mouth.x, manifest.mouth.y, manifest.mouth.width, manifest.mouth.height].every((n) => n % 2 === 0),
    ).toBe(true);
  });
});
