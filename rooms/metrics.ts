// What an SRE watches of the rooms a host runs: how many are on air and stalled, what they say, and how long a
// viewer's question takes to be heard (the end-to-end budget), split by stage. Labels stay bounded: no room ids.
import { Counter, Gauge, Histogram, latencyBuckets, type Registry } from "../observability/index.js";

export interface RoomMetrics {
  onAir: Gauge;
  stalled: Gauge;
  utterances: Counter;
  /** Comment received by the room → the first sample of its answer handed to the muxer. */
  commentToAudio: Histogram;
  /** The stages of that path: moderation, brain, tts_first_chunk, lipsync_first_frame, mux. */
  stage: Histogram;
  speechFailures: Counter;
  showSentencesLeft: Counter;
  /** The comment → audio path minus the model compute in it (brain, TTS first chunk, lip-sync first frame). */
  answerOverhead: Histogram;
  /** A room that was on air, activated on this host (its previous host lost or draining) → streaming again. */
  backOnAir: Histogram;
  /** Events a room did not send because its host was not sure it still held the room, or another host did. */
  eventsFenced: Counter;
  /** Events sent, by whether they were also kept in the room's log (kept="true") or went out live only. */
  eventsSent: Counter<"kept">;
  /** What each tenant used, for billing: seconds on air, seconds of speech, video frames rendered. */
  tenantOnAirSeconds: Counter<"tenant">;
  tenantSpeechSeconds: Counter<"tenant">;
  tenantFrames: Counter<"tenant">;
  /** Comments found waiting when a room came back on another host, by what became of them. */
  commentsRecovered: Counter;
  commentDuplicates: Counter;
  /** Rooms on air whose spec hides the visible AI-content label (output.ai_label.hide_visible). */
  aiLabelHidden: Gauge;
  /** A 24/7 room's show written ahead (ShowScript.rewrite_ahead), by who wrote it: llm, embedded, or failed. */
  scriptRewrites: Counter<"author">;
  /** How long writing a show's next variations took (the budget: less than its last variation lasts). */
  scriptRewriteSeconds: Histogram;
  /** Sentences of rooms asking for the neural renderer that were animated on the viseme path instead. */
  lipsyncFallbacks: Counter;
  /** Rewritten shows that were not ready when the loop they were written for began (spoken from a later loop). */
  scriptRewritesLate: Counter;
  /**
   * Show sentences of rooms rendering ahead (ShowSettings.render_ahead), by outcome: rendered (kept ahead of its turn),
   * kept_live (streamed live and kept), played (from what was kept), missed (streamed live: not rendered yet), evicted
   * (dropped to stay within the room's bound, or stale), failed (a render that did not complete).
   */
  prerenderSentences: Counter<"outcome">;
  /** Bytes the rooms on this host keep rendered ahead (speech, timings, mouth patches once each). */
  prerenderKeptBytes: Gauge;
  /** Seconds worker streams were held rendering ahead (a render's TTS and lip-sync streams run side by side). */
  prerenderWorkerSeconds: Counter;
  /** Answer sentences of rooms rendering ahead: played from what was kept (the same sentence said before), or live. */
  answerSentences: Counter<"from">;
}

const registries = new WeakMap<Registry, RoomMetrics>();

