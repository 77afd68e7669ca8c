import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { context, trace } from "@opentelemetry/api";
import {
  AvatarRenderer,
  Comment,
  RoomState,
  UtteranceSource,
  type RoomSpec,
  type UtteranceStarted,
} from "../proto/index.js";
import {
  InMemorySpanExporter,
  SimpleSpanProcessor,
  startTracing,
  tracer,
  type Tracing,
} from "../observability/internal.js";
import { NginxRtmp, probeMedia } from "../media/internal.js";
import { eventually, startTestRoomStack, type TestRoomStack } from "../testing/index.js";
import { enqueueComment, type LiveRoom } from "./internal.js";
import { startFakeLlm } from "../brain/internal.js";

const spans = new InMemorySpanExporter();
let tracing: Tracing;
beforeAll(async () => {
  tracing = await startTracing({ serviceName: "test", spanProcessors: [new SimpleSpanProcessor(spans)] });
});
afterAll(() => tracing.shutdown());

/** The room on air on the stack's first host, once it is. */
const onAirRoom = (stack: TestRoomStack, roomId: string) =>
  eventually(() => {
    const onAir = stack.hosts[0]!.host.onAir.get(roomId);
    expect(onAir).toBeDefined();
    return onAir as unknown as LiveRoom;
  });

