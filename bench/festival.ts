// The festival night on this machine: thousands of live rooms on one control plane, a real 3-node JetStream cluster
// (every bucket and stream at 3 replicas) and several room-host processes (dist/testing/festival-host.js). The rooms
// run the real room actor, brain and comment pipeline; their voice, lip-sync and media are replaced by a dry show
// (testing/dry-room.ts, bench only) that publishes the same events at the pace the room would speak, so what is
// measured is the control plane: actors, KV, streams and NATS.
//
// Phases, each measured from the servers' own statistics (monitoring endpoints) and the publisher's view:
//   rooms      create and start every room through the rooms' actors (RoomClient, as the gateway does)
//   idle       every room on air, no comment: stored JetStream writes per stream, NATS messages, memory, CPU
//   load       comments published on the public path (JetStream, rooms.<id>.comments, msg id = comment id)
//   failover   kill -9 of the host holding the most rooms while comments flow
//   nats kill  kill -9 of one of the 3 servers (the inbox stream's leader) while comments flow
// A comment is followed from its publish to its outcome event (commentAnswered, or commentRejected with any reason)
// on livehost.events.rooms.<id>; one with no outcome after the settling time (checked again in the room's event log,
// livehost.eventlog.rooms.<id> in ROOM_EVENTS, in case the watcher missed it live) is lost.
//
// `npm run bench -- festival [--quick] [--rooms N] [--hosts N] [--rate N] [--idle-s S] [--load-s S]`
import { readFile } from "node:fs/promises";
import { loadavg } from "node:os";
import { parseArgs } from "node:util";
import { DeliverPolicy, jetstream, jetstreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { Comment, RoomEvent, RoomState, subjects } from "../proto/index.js";
import { RoomClient, enqueueComment } from "../rooms/internal.js";
import { connectNats, type NatsConnection } from "../transport/index.js";
import {
  NatsCluster,
  festivalHostStatus,
  sampleRoomSpec,
  startFestivalHostProcess,
  type FestivalHostProcess,
  type FestivalHostStatus,
} from "../testing/index.js";
import { round, summarize } from "./stats.js";
import type { BenchContext } from "./main.js";

const dryNote =
  "voice, lip-sync and media are replaced by a dry show (bench only, testing/dry-room.ts): the real room actor, " +
  "brain and comment pipeline publish the same events at the pace the embedded voice would speak";

/** Viewers' comments: questions the brain answers from the catalog, and one in twenty that moderation blocks. */
const questions = [
  "这个保温杯多少钱？",
  "杯子有什么颜色",
  "连衣裙还有货吗",
  "有优惠券吗",
  "什么时候发货",
  "M码适合多高",
];
const spam = "加微信 wx12345 领红包 www.example.com";

interface Settings {
  rooms: number;
  hosts: number;
  /** Comments per second, all rooms together. */
  rate: number;
  idleS: number;
  loadS: number;
  /** Load before and after a fault. */
  faultBeforeS: number;
  faultAfterS: number;
  /** How long a comment may take to get its outcome after the load stops. */
  settleS: number;
  /** Rooms are started for at most this long; the run goes on with those live (what the machine held). */
  maxStartS: number;
}

function settingsFrom(quick: boolean): Settings {
  const { values } = parseArgs({
    args: process.argv.slice(2),
    strict: false,
    allowPositionals: true,
    options: {
      rooms: { type: "string" },
      hosts: { type: "string" },
      rate: { type: "string" },
      "idle-s": { type: "string" },
      "load-s": { type: "string" },
      "max-start-s": { type: "string" },
    },
  });
  const number = (value: string | boolean | undefined, fallback: number) => {
    const n = typeof value === "string" ? Number(value) : fallback;
    if (!Number.isFinite(n) || n <= 0) throw new Error(`festival: "${String(value)}" is not a positive number`);
    return n;
  };
  const defaults = quick
    ? { rooms: 200, hosts: 2, rate: 40, idleS: 20, loadS: 20, faultBeforeS: 5, faultAfterS: 15, settleS: 45 }
    : { rooms: 5_000, hosts: 4, rate: 1_000, idleS: 60, loadS: 90, faultBeforeS: 10, faultAfterS: 30, settleS: 75 };
  const maxStartS = quick ? 120 : 600;
  return {
    ...defaults,
    rooms: number(values.rooms, defaults.rooms),
    hosts: number(values.hosts, defaults.hosts),
    rate: number(values.rate, defaults.rate),
    idleS: number(values["idle-s"], defaults.idleS),
    loadS: number(values["load-s"], defaults.loadS),
    maxStartS: number(values["max-start-s"], maxStartS),
  };
}

export async function run({ log, quick }: BenchContext): Promise<Record<string, unknown>> {
  const s = settingsFrom(quick);
  log(`${dryNote}`);
  log(`${s.rooms} rooms, ${s.hosts} room hosts, 3 nats-servers (R3), comments at ${s.rate}/s`);
  await using cluster = await NatsCluster.start(3, "festival");
  const pub = await connectNats({ servers: cluster.urls, name: "festival-publisher" });
  const sub = await connectNats({ servers: cluster.urls, name: "festival-watcher" });
  const hosts: FestivalHostProcess[] = [];
  const watch = new RoomWatch(sub);
  const monitor = new Monitor(cluster, pub, () => hosts.filter((h) => h.child.exitCode === null));
  try {
    const bare = await monitor.snapshot();
    const startHost = (i: number) =>
      startFestivalHostProcess({ nats: cluster.urls, id: `fh-${i}`, replicas: 3, capacity: 2 * s.rooms });
    // The first host creates the buckets and streams; the others find them.
    hosts.push(await startHost(0));
    hosts.push(...(await Promise.all(Array.from({ length: s.hosts - 1 }, (_, i) => startHost(i + 1)))));
    await sleep(2_000);
    const empty = await monitor.snapshot();

    // --- rooms: create and start every room
    const ids = Array.from({ length: s.rooms }, (_, i) => `f-${String(i).padStart(5, "0")}`);
    log(`creating and starting ${ids.length} rooms (32 at a time)`);
    const created = await createRooms(pub, ids, s.maxStartS, log);
    const live = await waitOnAir(monitor, created.live.length, 60_000);
    log(`  ${created.live.length} rooms live in ${created.seconds.toFixed(1)} s; ${live} on air on the hosts`);
    await sleep(quick ? 5_000 : 15_000);

    // --- idle: every room on air, no comments
    log(`idle: ${s.idleS} s with every room on air and no comments`);
    const idleStart = await monitor.snapshot();
    const idleEvents = watch.eventCount();
    const idleStartedAt = performance.now();
    await sleep(s.idleS * 1_000);
    const idleEnd = await monitor.snapshot();
    const idle = between(idleStart, idleEnd);
    const idleEventsPerS = (watch.eventCount() - idleEvents) / idle.seconds;
    const idleMoves = watch.movedSince(idleStartedAt).size;
    const rooms = created.live.length;
    const perRoom = (x: number) => round(x / rooms / idle.seconds, 4);
    const idleWrites = sum(Object.values(idle.jsWrites));
    const controlPlaneWrites = idleWrites - (idle.jsWrites[subjects.roomEventsStream] ?? 0);
    const memory = {
      hostRss: sum(idleEnd.hosts.map((h) => h.rssMb)),
      hostRssEmpty: sum(empty.hosts.map((h) => h.rssMb)),
      natsRss: sum(idleEnd.servers.map((n) => n.memBytes)) / 2 ** 20,
      natsRssBare: sum(bare.servers.map((n) => n.memBytes)) / 2 ** 20,
    };
    printWindow(log, "idle", idle, rooms);
    log(
      `    ${sum(idleEnd.hosts.map((h) => h.onAir))} of ${rooms} rooms on air at the window's end; room events ` +
        `${(idleEventsPerS / rooms).toFixed(3)}/room/s; ${idleMoves} rooms changed host; host RSS ` +
        `${memory.hostRss.toFixed(0)} MB (${memory.hostRssEmpty.toFixed(0)} MB with no room), nats RSS ` +
        `${memory.natsRss.toFixed(0)} MB (${memory.natsRssBare.toFixed(0)} MB before any host)`,
    );

    // --- load: sustained comments
    const load = new CommentLoad(pub, created.live);
    const info = await jetstreamManager(pub).then((jsm) => jsm.streams.info(subjects.roomInboxStream));
    log(`load: ${s.rate} comments/s for ${s.loadS} s`);
    const loadStart = await monitor.snapshot();
    const inboxSamples: { at: number; bytes: number; messages: number }[] = [];
    const sampler = setInterval(
      () => void monitor.inbox().then((inbox) => inbox && inboxSamples.push({ at: performance.now(), ...inbox })),
      5_000,
    );
    const loadRun = load.start("load", s.rate);
    await sleep(s.loadS * 1_000);
    const loadEnd = await monitor.snapshot();
    clearInterval(sampler);
    await loadRun.stop();
    const loadWindow = between(loadStart, loadEnd);
    printWindow(log, "load", loadWindow, rooms);
    log(`    ${sum(loadEnd.hosts.map((h) => h.onAir))} of ${rooms} rooms on air at the window's end`);
    await settle(log, load, watch, "load", s.settleS);
    await recheckFromStore(pub, load, watch, "load", loadRun.startedAt);
    const loadTally = tally(load, watch, "load", loadRun);
    log(`  ${describeTally(loadTally)}`);
    const inbox = inboxAfterHour(inboxSamples, s.rate, info.config.max_bytes, info.config.max_msgs);

    // --- failover: kill -9 the host holding the most rooms while comments flow
    const statuses = await Promise.all(hosts.map((h) => festivalHostStatus(pub, h.id, { rooms: true })));
    const victimStatus = statuses.reduce((a, b) => (b.onAir > a.onAir ? b : a));
    const victim = hosts.find((h) => h.id === victimStatus.hostId)!;
    const victimRooms = new Set(victimStatus.roomIds ?? []);
    log(`failover: kill -9 ${victim.id} (${victimRooms.size} rooms on air) while ${s.rate} comments/s flow`);
    const failoverRun = load.start("failover", s.rate);
    await sleep(s.faultBeforeS * 1_000);
    const killedAt = performance.now();
    await victim.kill();
    await sleep(s.faultAfterS * 1_000);
    await failoverRun.stop();
    await settle(log, load, watch, "failover", s.settleS);
    await recheckFromStore(pub, load, watch, "failover", failoverRun.startedAt);
    const failoverTally = tally(load, watch, "failover", failoverRun);
    const moved = watch.movedSince(killedAt, victim.id);
    const backMs = [...victimRooms].flatMap((id) => (moved.has(id) ? [moved.get(id)! - killedAt] : []));
    const otherMoves = [...moved.keys()].filter((id) => !victimRooms.has(id)).length;
    const back = summarize(backMs);
    const afterFailover = await waitOnAir(monitor, rooms, 30_000);
    const failoverDiagnosis = await diagnose(pub, lostRooms(load, watch, "failover"), "comments lost");
    log(
      `  ${backMs.length} of ${victimRooms.size} rooms live again elsewhere: p50 ${back.p50} ms, p99 ${back.p99} ms, ` +
        `max ${back.max} ms; ${afterFailover} of ${rooms} on air after; ${describeTally(failoverTally)}`,
    );

    // --- nats kill: kill -9 one server (the inbox stream's leader) while comments flow
    const inboxLeader = (await monitor.snapshot()).streams.get(subjects.roomInboxStream)?.leader ?? "";
    const nodeIndex = Math.max(
      0,
      cluster.nodes.findIndex((_, i) => `festival-${i}` === inboxLeader),
    );
    log(`nats node kill: kill -9 festival-${nodeIndex} (leader of ${subjects.roomInboxStream}: ${inboxLeader})`);
    const natsRun = load.start("nats-kill", s.rate);
    await sleep(s.faultBeforeS * 1_000);
    const natsKilledAt = performance.now();
    await cluster.kill(nodeIndex);
    await sleep(s.faultAfterS * 1_000);
    await natsRun.stop();
    await settle(log, load, watch, "nats-kill", s.settleS);
    await recheckFromStore(pub, load, watch, "nats-kill", natsRun.startedAt);
    const natsTally = tally(load, watch, "nats-kill", natsRun);
    const natsMoves = watch.movedSince(natsKilledAt).size;
    const afterNatsKill = await waitOnAir(monitor, rooms, 30_000);
    log(`  ${natsMoves} rooms changed host; ${afterNatsKill} of ${rooms} on air after; ${describeTally(natsTally)}`);
    const natsDiagnosis = await diagnose(pub, lostRooms(load, watch, "nats-kill"), "comments lost");
    const offAir = await roomsOffAir(monitor, created.live);
    const offAirDiagnosis = await diagnose(pub, offAir, "off air");
    // Lost, or only waiting for the server to come back? Restart it and wait for the outcomes still missing.
    log(`  restarting festival-${nodeIndex}; waiting for the outcomes still missing`);
    // A server with many streams to restore can take longer than the harness waits for it: wait for it here.
    await cluster.restart(nodeIndex).catch(async (err: unknown) => {
      log(`  festival-${nodeIndex} slow to restart (${(err as Error).message.split("\n")[0]}); waiting up to 3 min`);
      await cluster.waitHealthy(180_000).catch(() => log(`  festival-${nodeIndex} still not healthy`));
    });
    await settle(log, load, watch, "nats-kill", s.settleS);
    await recheckFromStore(pub, load, watch, "nats-kill", natsRun.startedAt);
    const afterRestart = tally(load, watch, "nats-kill", natsRun);
    const restartDiagnosis = await diagnose(pub, lostRooms(load, watch, "nats-kill"), "comments still lost");
    const onAirAfterRestart = await waitOnAir(monitor, rooms, 10_000);
    log(`  after the restart: ${afterRestart.lost} still without an outcome; ${onAirAfterRestart} rooms on air`);

    const problems: Record<string, Record<string, number>> = {};
    for (const host of hosts) problems[host.id] = host.problems();

    return {
      note: dryNote,
      rooms_live: rooms,
      rooms_target: 5_000,
      rooms_failed_to_start: created.failed,
      rooms_start_s: round(created.seconds, 1),
      rooms_not_tried: s.rooms - created.live.length - created.failed,
      room_hosts: s.hosts,
      nats_servers: 3,
      replicas: 3,
      idle_window_s: round(idle.seconds, 1),
      idle_js_writes_per_room_per_s: perRoom(idleWrites),
      idle_js_writes_by_stream_per_room_per_s: mapValues(idle.jsWrites, perRoom),
      idle_js_writes_without_room_events_per_room_per_s: perRoom(controlPlaneWrites),
      idle_js_api_calls_per_room_per_s: perRoom(idle.apiCalls),
      idle_nats_msgs_per_room_per_s: perRoom(idle.clientInMsgs),
      idle_nats_msgs_with_routes_per_room_per_s: perRoom(idle.inMsgs),
      idle_room_events_per_room_per_s: round(idleEventsPerS / rooms, 4),
      idle_rooms_moved: idleMoves,
      rooms_on_air_idle_end: sum(idleEnd.hosts.map((h) => h.onAir)),
      rooms_on_air_load_end: sum(loadEnd.hosts.map((h) => h.onAir)),
      host_rss_mb_per_room: round((memory.hostRss - memory.hostRssEmpty) / rooms, 3),
      host_rss_mb_total: round(memory.hostRss, 1),
      nats_rss_mb_per_room: round((memory.natsRss - memory.natsRssBare) / rooms, 3),
      nats_rss_mb_total: round(memory.natsRss, 1),
      idle_cpu_cores: cpuOf(idle),
      comments_per_s: round(loadTally.acked / loadRun.seconds(), 1),
      comments_target_per_s: s.rate,
      comment_ack_ms_p50: loadTally.ackMs.p50,
      comment_ack_ms_p99: loadTally.ackMs.p99,
      comments: loadTally,
      load_js_writes_per_comment: mapValues(loadWindow.jsWrites, (w) => round(w / Math.max(1, loadWindow.comments), 3)),
      load_js_writes_per_s: round(sum(Object.values(loadWindow.jsWrites)) / loadWindow.seconds, 1),
      load_nats_msgs_per_s: round(loadWindow.clientInMsgs / loadWindow.seconds, 1),
      load_cpu_cores: cpuOf(loadWindow),
      failover: {
        victim: victim.id,
        victim_rooms: victimRooms.size,
        rooms_moved: backMs.length,
        rooms_not_back: victimRooms.size - backMs.length,
        all_live_ms_p50: back.p50,
        all_live_ms_p99: back.p99,
        all_live_ms_max: back.max,
        other_rooms_moved: otherMoves,
        rooms_on_air_after: afterFailover,
        comments_lost: failoverTally.lost,
        answered_twice: failoverTally.answeredTwice,
        comments: failoverTally,
        lost_diagnosis: failoverDiagnosis,
      },
      nats_node_kill: {
        server: `festival-${nodeIndex}`,
        was_leader_of: subjects.roomInboxStream,
        rooms_moved: natsMoves,
        rooms_on_air_after: afterNatsKill,
        comments_lost: natsTally.lost,
        answered_twice: natsTally.answeredTwice,
        comments: natsTally,
        lost_diagnosis: natsDiagnosis,
        rooms_off_air: offAir.length,
        off_air_diagnosis: offAirDiagnosis,
        after_server_restart: {
          comments_still_lost: afterRestart.lost,
          answered_twice: afterRestart.answeredTwice,
          rooms_on_air: onAirAfterRestart,
          outcomes: { answered: afterRestart.answered, rejected: afterRestart.rejected },
          lost_diagnosis: restartDiagnosis,
        },
      },
      ...inbox,
      host_log_problems: problems,
      machine_load_avg_1m_at_end: round(loadavg()[0]!, 2),
      figures_note: figuresNote,
    };
  } finally {
    await Promise.all(hosts.map((h) => h.kill()));
    await sub.close().catch(() => undefined);
    await pub.close().catch(() => undefined);
  }
}

const figuresNote = {
  rooms_start_s: "first create request sent → last room's start reply (state LIVE) received, 32 rooms at a time",
  idle_js_writes_per_room_per_s:
    "messages stored in JetStream over the idle window: per stream, last_seq at the end minus at the start (the " +
    "highest any server reports; a write counts once, not once per replica), all streams and buckets, divided by " +
    "rooms and seconds. Purges and consumer state are not stored messages and are not counted here",
  idle_nats_msgs_per_room_per_s:
    "messages clients published to the servers (connz in_msgs, summed over every client connection: hosts' " +
    "heartbeats, lease renewals, KV and stream writes, JetStream API calls and pull requests, the bench's own) over " +
    "the idle window; _with_routes adds what servers send each other (varz in_msgs: replication, interest)",
  host_rss_mb_per_room: "(sum of the hosts' RSS at the idle window's end − with no room, after start) / rooms",
  nats_rss_mb_per_room: "(sum of the servers' RSS (varz mem) at the idle window's end − before any host) / rooms",
  comments_per_s: "comments acknowledged by JetStream / seconds the publisher ran (rooms picked at random)",
  comment_ack_ms: "publish call → JetStream's ack, at the publisher (retries with the same msg id included)",
  all_live_ms: "kill -9 of the host → the room's stateChanged HostChanged event received (on air on another host)",
  comments_lost:
    "acknowledged comments with no commentAnswered nor commentRejected (any reason) after the settling time, in " +
    "the live events nor in the ROOM_EVENTS stream",
  answered_twice: "comments with commentAnswered events of two different event sequences",
  inbox_bytes_after_hour:
    "ROOM_INBOX bytes as sampled every 5 s in the load phase's second half (rooms purge what they handled), plus " +
    "its growth over that half (least squares) times 3,600 s",
};

// --- rooms

async function createRooms(nc: NatsConnection, ids: string[], maxS: number, log: (m: string) => void) {
  const client = new RoomClient(nc);
  const spec = sampleRoomSpec();
  const live: string[] = [];
  let failed = 0;
  let next = 0;
  const started = performance.now();
  const attempt = async (id: string) => {
    for (let tries = 1; ; tries++) {
      try {
        await client.request(
          id,
          { $case: "create", value: { requestId: id, roomId: id, spec, tenant: "" } },
          { timeoutMs: 30_000 },
        );
        const reply = await client.request(
          id,
          { $case: "start", value: { roomId: id, requestId: "" } },
          {
            timeoutMs: 30_000,
          },
        );
        return reply.room?.status?.state === RoomState.ROOM_STATE_LIVE;
      } catch (err) {
        if (tries >= 3) {
          log(`  room ${id} not started: ${(err as Error).message}`);
          return false;
        }
      }
    }
  };
  await Promise.all(
    Array.from({ length: 32 }, async () => {
      while (next < ids.length) {
        if (performance.now() - started > maxS * 1_000) {
          if (next < ids.length) log(`  stopped starting rooms after ${maxS} s: ${ids.length - next} not tried`);
          next = ids.length;
          break;
        }
        const id = ids[next++]!;
        if (await attempt(id)) live.push(id);
        else failed++;
        if ((live.length + failed) % 500 === 0) {
          const rate = (live.length + failed) / ((performance.now() - started) / 1_000);
          log(`  ${live.length + failed} of ${ids.length} (${rate.toFixed(0)}/s)`);
        }
      }
    }),
  );
  return { live, failed, seconds: (performance.now() - started) / 1_000 };
}

/** Waits until the hosts have `rooms` rooms on air, up to `timeoutMs`; resolves with how many they have. */
async function waitOnAir(monitor: Monitor, rooms: number, timeoutMs: number): Promise<number> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const onAir = sum((await monitor.hostStatuses()).map((h) => h.onAir));
    if (onAir >= rooms || performance.now() > deadline) return onAir;
    await sleep(1_000);
  }
}

