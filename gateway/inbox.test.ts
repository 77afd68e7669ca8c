// The rooms' inbox as a publisher meets it through PostComment: bounded (a full inbox refuses the new comment with
// RESOURCE_EXHAUSTED and keeps every comment it accepted), a comment too large for it refused with the field named,
// and personal data masked before anything is stored. Real nats-server, room host and gateway over real gRPC.
import { describe, expect, it } from "vitest";
import { jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import type { StoreSettings } from "../actors/index.js";
import { InvalidArgumentError, ResourceExhaustedError } from "../errors/index.js";
import { AsyncDisposableStack, createLogger, createRegistry, type Registry } from "../observability/index.js";
import { Comment, subjects } from "../proto/index.js";
import { enqueueComment, startRoomHost, type RoomHost } from "../rooms/internal.js";
import { callUnary, connectNats } from "../transport/index.js";
import { eventually, roomServiceClient, sampleRoomSpec, startNatsServer } from "../testing/index.js";
import { startGateway } from "./internal.js";

/** A nats-server, a room host whose inbox has these bounds, and a gateway with its own metrics registry. */
async function inboxStack(stores: StoreSettings = {}) {
  await using stack = new AsyncDisposableStack();
  const nats = stack.use(await startNatsServer());
  const nc = await connectNats({ servers: nats.url, name: "test" });
  stack.defer(() => nc.close());
  const hosts: RoomHost[] = [];
  stack.defer(async () => {
    await Promise.all(hosts.map((h) => h.close()));
  });
  const addRoomHost = async (settings: StoreSettings) => {
    const host = await startRoomHost({
      nats: nc,
      registry: createRegistry(),
      stores: settings,
      logger: createLogger({ level: "silent" }),
    });
    hosts.push(host);
    return host;
  };
  const host = await addRoomHost(stores);
  const registry = createRegistry();
  const gateway = stack.use(await startGateway({ nats: nc, registry, auth: { development: true } }));
  const client = await roomServiceClient(gateway.grpc.address);
  stack.adopt(client, (c) => c.close());
  const teardown = stack.move();
  return {
    nc,
    jsm: await jetstreamManager(nc),
    host,
    addRoomHost,
    registry,
    client,
    create: (roomId: string) =>
      callUnary(client.createRoom.bind(client), { requestId: roomId, roomId, spec: sampleRoomSpec(), tenant: "" }),
    post: (roomId: string, c: Comment) => callUnary(client.postComment.bind(client), { roomId, comment: c }),
    [Symbol.asyncDispose]: () => teardown.disposeAsync(),
  };
}

const comment = (overrides: Partial<Comment> = {}) =>
  Comment.fromPartial({ commentId: "c-1", viewerId: "u101", text: "这个保温杯多少钱？", ...overrides });

/** Every message stored in the inbox, in order, with its raw bytes. */
async function storedMessages(jsm: JetStreamManager) {
  const { state } = await jsm.streams.info(subjects.roomInboxStream);
  const messages = [];
  for (let seq = state.first_seq; seq <= state.last_seq && state.messages > 0; seq++) {
    const message = await jsm.streams.getMessage(subjects.roomInboxStream, { seq });
    if (message) messages.push(message);
  }
  return messages;
}

const storedCommentIds = async (jsm: JetStreamManager) =>
  (await storedMessages(jsm))
    .filter((m) => m.subject.endsWith(".comments"))
    .map((m) => Comment.decode(m.data).commentId);

async function refused(registry: Registry): Promise<Record<string, number>> {
  const metric = await registry.getSingleMetric("livehost_inbox_refused_total")?.get();
  return Object.fromEntries((metric?.values ?? []).map((v) => [String(v.labels.reason), v.value]));
}

describe("the rooms' inbox, bounded", () => {
  it("refuses a comment with RESOURCE_EXHAUSTED once full, and keeps every comment it accepted", async () => {
    // 16 KiB: at most 16 messages (one per KiB of the cap).
    await using s = await inboxStack({ mailboxMaxBytes: 16 * 1024, mailboxMaxMessageBytes: 1024 });
    await s.create("full-room");
    // Counted from the start: an alert on the rate sees the series before the first refusal.
    expect(await refused(s.registry)).toEqual({ full: 0, too_large: 0, no_storage: 0 });
    // The rooms stop answering (their only host goes): what is posted now waits in the inbox.
    await s.host.close();

    const accepted: string[] = [];
    let refusal: unknown;
    for (let i = 0; i < 100 && refusal === undefined; i++) {
      const c = comment({ commentId: `c-${i}`, text: `第${i}个问题：这个保温杯多少钱？` });
      await s.post("full-room", c).then(
        (reply) => accepted.push(reply.commentId),
        (err: unknown) => (refusal = err),
      );
    }
    expect(accepted).toHaveLength(16);
    const refusedId = `c-${accepted.length}`;
    expect(refusal).toBeInstanceOf(ResourceExhaustedError);
    expect((refusal as Error).message).toBe(
      `the rooms' inbox is full (maximum messages exceeded): comment ${refusedId} was not queued, and every comment ` +
        "queued before is kept for its room; retry once the rooms have caught up",
    );
    expect(await refused(s.registry)).toEqual({ full: 1, too_large: 0, no_storage: 0 });

    // Nothing accepted was dropped to make room, and the refused comment is not there.
    expect(await storedCommentIds(s.jsm)).toEqual(accepted);
    // An accepted comment sent again (the ingest missed our answer) is still known as queued, not refused.
    expect(await s.post("full-room", comment({ commentId: accepted[0] }))).toEqual({
      commentId: accepted[0],
      queued: false,
    });

    // The rooms catch up (handled comments leave the inbox): the refused comment, sent again, is taken.
    await s.jsm.streams.purge(subjects.roomInboxStream, { keep: 2 });
    expect(await s.post("full-room", comment({ commentId: refusedId }))).toEqual({
      commentId: refusedId,
      queued: true,
    });
    expect(await storedCommentIds(s.jsm)).toEqual([...accepted.slice(-2), refusedId]);
  });

  it("refuses a comment too large for the inbox with INVALID_ARGUMENT naming the field, storing nothing", async () => {
    await using s = await inboxStack();
    await s.create("big-room");
    // Through PostComment every field is bounded: an oversized source is refused before anything is published.
    const bounded = await s.post("big-room", comment({ source: "x".repeat(65) })).catch((err: unknown) => err);
    expect(bounded).toBeInstanceOf(InvalidArgumentError);
    expect((bounded as Error).message).toBe("comment.source: must be at most 64 printable ASCII characters");
    // An ingest publishing straight into the inbox meets the inbox's own message limit, with the field named.
    const error = await enqueueComment(s.nc, comment({ roomId: "big-room", source: "x".repeat(300_000) }), {
      registry: s.registry,
      fieldPrefix: "comment.",
    }).catch((err: unknown) => err);
    expect(error).toBeInstanceOf(InvalidArgumentError);
    expect((error as InvalidArgumentError).field).toBe("comment.source");
    expect((error as Error).message).toMatch(
      /^comment\.source: is 300000 bytes, which makes the comment \(300\d{3} bytes encoded\) larger than the rooms' inbox takes in one message$/,
    );
    expect(await refused(s.registry)).toEqual({ full: 0, too_large: 1, no_storage: 0 });
    expect(await storedCommentIds(s.jsm)).toEqual([]);
  });

  it("is bounded by size, count and age, discarding new messages when full (never old ones)", async () => {
    await using s = await inboxStack({ mailboxMaxBytes: 64 * 1024 ** 2, mailboxMaxAgeMs: 3_600_000 });
    const { config } = await s.jsm.streams.info(subjects.roomInboxStream);
    expect(config).toMatchObject({
      max_bytes: 64 * 1024 ** 2,
      max_msgs: 64 * 1024,
      max_age: 3_600_000 * 1_000_000,
      max_msg_size: 256 * 1024,
      discard: "new",
    });
  });

  it("keeps every stored comment when a host starts with a cap below what the inbox holds", async () => {
    await using s = await inboxStack();
    await s.create("backlog-room");
    await s.host.close();
    const posted = Array.from({ length: 30 }, (_, i) => `c-${i}`);
    for (const id of posted) await s.post("backlog-room", comment({ commentId: id }));
    const held = (await s.jsm.streams.info(subjects.roomInboxStream)).state.bytes;
    expect(held).toBeGreaterThan(4096);

    // JetStream would delete the oldest messages to fit a lower cap: the host sets it just above the backlog.
    await s.addRoomHost({ mailboxMaxBytes: 4096 });
    const { config } = await s.jsm.streams.info(subjects.roomInboxStream);
    expect(config.max_bytes).toBeGreaterThan(held);
    expect(config.max_msgs).toBeGreaterThan(posted.length);
    expect(await storedCommentIds(s.jsm)).toEqual(posted);
  });
});

describe("personal data in the rooms' inbox", () => {
  it("is masked before the comment is stored: the stored message never holds the raw number", async () => {
    await using s = await inboxStack();
    await s.create("pii-room");
    const phone = "13812345678";
    await s.post(
      "pii-room",
      comment({
        commentId: "c-pii",
        viewerName: "张三 13912345678",
        text: `我的电话${phone}，邮箱 amy@example.com，这个杯子多少钱`,
      }),
    );

    const [message] = await storedMessages(s.jsm);
    const raw = Buffer.from(message!.data).toString("utf8") + JSON.stringify(message!.header ?? {});
    expect(raw).not.toContain(phone);
    expect(raw).not.toContain("13912345678");
    expect(raw).not.toContain("amy@example.com");
    expect(Comment.decode(message!.data)).toMatchObject({
      commentId: "c-pii",
      text: "我的电话***，邮箱 ***，这个杯子多少钱",
      viewerName: "张三 ***",
    });
    // The room still gets the (masked) comment.
    await eventually(async () =>
      expect((await callUnary(s.client.getRoom.bind(s.client), { roomId: "pii-room" })).status).toMatchObject({
        commentsReceived: 1,
      }),
    );
  });
});