describe("a live room", () => {
  it("speaks its show into HLS, answers a price question from the catalog, and goes off air on stop", async () => {
    // A second avatar pack, "studio", for switching avatars on air.
    await using stack = await startTestRoomStack({ live: true, avatars: ["studio"] });
    const { nc, rooms } = stack;
    const registry = stack.hosts[0]!.registry;
    const utterances = () => stack.utterances("shop-1");
    const spec = stack.liveSpec();
    await stack.create("shop-1", spec);
    expect((await stack.start("shop-1")).status?.state).toBe(RoomState.ROOM_STATE_LIVE);

    // The show starts speaking, and the stream is written as HLS.
    const playlist = join(stack.mediaDir, "shop-1", "hls", "index.m3u8");
    await eventually(() => expect(existsSync(playlist)).toBe(true), { timeoutMs: 20_000 });
    await eventually(
      () => expect(utterances().some((u) => u.source === UtteranceSource.UTTERANCE_SOURCE_SHOW)).toBe(true),
      {
        timeoutMs: 20_000,
      },
    );

    // A viewer asks the price: the answer is spoken with the catalog's price.
    const viewer = tracer("test").startSpan("viewer comment");
    await context.with(trace.setSpan(context.active(), viewer), () =>
      enqueueComment(
        nc,
        Comment.fromPartial({ commentId: "q-1", roomId: "shop-1", viewerId: "u1", text: "这个保温杯多少钱？" }),
      ),
    );
    viewer.end();
    await eventually(
      () => {
        const answer = utterances().find((u) => u.commentId === "q-1");
        expect(answer?.source).toBe(UtteranceSource.UTTERANCE_SOURCE_ANSWER);
        expect(answer?.text).toMatch(/79/);
      },
      { timeoutMs: 20_000 },
    );
    expect(stack.events.some((e) => e.event?.$case === "commentAnswered" && e.event.value.commentId === "q-1")).toBe(
      true,
    );

    // The answer's first sample went into the stream: the comment → audio budget is measured.
    await eventually(async () => {
      const text = await registry.getSingleMetricAsString("livehost_room_comment_to_audio_seconds");
      expect(text).toMatch(/^livehost_room_comment_to_audio_seconds_count 1$/m);
    });
    expect((await registry.getSingleMetric("livehost_rooms_on_air")!.get()).values[0]?.value).toBe(1);
    // What the room used is counted for its tenant (rooms made without one count under "_"): seconds on air,
    // seconds of speech and frames rendered.
    const usage = async (name: string) =>
      (await registry.getSingleMetric(name)!.get()).values.find((v) => v.labels.tenant === "_")?.value ?? 0;
    await eventually(async () => {
      expect(await usage("livehost_tenant_on_air_seconds_total")).toBeGreaterThan(1);
      expect(await usage("livehost_tenant_speech_seconds_total")).toBeGreaterThan(0.5);
      expect(await usage("livehost_tenant_frames_total")).toBeGreaterThan(25);
    });

    // One trace from the comment to the workers: the room's handling, the brain, the answer's sentence, and the
    // TTS and lip-sync streams it used.
    const traceId = viewer.spanContext().traceId;
    await eventually(
      () => {
        const names = spans
          .getFinishedSpans()
          .filter((s) => s.spanContext().traceId === traceId)
          .map((s) => s.name);
        expect(names).toEqual(expect.arrayContaining(["brain.answer", "room.utterance", "Synthesize", "Animate"]));
      },
      { timeoutMs: 20_000 },
    );

    // The segments hold H.264 and AAC at the room's size.
    // (The newest segment the playlist lists: older ones roll off the live playlist and are deleted.)
    const listed = (await readFile(playlist, "utf8")).split("\n").filter((l) => l.endsWith(".ts"));
    expect(listed.length).toBeGreaterThan(0);
    const probe = await probeMedia(join(stack.mediaDir, "shop-1", "hls", listed.at(-1)!));
    expect(probe.video).toMatchObject({ codec: "h264", width: 360, height: 640 });
    expect(probe.audio?.codec).toBe("aac");

    // GetRoom carries the live quality gate of what the room puts out: this test room runs at 15 fps, which the
    // gate finds below the 25 fps rule and says so.
    await eventually(
      async () => {
        const quality = (await stack.get("shop-1")).status?.quality;
        expect(quality?.fps).toBeCloseTo(15, 0);
        expect(quality?.score).toBeLessThan(100);
        // A loaded machine may deliver a frame or two less in the gate's window: 14.9 fps is still this finding.
        expect(quality?.issues.join("\n")).toMatch(/1[45](\.\d)? fps, below the 25 fps rule/);
      },
      { timeoutMs: 20_000, intervalMs: 500 },
    );

    // The merchant switches the avatar on air: the stream goes on and the new pack takes over. A pack that does
    // not exist is refused, naming the field, and the room keeps the avatar it has.
    const update = (avatarId: string) =>
      rooms.request("shop-1", {
        $case: "update",
        value: {
          roomId: "shop-1",
          spec: { ...spec, avatar: { avatarId, renderer: AvatarRenderer.AVATAR_RENDERER_VISEME } },
          updateMask: ["avatar"],
          expectedRevision: 0,
        },
      });
    expect((await update("studio")).room?.spec?.avatar?.avatarId).toBe("studio");
    await eventually(async () =>
      expect(await registry.getSingleMetricAsString("livehost_media_avatar_switches_total")).toMatch(/ 1$/m),
    );
    await expect(update("no-such-avatar")).rejects.toMatchObject({
      code: "invalid_argument",
      field: "spec.avatar.avatar_id",
    });
    // A new room naming a voice no speech worker offers, or an avatar pack nobody has, is refused, naming it.
    const create = (id: string, named: Partial<RoomSpec>) =>
      rooms.request(id, {
        $case: "create",
        value: { roomId: id, requestId: id, spec: { ...spec, ...named }, tenant: "" },
      });
    const ghost = await create("ghost-voice", { voice: { voiceId: "ghost-voice", speed: 0 } }).catch((e: Error) => e);
    expect(ghost).toMatchObject({ field: "spec.voice.voice_id" });
    expect((ghost as Error).message).toMatch(/no speech worker offers voice ghost-voice \(voices: .*zh-female-warm/);
    await expect(
      create("ghost-avatar", {
        avatar: { avatarId: "no-such-avatar", renderer: AvatarRenderer.AVATAR_RENDERER_VISEME },
      }),
    ).rejects.toMatchObject({ field: "spec.avatar.avatar_id" });
    await expect(
      rooms.request("ghost-voice", { $case: "get", value: { roomId: "ghost-voice" } }),
    ).rejects.toMatchObject({ code: "not_found" });
    const kept = await rooms.request("shop-1", { $case: "get", value: { roomId: "shop-1" } });
    expect(kept.room?.spec?.avatar?.avatarId).toBe("studio");
    expect(kept.room?.status?.state).toBe(RoomState.ROOM_STATE_LIVE);

    const stopped = await rooms.request("shop-1", {
      $case: "stop",
      value: { roomId: "shop-1", reason: "", requestId: "" },
    });
    expect(stopped.room?.status?.state).toBe(RoomState.ROOM_STATE_ENDED);
  });

  it("with an LLM, one structured call judges and answers: a comment it blocks is told why and nothing is said; one it answers is said in its words, with its intent", async () => {
    await using llm = await startFakeLlm();
    await using stack = await startTestRoomStack({ live: true, llm: { endpoint: llm.endpoint, model: "test" } });
    await stack.create("llm-1", stack.liveSpec());
    await stack.start("llm-1");
    const reply = (header: object, answer: string) => {
      const head = JSON.stringify(header);
      return [`${head.slice(0, -1)},"answer":"`, answer, '"}'];
    };
    // The understanding model lets both through; the LLM is the second check.
    llm.reply({ chunks: reply({ moderation: "spam", intent: "other", product: 0 }, "") });
    await enqueueComment(
      stack.nc,
      Comment.fromPartial({ commentId: "q-spam", roomId: "llm-1", viewerId: "u1", text: "保温杯多少钱" }),
    );
    const rejected = await eventually(() => {
      const event = stack.events.find(
        (e) => e.event?.$case === "commentRejected" && e.event.value.commentId === "q-spam",
      );
      expect(event).toBeDefined();
      return event!.event!.value as { reason: string; message: string };
    });
    expect(rejected).toMatchObject({ reason: "spam", message: expect.stringContaining("LLM") as string });

    llm.reply({ chunks: reply({ moderation: "allow", intent: "coupon", product: 1 }, "保温杯直播间价79元。") });
    await enqueueComment(
      stack.nc,
      Comment.fromPartial({ commentId: "q-ok", roomId: "llm-1", viewerId: "u2", text: "杯子现在什么价" }),
    );
    await eventually(
      () => {
        const answer = stack.utterances("llm-1").find((u) => u.commentId === "q-ok");
        expect(answer?.text).toBe("保温杯直播间价79元。");
      },
      { timeoutMs: 20_000 },
    );
    const answered = stack.events.find(
      (e) => e.event?.$case === "commentAnswered" && e.event.value.commentId === "q-ok",
    );
    expect(answered?.event?.value).toMatchObject({ intent: "coupon" });
    expect(stack.utterances("llm-1").some((u) => u.commentId === "q-spam")).toBe(false);
    expect(llm.requests).toHaveLength(2);
  });

  it("says an interrupting human line at once, before the lines still waiting", async () => {
    await using stack = await startTestRoomStack({ live: true });
    await stack.create("say-order", stack.liveSpec());
    await stack.start("say-order");
    const room = await onAirRoom(stack, "say-order");
    await eventually(() => expect(stack.utterances("say-order").length).toBeGreaterThan(0), { timeoutMs: 20_000 });
    room.say("第一句话，慢慢说给大家听听看。", false, "say-a");
    room.say("第二句话，也排在后面等着说。", false, "say-b");
    room.say("插进来的这一句要马上说。", true, "say-c");
    const said = () =>
      stack
        .utterances("say-order")
        .map((u) => u.utteranceId)
        .filter((id) => id.startsWith("say-"));
    await eventually(() => expect(said()).toContain("say-b"), { timeoutMs: 40_000, intervalMs: 50 });
    // C comes first (A may not be heard at all: cut before any of it played); B after it.
    expect(said().filter((id) => id !== "say-a")).toEqual(["say-c", "say-b"]);
    // Every line a caller was given an id for ends once, heard or not (A's end alone when none of it played).
    await eventually(
      () => {
        const ends = stack
          .eventsOf("say-order")
          .flatMap((e) =>
            e.event?.$case === "utteranceEnded" && e.event.value.utteranceId.startsWith("say-") ? [e.event.value] : [],
          );
        expect(ends.map((end) => end.utteranceId).sort()).toEqual(["say-a", "say-b", "say-c"]);
        // A line that never started ends cut with nothing played; one heard ends after what played of it.
        const endOf = (id: string) => ends.find((end) => end.utteranceId === id)!;
        const unheard = ["say-a", "say-b", "say-c"].filter((id) => !said().includes(id));
        for (const end of unheard.map(endOf)) expect(end).toMatchObject({ interrupted: true, durationMs: 0 });
        expect(
          said()
            .map(endOf)
            .every((end) => end.durationMs > 0),
        ).toBe(true);
      },
      { timeoutMs: 20_000, intervalMs: 50 },
    );
  });

  it("shows a sentence longer than two subtitle lines in pages, in order, one at a time", async () => {
    await using stack = await startTestRoomStack({ live: true });
    await stack.create("pages-1", stack.liveSpec());
    await stack.start("pages-1");
    const room = await onAirRoom(stack, "pages-1");
    // Two pages on this room's 360x640 picture.
    const text = "家人们看过来，这款304不锈钢保温杯型号XJ-2000今天直播间只要七十九元，保温十二小时，下单还送杯套。";
    const pages = room.media.subtitlePages(text);
    expect(pages.length).toBeGreaterThanOrEqual(2);
    room.say(text, true, "say-pages");
    // What the picture shows of the sentence's subtitle, frame after frame (polled): its pages in order, one at a time.
    const shown: string[] = [];
    let together = 0;
    await eventually(
      () => {
        const visible = room.media.status().overlaysVisible.filter((id) => id.startsWith("sub-say-pages"));
        together = Math.max(together, visible.length);
        for (const id of visible) if (shown.at(-1) !== id) shown.push(id);
        expect(shown.length).toBe(pages.length);
      },
      { timeoutMs: 40_000, intervalMs: 20 },
    );
    expect(shown).toEqual(pages.map((_, i) => (i === 0 ? "sub-say-pages" : `sub-say-pages-${i}`)));
    expect(together).toBe(1);
  });

  it("in a busy room answers in batches and moves its show on: a question many asked answered once, saying so; no show sentence said more than twice in a row; every question an outcome", async () => {
    await using stack = await startTestRoomStack({ live: true });
    const { nc } = stack;
    // Double speed: the same sentences; questions still come faster than answers are said.
    await stack.create("busy", stack.liveSpec({ voice: { voiceId: "zh-female-warm", speed: 2 } }));
    await stack.start("busy");
    await eventually(() => expect(stack.utterances("busy").length).toBeGreaterThan(0), { timeoutMs: 20_000 });
    const ask = (commentId: string, viewerId: string, text: string) =>
      enqueueComment(nc, Comment.fromPartial({ commentId, roomId: "busy", viewerId, text }));
    // Three viewers ask the same thing at once.
    for (const i of [1, 2, 3]) await ask(`same-${i}`, `v${i}`, "这个保温杯多少钱？");
    // Then a question every 500 ms for 20 s.
    const questions = ["有什么颜色", "还有货吗", "发什么快递", "保温多久", "能放冰箱吗", "有优惠券吗", "怎么退换"];
    const ids = ["same-1", "same-2", "same-3"];
    for (let i = 0; i < 40; i++) {
      ids.push(`q-${i}`);
      await ask(`q-${i}`, `viewer-${i}`, `${questions[i % questions.length]}？`);
      await sleep(500);
    }
    // Every question gets an outcome: answered (merged ones with the answer they were merged into), or turned away.
    const outcome = (id: string) =>
      stack.events.find(
        (e) =>
          (e.event?.$case === "commentAnswered" || e.event?.$case === "commentRejected") &&
          e.event.value.commentId === id,
      );
    await eventually(() => expect(ids.filter((id) => !outcome(id))).toEqual([]), { timeoutMs: 90_000 });

    // The show moves on past its first sentence (cut by the first question, said again once after the first batch).
    const place = (u: UtteranceStarted) => u.utteranceId.replace(/-[0-9a-f]{8}$/, "");
    const showPlaces = () =>
      new Set(
        stack
          .utterances("busy")
          .filter((u) => u.source === UtteranceSource.UTTERANCE_SOURCE_SHOW)
          .map(place),
      );
    await eventually(() => expect(showPlaces().size).toBeGreaterThanOrEqual(2), { timeoutMs: 60_000 });
    const said = stack.utterances("busy");
    // The same question from several viewers (the same intent about the same product) is answered once, and the
    // answer says so.
    const merged = said.filter(
      (u) => u.source === UtteranceSource.UTTERANCE_SOURCE_ANSWER && /^有\d+位宝宝都问了/.test(u.text),
    );
    expect(merged.length).toBeGreaterThan(0);
    // Each of the comments it answers is told so, with how many it answered together.
    const together = Number(/^有(\d+)位/.exec(merged[0]!.text)![1]);
    const told = stack.events.filter(
      (e) => e.event?.$case === "commentAnswered" && e.event.value.utteranceId === merged[0]!.utteranceId,
    );
    expect(told).toHaveLength(together);
    for (const e of told) expect(e.event?.$case === "commentAnswered" && e.event.value.answeredTogether).toBe(together);
    // Answers come in batches of at most three questions, with the show's next sentence between them; a show
    // sentence is said at most twice in a row (once cut, then whole), so the show moves on.
    let answersInRow = 0;
    let mostAnswersInRow = 0;
    let lastQuestion = "";
    let sameShowInRow = 0;
    let mostSameShowInRow = 0;
    let lastShow = "";
    for (const u of said) {
      if (u.source === UtteranceSource.UTTERANCE_SOURCE_SHOW) {
        answersInRow = 0;
        sameShowInRow = place(u) === lastShow ? sameShowInRow + 1 : 1;
        mostSameShowInRow = Math.max(mostSameShowInRow, sameShowInRow);
        lastShow = place(u);
      } else if (u.source === UtteranceSource.UTTERANCE_SOURCE_ANSWER && u.commentId !== lastQuestion) {
        answersInRow++;
        mostAnswersInRow = Math.max(mostAnswersInRow, answersInRow);
      }
      if (u.source === UtteranceSource.UTTERANCE_SOURCE_ANSWER) lastQuestion = u.commentId;
    }
    expect(mostAnswersInRow).toBeLessThanOrEqual(3);
    // Where the show is, and how its voice was shared: on each show sentence's start, and in GetRoom.
    const shows = said.filter((u) => u.source === UtteranceSource.UTTERANCE_SOURCE_SHOW);
    expect(shows.every((u) => u.show !== undefined)).toBe(true);
    expect(new Set(shows.map((u) => `${u.show!.loop}/${u.show!.line}/${u.show!.sentence}`)).size).toBe(
      new Set(shows.map(place)).size,
    );
    await eventually(async () => {
      const show = (await stack.get("busy")).status?.show;
      expect(show?.showSecondsLastHour).toBeGreaterThan(0);
      expect(show?.answerSecondsLastHour).toBeGreaterThan(0);
    });
    expect(mostSameShowInRow).toBeLessThanOrEqual(2);
  }, 120_000); // it plays 20 s of questions and their answers in real time: about 50 s here, alone

  it("counts in its record every outcome it publishes: a flood's busy ones too, as many as their events", async () => {
    await using stack = await startTestRoomStack({ live: true });
    await stack.create("flooded", stack.liveSpec());
    await stack.start("flooded");
    await eventually(() => expect(stack.utterances("flooded").length).toBeGreaterThan(0), { timeoutMs: 20_000 });
    const questions = ["多少钱", "有什么颜色", "还有货吗", "发什么快递", "保温多久", "能放冰箱吗", "送礼合适吗"];
    // More than the 256 comments a room keeps waiting: the rest are turned away as busy, each told.
    for (let i = 0; i < 300; i++) {
      const text = `${questions[i % questions.length]}？第${i}个问题`;
      await enqueueComment(
        stack.nc,
        Comment.fromPartial({ commentId: `f-${i}`, roomId: "flooded", viewerId: `v${i}`, text, source: "test" }),
      );
    }
    const rejected = () =>
      stack
        .eventsOf("flooded")
        .filter((e) => e.event?.$case === "commentRejected" && e.event.value.commentId.startsWith("f-"));
    await eventually(() => expect(rejected().length).toBeGreaterThan(10), { timeoutMs: 20_000 });
    // Every comment has reached the room (a stop would otherwise overtake those still in its mailbox).
    await eventually(async () => expect((await stack.get("flooded")).status?.commentsReceived).toBe(300), {
      timeoutMs: 20_000,
    });
    const stopped = await stack.request("flooded", {
      $case: "stop",
      value: { roomId: "flooded", reason: "", requestId: "" },
    });
    const answered = stack.eventsOf("flooded").filter((e) => e.event?.$case === "commentAnswered").length;
    expect(stopped.status).toMatchObject({
      commentsReceived: 300,
      commentsRejected: rejected().length,
      commentsAnswered: answered,
    });
  });

  it("pushes its stream to an RTMP ingest with the key its secret names, and refuses to start without the key", async () => {
    await using ingest = await NginxRtmp.start();
    const keys = await mkdtemp(join(tmpdir(), "livehost-stream-keys-"));
    await writeFile(join(keys, "shop-2-key"), "live-shop-2\n");
    await using stack = await startTestRoomStack({ live: true, streamKeysDir: keys });
    const withRtmp = (secret: string) => {
      const spec = stack.liveSpec();
      spec.output!.outputs.push({ kind: { $case: "rtmp", value: { url: ingest.url, streamKeySecret: secret } } });
      return spec;
    };
    await stack.create("shop-2", withRtmp("shop-2-key"));
    expect((await stack.start("shop-2")).status?.state).toBe(RoomState.ROOM_STATE_LIVE);
    // The ingest records what it receives under the key from the secret's file (never the secret's name).
    const recorded = await eventually(
      async () => {
        const files = await ingest.recordings();
        expect(files.map((f) => f.split("/").at(-1))).toContain("live-shop-2.flv");
        const probe = await probeMedia(files.find((f) => f.endsWith("live-shop-2.flv"))!);
        expect(probe.durationSeconds).toBeGreaterThan(2);
        return probe;
      },
      { timeoutMs: 30_000, intervalMs: 500 },
    );
    expect(recorded.video).toMatchObject({ codec: "h264", width: 360, height: 640 });
    expect(recorded.audio?.codec).toBe("aac");

    // A secret this host does not hold: the start is refused and says which secret, the room does not go live.
    await stack.create("shop-3", withRtmp("nobody-key"));
    await expect(stack.start("shop-3")).rejects.toThrow(/nobody-key/);
    await rm(keys, { recursive: true, force: true });
  });
});