// --- the servers' own figures

interface ServerSnap {
  name: string;
  /** varz in_msgs: from clients and from other servers. */
  inMsgs: number;
  /** connz: from client connections only. */
  clientInMsgs: number;
  memBytes: number;
  apiTotal: number;
  cpuS: number;
}

interface StreamSnap {
  lastSeq: number;
  bytes: number;
  messages: number;
  leader: string;
}

interface Snapshot {
  at: number;
  servers: ServerSnap[];
  streams: Map<string, StreamSnap>;
  hosts: FestivalHostStatus[];
  machine: { busy: number; total: number };
  benchCpuS: number;
  comments: number;
}

interface Jsz {
  api: { total: number };
  account_details?: {
    stream_detail?: {
      name: string;
      cluster?: { leader?: string };
      state: { last_seq: number; bytes: number; messages: number };
    }[];
  }[];
}

let commentsAcked = 0;

class Monitor {
  readonly #cluster: NatsCluster;
  readonly #nats: NatsConnection;
  readonly #hosts: () => FestivalHostProcess[];

  constructor(cluster: NatsCluster, nats: NatsConnection, hosts: () => FestivalHostProcess[]) {
    this.#cluster = cluster;
    this.#nats = nats;
    this.#hosts = hosts;
  }

  async hostStatuses(options: { rooms?: boolean } = {}): Promise<FestivalHostStatus[]> {
    const statuses = await Promise.all(
      this.#hosts().map((h) =>
        festivalHostStatus(this.#nats, h.id, { ...options, timeoutMs: 15_000 }).catch(() => undefined),
      ),
    );
    return statuses.filter((s) => s !== undefined);
  }

