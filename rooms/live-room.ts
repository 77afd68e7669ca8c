// A room on air, in memory on the host that holds it: its brain (show plan, comments, answers), its voice (the
// worker pools) and its media graph (what viewers see and hear). One loop decides what is said next, a sentence at a
// time: a human's line first, then the most useful viewer question, then the show from where it stopped.
//
// Pacing: a sentence is synthesized when the media graph has less than `leadMs` of speech left to play, so the
// stream never runs dry and nothing is said far ahead of the audience. A question cuts in at the end of the
// sentence playing, or at once when that sentence has more than `cutInMs` to go; a sentence cut short is said again
// after the answer, so the show resumes where it stopped. Overlays (product card, price tag, coupon) are cued on the
// words that name them, subtitles on each sentence.
//
// A room whose spec asks for it (show.render_ahead) renders its show ahead while the workers have streams to spare,
// and plays a show sentence from what it kept when it has it (render-ahead.ts): same events, no worker asked.
import { randomUUID } from "node:crypto";
import { join } from "node:path";
import {
  RoomBrain,
  formatMoney,
  showLanguage,
  type Cue as BrainCue,
  type GuardResult,
  type LlmOptions,
  type ShowPosition,
} from "../brain/index.js";
import {
  RoomMediaGraph,
  cueAtSource,
  type LabelCorner,
  type OverlayContent,
  type QualitySnapshot,
  type X264Preset,
} from "../media/index.js";
import { ROOT_CONTEXT, SpanStatusCode, context, trace, type Context } from "@opentelemetry/api";
import { tracer, type Logger, type Registry } from "../observability/index.js";
import {
  AiLabel_Position,
  AvatarRenderer,
  CueFired_Kind,
  InterruptionPolicy,
  UtteranceSource,
  OutputConfig,
  type Comment,
  type Product,
  type RoomEvent,
  type RoomQuality,
  type RoomSpec,
  type ShowProgress,
  type ShowScript,
  type WordTiming,
} from "../proto/index.js";
import { AnswerTimings, answerUtteranceId, type AnswerStages } from "./answer-timing.js";
import { roomMetrics, type RoomMetrics } from "./metrics.js";
import type { Spoken, Voice, VoiceOutput } from "./voice.js";
import type { Tier } from "../trust/index.js";
import type { ProductImages } from "./product-images.js";
import { UtteranceEvents } from "./utterance-events.js";
import { ScriptAhead } from "./script-ahead.js";
import { streamKeysFrom, type StreamKeys } from "./stream-keys.js";
import { VoiceShare } from "./voice-share.js";
import { RenderAhead, compileRenderAhead, type RenderAheadSettings, type RenderKey } from "./render-ahead.js";

export interface LiveRoomDeps {
  voice: Voice;
  registry: Registry;
  log: Logger;
  /** Directory of avatar packs, one per subdirectory named by avatar id. */
  avatarsDir: string;
  /** Brings a pack published through NATS (onboarding) into avatarsDir when it is not there yet. */
  ensureAvatar?: (avatarId: string) => Promise<void>;
  /** Whether a pack is in avatarsDir or published through NATS (checked when a room names one). */
  avatarExists?: (avatarId: string) => Promise<boolean>;
  /** Outputs of each room go to <mediaDir>/<roomId>/ (HLS in hls/). */
  mediaDir: string;
  llm?: LlmOptions;
  /** The room's events (to its event subject). */
  publish: (event: RoomEvent["event"]) => void;
  /**
   * True while this host certainly holds the room (ActorContext.owns). Checked before each sentence and every 50 ms:
   * while false the room says nothing and no frame goes out (the host may have lost it); it goes on when the host
   * proves its lease again, and is stopped by its actor when the lease was lost.
   */
  owns?: () => boolean;
  /** x264 speed preset of the rooms' encoders; default veryfast. */
  x264Preset?: X264Preset;
  /** Puts rooms on air some other way than LiveRoom (a benchmark of the control plane); default LiveRoom. */
  openRoom?: OpenRoom;
  /** The room's tier now (it may change while on air): how it competes for workers when they are short. */
  tier?: () => Tier | undefined;
  /** Product pictures for product cards (fetched from allowed hosts, cached); none: cards without a picture. */
  images?: ProductImages;
  /** RTMP stream keys by secret name (see stream-keys.ts); none: a room with an RTMP output fails to start, saying so. */
  streamKeys?: StreamKeys;
  /** Called when the first sample of a comment's answer goes into the stream, with its stages (benchmarks). */
  onAnswerHeard?: (commentId: string, stages: AnswerStages) => void;
  /** Called when an utterance's first frame came out of the encoder, with that wall time in Unix ms (benchmarks). */
  onUtteranceEncoded?: (utteranceId: string, outputUnixMs: number) => void;
  /** The bound on what a room rendering ahead keeps (spec.show.render_ahead); default compileRenderAhead()'s. */
  renderAhead?: RenderAheadSettings;
}

/**
 * A room on air as its actor drives it. LiveRoom is the real one; a benchmark of the control plane may put a room on
 * air without voice, lip-sync and media (RoomHostOptions.live.openRoom) as long as it keeps this contract and
 * publishes the same events at the same pace.
 */
export interface OnAirRoom {
  readonly roomId: string;
  start(): Promise<void>;
  stop(): Promise<void>;
  readonly stopped: boolean;
  progress(): LiveRoomProgress;
  /** A viewer comment; its outcome (answered, rejected, expired...) is published as an event, once. */
  receive(comment: Comment): void;
  say(text: string, interrupt: boolean, utteranceId: string): void;
  /** Whether a human's line passes the guard generated speech passes (the room's catalog and persona). */
  checkLine(text: string): GuardResult;
  interrupt(): void;
  update(spec: RoomSpec, paths: string[]): Promise<void>;
  /** The script progress() reported (a 24/7 room's, written ahead) is the room's spec now. */
  scriptPersisted?(version: number): void;
}

/** Makes the room put on air: a LiveRoom unless a benchmark says otherwise. */
export type OpenRoom = (roomId: string, spec: RoomSpec, position: unknown, deps: LiveRoomDeps) => OnAirRoom;

