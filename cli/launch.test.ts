// `livehost launch`, `livehost job` and `livehost face` as a merchant runs them: the built CLI as a child process
// against one real stack (room host, TTS and lip-sync workers, gateway) with a job worker running the real steps, and
// talking-head videos made from a real photo. One stack and one registered face serve every test.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Catalog, Persona, RoomSpec, RoomState } from "../proto/index.js";
import { sampleFiles } from "../brain/index.js";
import { createRegistry, rootLogger } from "../observability/index.js";
import { eventually, runCli, startTestRoomStack, testFrame, type TestRoomStack } from "../testing/index.js";
import {
  facePhoto,
  hostFace,
  makeTalkingHeadVideo,
  otherFace,
  startOnboardingWorker,
  stepNames,
} from "../onboarding/internal.js";

let stack: TestRoomStack & { gateway: NonNullable<TestRoomStack["gateway"]> };
let closeWorker: (() => Promise<void>) | undefined;
let dir: string;
/** Files the commands are given. */
const files = { catalog: "", persona: "", spec: "", photo: "", otherPhoto: "", notImage: "", host: "", nobody: "" };

beforeAll(async () => {
  stack = await startTestRoomStack({ live: true, gateway: true });
  const worker = await startOnboardingWorker({
    nats: stack.nc,
    registry: createRegistry(),
    logger: rootLogger(),
    ackWaitMs: 5_000,
  });
  closeWorker = () => worker.close();
  dir = await mkdtemp(join(tmpdir(), "livehost-cli-launch-"));
  const sample = stack.liveSpec({ avatar: undefined });
  const write = async (name: string, content: string | Uint8Array) => {
    await writeFile(join(dir, name), content);
    return join(dir, name);
  };
  files.catalog = await write("catalog.json", JSON.stringify(Catalog.toJSON(sample.catalog!)));
  files.persona = await write("persona.json", JSON.stringify(Persona.toJSON(sample.persona!)));
  // The rest of the room: HLS at the test avatar's size, so that the room renders at 360x640.
  files.spec = await write(
    "spec.json",
    JSON.stringify(RoomSpec.toJSON({ ...sample, catalog: undefined, persona: undefined })),
  );
  files.photo = await write("host.png", await facePhoto(hostFace, { degrees: 4, light: { brightness: 15 } }));
  files.otherPhoto = await write("other.png", await facePhoto(otherFace));
  files.notImage = await write("notes.png", "these are my notes, not a photo");
  const video = (name: string, noFace: boolean) =>
    makeTalkingHeadVideo({ out: join(dir, name), seconds: 12, ...testFrame, noFace }).then((v) => v.path);
  [files.host, files.nobody] = await Promise.all([video("host.mp4", false), video("nobody.mp4", true)]);
}, 120_000);