  /** ROOM_INBOX as its leader sees it. */
  async inbox(): Promise<{ bytes: number; messages: number } | undefined> {
    const snapshot = await this.#streams();
    return snapshot.get(subjects.roomInboxStream);
  }

  async #streams(): Promise<Map<string, StreamSnap>> {
    const streams = new Map<string, StreamSnap>();
    for (const node of this.#cluster.nodes.filter((n) => n.running)) {
      const jsz = await getJson<Jsz & { server_name?: string }>(node.monitorUrl, "jsz?accounts=true&streams=true");
      const varz = await getJson<{ server_name: string }>(node.monitorUrl, "varz");
      for (const stream of jsz?.account_details?.flatMap((a) => a.stream_detail ?? []) ?? []) {
        const known = streams.get(stream.name);
        const leader = stream.cluster?.leader ?? "";
        const isLeader = leader === varz?.server_name;
        streams.set(stream.name, {
          lastSeq: Math.max(known?.lastSeq ?? 0, stream.state.last_seq),
          bytes: isLeader || !known ? stream.state.bytes : known.bytes,
          messages: isLeader || !known ? stream.state.messages : known.messages,
          leader: leader || (known?.leader ?? ""),
        });
      }
    }
    return streams;
  }

  async snapshot(): Promise<Snapshot> {
    const servers: ServerSnap[] = [];
    for (const node of this.#cluster.nodes.filter((n) => n.running)) {
      const varz = await getJson<{ server_name: string; in_msgs: number; mem: number }>(node.monitorUrl, "varz");
      const connz = await getJson<{ connections?: { in_msgs: number }[] }>(node.monitorUrl, "connz?limit=4096");
      const jsz = await getJson<Jsz>(node.monitorUrl, "jsz");
      servers.push({
        name: varz?.server_name ?? "",
        inMsgs: varz?.in_msgs ?? 0,
        clientInMsgs: sum(connz?.connections?.map((c) => c.in_msgs) ?? []),
        memBytes: varz?.mem ?? 0,
        apiTotal: jsz?.api.total ?? 0,
        cpuS: await processCpuS(node.pid),
      });
    }
    const [streams, hosts, machine] = await Promise.all([this.#streams(), this.hostStatuses(), machineCpu()]);
    const cpu = process.cpuUsage();
    return {
      at: performance.now(),
      servers,
      streams,
      hosts,
      machine,
      benchCpuS: (cpu.user + cpu.system) / 1e6,
      comments: commentsAcked,
    };
  }
}

interface Window {
  seconds: number;
  /** Stored messages per stream. */
  jsWrites: Record<string, number>;
  apiCalls: number;
  inMsgs: number;
  clientInMsgs: number;
  natsCpuCores: number;
  hostCpuCores: number;
  benchCpuCores: number;
  /** Share of the whole machine's CPU time that was busy (all processes, other users' included). */
  machineBusy: number;
  hostLoopDelayP99Ms: number;
  hostLoopDelayMaxMs: number;
  comments: number;
}

/** What happened between two snapshots (servers and hosts present in both). */
function between(a: Snapshot, b: Snapshot): Window {
  const seconds = (b.at - a.at) / 1_000;
  const jsWrites: Record<string, number> = {};
  for (const [name, stream] of b.streams) jsWrites[name] = stream.lastSeq - (a.streams.get(name)?.lastSeq ?? 0);
  const both = <T extends { name?: string; hostId?: string }>(xs: T[], ys: T[], key: (x: T) => string) =>
    ys.flatMap((y) => {
      const x = xs.find((candidate) => key(candidate) === key(y));
      return x ? [[x, y] as const] : [];
    });
  const servers = both(a.servers, b.servers, (s) => s.name);
  const hosts = both(a.hosts, b.hosts, (h) => h.hostId);
  return {
    seconds,
    jsWrites,
    apiCalls: sum(servers.map(([x, y]) => y.apiTotal - x.apiTotal)),
    inMsgs: sum(servers.map(([x, y]) => y.inMsgs - x.inMsgs)),
    clientInMsgs: sum(servers.map(([x, y]) => y.clientInMsgs - x.clientInMsgs)),
    natsCpuCores: sum(servers.map(([x, y]) => y.cpuS - x.cpuS)) / seconds,
    hostCpuCores: sum(hosts.map(([x, y]) => y.cpuS - x.cpuS)) / seconds,
    benchCpuCores: (b.benchCpuS - a.benchCpuS) / seconds,
    machineBusy: (b.machine.busy - a.machine.busy) / Math.max(1, b.machine.total - a.machine.total),
    hostLoopDelayP99Ms: Math.max(0, ...b.hosts.map((h) => h.loopDelayP99Ms)),
    hostLoopDelayMaxMs: Math.max(0, ...b.hosts.map((h) => h.loopDelayMaxMs)),
    comments: b.comments - a.comments,
  };
}

function cpuOf(w: Window) {
  return {
    room_hosts: round(w.hostCpuCores, 2),
    nats_servers: round(w.natsCpuCores, 2),
    bench: round(w.benchCpuCores, 2),
    machine_busy_share: round(w.machineBusy, 2),
    host_loop_delay_p99_ms: round(w.hostLoopDelayP99Ms, 1),
    host_loop_delay_max_ms: round(w.hostLoopDelayMaxMs, 1),
  };
}

function printWindow(log: (m: string) => void, name: string, w: Window, rooms: number) {
  const rows = Object.entries(w.jsWrites)
    .filter(([, n]) => n > 0)
    .sort((x, y) => y[1] - x[1]);
  log(`  ${name} window ${w.seconds.toFixed(1)} s, ${rooms} rooms — JetStream writes (stored messages):`);
  log(`    ${"stream".padEnd(28)} ${"per s".padStart(9)} ${"per room per s".padStart(15)}`);
  for (const [stream, n] of rows) {
    log(
      `    ${stream.padEnd(28)} ${(n / w.seconds).toFixed(1).padStart(9)} ${(n / w.seconds / rooms).toFixed(4).padStart(15)}`,
    );
  }
  const total = sum(rows.map(([, n]) => n));
  log(
    `    ${"all".padEnd(28)} ${(total / w.seconds).toFixed(1).padStart(9)} ${(total / w.seconds / rooms).toFixed(4).padStart(15)}`,
  );
  log(
    `    client msgs ${(w.clientInMsgs / w.seconds).toFixed(0)}/s, with routes ${(w.inMsgs / w.seconds).toFixed(0)}/s; ` +
      `CPU cores: hosts ${w.hostCpuCores.toFixed(2)}, nats ${w.natsCpuCores.toFixed(2)}, bench ` +
      `${w.benchCpuCores.toFixed(2)}, machine busy ${(w.machineBusy * 100).toFixed(0)}%; host loop delay p99 ` +
      `${w.hostLoopDelayP99Ms.toFixed(0)} ms, max ${w.hostLoopDelayMaxMs.toFixed(0)} ms`,
  );
}

async function getJson<T>(base: string, path: string): Promise<T | undefined> {
  try {
    const response = await fetch(`${base}/${path}`, { signal: AbortSignal.timeout(10_000) });
    return response.ok ? ((await response.json()) as T) : undefined;
  } catch {
    return undefined;
  }
}

/** CPU seconds (user + system) a process has used, from /proc (clock ticks of 1/100 s). */
async function processCpuS(pid: number | undefined): Promise<number> {
  if (pid === undefined) return 0;
  const stat = await readFile(`/proc/${pid}/stat`, "utf8").catch(() => "");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11] ?? 0) + Number(fields[12] ?? 0)) / 100;
}