/** The rooms' metrics on `registry`, made once per registry (every room of a host shares them). */
export function roomMetrics(registry: Registry): RoomMetrics {
  let metrics = registries.get(registry);
  if (metrics) return metrics;
  metrics = {
    onAir: new Gauge({
      name: "livehost_rooms_on_air",
      help: "Rooms this host has on air (live or paused).",
      registers: [registry],
    }),
    aiLabelHidden: new Gauge({
      name: "livehost_ai_label_hidden_rooms",
      help: "Rooms on air here whose spec turns the visible AI-content label off (the metadata label stays).",
      registers: [registry],
    }),
    stalled: new Gauge({
      name: "livehost_rooms_stalled",
      help: "Rooms on air that cannot speak now (no worker, speech failing): they show idle video.",
      registers: [registry],
    }),
    utterances: new Counter({
      name: "livehost_room_utterances_total",
      help: "Sentences spoken, by source (show, answer, human) and whether they were cut short.",
      labelNames: ["source", "interrupted"],
      registers: [registry],
    }),
    commentToAudio: new Histogram({
      name: "livehost_room_comment_to_audio_seconds",
      help: "From a viewer's comment reaching its room to the first sample of the answer going into the stream.",
      buckets: latencyBuckets,
      registers: [registry],
    }),
    stage: new Histogram({
      name: "livehost_room_answer_stage_seconds",
      help: "The stages of answering a comment: moderation, brain, tts_first_chunk, lipsync_first_frame, mux.",
      labelNames: ["stage"],
      buckets: latencyBuckets,
      registers: [registry],
    }),
    answerOverhead: new Histogram({
      name: "livehost_room_answer_overhead_seconds",
      help: "Comment → answer audio minus the model compute in it (brain, TTS first chunk, lip-sync first frame).",
      buckets: latencyBuckets,
      registers: [registry],
    }),
    backOnAir: new Histogram({
      name: "livehost_room_back_on_air_seconds",
      help: "A room that was on air, from its activation on this host to its media graph streaming again.",
      buckets: [0.1, 0.25, 0.5, 1, 2, 3, 5, 10, 30],
      registers: [registry],
    }),
    eventsFenced: new Counter({
      name: "livehost_room_events_fenced_total",
      help: "Room events not sent: the host was not sure it still held the room (paused, cut off) or another host did.",
      registers: [registry],
    }),
    eventsSent: new Counter({
      name: "livehost_room_events_sent_total",
      help: "Room events sent, by kept: true when also stored in the room's log (one replicated write each), false live only (the show's sentences and cues).",
      labelNames: ["kept"],
      registers: [registry],
    }),
    commentsRecovered: new Counter({
      name: "livehost_room_comments_recovered_total",
      help: "Comments waiting when a room came back on this host: requeued, already_handled (by the last host), expired.",
      labelNames: ["outcome"],
      registers: [registry],
    }),
    commentDuplicates: new Counter({
      name: "livehost_room_comment_duplicates_total",
      help: "Comments a room dropped because one with the same comment_id is waiting or had its outcome lately (published again past JetStream's duplicate window, or under another message id).",
      registers: [registry],
    }),
    tenantOnAirSeconds: new Counter({
      name: "livehost_tenant_on_air_seconds_total",
      help: "Seconds this host kept each tenant's rooms on air (billing: room-minutes), by tenant.",
      labelNames: ["tenant"],
      registers: [registry],
    }),
    tenantSpeechSeconds: new Counter({
      name: "livehost_tenant_speech_seconds_total",
      help: "Seconds of speech each tenant's rooms said on this host (show, answers, human lines), by tenant.",
      labelNames: ["tenant"],
      registers: [registry],
    }),
    tenantFrames: new Counter({
      name: "livehost_tenant_frames_total",
      help: "Video frames this host rendered for each tenant's rooms, by tenant.",
      labelNames: ["tenant"],
      registers: [registry],
    }),
    speechFailures: new Counter({
      name: "livehost_room_speech_failures_total",
      help: "Sentences a room could not speak (every TTS worker tried failed or none was free).",
      registers: [registry],
    }),
    showSentencesLeft: new Counter({
      name: "livehost_room_show_sentences_left_total",
      help: "Show sentences cut a second time and left behind: the show moved on to the next one instead of saying it a third time.",
      registers: [registry],
    }),
    scriptRewrites: new Counter({
      name: "livehost_room_script_rewrites_total",
      help: "24/7 rooms' shows written ahead (ShowScript.rewrite_ahead), by author: llm, embedded (no LLM, or it failed), failed (the room kept its variations).",
      labelNames: ["author"],
      registers: [registry],
    }),
    scriptRewriteSeconds: new Histogram({
      name: "livehost_room_script_rewrite_seconds",
      help: "Time to write a 24/7 room's next variations, from the start of its last variation; must stay below that variation's length.",
      buckets: [0.1, 0.5, 1, 5, 15, 30, 60, 120, 300, 600],
      registers: [registry],
    }),
    lipsyncFallbacks: new Counter({
      name: "livehost_room_lipsync_fallbacks_total",
      help: "Sentences of rooms whose avatar asks for the neural renderer animated on the viseme path: no lip-sync worker with a talking-face generator was free, or it refused the avatar (no face box).",
      registers: [registry],
    }),
    prerenderSentences: new Counter({
      name: "livehost_room_prerender_sentences_total",
      help: "Show sentences of rooms rendering ahead (spec.show.render_ahead), by outcome: rendered (ahead of its turn), kept_live (streamed live and kept), played (from what was kept, no worker asked), missed (streamed live: not rendered yet), evicted (dropped to stay within the room's bound, or stale), failed (a render that did not complete).",
      labelNames: ["outcome"],
      registers: [registry],
    }),
    prerenderKeptBytes: new Gauge({
      name: "livehost_room_prerender_kept_bytes",
      help: "Bytes the rooms on this host keep rendered ahead: speech, word timings, and each distinct mouth patch once (neural patches compressed).",
      registers: [registry],
    }),
    prerenderWorkerSeconds: new Counter({
      name: "livehost_room_prerender_worker_seconds_total",
      help: "Seconds TTS and lip-sync streams were held rendering show sentences ahead (one render's two streams run side by side and count once).",
      registers: [registry],
    }),
    answerSentences: new Counter({
      name: "livehost_room_answer_sentences_total",
      help: "Answer sentences of rooms rendering ahead (spec.show.render_ahead), by where they came from: kept (the same sentence was said before and kept, no worker asked) or live (streamed from the workers, then kept while there is room).",
      labelNames: ["from"],
      registers: [registry],
    }),
    scriptRewritesLate: new Counter({
      name: "livehost_room_script_rewrites_late_total",
      help: "Rewritten shows not ready when the loop they were written for began: the room said its old variations again meanwhile.",
      registers: [registry],
    }),
  };
  registries.set(registry, metrics);
  return metrics;
}