afterAll(async () => {
  await closeWorker?.();
  await stack?.[Symbol.asyncDispose]();
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function run(...args: string[]) {
  const cli = runCli(args, { LIVEHOST_GATEWAY: stack.gateway.grpc.address });
  const { code } = await cli.exited();
  return { code, out: cli.stdout(), err: cli.stderr() };
}

/** The host's face, registered once for the whole file (the first test checks what the command says). */
let hostRegistered: ReturnType<typeof run> | undefined;
const registerHost = () => (hostRegistered ??= run("face", "register", "host", files.photo, "--name", "Host"));

/** Jobs launch() started. */
const launchedJobs: string[] = [];

/** `livehost launch` with the files above and `extra` flags; the job and room from its first line. */
async function launch(...extra: string[]) {
  expect((await registerHost()).code).toBe(0);
  const args = ["--catalog", files.catalog, "--persona", files.persona, "--spec", files.spec];
  const result = await run("launch", "--video", files.host, ...args, "--min-score", "1", ...extra);
  const [, jobId = "", roomId = "", avatarId = ""] = /^job (\S+): room (\S+), avatar (\S+)$/m.exec(result.err) ?? [];
  launchedJobs.push(jobId);
  return { ...result, jobId, roomId, avatarId };
}

describe("livehost face, launch and job", () => {
  it("face register, list and delete keep the tenant's library; a file that is no photo is refused naming photo", async () => {
    // Commands that do not depend on each other run side by side: each CLI start costs seconds.
    const [registered, guest, bad, missing] = await Promise.all([
      registerHost(),
      run("face", "register", "guest", files.otherPhoto),
      run("face", "register", "notes", files.notImage),
      run("face", "register", "ghost", join(dir, "no-such.png")),
    ]);
    expect(registered.err).toBe("");
    expect(registered.code).toBe(0);
    expect(registered.out).toMatch(/^\S+\thost\tHost$/m);
    expect(guest.code).toBe(0);
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/^livehost: photo: /);
    expect(missing.code).toBe(2);
    expect(missing.err).toMatch(/^livehost: photo: .*no-such\.png cannot be read/);
    expect((await run("face", "list")).out).toMatch(/^\S+\tguest\t\n\S+\thost\tHost\n$/);
    const json = (await run("face", "list", "--json")).out
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line) as unknown);
    expect(json).toEqual([
      expect.objectContaining({ faceId: "guest" }),
      expect.objectContaining({ faceId: "host", displayName: "Host" }),
    ]);

    expect((await run("face", "delete", "guest")).code).toBe(0);
    const [listed, again] = await Promise.all([run("face", "list"), run("face", "delete", "guest")]);
    expect(listed.out).toMatch(/^\S+\thost\tHost\n$/);
    expect(again.code).toBe(1); // what was asked failed (not the caller's input)
    expect(again.err).toMatch(/face guest is not registered/);
  }, 60_000);

  it("launch takes the host's video to a live room, a line per step, and exits 0", async () => {
    const launched = await launch();
    expect(launched.err).not.toMatch(/FAILED|waiting for a person/);
    expect(launched.code).toBe(0);
    expect(launched.roomId).not.toBe("");
    for (const step of stepNames.filter((s) => s !== "upload")) {
      expect(launched.err).toMatch(new RegExp(`^${step} done: `, "m"));
    }
    expect(launched.err).toMatch(/^faceid done: matches registered face host /m);
    expect(launched.err).toMatch(new RegExp(`^room done: room ${launched.roomId} is going on air$`, "m"));
    expect(launched.err).toMatch(/^succeeded: /m);

    const room = await eventually(
      async () => {
        const r = await stack.get(launched.roomId);
        expect(r.status?.state).toBe(RoomState.ROOM_STATE_LIVE);
        return r;
      },
      { timeoutMs: 30_000 },
    );
    expect(room.spec?.avatar?.avatarId).toBe(launched.avatarId);
    expect(room.spec?.output?.video).toMatchObject({ widthPx: 360, heightPx: 640 });
    // Off air again, so that the rest of the file does not share two cores with a live room.
    const [stopped, got] = await Promise.all([run("room", "stop", launched.roomId), run("job", "get", launched.jobId)]);
    expect(stopped.code).toBe(0);
    expect(got.out).toMatch(new RegExp(`^${launched.jobId}\tsucceeded\troom ${launched.roomId}\t`));
    expect(got.out).toMatch(/^ {2}room +done +/m);
  }, 180_000);

  it("launch --review-script exits 3 at the script; job script shows it, --approve lets the job finish", async () => {
    const launched = await launch("--review-script", "--leave-stopped");
    expect(launched.code).toBe(3);
    expect(launched.err).toMatch(/^script: waiting for a person: /m);
    expect(launched.err).toContain(`livehost job script ${launched.jobId} --approve`);
    expect(launched.err).not.toMatch(/^room /m);

    const shown = await run("job", "script", launched.jobId);
    expect(shown.code).toBe(0);
    const script = JSON.parse(shown.out) as { version: number; variations: { lines: { text: string }[] }[] };
    expect(script.variations.length).toBeGreaterThan(0);
    expect(script.variations[0]!.lines.length).toBeGreaterThan(0);
    expect(script.variations[0]!.lines[0]!.text).not.toBe("");

    expect((await run("job", "script", launched.jobId, "--approve")).code).toBe(0);
    // From the job's first event: the wait it has been through is no reason to stop following.
    const watched = await run("job", "watch", launched.jobId);
    expect(watched.err).toMatch(/^script: .*approved the script/m);
    expect(watched.err).toMatch(new RegExp(`^room done: room ${launched.roomId} created \\(left stopped\\)$`, "m"));
    expect(watched.code).toBe(0);
    expect((await stack.get(launched.roomId)).status?.state).toBe(RoomState.ROOM_STATE_CREATED);
  }, 180_000);

  it("launch of a video with nobody in it exits 1 at the material step, naming no_face", async () => {
    const args = ["--catalog", files.catalog, "--persona", files.persona, "--spec", files.spec];
    const failed = await run("launch", "--video", files.nobody, ...args);
    expect(failed.code).toBe(1);
    expect(failed.err).toMatch(/^FAILED at material \(no_face\): .*face/im);
    const jobId = /^job (\S+):/m.exec(failed.err)?.[1] ?? "";

    // Every job is listed with its state; an ended one cannot be cancelled.
    const [listed, cancel, replayed, badAfter] = await Promise.all([
      run("job", "list"),
      run("job", "cancel", jobId),
      run("job", "watch", jobId, "--after", "1", "--json"),
      run("job", "watch", jobId, "--after", "first"),
    ]);
    expect(listed.code).toBe(0);
    expect(listed.out).toMatch(new RegExp(`^${jobId}\tfailed\t`, "m"));
    expect(listed.out).toMatch(/^ {2}failure: no_face: /m);
    for (const earlier of launchedJobs) expect(listed.out).toMatch(new RegExp(`^${earlier}\tsucceeded\t`, "m"));
    expect(cancel.code).toBe(1);
    expect(cancel.err).toMatch(new RegExp(`job ${jobId} has already ended`));
    // A watch replays from after the sequence it is given, and ends as the job did.
    const events = replayed.out
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line) as { sequence: number; kind: string });
    expect(Number(events[0]!.sequence)).toBe(2);
    expect(events.at(-1)!.kind).toBe("JOB_EVENT_KIND_FAILED");
    expect(replayed.code).toBe(1);
    expect(badAfter.code).toBe(2);
    expect(badAfter.err).toMatch(/^livehost: --after: must be an event sequence/);
  }, 120_000);

  it("launch refuses a catalog it cannot read, naming --catalog, before anything is uploaded", async () => {
    const missing = join(dir, "missing.json");
    const refused = await run("launch", "--video", files.host, "--catalog", missing, "--persona", files.persona);
    expect(refused.code).toBe(2);
    expect(refused.err).toMatch(/^livehost: --catalog: .*missing\.json is not readable JSON/m);
    expect(refused.err).not.toMatch(/^job /m);
    // The sample files' catalog and personas (the merchant's format, not protobuf JSON) are taken: the first thing
    // wrong is then the video.
    const samples = await run(
      "launch",
      "--video",
      join(dir, "missing.mp4"),
      "--catalog",
      sampleFiles.catalogZh,
      "--persona",
      sampleFiles.personas,
    );
    expect(samples.err).toMatch(/^livehost: --video: .*missing\.mp4 cannot be read/m);
    expect(samples.code).toBe(2);
    const folder = await run(
      "launch",
      "--video",
      dir,
      "--catalog",
      sampleFiles.catalogZh,
      "--persona",
      sampleFiles.personas,
    );
    expect(folder.err).toMatch(/^livehost: --video: .* is not a file/m);
    expect(folder.code).toBe(2);
  });
});