/** The machine's CPU time, busy and total, from /proc/stat. */
async function machineCpu(): Promise<{ busy: number; total: number }> {
  const line = (await readFile("/proc/stat", "utf8")).split("\n")[0]!;
  const ticks = line.split(/\s+/).slice(1, 9).map(Number);
  const total = sum(ticks);
  return { busy: total - ticks[3]! - ticks[4]!, total };
}

// --- comments and their outcomes

interface Outcome {
  /** Event sequences of the commentAnswered events for it. */
  answered: number[];
  rejected: { reason: string; sequence: number }[];
  /** When the first outcome was received (performance.now()); undefined when found only in the stream. */
  at?: number;
}

class RoomWatch {
  readonly outcomes = new Map<string, Outcome>();
  /** HostChanged events: room → [received at, new host]. */
  readonly #moves = new Map<string, { at: number; host: string }[]>();
  #events = 0;

  constructor(nats: NatsConnection) {
    nats.subscribe(subjects.roomEvents("*"), { callback: (_err, msg) => this.take(RoomEvent.decode(msg.data)) });
  }

  eventCount(): number {
    return this.#events;
  }

  take(event: RoomEvent, at: number | undefined = performance.now()): void {
    this.#events++;
    const e = event.event;
    const sequence = Number(event.sequence);
    if (e?.$case === "commentAnswered" || e?.$case === "commentRejected") {
      let outcome = this.outcomes.get(e.value.commentId);
      if (!outcome) this.outcomes.set(e.value.commentId, (outcome = { answered: [], rejected: [], at }));
      if (e.$case === "commentAnswered" && !outcome.answered.includes(sequence)) outcome.answered.push(sequence);
      if (e.$case === "commentRejected" && !outcome.rejected.some((r) => r.sequence === sequence)) {
        outcome.rejected.push({ reason: e.value.reason, sequence });
      }
    } else if (e?.$case === "stateChanged" && e.value.reason === "HostChanged" && at !== undefined) {
      const moves = this.#moves.get(event.roomId) ?? [];
      moves.push({ at, host: e.value.message.replace(/^now on /, "") });
      this.#moves.set(event.roomId, moves);
    }
  }

