// What a viewer waits for: a comment published → the first sample of its spoken answer, measured where each
// delivery hands it to the viewer, at 1 and 10 live rooms, one question at a time and in bursts of 5 per room.
//
//   (a) encoder input: the answer's UtteranceStarted, stamped when its frame went to the encoder (output_unix_ms);
//   (b) encoder output: when that frame's encoded picture left the encoder (a probe on the encoder's output pad,
//       on its streaming thread; see media/taps.ts);
//   (c) RTMP wire: the first AAC packet at or after the answer's stream time, read back from a real nginx-rtmp
//       ingest on loopback by separate players (ffprobe printing packets as they arrive, stamped by a process of
//       their own), not by the process that pushed it; FLV timestamps are the room's stream clock (nginx passes
//       the publisher's own through). Every room pushes, and every room's push is read;
//   (d) HLS: the segment holding the answer's stream time is listed in the room's public playlist (polled every
//       20 ms), i.e. a player could fetch it;
//   (e) browser: the answer's first audio played by the viewer page over WebRTC in headless Chromium: the page's
//       receiver reports, per played audio frame, its RTP timestamp (the room's stream clock at 48 kHz, see
//       media/webrtc.ts) and when it went to playout (RTCRtpReceiver.getSynchronizationSources); "played" is the
//       first report at or past the answer's stream time. The question is typed into the page's comment box and
//       timed from the click as the page sees it (a capture listener's Date.now(), the same clock as this process). One page watches the first room (viewers are elsewhere in production: one page keeps
//       the browser's own decoding off the rooms' two cores as far as possible); the other rooms are asked over NATS.
//   Behind live: how far what a player plays trails the newest sample at the encoder. WebRTC: sampled every 100 ms
//   from the page's RTP timestamps against the room's clock (events give stream time ↔ wall time); HLS: hls.js's
//   own distance from the playlist's live edge plus the time a sample takes to be listed (d above), from a second
//   page playing the same room with ?transport=hls.
//
// All clocks are this machine's Date.now(); the comment is timed from its publish (NATS, JetStream and the room
// actor's mailbox are part of the path). The room host and the gateway run in this process; the TTS and lip-sync
// workers each in a process of its own, as `livehost up` and a cluster run them (in one process with the rooms, the
// workers' JavaScript shares the rooms' main thread, which no deployment does); the RTMP ingest and its reader, and
// Chromium, are processes of their own too.
import { spawn, type ChildProcess } from "node:child_process";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { NginxRtmp, launchTestChromium } from "../media/internal.js";
import { startGateway } from "../gateway/index.js";
import { createRegistry } from "../observability/index.js";
import { Comment, RoomEvent, UtteranceSource, type UtteranceStarted } from "../proto/index.js";
import { enqueueComment, type AnswerStages } from "../rooms/internal.js";
import type { NatsConnection } from "../transport/index.js";
import { onAir, type Size } from "./rooms-on-air.js";
import { summarize, type LatencySummary } from "./stats.js";
import type { BenchContext } from "./main.js";

/** Ten different questions: a burst's and the next round's are not taken for duplicates of each other. */
const questions = [
  "这个保温杯多少钱？",
  "杯子有什么颜色",
  "连衣裙还有货吗",
  "有优惠券吗",
  "什么时候发货",
  "连衣裙多少钱",
  "保温杯能保温多久",
  "连衣裙有什么尺码",
  "优惠券怎么领",
  "保温杯还有货吗",
];
const hlsSegmentSeconds = 1;
const size: Size = { width: 360, height: 640, preset: "ultrafast" };

/** Milliseconds from a comment's publish to each end point of its answer's first sample. */
interface AnswerTimes {
  encoderIn: number;
  encoderOut?: number;
  rtmpWire?: number;
  hlsSegment?: number;
  browser?: number;
}

