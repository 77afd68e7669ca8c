import { describe, expect, it } from "vitest";
import { readFile } from "node:fs/promises";
import { InvalidArgumentError } from "../errors/index.js";
import { repoPath } from "../avatars/index.js";
import {
  describeFace,
  faceMatchThreshold,
  loadFaceModel,
  matchFace,
  mouthBoxOf,
  type RegisteredFace,
} from "./faces.js";
import { faceView, renderView, samplePhoto, samplePhotoPath } from "./faceid-eval.js";
import { facePhoto, hostFace, noFacePhoto, otherFace } from "./testing/talking-head.js";

/** The refusal describeFace gives a photo, as "field: message". */
const refusal = (photo: Uint8Array) =>
  describeFace(photo).then(
    () => "accepted",
    (err: unknown) => (err instanceof InvalidArgumentError ? err.message : String(err)),
  );

describe("FaceID", () => {
  it("registers a real photo, recognises her in another photo of her, and no one else", async () => {
    const library: RegisteredFace[] = [
      { faceId: "host", descriptor: await describeFace(await facePhoto(hostFace)) },
      { faceId: "colleague", descriptor: await describeFace(await facePhoto(otherFace)) },
    ];
    expect(library[0]!.descriptor).toHaveLength(128);

    // The same woman, framed wider, turned, mirrored and in dimmer light: still her.
    const another = await facePhoto(hostFace, {
      context: 2.8,
      degrees: -7,
      flip: true,
      light: { brightness: -25, gamma: 1.2 },
    });
    const match = matchFace(await describeFace(another), library);
    expect(match?.faceId).toBe("host");
    expect(match!.distance).toBeLessThan(faceMatchThreshold);

    // Someone from another photo is nobody registered.
    const stranger = await describeFace(await facePhoto({ sample: 1, face: 0 }));
    expect(matchFace(stranger, library)).toBeUndefined();
  });

  it("refuses photos without exactly one face, naming the photo", async () => {
    expect(await refusal(await noFacePhoto())).toMatch(/^photo: no face found/);
    // The package's photos are of groups.
    expect(await refusal(await readFile(samplePhotoPath(3)))).toMatch(/^photo: 3 faces found/);
    expect(await refusal(new TextEncoder().encode("not a picture at all"))).toMatch(/^photo: not an image/);
  });

  it("never takes the drawn default host for a registered person", async () => {
    const registered = [{ faceId: "host", descriptor: await describeFace(await facePhoto(hostFace)) }];
    const drawn = await readFile(repoPath("models/avatars/default/base.png"));
    // Either the detector does not take the drawing for a face, or its face is no one's.
    const outcome = await describeFace(drawn).then(
      (descriptor) => matchFace(descriptor, registered)?.faceId ?? "no match",
      (err: unknown) => (err instanceof InvalidArgumentError ? "no face" : String(err)),
    );
    expect(["no face", "no match"]).toContain(outcome);
  });

  it("finds the mouth between the lips, and holds no more tensors after many frames than before", async () => {
    const model = await loadFaceModel();
    const photo = await samplePhoto(hostFace.sample);
    const box = photo.faces[hostFace.face]!.box;
    const frame = (i: number) => renderView(photo.frame, faceView(box, 240, 2 + (i % 5) * 0.2), 240, 240);
    const [first] = model.detect(frame(0));
    const mouth = mouthBoxOf(first!.landmarks);
    // The lips' corners (landmarks 48 and 54) lie inside the mouth box, which is wider than they are apart.
    for (const corner of [first!.landmarks[48]!, first!.landmarks[54]!]) {
      expect(corner.x).toBeGreaterThan(mouth.x);
      expect(corner.x).toBeLessThan(mouth.x + mouth.width);
      expect(corner.y).toBeGreaterThan(mouth.y);
      expect(corner.y).toBeLessThan(mouth.y + mouth.height);
    }

    const before = model.tensors();
    for (let i = 1; i <= 12; i++) expect(model.detect(frame(i))).toHaveLength(1);
    expect(model.tensors()).toBe(before);
  });
});