  /** Rooms that changed host after `since` (to another host than `from`), with when the first change arrived. */
  movedSince(since: number, from?: string): Map<string, number> {
    const moved = new Map<string, number>();
    for (const [roomId, moves] of this.#moves) {
      const first = moves.find((m) => m.at >= since && m.host !== from);
      if (first) moved.set(roomId, first.at);
    }
    return moved;
  }
}

interface Sent {
  roomId: string;
  phase: string;
  sentAt: number;
  ackMs?: number;
  attempts: number;
  error?: string;
}

class CommentLoad {
  readonly sent = new Map<string, Sent>();
  readonly #nats: NatsConnection;
  readonly #rooms: string[];
  #n = 0;
  #random = 20_261_111;

  constructor(nats: NatsConnection, rooms: string[]) {
    this.#nats = nats;
    this.#rooms = rooms;
  }

  /** Publishes `rate` comments a second to random rooms until stopped; at most 20,000 waiting for their ack. */
  start(phase: string, rate: number) {
    const startedAt = performance.now();
    let issued = 0;
    let inFlight = 0;
    let skipped = 0;
    const pending = new Set<Promise<void>>();
    const timer = setInterval(() => {
      const due = Math.floor(((performance.now() - startedAt) / 1_000) * rate);
      for (; issued < due; issued++) {
        if (inFlight >= 20_000) {
          skipped += due - issued;
          issued = due;
          break;
        }
        inFlight++;
        const sending = this.#send(phase).finally(() => {
          inFlight--;
          pending.delete(sending);
        });
        pending.add(sending);
      }
    }, 10);
    let stoppedAt: number | undefined;
    return {
      startedAt,
      skipped: () => skipped,
      seconds: () => ((stoppedAt ?? performance.now()) - startedAt) / 1_000,
      stop: async () => {
        clearInterval(timer);
        stoppedAt = performance.now();
        await Promise.all(pending);
      },
    };
  }

  async #send(phase: string): Promise<void> {
    const n = this.#n++;
    this.#random = (this.#random * 1_103_515_245 + 12_345) % 2 ** 31;
    const roomId = this.#rooms[this.#random % this.#rooms.length]!;
    const commentId = `${phase}-${n}`;
    const text = n % 20 === 19 ? spam : questions[n % questions.length]!;
    const comment = Comment.fromPartial({ commentId, roomId, viewerId: `v-${n}`, text, source: "festival-bench" });
    const sent: Sent = { roomId, phase, sentAt: performance.now(), attempts: 0 };
    this.sent.set(commentId, sent);
    // A publish that fails (a server lost, a leader being elected) is retried with the same message id, as an ingest
    // would: JetStream stores it once.
    for (;;) {
      sent.attempts++;
      try {
        await enqueueComment(this.#nats, comment);
        sent.ackMs = performance.now() - sent.sentAt;
        sent.error = undefined;
        commentsAcked++;
        return;
      } catch (err) {
        sent.error = (err as Error).message;
        if (sent.attempts >= 40) return;
        await sleep(250);
      }
    }
  }
}

