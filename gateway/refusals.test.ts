// Hostile requests through RoomService get INVALID_ARGUMENT naming the field, before anything is published, and the
// gateway goes on serving: oversized comments and specs, ids that are NATS wildcards, values that name paths. A real
// nats-server, room host and gateway over real gRPC. A caller reaching past its tenants is refused in a sentence
// that names who it is and what it asked for.
import { describe, expect, it } from "vitest";
import { jetstreamManager } from "@nats-io/jetstream";
import { Comment, subjects, type RoomSpec } from "../proto/index.js";
import { InvalidArgumentError, PermissionDeniedError } from "../errors/index.js";
import { callUnary } from "../transport/index.js";
import { sampleRoomSpec, startTestRoomStack } from "../testing/index.js";
import { Caller, type AuditEntry } from "../trust/index.js";
import type { RoomDirectory } from "../rooms/index.js";
import { Access, Admitted } from "./internal.js";

/** A spec whose every field is within its limits, and which is more than 2 MiB encoded all the same. */
function hugeSpec(): RoomSpec {
  const spec = sampleRoomSpec();
  const first = spec.catalog!.products[0]!;
  spec.catalog!.products = Array.from({ length: 200 }, (_, i) => ({
    ...first,
    id: `p-${i}`,
    sellingPoints: Array<string>(20).fill("卖".repeat(200)),
  }));
  return spec;
}

async function stack() {
  const s = await startTestRoomStack({ gateway: true });
  const { client } = s;
  const refusal = (call: Promise<unknown>) =>
    call.then(
      () => expect.fail("the call was answered"),
      (err: unknown) => {
        expect(err).toBeInstanceOf(InvalidArgumentError);
        return err as InvalidArgumentError;
      },
    );
  return {
    ...s,
    refusal,
    create: (requestId: string, roomId: string, spec = sampleRoomSpec()) =>
      callUnary(client.createRoom.bind(client), { requestId, roomId, spec, tenant: "" }),
    update: (roomId: string, spec: RoomSpec, updateMask: string[]) =>
      callUnary(client.updateRoom.bind(client), { roomId, spec, updateMask, expectedRevision: 0 }),
    get: (roomId: string) => callUnary(client.getRoom.bind(client), { roomId }),
    post: (roomId: string, comment: Partial<Comment>) =>
      callUnary(client.postComment.bind(client), {
        roomId,
        comment: Comment.fromPartial({ commentId: "c-1", viewerId: "u1", text: "多少钱？", ...comment }),
      }),
  };
}

describe("RoomService refuses hostile requests", () => {
  it("a comment of a megabyte: INVALID_ARGUMENT naming comment.text, and nothing reaches the inbox", async () => {
    await using s = await stack();
    await s.create("big-comment", "big-comment");
    const err = await s.refusal(s.post("big-comment", { text: "问".repeat(1_000_000) }));
    expect(err).toMatchObject({ field: "comment.text", retryable: false });
    expect(err.message).toBe("comment.text: must be at most 200 characters (got 1000000)");
    const jsm = await jetstreamManager(s.nc);
    const subject = subjects.roomComments("big-comment");
    const { state } = await jsm.streams.info(subjects.roomInboxStream, { subjects_filter: subject });
    expect(state.subjects?.[subject] ?? 0).toBe(0);
    await expect(s.post("big-comment", {})).resolves.toEqual({ commentId: "c-1", queued: true });
  });

  it("ids that are NATS wildcards or separators, in a room id, a comment id or a request id", async () => {
    await using s = await stack();
    await s.create("ids", "ids");
    for (const id of ["ids.*", "ids.>", "*", ">", "a b"]) {
      expect(await s.refusal(s.get(id))).toMatchObject({ field: "room_id" });
      expect(await s.refusal(s.post(id, {}))).toMatchObject({ field: "room_id" });
    }
    for (const id of ["c.1", "c*", "c>", "c 1", "rem:room.ids.schedule-start:1"]) {
      expect(await s.refusal(s.post("ids", { commentId: id }))).toMatchObject({ field: "comment.comment_id" });
    }
    for (const id of ["req.*", "req >"]) {
      expect(await s.refusal(s.create(id, "wild-request"))).toMatchObject({ field: "request_id" });
    }
    await expect(s.get("wild-request")).rejects.toMatchObject({ code: "not_found" });
  });

  it("a spec naming paths where it names files or models", async () => {
    await using s = await stack();
    const withImage = sampleRoomSpec();
    withImage.catalog!.products[0]!.imageUri = "/etc/livehost/secrets.png";
    expect(await s.refusal(s.create("image", "image", withImage))).toMatchObject({
      field: "spec.catalog.products[0].image_uri",
    });
    const withVoice = sampleRoomSpec({ voice: { voiceId: "../../models/tts/x", speed: 0 } });
    expect(await s.refusal(s.create("voice", "voice", withVoice))).toMatchObject({ field: "spec.voice.voice_id" });
    await s.create("paths", "paths");
    expect(await s.refusal(s.update("paths", withImage, ["catalog"]))).toMatchObject({
      field: "spec.catalog.products[0].image_uri",
    });
  });

  it("a spec over 512 KiB, whether created or updated: its largest field named, and the gateway goes on", async () => {
    await using s = await stack();
    const created = await s.refusal(s.create("huge", "huge", hugeSpec()));
    expect(created.field).toBe("spec.catalog");
    expect(created.message).toMatch(/^spec\.catalog: the spec is \d+ KiB encoded, over the 512 KiB a room takes;/);
    await expect(s.get("huge")).rejects.toMatchObject({ code: "not_found" });

    await s.create("small", "small");
    // An update's spec goes to the room whole: over what NATS carries in one message, it never left the gateway.
    expect(await s.refusal(s.update("small", hugeSpec(), ["catalog"]))).toMatchObject({ field: "spec.catalog" });
    expect((await s.get("small")).spec?.catalog?.products).toHaveLength(2);
  });
});

describe("a caller reaching past its tenants", () => {
  it("is refused with a sentence that says who does not act for what, never naming another room's tenant", async () => {
    const directory = { get: () => Promise.resolve({ id: "acme-room", tenant: "acme" }) } as unknown as RoomDirectory;
    const access = new Access({ directory } as unknown as ConstructorParameters<typeof Access>[0]);
    const caller = new Caller("svc:globex-m", "merchant", new Set(["globex"]));
    const admitted = new Admitted(access, caller, {} as AuditEntry);
    const refusal = (check: () => unknown) =>
      Promise.resolve()
        .then(check)
        .then(
          () => expect.fail("the caller was let through"),
          (err: unknown) => {
            expect(err).toBeInstanceOf(PermissionDeniedError);
            return (err as Error).message;
          },
        );

    expect(await refusal(() => admitted.tenantForCreate("acme"))).toBe("svc:globex-m does not act for tenant acme");
    expect(await refusal(() => admitted.listFilter("acme"))).toBe("svc:globex-m does not act for tenant acme");
    expect(await refusal(() => admitted.room("acme-room"))).toBe(
      "svc:globex-m does not act for the tenant of room acme-room",
    );
    expect(await refusal(() => admitted.readRoom("acme-room"))).toBe(
      "svc:globex-m does not act for the tenant of room acme-room",
    );
    expect(await refusal(() => admitted.tenant("acme", "job j-1"))).toBe(
      "svc:globex-m does not act for the tenant of job j-1",
    );
  });
});