/** What the actor persists and learns from the room: where the show is, and whether it can speak. */
export interface LiveRoomProgress {
  position: ShowPosition;
  /** Why the room cannot speak now (no TTS worker...), or undefined when it can. */
  stalled?: string;
  answered: number;
  /** Comments given a CommentRejected here since the room went on air (invalid, moderated, busy, expired). */
  rejected: number;
  /** Seconds of speech said since the room went on air here, and video frames rendered (0 without media). */
  spokenSeconds: number;
  frames: number;
  /** The live quality gate over the output's last minute; undefined before its first second (or without media). */
  quality?: RoomQuality;
  /** Where the show is, and the last hour's share of the voice. */
  show: ShowProgress;
  /** A script the room wrote ahead and speaks now (ShowScript.rewrite_ahead), for the actor to persist. */
  script?: ShowScript;
}

interface Line {
  utteranceId: string;
  text: string;
  source: UtteranceSource;
  cues: BrainCue[];
  commentId?: string;
  /** On an answer's first sentence: the comments it answers (told so when it is heard). */
  answers?: { commentIds: string[]; intent: string };
  /** The show position this sentence leaves the show at once spoken. */
  after?: ShowPosition;
  productId?: string;
  /** A show sentence: where the show is with it (published with its UtteranceStarted). */
  show?: ShowProgress;
}

const leadMs = 600;
const maxTraces = 1_000;
const spans = tracer("rooms");
const cutInMs = 250;
/** Answers said in a row, when questions keep coming, before the show says its next sentence (ShowSettings). */
const defaultAnswersBetweenShowSentences = 3;
/** Sentences whose subtitles an interrupt can still hide (two play or wait at a time). */
const maxRememberedSubtitles = 8;

const positionKey = (p: ShowPosition) => `${p.loop}/${p.line}/${p.sentence}`;
/** Show sentences walked ahead for rendering: one loop of the show from where it is, at most this many. */
const maxAheadSentences = 600;
/**
 * How far ahead frames are allowed out while the host holds the room. Shorter than the shortest pause after which
 * another host can take a room over (a host timeout, 2 s), long enough that a busy main thread stops no frame.
 */
const gateMs = 1_000;

export class LiveRoom implements OnAirRoom {
  readonly roomId: string;
  brain: RoomBrain;
  readonly media: RoomMediaGraph;
  readonly #deps: LiveRoomDeps;
  #spec: RoomSpec;
  readonly #abort = new AbortController();
  readonly #humanLines: Line[] = [];
  #position: ShowPosition;
  #stalled: string | undefined;
  /** Why this room's media output stopped for good (see #onMediaFault). */
  #mediaStopped: string | undefined;
  #answered = 0;
  /** The trace context each waiting question arrived with, by question id. */
  readonly #traces = new Map<string, Context>();
  /** When each waiting question's answer passed each stage, until it is heard. */
  readonly #timings: AnswerTimings;
  readonly #metrics: RoomMetrics;
  /** Utterance, cue and answer events, published when the output plays them. */
  readonly #events: UtteranceEvents;
  #rejected = 0;
  #spokenMs = 0;
  #onScreen: string | undefined;
  /** The avatar sentences are animated for (it changes when a new one is loaded, see update). */
  #avatarId: string;
  #loop?: Promise<void>;
  /** Set while a sentence is being synthesized: what to do if it is cut (and where the show was before it). */
  #current?: { line: Line; cut: AbortController; before: ShowPosition };
  /** The show sentence cut once and to be said again (its position): cut a second time, the show moves past it. */
  #cutOnce?: string;
  /** Answers said since the show's last sentence: after a batch of them the show says one before the next batch. */
  #answersInRow = 0;
  /** The show sentence said as the show's turn after a batch of answers (its position): questions do not cut it. */
  #showTurn?: string;
  /** The product of the last show sentence said (AFTER_PRODUCT waits for the show to leave it). */
  #showProduct?: string;
  readonly #voiceShare = new VoiceShare();
  /** The last show sentence handed to the media graph, and where the show was before it, until the next one. */
  #queued?: { line: Line; before: ShowPosition };
  #wake?: () => void;
  #fenceWatch?: NodeJS.Timeout;
  readonly #scriptAhead: ScriptAhead;
  /** The script written ahead and spoken here, until the actor has persisted it as the room's spec. */
  #rewritten?: ShowScript;
  /** The show rendered ahead and kept (used while spec.show.render_ahead). */
  readonly #renders: RenderAhead;
  /** The brain of the next variations written ahead (ScriptAhead), made once to walk them ahead of their loop. */
  #aheadBrain?: { script: ShowScript; brain: RoomBrain };
  /** Until when (Unix ms) frames may go out: refreshed while this host holds the room (see RoomMediaGraph). */
  readonly #outputGate = new Float64Array(new SharedArrayBuffer(8));