/** Waits until every acknowledged comment of `phase` has an outcome, or `maxS` seconds. */
async function settle(log: (m: string) => void, load: CommentLoad, watch: RoomWatch, phase: string, maxS: number) {
  const started = performance.now();
  let missing = 0;
  while (performance.now() - started < maxS * 1_000) {
    missing = 0;
    for (const [id, sent] of load.sent) {
      if (sent.phase === phase && sent.ackMs !== undefined && !watch.outcomes.has(id)) missing++;
    }
    if (missing === 0) break;
    await sleep(1_000);
  }
  log(`  settled in ${((performance.now() - started) / 1_000).toFixed(0)} s (${missing} without an outcome yet)`);
}

/**
 * Outcomes the live watcher may have missed (it reconnects when its server dies): read from the rooms' event logs in
 * ROOM_EVENTS, in one pass from the phase's start (at most 2 minutes).
 */
async function recheckFromStore(
  nats: NatsConnection,
  load: CommentLoad,
  watch: RoomWatch,
  phase: string,
  since: number,
) {
  if (lostRooms(load, watch, phase).length === 0) return;
  const deadline = performance.now() + 120_000;
  try {
    const consumer = await jetstream(nats).consumers.get(subjects.roomEventsStream, {
      filter_subjects: subjects.roomEventLog("*"),
      deliver_policy: DeliverPolicy.StartTime,
      opt_start_time: new Date(Date.now() - (performance.now() - since) - 5_000).toISOString(),
    });
    const messages = await consumer.consume({ max_messages: 1_000 });
    const idle = setInterval(() => {
      if (performance.now() > deadline) void messages.close();
    }, 1_000);
    try {
      for await (const msg of messages) {
        watch.take(RoomEvent.decode(msg.data), undefined);
        if (msg.info.pending === 0) break;
      }
    } finally {
      clearInterval(idle);
      await messages.close().catch(() => undefined);
    }
  } catch {
    // Counted as lost: what the log cannot show, nobody can.
  }
}