export async function run({ log, quick }: BenchContext): Promise<Record<string, unknown>> {
  const by_rooms: Record<string, unknown> = {};
  let ten: Record<string, unknown> = {};
  // LIVEHOST_BENCH_LATENCY_TRIALS=10,10_burst5 runs only those trials (for a look at one; the figures need all).
  const only = process.env.LIVEHOST_BENCH_LATENCY_TRIALS?.split(",");
  for (const rooms of [1, 10]) {
    for (const burst of [1, 5]) {
      if (only && !only.includes(`${rooms}${burst === 1 ? "" : `_burst${burst}`}`)) continue;
      log(`${rooms} room(s) on air, ${burst === 1 ? "one question at a time" : `bursts of ${burst} questions`}`);
      const result = await trial(rooms, burst, quick ? 1 : burst === 1 ? 8 : 2, log);
      by_rooms[`${rooms}${burst === 1 ? "" : `_burst${burst}`}`] = result;
      if (rooms === 10 && burst === 1) ten = result;
    }
  }
  return {
    ...ten,
    hls_behind_live_ms_p95: (by_rooms["1"] as { hls_behind_live_ms_p95?: number } | undefined)?.hls_behind_live_ms_p95,
    hls_behind_live_note: "hls.js's distance from the live edge plus the time a sample takes to be listed, at 1 room",
    rooms: 10,
    output: `${size.width}x${size.height}@25 x264 ${size.preset} (tune zerolatency), HLS ${hlsSegmentSeconds} s segments + RTMP push, embedded brain and voices`,
    end_points:
      "browser: the answer's first audio played by the viewer page over WebRTC (Chromium's receiver, RTP timestamps on the room's clock); encoder: the answer's first frame handed to the encoder; encoder_out: that frame out of the encoder; rtmp: its first AAC packet read back from nginx-rtmp on loopback; hls: its segment listed in the public playlist",
    by_rooms,
  };
}