  constructor(roomId: string, spec: RoomSpec, position: unknown, deps: LiveRoomDeps) {
    this.roomId = roomId;
    this.#spec = spec;
    this.#deps = deps;
    this.#avatarId = spec.avatar?.avatarId || "default";
    this.brain = this.#newBrain(spec);
    this.#position = position === undefined ? this.brain.show.start() : this.brain.show.restore(position);
    if (deps.owns) this.#outputGate[0] = Date.now() + gateMs;
    this.media = new RoomMediaGraph({
      roomId,
      output: spec.output ?? OutputConfig.fromPartial({}),
      ...(deps.owns ? { outputGate: this.#outputGate.buffer } : {}),
      avatarDir: join(deps.avatarsDir, spec.avatar?.avatarId || "default"),
      outputDir: join(deps.mediaDir, roomId),
      registry: deps.registry,
      logger: deps.log,
      x264Preset: deps.x264Preset,
      streamKey: deps.streamKeys ?? streamKeysFrom(undefined),
      // The lip-sync worker answers a few tens of ms after the audio: a sentence waits up to two frames for its
      // first mouth frame rather than opening with the idle mouth.
      mouthWaitFrames: 2,
      reportEncoded: deps.onUtteranceEncoded !== undefined,
      onEvent: (event) => {
        if (event.type === "frame_failed" || event.type === "failed") return this.#onMediaFault(event);
        if (event.type === "encoded") return deps.onUtteranceEncoded?.(event.utteranceId, event.outputUnixMs);
        if (event.type !== "utterance") return;
        this.#events.onMedia(event);
        if (event.state === "started") this.#timings.heard(event.utteranceId);
        // A sentence played to its end can no longer be cut.
        else if (this.#queued?.line.utteranceId === event.utteranceId) this.#queued = undefined;
      },
    });
    this.#events = new UtteranceEvents(this.media.config.fps, {
      publish: deps.publish,
      answered: (count) => (this.#answered += count),
      rejected: (count) => (this.#rejected += count),
      // Its comments were told it was cut before a word of it was heard: the rest of it would contradict that.
      answerUnheard: (questionId) => {
        if (this.#answering !== questionId) return;
        void this.#answer?.return();
        this.#answer = undefined;
      },
      streamTimeMs: () => Math.round(this.media.status().streamSeconds * 1000),
    });
    this.#metrics = roomMetrics(deps.registry);
    this.#timings = new AnswerTimings(this.#metrics, deps.onAnswerHeard);
    this.#scriptAhead = new ScriptAhead({
      llm: deps.llm,
      log: deps.log,
      metrics: this.#metrics,
      signal: this.#abort.signal,
    });
    this.#renders = new RenderAhead({
      roomId,
      voice: deps.voice,
      settings: deps.renderAhead ?? compileRenderAhead(),
      metrics: this.#metrics,
      log: deps.log,
      enabled: () => this.#spec.show?.renderAhead === true,
      upcoming: () => this.#upcomingShow(),
      // An answer (or a human's line) is being said or written: its streams first.
      busy: () =>
        this.#answer !== undefined ||
        (this.#current !== undefined && this.#current.line.source !== UtteranceSource.UTTERANCE_SOURCE_SHOW),
      tier: () => deps.tier?.(),
      signal: this.#abort.signal,
    });
  }

  progress(): LiveRoomProgress {
    return {
      position: this.#position,
      stalled: this.#stalled,
      answered: this.#answered,
      rejected: this.#rejected,
      spokenSeconds: this.#spokenMs / 1_000,
      frames: this.media.status().frame,
      quality: roomQuality(this.media.quality()),
      show: this.#showProgress(this.#position, this.#showProduct),
      script: this.#rewritten,
    };
  }

  /** The actor persisted the rewritten script progress() told it of: it is the spec's now. */
  scriptPersisted(version: number): void {
    if (this.#rewritten?.version === version) this.#rewritten = undefined;
  }

  /** Where the show is at `position` (presenting `productId`), with the last hour's share of the voice. */
  #showProgress(position: ShowPosition, productId: string | undefined): ShowProgress {
    const share = this.#voiceShare.lastHour();
    return {
      productId: productId ?? "",
      loop: position.loop,
      line: position.line,
      sentence: position.sentence,
      showSecondsLastHour: Math.round(share.show * 10) / 10,
      answerSecondsLastHour: Math.round(share.answer * 10) / 10,
    };
  }

  /**
   * A spec change while on air. Catalog, persona and script: a new brain, the show continuing at the same place when
   * the products and the script are the same (else from the next opening); voice: from the next sentence; outputs:
   * RTMP pushes change in place, other output changes rebuild the encoder; avatar: the new pack is loaded while the
   * stream goes on and takes over after the sentences already animated for the old one (the sentence being
   * synthesized included). The frame size needs the room restarted.
   */
  async update(spec: RoomSpec, paths: string[]): Promise<void> {
    const showChanged = paths.includes("catalog") || paths.includes("persona") || paths.includes("script");
    // A script written ahead and spoken here, not yet in the record the update was made from, stays the room's.
    if (this.#rewritten && !showChanged) spec = { ...spec, script: this.#rewritten };
    // A pack that cannot be used fails the update (InvalidArgumentError) before anything has changed.
    const avatarId = spec.avatar?.avatarId || "default";
    const switching = paths.includes("avatar") && avatarId !== this.#avatarId;
    if (switching) await this.#deps.ensureAvatar?.(avatarId);
    const avatar = switching ? await this.media.loadAvatar(join(this.#deps.avatarsDir, avatarId)) : undefined;
    const previous = this.#spec;
    this.#spec = spec;
    if (avatar) {
      // Synchronously from here: what is queued or being synthesized now was animated for the old avatar, every
      // sentence from the next on is animated for the new one.
      this.media.switchAvatar(avatar, { after: this.#current ? [this.#current.line.utteranceId] : [] });
      this.#avatarId = avatarId;
    }
    if (showChanged) {
      // What was written ahead was written for the old script (and a rewrite not yet persisted is superseded).
      this.#scriptAhead.reset();
      this.#rewritten = undefined;
      const position = this.#position;
      this.brain = this.#newBrain(spec);
      this.#position = this.brain.show.restore(position);
    }
    if (showChanged || paths.includes("voice") || paths.includes("avatar") || paths.includes("show")) {
      // Renders are keyed by text, voice, speed, avatar, renderer and fps: none is played for another. What the
      // show no longer needs goes now.
      this.#aheadBrain = undefined;
      this.#upcoming = undefined;
      this.#renders.changed();
    }
    if (paths.includes("output") && spec.output && JSON.stringify(spec.output) !== JSON.stringify(previous.output)) {
      await this.media.setOutputs(spec.output);
    }
    if (paths.includes("output") && JSON.stringify(spec.output?.aiLabel) !== JSON.stringify(previous.output?.aiLabel)) {
      if (this.#labelHidden) this.#metrics.aiLabelHidden.dec();
      else this.media.hideOverlay("ai-label");
      this.#labelHidden = false;
      await this.#showAiLabel();
    }
  }

  #newBrain(spec: RoomSpec): RoomBrain {
    return new RoomBrain({
      catalog: spec.catalog!,
      persona: spec.persona ?? defaultPersona(spec),
      registry: this.#deps.registry,
      llm: this.#deps.llm,
      logger: this.#deps.log,
      seed: seedOf(this.roomId),
      script: spec.script,
    });
  }

  get hlsPlaylist(): string | undefined {
    return this.media.hlsPlaylist;
  }

  async start(): Promise<void> {
    // Product pictures are fetched ahead, so that a card cued later finds its picture cached.
    for (const product of this.brain.catalog.products) this.#deps.images?.ready(product.imageUri);
    // A host that just started learns its workers within an announcement interval: wait that long, not forever.
    await this.#deps.voice.directory.known("tts", 3_000, this.#abort.signal);
    if (this.#deps.owns) {
      this.#outputGate[0] = Date.now() + gateMs;
      const owns = this.#deps.owns;
      this.#fenceWatch = setInterval(() => {
        if (owns()) this.#outputGate[0] = Date.now() + gateMs;
      }, 50);
    }
    try {
      await this.media.start(this.#abort.signal);
    } catch (err) {
      clearInterval(this.#fenceWatch);
      throw err;
    }
    this.#metrics.onAir.inc();
    await this.#showAiLabel();
    this.#loop = this.#run().catch((err: unknown) => {
      if (!this.#abort.signal.aborted) this.#deps.log.error({ err }, "live room loop failed");
    });
    this.#renders.start();
  }

  /**
   * The visible AI-content label, on from the first frame unless the spec hides it (an explicit choice, logged and
   * counted). The metadata label is in every output whatever this says (see RoomMediaGraph).
   */
  async #showAiLabel(): Promise<void> {
    const label = this.#spec.output?.aiLabel;
    if (label?.hideVisible) {
      this.#labelHidden = true;
      this.#metrics.aiLabelHidden.inc();
      this.#deps.log.warn(
        { roomId: this.roomId },
        "the visible AI-content label is off (output.ai_label.hide_visible)",
      );
      return;
    }
    const language = label?.language || showLanguage(this.brain.catalog.language);
    const text = label?.text || (language === "zh" ? "AI 生成内容" : "AI-generated");
    const corner = aiLabelCorners[label?.position ?? AiLabel_Position.POSITION_TOP_LEFT] ?? "top-left";
    await this.media.scheduleOverlay(
      { id: "ai-label", content: { kind: "label", text, corner }, animation: "none" },
      { now: true },
    );
  }

  #labelHidden = false;

  /**
   * A viewer comment: validated, masked, moderated and queued by the brain; refusals become events. Comments are
   * understood one after another, in the order they came (the model runs asynchronously).
   */
  receive(comment: Comment): void {
    const received = performance.now();
    this.#receiving = this.#receiving
      .then(() => this.#receive(comment, received))
      .catch((err: unknown) => this.#couldNotUnderstand(comment, err));
  }

  #receiving: Promise<void> = Promise.resolve();

  #couldNotUnderstand(comment: Comment, err: unknown): void {
    this.#deps.log.error({ err, commentId: comment.commentId }, "comment could not be understood");
    this.#rejected++;
    this.#deps.publish({
      $case: "commentRejected",
      value: {
        commentId: comment.commentId,
        reason: "unavailable",
        field: "",
        message: `comment understanding unavailable: ${(err as Error).message}`,
      },
    });
  }

  async #receive(comment: Comment, received: number): Promise<void> {
    const outcome = await this.brain.receive(
      { commentId: comment.commentId, viewerId: comment.viewerId, text: comment.text },
      this.#onScreen,
    );
    this.#metrics.stage.observe({ stage: "moderation" }, (performance.now() - received) / 1000);
    if (outcome.status === "rejected" || outcome.status === "blocked") {
      this.#rejected++;
      this.#deps.publish({
        $case: "commentRejected",
        value: {
          commentId: comment.commentId,
          reason: outcome.reason,
          field: outcome.status === "rejected" ? outcome.field : "",
          message: outcome.message,
        },
      });
      return;
    }
    if (outcome.status === "dropped") {
      this.#rejected++;
      this.#deps.publish({
        $case: "commentRejected",
        value: { commentId: comment.commentId, reason: "busy", field: "", message: "more useful questions first" },
      });
      return;
    }
    // A question pushed out of a full queue by a more useful one is told so, like one dropped on arrival.
    for (const commentId of outcome.evicted?.commentIds ?? []) {
      this.#rejected++;
      this.#deps.publish({
        $case: "commentRejected",
        value: { commentId, reason: "busy", field: "", message: "more useful questions first" },
      });
    }
    // The answer's spans continue the comment's trace (it came with it through NATS).
    this.#traces.set(outcome.question.id, context.active());
    if (this.#traces.size > maxTraces) this.#traces.delete(this.#traces.keys().next().value!);
    this.#timings.received(outcome.question.id, received);
    this.#cutIn();
  }

  checkLine(text: string): GuardResult {
    return this.brain.checkLine(text);
  }

  /** A human's line: said next (at once when `interrupt`). */
  /** A human's line: next, after the sentence playing; or, interrupting, at once, before any line still waiting. */
  say(text: string, interrupt: boolean, utteranceId: string): void {
    const line = { utteranceId, text, source: UtteranceSource.UTTERANCE_SOURCE_HUMAN, cues: [] };
    if (interrupt) {
      this.#humanLines.unshift(line);
      this.interrupt();
    } else {
      this.#humanLines.push(line);
      this.#wake?.();
    }
  }

  /** Stops the current line at once; the show resumes where it stopped (or past a sentence cut twice). */
  interrupt(): void {
    const current = this.#current;
    current?.cut.abort();
    // The show sentence cut short (playing, or else being synthesized) is said again when the show resumes, once.
    if (this.#queued) this.#resumeAfterCut(this.#queued.line, this.#queued.before);
    else if (current?.line.source === UtteranceSource.UTTERANCE_SOURCE_SHOW)
      this.#resumeAfterCut(current.line, current.before);
    this.#queued = undefined;
    this.#interruptMedia();
    this.#wake?.();
  }

  /**
   * A show sentence was cut before its end: the show says it again, once. Cut a second time (by an operator: a
   * question does not cut a repeat), it is left behind and the show moves on to the sentence after it.
   */
  #resumeAfterCut(line: Line, before: ShowPosition): void {
    const key = positionKey(before);
    if (this.#cutOnce === key && line.after) {
      this.#cutOnce = undefined;
      this.#position = line.after;
      this.#metrics.showSentencesLeft.inc();
    } else {
      this.#cutOnce = key;
      this.#position = before;
    }
  }

  #interruption(): InterruptionPolicy {
    const policy = this.#spec.show?.interruption ?? InterruptionPolicy.INTERRUPTION_POLICY_UNSPECIFIED;
    return policy === InterruptionPolicy.INTERRUPTION_POLICY_UNSPECIFIED
      ? InterruptionPolicy.INTERRUPTION_POLICY_NOW
      : policy;
  }

  /** Drops what the media graph has queued; watchers learn what was cut when the output does (UtteranceEvents). */
  #interruptMedia(): void {
    const dropped = this.media.interrupt();
    this.#events.interrupted(dropped);
    // The cut sentences' subtitles go with them (their hides were among the cues dropped).
    for (const utteranceId of dropped) this.#hideSubtitles(this.#subtitles.get(utteranceId) ?? []);
  }

  /** Takes the room off air here; calling it again waits for the same stop. */
  stop(): Promise<void> {
    this.#stopping ??= this.#stop();
    return this.#stopping;
  }

  #stopping?: Promise<void>;

  /** Whether stop() was called. */
  get stopped(): boolean {
    return this.#stopping !== undefined;
  }

  async #stop(): Promise<void> {
    clearInterval(this.#fenceWatch);
    this.#abort.abort();
    this.#wake?.();
    this.#current?.cut.abort();
    await this.#loop;
    await this.#renders.stop();
    const offAir = Math.round(this.media.status().streamSeconds * 1000);
    await this.media.stop();
    this.#events.close();
    // Human lines still waiting will not be said here: their callers are told (each line's end, nothing played).
    for (const line of this.#humanLines.splice(0)) this.#events.unheardLine(line.utteranceId, offAir);
    this.#metrics.onAir.dec();
    if (this.#labelHidden) this.#metrics.aiLabelHidden.dec();
    this.#setStalled(undefined);
  }

  /**
   * A question is waiting. Under INTERRUPTION_POLICY_NOW it cuts the show sentence playing if its end is far (the
   * sentence is said again after the answer); never a sentence being said again, nor one said as the show's turn
   * after a batch of answers (so a busy room's show moves a sentence each turn). Under the other policies it waits.
   */
  #cutIn(): void {
    if (this.#interruption() !== InterruptionPolicy.INTERRUPTION_POLICY_NOW) return this.#wake?.();
    const left = this.media.status().queuedSpeechSeconds * 1000;
    const queued = this.#queued;
    const current = this.#current;
    const repeat = (before: ShowPosition) =>
      this.#cutOnce === positionKey(before) || this.#showTurn === positionKey(before);
    if (current?.line.source === UtteranceSource.UTTERANCE_SOURCE_SHOW && left > cutInMs) {
      if (!repeat(current.before) && !(queued && repeat(queued.before))) this.interrupt();
    } else if (queued && left > cutInMs && !repeat(queued.before)) {
      this.#interruptMedia();
      this.#resumeAfterCut(queued.line, queued.before);
      this.#queued = undefined;
    }
    this.#wake?.();
  }

  async #run(): Promise<void> {
    const signal = this.#abort.signal;
    while (!signal.aborted) {
      // Wait until the audience is close to the end of what is queued.
      while (!signal.aborted && this.media.status().queuedSpeechSeconds * 1000 > leadMs) await this.#sleep(50);
      if (signal.aborted) return;
      // Nothing is said while this host is not sure it holds the room (its actor stops the room if it lost it).
      if (this.#deps.owns && !this.#deps.owns()) {
        await this.#sleep(100);
        continue;
      }
      const line = await this.#next();
      if (!line) {
        await this.#sleep(100);
        continue;
      }
      const cut = new AbortController();
      const both = AbortSignal.any([signal, cut.signal]);
      const before = this.#position;
      this.#current = { line, cut, before };
      try {
        await this.#speak(line, both);
        // Cut while its last frames were still coming in: the sentence did not finish, so the show stays on it.
        if (cut.signal.aborted) throw cut.signal.reason;
        this.#setStalled(undefined);
        this.#metrics.utterances.inc({ source: sourceName(line.source), interrupted: "false" });
        // The position moves once the sentence is queued; a question cutting it in puts the position back.
        this.#queued = line.source === UtteranceSource.UTTERANCE_SOURCE_SHOW ? { line, before } : undefined;
        if (line.after) this.#position = line.after;
      } catch (err) {
        if (signal.aborted) return;
        if (cut.signal.aborted) {
          // Cut by a question or Interrupt; a show sentence is said again.
          this.#metrics.utterances.inc({ source: sourceName(line.source), interrupted: "true" });
          continue;
        }
        this.#setStalled((err as Error).message);
        this.#metrics.speechFailures.inc();
        this.#deps.publish({
          $case: "error",
          value: { code: "speech_failed", message: (err as Error).message, retryable: true },
        });
        if (line.source === UtteranceSource.UTTERANCE_SOURCE_HUMAN) this.#humanLines.unshift(line);
        await this.#sleep(1_000);
      } finally {
        this.#current = undefined;
      }
    }
  }

  /** What to say next: a human's line, an answer sentence, or the show's next sentence. */
  async #next(): Promise<Line | undefined> {
    const human = this.#humanLines.shift();
    if (human) return human;
    if (this.#answer) {
      const sentence = await this.#answer.next();
      if (!sentence.done) return sentence.value;
      this.#answer = undefined;
    }
    this.#rewriteAhead();
    // A question is taken at a sentence boundary, unless the show is owed its turn: after a batch of answers in a
    // row, or (AFTER_PRODUCT) while it is still presenting the product of its last sentence.
    const upcoming = this.brain.show.at(this.#position);
    const showsTurn =
      this.#answersInRow >= (this.#spec.show?.answersBetweenShowSentences || defaultAnswersBetweenShowSentences) ||
      (this.#interruption() === InterruptionPolicy.INTERRUPTION_POLICY_AFTER_PRODUCT &&
        this.#showProduct !== undefined &&
        upcoming.productId === this.#showProduct);
    const { question, expired } = this.brain.nextQuestion(this.#onScreen, { expireOnly: showsTurn });
    for (const q of expired) {
      for (const commentId of q.commentIds) {
        this.#rejected++;
        this.#deps.publish({
          $case: "commentRejected",
          value: { commentId, reason: "expired", field: "", message: "not answered in time" },
        });
      }
    }
    if (question) {
      this.#timings.taken(question.id);
      this.#answersInRow++;
      this.#answer = this.#answerLines(question);
      this.#answering = question.id;
      // The brain's span for the answer belongs to the comment's trace.
      const answer = this.#answer;
      const first = await context.with(this.#traces.get(question.id) ?? context.active(), () => answer.next());
      this.#timings.firstSentence(question.id);
      if (!first.done) return first.value;
      this.#answer = undefined;
    }
    const show = upcoming;
    const [start, end] = show.sentences[0] ?? [0, show.text.length];
    this.#onScreen = show.productId ?? this.#onScreen;
    // Said as the show's turn while questions wait: questions do not cut it.
    this.#showTurn = showsTurn ? positionKey(this.#position) : undefined;
    this.#answersInRow = 0;
    this.#showProduct = show.productId;
    return {
      utteranceId: `${show.id}-${this.#position.sentence}-${randomUUID().slice(0, 8)}`,
      text: show.text.slice(start, end).trim(),
      source: UtteranceSource.UTTERANCE_SOURCE_SHOW,
      cues: show.cues
        .filter((c) => c.start >= start && c.start < end)
        .map((c) => ({ ...c, start: c.start - start, end: c.end - start })),
      after: this.brain.show.afterSentence(this.#position),
      productId: show.productId,
      show: this.#showProgress(this.#position, show.productId),
    };
  }

  #answer?: AsyncGenerator<Line, void>;
  /** The question whose answer #answer says. */
  #answering?: string;

  /**
   * A 24/7 room's show kept fresh (ShowScript.rewrite_ahead): the next variations are written during the last one,
   * and spoken from the start of the next loop once written. The last sentence of the old loop is not said again if
   * cut after that: the show has moved on to the new script.
   */
  #rewriteAhead(): void {
    const script = this.#scriptAhead.at(this.#spec, this.#position);
    if (!script) return;
    this.#spec = { ...this.#spec, script };
    this.#rewritten = script;
    this.brain = this.#aheadBrain?.script === script ? this.#aheadBrain.brain : this.#newBrain(this.#spec);
    this.#aheadBrain = undefined;
    this.#upcoming = undefined;
    this.#position = { loop: this.#position.loop, line: 0, sentence: 0, plan: this.brain.show.fingerprint };
    this.#queued = undefined;
    this.#cutOnce = undefined;
  }

  async *#answerLines(question: Parameters<RoomBrain["answer"]>[0]): AsyncGenerator<Line, void> {
    const answer = this.brain.answer(question, { signal: this.#abort.signal });
    let step = await answer.next();
    if (step.done) {
      // The LLM judged the comment not to be answered: its viewers are told why, and nothing is said.
      if (step.value.blocked) this.#blockedByLlm(question.commentIds, step.value.blocked);
      return;
    }
    // Told they were answered when the first sentence is heard (UtteranceEvents), with what the answer understood
    // (the LLM's reading when it answered, else the understanding model's).
    const answers = {
      commentIds: question.commentIds,
      intent: step.value.understood?.intent ?? question.understanding.intent,
    };
    const productId = step.value.understood?.productId ?? question.understanding.productId;
    let index = 0;
    const line = (text: string, cues: Line["cues"], first: boolean): Line => ({
      ...(first ? { answers } : {}),
      utteranceId: answerUtteranceId(question.id, index++),
      text,
      source: UtteranceSource.UTTERANCE_SOURCE_ANSWER,
      cues,
      commentId: question.id,
      productId,
    });
    // The same question from several viewers is answered once, saying so.
    const askers = question.commentIds.length;
    if (askers > 1) {
      const zh = showLanguage(this.brain.catalog.language) === "zh";
      yield line(zh ? `有${askers}位宝宝都问了，` : `${askers} of you asked this:`, [], true);
    }
    for (let first = askers <= 1; !step.done; first = false, step = await answer.next()) {
      yield line(step.value.text, step.value.cues, first);
    }
  }

  #blockedByLlm(commentIds: string[], reason: string): void {
    for (const commentId of commentIds) {
      this.#rejected++;
      this.#deps.publish({
        $case: "commentRejected",
        value: { commentId, reason, field: "", message: `blocked: ${reason} (the LLM's moderation)` },
      });
    }
  }

  /** One sentence, in its own span: an answer's in the trace of the comment it answers, a show sentence's in a new one. */
  async #speak(line: Line, signal: AbortSignal): Promise<Spoken> {
    const parent = (line.commentId && this.#traces.get(line.commentId)) || ROOT_CONTEXT;
    const span = spans.startSpan(
      "room.utterance",
      {
        attributes: {
          "livehost.room_id": this.roomId,
          "livehost.utterance_id": line.utteranceId,
          "livehost.utterance_source": UtteranceSource[line.source],
        },
      },
      parent,
    );
    try {
      return await context.with(trace.setSpan(parent, span), () => this.#say(line, signal));
    } catch (err) {
      span.setStatus({ code: SpanStatusCode.ERROR, message: (err as Error).message });
      throw err;
    } finally {
      span.end();
    }
  }

  async #say(line: Line, signal: AbortSignal): Promise<Spoken> {
    const spec = this.#spec;
    const timing = this.#timings.speaking(line.utteranceId);
    this.#events.begin(line);
    const pending = [...line.cues];
    const subtitle = `sub-${line.utteranceId}`
      .toLowerCase()
      .replace(/[^a-z0-9-]/g, "-")
      .slice(0, 60);
    // A sentence longer than the subtitle box's two lines is shown in pages, each from the word it starts with.
    const pages = this.#subtitlePages(line.text);
    // Subtitles switch at once, as a broadcast's do: a fade would show the last sentence's box under the next one's.
    const animation = "none";
    const pageIds = pages.map((_, i) => (i === 0 ? subtitle : `${subtitle}-${i}`));
    let pageShown = 0;
    // The subtitle renders while the sentence is synthesized: text rendering is not on the path to the first audio.
    const subtitleScheduled = this.media
      .scheduleOverlay(
        { id: subtitle, content: { kind: "subtitle", lines: [pages[0]!.text] }, animation },
        { utteranceId: line.utteranceId, atMs: 0 },
      )
      .then(
        () => true,
        (err: unknown) => {
          this.#deps.log.warn({ err, utteranceId: line.utteranceId }, "subtitle not shown");
          return false;
        },
      )
      .then((shown) => {
        this.#events.subtitle(line.utteranceId, shown);
        if (shown) this.#rememberSubtitles(line.utteranceId, pageIds);
        return shown;
      });
    const words: WordTiming[] = [];
    let reachedMedia = false;
    const output: VoiceOutput = {
      speech: (chunk) => {
        timing.chunk();
        reachedMedia = true;
        this.media.pushSpeech(chunk);
      },
      mouth: (frame) => {
        timing.frame();
        this.media.pushMouthFrame(frame);
      },
      words: (fresh) => {
        words.push(...fresh);
        this.#events.words(line.utteranceId, fresh);
        // The next subtitle page, on the word it starts with (once the first page is up).
        while (pageShown + 1 < pages.length && words.some((w) => w.sourceEnd > pages[pageShown + 1]!.start)) {
          const at = cueAtSource(line.utteranceId, words, pages[++pageShown]!.start);
          if (at && "atMs" in at) {
            void this.#nextSubtitlePage(subtitleScheduled, pageIds, pageShown, pages[pageShown]!.text, at);
          }
        }
        for (const cue of [...pending]) {
          const at = cueAtSource(line.utteranceId, words, cue.start);
          if (!at || !("atMs" in at) || !words.some((w) => w.sourceEnd > cue.start)) continue;
          pending.splice(pending.indexOf(cue), 1);
          void this.#showCue(cue, at);
        }
      },
    };
    const key = this.#renderKey(line.text, spec);
    // A show sentence of a room rendering ahead: played from what was kept when it was rendered, else streamed live
    // and kept for the next time it comes up (a repeat after a cut, the next loop). An answer sentence said before
    // (the same question asked again) is played from what was kept too, else streamed live and kept while there is room.
    const show = line.source === UtteranceSource.UTTERANCE_SOURCE_SHOW;
    const answer = line.source === UtteranceSource.UTTERANCE_SOURCE_ANSWER;
    const ahead = (show || answer) && spec.show?.renderAhead === true;
    const kept = ahead ? (show ? this.#renders.take(key) : this.#renders.takeAnswer(key)) : undefined;
    const tee = ahead && !kept ? this.#renders.tee(key, output, show ? "show" : "answer") : undefined;
    const speaking = kept
      ? this.#renders.play(kept, line.utteranceId, output, signal)
      : this.#deps.voice.speak(
          {
            utteranceId: line.utteranceId,
            roomId: this.roomId,
            text: line.text,
            voiceId: key.voiceId,
            speed: key.speed,
            avatarId: key.avatarId,
            neural: key.neural,
            fps: key.fps,
            tier: this.#deps.tier?.(),
            interactive: line.source !== UtteranceSource.UTTERANCE_SOURCE_SHOW,
          },
          tee?.output ?? output,
          signal,
        );
    const spoken = await speaking.catch(async (err: unknown) => {
      tee?.discard();
      this.#events.abandoned(line.utteranceId, reachedMedia);
      // Not said (cut, or failed): its subtitle goes now.
      if (await subtitleScheduled) this.#hideSubtitles(pageIds);
      throw err;
    });
    tee?.keep(spoken).catch((err: unknown) => this.#deps.log.warn({ err }, "sentence not kept for the show"));
    this.#events.synthesized(line.utteranceId, spoken.durationMs);
    if (spoken.lipsyncFallback !== undefined) {
      this.#metrics.lipsyncFallbacks.inc();
      this.#deps.log.debug({ why: spoken.lipsyncFallback }, "sentence animated on the viseme path, not the neural one");
    }
    if (await subtitleScheduled) {
      for (const id of pageIds.slice(0, pageShown + 1)) {
        this.#hideSubtitles([id], { utteranceId: line.utteranceId, atMs: spoken.durationMs });
      }
    }
    this.#spokenMs += spoken.durationMs;
    if (line.source === UtteranceSource.UTTERANCE_SOURCE_SHOW) this.#voiceShare.add("show", spoken.durationMs);
    else if (line.source === UtteranceSource.UTTERANCE_SOURCE_ANSWER) this.#voiceShare.add("answer", spoken.durationMs);
    return spoken;
  }

  /** What a sentence is rendered for in this room now (its voice, speed, avatar, renderer, fps). */
  #renderKey(text: string, spec: RoomSpec = this.#spec): RenderKey {
    return {
      text,
      voiceId: spec.voice?.voiceId || defaultVoice(spec),
      speed: spec.voice?.speed ?? 0,
      avatarId: this.#avatarId,
      neural: spec.avatar?.renderer === AvatarRenderer.AVATAR_RENDERER_NEURAL,
      fps: this.media.config.fps,
    };
  }

  /**
   * The show's sentences from where it is, in the order #next will say them, for one loop (into the next variations
   * once ScriptAhead has written them): what rendering ahead renders, nearest first.
   */
  #upcomingShow(): RenderKey[] {
    const from = this.#position;
    const written = this.#scriptAhead.written();
    // Walked again only when the show moved or what it is rendered for changed (the renderer asks twice a second).
    const base = this.#renderKey("");
    const at = JSON.stringify([positionKey(from), from.plan, written?.script.version, written?.forLoop, base]);
    if (this.#upcoming?.at === at) return this.#upcoming.keys;
    let brain = this.brain;
    let position = from;
    const keys: RenderKey[] = [];
    const order = (p: ShowPosition) => [p.line, p.sentence] as const;
    for (let i = 0; i < maxAheadSentences; i++) {
      if (written && brain === this.brain && position.loop >= written.forLoop && position.line === 0) {
        if (this.#aheadBrain?.script !== written.script) {
          this.#aheadBrain = {
            script: written.script,
            brain: this.#newBrain({ ...this.#spec, script: written.script }),
          };
        }
        brain = this.#aheadBrain.brain;
        position = { loop: position.loop, line: 0, sentence: 0, plan: brain.show.fingerprint };
      }
      const [line, sentence] = order(position);
      const past =
        position.loop > from.loop + 1 ||
        (position.loop === from.loop + 1 && (line > from.line || (line === from.line && sentence >= from.sentence)));
      if (past) break;
      const show = brain.show.at(position);
      const [start, end] = show.sentences[0] ?? [0, show.text.length];
      keys.push(this.#renderKey(show.text.slice(start, end).trim()));
      position = brain.show.afterSentence(position);
    }
    this.#upcoming = { at, keys };
    return keys;
  }

  #upcoming?: { at: string; keys: RenderKey[] };

  /**
   * The subtitles of the last sentences: an interrupt drops the media's queued cues, their hides with them, so it
   * hides these itself (a hidden one stays hidden).
   */
  #subtitles = new Map<string, string[]>();

  #rememberSubtitles(utteranceId: string, ids: string[]): void {
    this.#subtitles.set(utteranceId, ids);
    for (const id of this.#subtitles.keys()) {
      if (this.#subtitles.size <= maxRememberedSubtitles) break;
      this.#subtitles.delete(id);
    }
  }

  /** Hides subtitles at `cue` (now by default); one already let go by the media graph is nothing to hide. */
  #hideSubtitles(ids: Iterable<string>, cue?: { utteranceId: string; atMs: number }): void {
    for (const id of ids) {
      try {
        this.media.hideOverlay(id, cue);
      } catch {
        // Never shown (its page was not scheduled), or let go.
      }
    }
  }

  /** The pages of subtitles a sentence takes on this room's picture (one when it cannot be measured). */
  #subtitlePages(text: string): Array<{ text: string; start: number }> {
    try {
      return this.media.subtitlePages(text);
    } catch (err) {
      this.#deps.log.warn({ err }, "subtitle not measured: shown in one piece");
      return [{ text, start: 0 }];
    }
  }

  /** Shows subtitle page `index` at `at`, in place of the page before it. */
  async #nextSubtitlePage(
    first: Promise<boolean>,
    ids: string[],
    index: number,
    text: string,
    at: { utteranceId: string; atMs: number },
  ) {
    if (!(await first)) return;
    try {
      await this.media.scheduleOverlay(
        { id: ids[index]!, content: { kind: "subtitle", lines: [text] }, animation: "none" },
        at,
      );
      this.media.hideOverlay(ids[index - 1]!, at);
    } catch (err) {
      this.#deps.log.warn({ err, utteranceId: at.utteranceId }, "subtitle page not shown");
    }
  }

  async #showCue(cue: BrainCue, at: { utteranceId: string; atMs: number }) {
    const product = this.brain.catalog.products.find((p) => p.id === cue.productId);
    if (!product) return;
    const picture = this.#deps.images?.ready(product.imageUri);
    const content = overlayFor(cue, product, showLanguage(this.brain.catalog.language), picture);
    if (!content) return;
    const id = `${content.kind}-${product.id}`.slice(0, 64);
    try {
      await this.media.scheduleOverlay({ id, content, animation: "slide", durationMs: 6_000 }, at);
      const fired = { kind: cue.kind, utteranceId: at.utteranceId, productId: product.id, text: "", durationMs: 6_000 };
      this.#events.cue(at.utteranceId, { ...fired, couponId: cue.couponId ?? "" }, at.atMs);
    } catch (err) {
      // An overlay the media graph refuses: the card is skipped, the show goes on.
      this.#deps.log.warn({ err, productId: product.id }, "overlay not shown");
    }
  }

  /**
   * A fault in this room's media graph, said on the room's events. When its output has stopped, the room is stalled
   * with the reason (PAUSED, "Stalled"): it stays visibly off air until it is stopped and started again.
   */
  #onMediaFault(event: { type: "frame_failed" | "failed"; error: string }): void {
    const failed = event.type === "failed";
    this.#deps.publish({
      $case: "error",
      value: {
        code: "output_failed",
        message: failed ? `media output stopped: ${event.error}` : `a video frame failed: ${event.error}`,
        retryable: !failed,
      },
    });
    if (failed) {
      this.#mediaStopped = `media output stopped: ${event.error}`;
      this.#setStalled(this.#mediaStopped);
    }
  }

  #setStalled(stalledFor: string | undefined): void {
    // A room whose output stopped stays stalled, whatever its voice does.
    const reason = stalledFor ?? this.#mediaStopped;
    if ((this.#stalled === undefined) !== (reason === undefined)) this.#metrics.stalled.inc(reason ? 1 : -1);
    this.#stalled = reason;
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.#wake = done;
    });
  }
}