interface Tally {
  sent: number;
  acked: number;
  not_acked: number;
  skipped_by_publisher: number;
  publish_retries: number;
  ackMs: ReturnType<typeof summarize>;
  answered: number;
  rejected: Record<string, number>;
  lost: number;
  /** Rooms with at least one lost comment. */
  lost_rooms: number;
  answeredTwice: number;
  answered_and_rejected: number;
  outcome_ms: { p50: number; p99: number };
  lost_sample: string[];
}

function tally(load: CommentLoad, watch: RoomWatch, phase: string, runInfo: { skipped(): number }): Tally {
  const t: Tally = {
    sent: 0,
    acked: 0,
    not_acked: 0,
    skipped_by_publisher: runInfo.skipped(),
    publish_retries: 0,
    ackMs: summarize([]),
    answered: 0,
    rejected: {},
    lost: 0,
    lost_rooms: 0,
    answeredTwice: 0,
    answered_and_rejected: 0,
    outcome_ms: { p50: 0, p99: 0 },
    lost_sample: [],
  };
  const acks: number[] = [];
  const outcomeMs: number[] = [];
  for (const [id, sent] of load.sent) {
    if (sent.phase !== phase) continue;
    t.sent++;
    t.publish_retries += sent.attempts - 1;
    if (sent.ackMs === undefined) {
      t.not_acked++;
      continue;
    }
    t.acked++;
    acks.push(sent.ackMs);
    const outcome = watch.outcomes.get(id);
    if (!outcome) {
      t.lost++;
      if (t.lost_sample.length < 10) t.lost_sample.push(`${id}@${sent.roomId}`);
      continue;
    }
    if (outcome.at !== undefined) outcomeMs.push(outcome.at - sent.sentAt);
    if (outcome.answered.length > 0) t.answered++;
    if (outcome.answered.length > 1) t.answeredTwice++;
    if (outcome.answered.length > 0 && outcome.rejected.length > 0) t.answered_and_rejected++;
    for (const r of outcome.answered.length === 0 ? outcome.rejected.slice(0, 1) : []) {
      t.rejected[r.reason] = (t.rejected[r.reason] ?? 0) + 1;
    }
  }
  t.lost_rooms = lostRooms(load, watch, phase).length;
  t.ackMs = summarize(acks);
  const o = summarize(outcomeMs);
  t.outcome_ms = { p50: o.p50, p99: o.p99 };
  return t;
}

function describeTally(t: Tally): string {
  const rejected = Object.entries(t.rejected)
    .map(([reason, n]) => `${reason} ${n}`)
    .join(", ");
  return (
    `${t.acked} of ${t.sent} comments acked (ack p50 ${t.ackMs.p50} ms, p99 ${t.ackMs.p99} ms; ${t.publish_retries} ` +
    `retries); answered ${t.answered}, rejected: ${rejected || "none"}; lost ${t.lost}, answered twice ` +
    `${t.answeredTwice}; outcome p50 ${t.outcome_ms.p50} ms, p99 ${t.outcome_ms.p99} ms`
  );
}