/** `rooms` rooms on air, each asked `rounds` times a burst of `burst` questions; figures over every answer. */
async function trial(rooms: number, burst: number, rounds: number, log: (m: string) => void) {
  await using ingest = await NginxRtmp.start();
  return await onAir(
    rooms,
    size,
    async ({ nc, ids, mediaDir, heard, encoded }) => {
      // A player of the ingest for every room (ffprobe demuxing audio only: a few ms of CPU a second each).
      const observed = new Observers(ingest.url, ids, (id) => join(mediaDir, id, "hls", "index.m3u8"));
      /** Each comment's answer (CommentAnswered: comment → utterance), and every sentence started, by utterance. */
      const answerOf = new Map<string, string>();
      const startedById = new Map<string, UtteranceStarted>();
      const answerTo = (commentId: string) => startedById.get(answerOf.get(commentId) ?? "");
      const showStarts = new Map<string, number>();
      const starts: { roomId: string; started: UtteranceStarted }[] = [];
      const subscription = nc.subscribe("livehost.events.rooms.*", {
        callback: (_err, msg) => {
          const event = RoomEvent.decode(msg.data);
          if (event.event?.$case === "commentAnswered") {
            answerOf.set(event.event.value.commentId, event.event.value.utteranceId);
          }
          if (event.event?.$case !== "utteranceStarted") return;
          const started = event.event.value;
          starts.push({ roomId: event.roomId, started });
          startedById.set(started.utteranceId, started);
          if (started.source === UtteranceSource.UTTERANCE_SOURCE_SHOW) showStarts.set(event.roomId, Date.now());
        },
      });
      let closeWatcher: (() => Promise<void>) | undefined;
      try {
        await sleep(6_000); // every show speaking, every reader past its probe
        // HLS behind live is a property of the delivery, not of the load: measured with one room only, where a
        // second page's video decoding does not take the rooms' CPU.
        const watcher = await watchInBrowser(nc, mediaDir, ids[0]!, rooms === 1);
        closeWatcher = () => watcher.close();
        const published = new Map<string, { roomId: string; at: number; typed?: boolean }>();
        let random = 42;
        const next = () => (random = (random * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31;
        await Promise.all(
          ids.map(async (roomId) => {
            for (let round = 0; round < rounds; round++) {
              await sleep(300 + Math.round(next() * 2_500));
              const asked: string[] = [];
              for (let q = 0; q < burst; q++) {
                const text = questions[(round * burst + q) % questions.length]!;
                if (roomId === ids[0]) {
                  // The watched room's questions are typed into its viewer page.
                  const { commentId, at } = await watcher.type(text);
                  asked.push(commentId);
                  published.set(commentId, { roomId, at, typed: true });
                  continue;
                }
                const commentId = `${roomId}-r${round}-q${q}`;
                asked.push(commentId);
                published.set(commentId, { roomId, at: Date.now() });
                await enqueueComment(nc, Comment.fromPartial({ commentId, roomId, viewerId: `v${round}-${q}`, text }));
              }
              // Every answer heard (or 60 s), then the show again.
              const deadline = Date.now() + 60_000;
              while (Date.now() < deadline) {
                const heard = asked.map(answerTo);
                const last = Math.max(...heard.map((a) => Number(a?.outputUnixMs ?? 0)));
                if (heard.every(Boolean) && (showStarts.get(roomId) ?? 0) > last) break;
                await sleep(100);
              }
            }
          }),
        );
        await sleep(hlsSegmentSeconds * 1_000 + 1_500); // the last answers' segments and packets are out
        const played = await watcher.played();
        const times: AnswerTimes[] = [];
        const heardStages = (commentId: string) => heard.get(commentId)?.stages;
        for (const [commentId, { roomId, at, typed }] of published) {
          const answer = answerTo(commentId);
          if (!answer) continue;
          const streamMs = Number(answer.streamTimeMs);
          const wire = observed.arrivalOf(roomId, streamMs);
          const segment = observed.listedAt(roomId, streamMs);
          const heard = typed ? played.find((p) => p.streamMs >= streamMs)?.at : undefined;
          const encoderOut = encoded.get(answer.utteranceId);
          times.push({
            encoderIn: Number(answer.outputUnixMs) - at,
            ...(encoderOut !== undefined ? { encoderOut: encoderOut - at } : {}),
            ...(wire !== undefined ? { rtmpWire: wire - at } : {}),
            ...(segment !== undefined ? { hlsSegment: segment - at } : {}),
            ...(heard !== undefined ? { browser: heard - at } : {}),
          });
          if (typed)
            log(`    watched room: ${JSON.stringify(times.at(-1))} stages ${JSON.stringify(heardStages(commentId))}`);
        }
        // Behind live: the watched room's clock (stream time ↔ the wall time its samples reached the encoder).
        const origins = starts
          .filter((s) => s.roomId === ids[0])
          .map((s) => Number(s.started.outputUnixMs) - Number(s.started.streamTimeMs));
        const origin = summarize(origins).p50;
        const webrtcBehind = summarize(played.map((p) => p.at - (origin + p.streamMs)));
        // The delivery alone, over every sentence started: encoder input → RTMP wire, → HLS playlist.
        const toWire: number[] = [];
        const toSegment: number[] = [];
        for (const { roomId, started } of starts) {
          const wire = observed.arrivalOf(roomId, Number(started.streamTimeMs));
          if (wire !== undefined) toWire.push(wire - Number(started.outputUnixMs));
          const segment = observed.listedAt(roomId, Number(started.streamTimeMs));
          if (segment !== undefined) toSegment.push(segment - Number(started.outputUnixMs));
        }
        const pick = (key: keyof AnswerTimes) =>
          summarize(times.flatMap((t) => (t[key] === undefined ? [] : [t[key]])));
        const browser = pick("browser");
        const figures = report(pick("encoderIn"), pick("encoderOut"), pick("rtmpWire"), pick("hlsSegment"));
        const hlsListed = summarize(toSegment).p50;
        log(
          `  ${times.length} of ${published.size} answers heard: browser p50 ${browser.p50} ms (${browser.n}), ` +
            `encoder p50 ${figures.comment_to_encoder_ms_p50} ms, rtmp wire p50 ${figures.rtmp_comment_to_wire_ms_p50} ms, ` +
            `hls segment p50 ${figures.hls_comment_to_segment_ms_p50} ms`,
        );
        // Where the answers spent their time inside the room (ms per stage, see AnswerStages): the watched room's p50,
        // and every room's p95 (what the tail of the figures above is made of).
        const stageKeys = ["total", "brain", "brainCompute", "ttsFirstChunk", "lipsyncFirstFrame", "mux"] as const;
        const stagesOf = (key: keyof AnswerStages, watchedOnly: boolean) =>
          summarize(
            [...published].flatMap(([id, p]) => {
              const stages = !watchedOnly || p.typed ? heard.get(id)?.stages : undefined;
              return stages ? [stages[key]] : [];
            }),
          );
        const watchedStages = Object.fromEntries(stageKeys.map((key) => [key, stagesOf(key, true).p50]));
        const stagesP95 = Object.fromEntries(stageKeys.map((key) => [key, stagesOf(key, false).p95]));
        return {
          browser_comment_to_audio_ms_p50: browser.p50,
          browser_comment_to_audio_ms_p95: browser.p95,
          browser_answers: browser.n,
          ...figures,
          webrtc_behind_live_ms_p50: webrtcBehind.p50,
          webrtc_behind_live_ms_p95: webrtcBehind.p95,
          ...(rooms === 1
            ? { hls_behind_live_ms_p95: summarize(watcher.hlsLatencies().map((s) => s * 1000 + hlsListed)).p95 }
            : {}),
          answers: times.length,
          questions: published.size,
          rtmp_encoder_to_wire_ms_p50: summarize(toWire).p50,
          hls_encoder_to_segment_ms_p50: hlsListed,
          watched_room_stages_ms_p50: watchedStages,
          stages_ms_p95: stagesP95,
        };
      } finally {
        await closeWatcher?.();
        subscription.unsubscribe();
        observed.close();
      }
    },
    {
      workerProcesses: true,
      outputs: (roomId) => [
        { kind: { $case: "hls", value: { segmentDurationS: hlsSegmentSeconds, playlistLength: 6 } } },
        { kind: { $case: "rtmp", value: { url: ingest.url, streamKeySecret: roomId } } },
      ],
      // The stream key is the room id: each room's push is readable at <ingest>/<room id>.
      streamKeys: (secretName) => Promise.resolve(secretName),
    },
  );
}

/**
 * The viewer page in headless Chromium watching `roomId` over WebRTC (and a second page over HLS): questions typed into
 * it, and what its audio receiver played (RTP timestamp → stream ms, and when).
 */
async function watchInBrowser(nc: NatsConnection, mediaDir: string, roomId: string, hls: boolean) {
  const gateway = await startGateway({
    nats: nc,
    registry: createRegistry(),
    viewer: { mediaDir },
    auth: { development: true },
  });
  const browser = await launchTestChromium();
  const page = await browser.newPage();
  // The page falls back to HLS when WebRTC does not come up within 5 s (a loaded machine): it is asked again.
  const transport = () => (globalThis as { livehostTransport?: string }).livehostTransport;
  for (let attempt = 1; ; attempt++) {
    await page.goto(`${gateway.viewerUrl}/rooms/${roomId}`);
    await page.waitForFunction(
      () => {
        const now = (globalThis as { livehostTransport?: string }).livehostTransport;
        return now === "webrtc" || now === "hls";
      },
      null,
      { timeout: 30_000 },
    );
    if ((await page.evaluate(transport)) === "webrtc") break;
    if (attempt === 3) throw new Error("the viewer page fell back to HLS three times: WebRTC did not come up");
  }

  // Every 5 ms: the last audio frame played, as its RTP timestamp and playout time (kept from here on). And when the
  // page saw each click on its send button (the viewer's moment; the driver's own steps before it are not timed).
  await page.evaluate(`(() => {
    window.livehostClicks = [];
    document.addEventListener("click", (event) => {
      if (event.target.closest?.("#comment button")) window.livehostClicks.push(Date.now());
    }, true);
    window.livehostPlayed = [];
    setInterval(() => {
      const receiver = window.livehostPeer?.getReceivers().find((r) => r.track.kind === "audio");
      const source = receiver?.getSynchronizationSources()[0];
      if (!source) return;
      const at = source.timestamp > 1e12 ? source.timestamp : performance.timeOrigin + source.timestamp;
      const last = window.livehostPlayed.at(-1);
      if (!last || last[0] !== source.rtpTimestamp) window.livehostPlayed.push([source.rtpTimestamp, at]);
    }, 5);
  })()`);
  const hlsPage = hls ? await browser.newPage() : undefined;
  await hlsPage?.goto(`${gateway.viewerUrl}/rooms/${roomId}?transport=hls`);
  const hlsLatencies: number[] = [];
  const sampler = setInterval(() => {
    hlsPage
      ?.evaluate(`window.livehostHls?.latency`)
      .then((latency) => typeof latency === "number" && latency > 0 && hlsLatencies.push(latency))
      .catch(() => undefined);
  }, 200);
  return {
    /**
     * Types `text` in the page's comment box and sends it: the comment id the gateway gave it, and when. Each as a new
     * viewer (the page's viewer cookie cleared): one viewer's burst would be a flood the room turns away.
     */
    async type(text: string) {
      await browser.clearCookies();
      const response = page.waitForResponse((r) => r.url().endsWith("/comments") && r.request().method() === "POST");
      await page.fill("#comment input[name=text]", text);
      await page.click("#comment button");
      const { commentId } = (await (await response).json()) as { commentId: string };
      const at = await page.evaluate<number>(`window.livehostClicks.at(-1)`);
      return { commentId, at };
    },
    /** What the page played: stream time (ms) and when, in order. */
    async played() {
      const samples = await page.evaluate<[number, number][]>(`window.livehostPlayed`);
      return samples.map(([rtp, at]) => ({ streamMs: rtp / 48, at }));
    },
    hlsLatencies: () => hlsLatencies,
    async close() {
      clearInterval(sampler);
      await browser[Symbol.asyncDispose]();
      await gateway.close();
    },
  };
}

function report(encoder: LatencySummary, encoded: LatencySummary, wire: LatencySummary, segment: LatencySummary) {
  return {
    comment_to_encoder_ms_p50: encoder.p50,
    comment_to_encoder_ms_p95: encoder.p95,
    comment_to_encoder_out_ms_p50: encoded.p50,
    comment_to_encoder_out_ms_p95: encoded.p95,
    rtmp_comment_to_wire_ms_p50: wire.p50,
    rtmp_comment_to_wire_ms_p95: wire.p95,
    hls_comment_to_segment_ms_p50: segment.p50,
    hls_comment_to_segment_ms_p95: segment.p95,
  };
}

/**
 * The observers, in a process of their own (the benchmark's process is also the rooms', whose event loop would stamp
 * late under load, and whose CPU the observing would take): one ffprobe per RTMP stream printing each audio packet as it
 * arrives (line-buffered), and each room's public HLS playlist polled every 20 ms. Prints, stamped with this process's
 * Date.now(): "rtmp,<room index>,<arrival ms>,<pts s>" and "hls,<room index>,<listed ms>,<sequence>,<duration s>".
 */
const observers = `
const { spawn } = require("node:child_process");
const { readFile } = require("node:fs/promises");
const { createInterface } = require("node:readline");
const { rtmp, playlists } = JSON.parse(process.argv[1]);
const out = (line) => process.stdout.write(line + "\\n");
const probes = rtmp.map((url, index) => {
  const probe = spawn("stdbuf", ["-oL", "ffprobe", "-v", "error", "-select_streams", "a", "-show_entries",
    "packet=pts_time", "-of", "csv=p=0", url], { stdio: ["ignore", "pipe", "ignore"] });
  createInterface({ input: probe.stdout }).on("line", (line) => out("rtmp," + index + "," + Date.now() + "," + line));
  return probe;
});
const seen = playlists.map(() => new Set());
setInterval(() => playlists.forEach(async (path, index) => {
  const text = await readFile(path, "utf8").catch(() => "");
  const now = Date.now();
  let sequence = Number(/#EXT-X-MEDIA-SEQUENCE:(\\d+)/.exec(text)?.[1] ?? 0);
  for (const match of text.matchAll(/#EXTINF:([\\d.]+),/g)) {
    const seq = sequence++;
    if (seen[index].has(seq)) continue;
    seen[index].add(seq);
    out("hls," + index + "," + now + "," + seq + "," + match[1]);
  }
}), 20);
process.on("SIGTERM", () => { for (const probe of probes) probe.kill(); process.exit(0); });
`;

/**
 * Each room's RTMP push read back from the ingest and public HLS playlist followed, by the observers (see above):
 * when what stream time arrived where.
 */
class Observers {
  readonly #process: ChildProcess;
  readonly #packets = new Map<string, { ptsMs: number; at: number }[]>();
  readonly #segments = new Map<string, Map<number, { durationMs: number; listedAt: number }>>();

  constructor(ingest: string, roomIds: string[], playlistOf: (roomId: string) => string) {
    for (const id of roomIds) {
      this.#packets.set(id, []);
      this.#segments.set(id, new Map());
    }
    const args = JSON.stringify({ rtmp: roomIds.map((id) => `${ingest}/${id}`), playlists: roomIds.map(playlistOf) });
    this.#process = spawn(process.execPath, ["-e", observers, args], { stdio: ["ignore", "pipe", "ignore"] });
    createInterface({ input: this.#process.stdout! }).on("line", (line) => {
      const [kind, ...rest] = line.split(",");
      const [index, at, a, b] = rest.map(Number);
      const roomId = roomIds[index!];
      if (!roomId || !Number.isFinite(at) || !Number.isFinite(a)) return;
      if (kind === "rtmp") this.#packets.get(roomId)!.push({ ptsMs: a! * 1000, at: at! });
      else if (kind === "hls" && Number.isFinite(b))
        this.#segments.get(roomId)!.set(a!, { durationMs: b! * 1000, listedAt: at! });
    });
  }

  /** When the first RTMP packet of `roomId` carrying stream time `streamMs` (or later) arrived at its reader. */
  arrivalOf(roomId: string, streamMs: number): number | undefined {
    // An AAC packet of 1024 samples starts at most 21.3 ms before the sample.
    return this.#packets.get(roomId)?.find((p) => p.ptsMs + 1024 / 48 > streamMs)?.at;
  }

  /**
   * When the HLS segment of `roomId` holding stream time `streamMs` was first listed. Segments are placed on the stream
   * clock from sequence 0 on (a segment whose predecessors were not all seen cannot be placed).
   */
  listedAt(roomId: string, streamMs: number): number | undefined {
    const segments = this.#segments.get(roomId);
    let startMs = 0;
    for (let seq = 0; segments?.has(seq); seq++) {
      const segment = segments.get(seq)!;
      if (streamMs >= startMs && streamMs < startMs + segment.durationMs) return segment.listedAt;
      startMs += segment.durationMs;
    }
    return undefined;
  }

  close(): void {
    this.#process.kill();
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