function overlayFor(
  cue: BrainCue,
  product: Product,
  language: "zh" | "en",
  picture: string | undefined,
): OverlayContent | undefined {
  const price = product.price ? formatMoney(product.price, language) : "";
  switch (cue.kind) {
    case CueFired_Kind.KIND_PRODUCT_CARD:
      // The picture is the host's cached copy of the https image_uri (ProductImages), never a path a spec names.
      return {
        kind: "product-card",
        title: product.title,
        price,
        imagePath: picture,
        ...(product.stock <= 0 ? { soldOut: soldOutText(language) } : {}),
      };
    case CueFired_Kind.KIND_PRICE_TAG:
      return {
        kind: "price-tag",
        price,
        originalPrice: product.originalPrice ? formatMoney(product.originalPrice, language) : undefined,
        ...(product.stock <= 0 ? { soldOut: soldOutText(language) } : {}),
      };
    case CueFired_Kind.KIND_COUPON: {
      const coupon = product.coupons.find((c) => c.id === cue.couponId);
      return coupon ? { kind: "coupon", text: coupon.title } : undefined;
    }
    default:
      return undefined;
  }
}

const soldOutText = (language: "zh" | "en") => (language === "zh" ? "已售罄" : "Sold out");

const aiLabelCorners: Partial<Record<AiLabel_Position, LabelCorner>> = {
  [AiLabel_Position.POSITION_TOP_LEFT]: "top-left",
  [AiLabel_Position.POSITION_TOP_RIGHT]: "top-right",
  [AiLabel_Position.POSITION_BOTTOM_LEFT]: "bottom-left",
  [AiLabel_Position.POSITION_BOTTOM_RIGHT]: "bottom-right",
};