/** The inbox at the sustained rate: steady-state bytes while rooms purge what they handled, extrapolated to an hour. */
function inboxAfterHour(
  samples: { at: number; bytes: number; messages: number }[],
  rate: number,
  maxBytes: number,
  maxMsgs: number,
) {
  const half = samples.slice(Math.floor(samples.length / 2));
  const mean = (xs: number[]) => sum(xs) / Math.max(1, xs.length);
  const t = half.map((x) => x.at / 1_000);
  const slope = (ys: number[]) => {
    const [mt, my] = [mean(t), mean(ys)];
    const den = sum(t.map((ti) => (ti - mt) ** 2));
    return den === 0 ? 0 : sum(t.map((ti, i) => (ti - mt) * (ys[i]! - my))) / den;
  };
  const bytes = half.map((x) => x.bytes);
  const messages = half.map((x) => x.messages);
  const steadyBytes = mean(bytes);
  const bytesPerMessage = sum(bytes) / Math.max(1, sum(messages));
  const afterHour = Math.max(0, steadyBytes + Math.max(0, slope(bytes)) * 3_600);
  return {
    inbox_bytes_after_hour: Math.round(afterHour),
    inbox_max_bytes: maxBytes,
    inbox_share_of_cap_after_hour: round(afterHour / maxBytes, 6),
    inbox_steady_bytes: Math.round(steadyBytes),
    inbox_steady_messages: Math.round(mean(messages)),
    inbox_growth_bytes_per_s: round(slope(bytes), 1),
    inbox_max_msgs: maxMsgs,
    inbox_bytes_per_message: Math.round(bytesPerMessage),
    inbox_hour_volume_if_never_purged_bytes: Math.round(rate * 3_600 * bytesPerMessage),
    inbox_hour_messages_if_never_purged: rate * 3_600,
    inbox_samples: samples.length,
  };
}

/** Rooms with acknowledged comments of `phase` that got no outcome. */
function lostRooms(load: CommentLoad, watch: RoomWatch, phase: string): string[] {
  const rooms = new Set<string>();
  for (const [id, sent] of load.sent) {
    if (sent.phase === phase && sent.ackMs !== undefined && !watch.outcomes.has(id)) rooms.add(sent.roomId);
  }
  return [...rooms];
}

/** Rooms started in the run that no host has on air now. */
async function roomsOffAir(monitor: Monitor, rooms: string[]): Promise<string[]> {
  const onAir = new Set((await monitor.hostStatuses({ rooms: true })).flatMap((h) => h.roomIds ?? []));
  return rooms.filter((id) => !onAir.has(id));
}

/**
 * Where a room stands, from the stores (up to 8 rooms): who holds its lease, its persisted state (epoch, mailbox
 * cursor, comments waiting), its mailbox consumer as the servers answer for it, what waits in its inbox, and its
 * last stored events. The evidence for what went wrong.
 */
async function diagnose(nats: NatsConnection, roomIds: string[], why: string) {
  if (roomIds.length === 0) return undefined;
  const jsm = await jetstreamManager(nats, { timeout: 3_000 });
  const kvm = new Kvm(nats);
  const [leases, states] = await Promise.all([kvm.open("livehost_leases"), kvm.open("livehost_actor_state")]);
  const json = (data: Uint8Array | undefined) =>
    data && data.length > 0 ? (JSON.parse(new TextDecoder().decode(data)) as Record<string, unknown>) : undefined;
  const rooms = [];
  for (const roomId of roomIds.slice(0, 8)) {
    const key = `room.${roomId}`;
    const lease = json((await leases.get(key).catch(() => null))?.value);
    const doc = json((await states.get(key).catch(() => null))?.value) as
      { epoch: number; hostId: string; lastSeq: number; state: Record<string, unknown> } | undefined;
    const consumer = doc
      ? await jsm.consumers.info(subjects.roomInboxStream, `room_${roomId}_${doc.epoch}`).then(
          (info) => ({
            leader: info.cluster?.leader,
            delivered_stream_seq: info.delivered.stream_seq,
            ack_floor_stream_seq: info.ack_floor.stream_seq,
            num_pending: info.num_pending,
            num_ack_pending: info.num_ack_pending,
          }),
          (err: unknown) => ({ error: (err as Error).message }),
        )
      : undefined;
    const inbox = await jsm.streams.info(subjects.roomInboxStream, { subjects_filter: `rooms.${roomId}.*` }).then(
      (info) => info.state.subjects ?? {},
      (err: unknown) => ({ error: (err as Error).message }),
    );
    const events = await lastEvents(nats, roomId, 4);
    rooms.push({
      room: roomId,
      lease_host: lease?.hostId,
      state: doc && {
        epoch: doc.epoch,
        host: doc.hostId,
        mailbox_cursor: doc.lastSeq,
        room_state: doc.state.state,
        event_sequence: doc.state.eventSequence,
        comments_waiting: Array.isArray(doc.state.pending) ? doc.state.pending.length : 0,
      },
      mailbox_consumer: consumer,
      inbox_by_subject: inbox,
      last_events: events,
    });
  }
  return { why, rooms_total: roomIds.length, rooms };
}

/** The room's last `n` stored events (those of its last minute), or why they could not be read. */
async function lastEvents(nats: NatsConnection, roomId: string, n: number) {
  const events: { stream_seq: number; sequence: number; event?: string; detail: string; time: string }[] = [];
  try {
    const jsm = await jetstreamManager(nats, { timeout: 5_000 });
    const last = await jsm.streams.getMessage(subjects.roomEventsStream, {
      last_by_subj: subjects.roomEventLog(roomId),
    });
    if (!last) return [];
    const consumer = await jetstream(nats).consumers.get(subjects.roomEventsStream, {
      filter_subjects: subjects.roomEventLog(roomId),
      deliver_policy: DeliverPolicy.StartTime,
      opt_start_time: new Date(last.time.getTime() - 60_000).toISOString(),
    });
    for (;;) {
      const batch = await consumer.fetch({ max_messages: 500, expires: 2_000 });
      let pending = 0;
      for await (const msg of batch) {
        const event = RoomEvent.decode(msg.data);
        const value = event.event?.value as Record<string, unknown> | undefined;
        events.push({
          stream_seq: msg.seq,
          sequence: Number(event.sequence),
          event: event.event?.$case,
          detail: JSON.stringify(value ?? {}).slice(0, 160),
          time: event.time?.toISOString() ?? "",
        });
        pending = msg.info.pending;
      }
      if (pending === 0 || events.at(-1)?.stream_seq === last.seq) break;
    }
    return events.slice(-n);
  } catch (err) {
    return [...events.slice(-n), { error: (err as Error).message }];
  }
}

function sum(xs: number[]): number {
  return xs.reduce((a, b) => a + b, 0);
}

function mapValues<T, U>(record: Record<string, T>, f: (value: T) => U): Record<string, U> {
  return Object.fromEntries(Object.entries(record).map(([k, v]) => [k, f(v)]));
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