/** The quality gate's last minute as GetRoom shows it: the score and one reason per kind of defect found. */
function roomQuality(snapshot: QualitySnapshot | undefined): RoomQuality | undefined {
  if (!snapshot) return undefined;
  const { window } = snapshot;
  const reasons = new Map<string, string>();
  for (const defect of window.defects) reasons.set(defect.kind, defect.why);
  return {
    score: Math.round(window.score * 10) / 10,
    issues: [...reasons.values()],
    fps: window.video.fps ?? 0,
    avOffsetMs: window.offset?.ms ?? 0,
    loudnessLufs: window.audio.loudness.integratedLufs ?? 0,
    measureTime: new Date(),
  };
}

function defaultVoice(spec: RoomSpec): string {
  return spec.catalog?.language.startsWith("zh") ? "zh-female-warm" : "en-female-clear";
}

function defaultPersona(spec: RoomSpec) {
  const zh = spec.catalog?.language.startsWith("zh") ?? false;
  return {
    id: "default",
    name: zh ? "小雅" : "Ava",
    language: spec.catalog?.language ?? "en-US",
    style: "",
    catchphrases: [],
    rules: [],
  };
}

/** A stable seed per room: two rooms with one catalog word their shows differently. */
function seedOf(roomId: string): number {
  let h = 2166136261;
  for (const c of roomId) h = Math.imul(h ^ c.charCodeAt(0), 16777619);
  return h >>> 0;
}

function sourceName(source: UtteranceSource): string {
  return UtteranceSource[source].replace("UTTERANCE_SOURCE_", "").toLowerCase();
}
