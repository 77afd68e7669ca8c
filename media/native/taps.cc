// Taps on a room's main pipeline that work on its streaming threads, so that nothing per buffer waits for the
// JavaScript thread (which, at 50 rooms a host, is busy with everything else):
//
// - The FLV relay: a buffer probe on the FLV muxer's source pad hands each tag straight to the appsrc of every RTMP
//   push pipeline (see rtmp.ts), each target from a key frame on, after the stream's header (FLV header, metadata,
//   codec configurations, from the muxer's caps). A target whose queue is past its cap skips to the next key frame.
//   Tags can be stamped later by a fixed offset (tests start the clock near RTMP's 24-bit wrap).
// - The encoder clock: probes on the encoder's pads note when each frame went in and came out (wall clock), so that
//   the room can say when a given moment of its stream left the encoder, and how long encoding took.
// - GLib's log: GStreamer's warnings and criticals counted (and the last few kept) as they are printed.
//
// Handles are bigints holding a counted pointer: one count is the JavaScript side's (given back with the matching
// close), one the probe's (given back by GStreamer when the probe goes with its pad). Elements come from
// gstreamer-superficial's wrappers, read as appsrc.cc does.
#include <nan.h>
#include <gst/app/gstappsrc.h>
#include <gst/gst.h>

#include <atomic>
#include <cstring>
#include <mutex>
#include <string>
#include <vector>

namespace {

class GObjectWrapLayout : public Nan::ObjectWrap {
 public:
  GObject *obj;
};

GstElement *ElementOf(v8::Local<v8::Value> value) {
  if (!value->IsObject() || value.As<v8::Object>()->InternalFieldCount() < 1) return nullptr;
  auto *wrap = Nan::ObjectWrap::Unwrap<GObjectWrapLayout>(value.As<v8::Object>());
  if (wrap == nullptr || wrap->obj == nullptr || !GST_IS_ELEMENT(wrap->obj)) return nullptr;
  return GST_ELEMENT(wrap->obj);
}

template <typename T>
T *FromHandle(v8::Local<v8::Value> value) {
  if (!value->IsBigInt()) return nullptr;
  bool lossless = false;
  uint64_t raw = value.As<v8::BigInt>()->Uint64Value(&lossless);
  return lossless && raw != 0 ? reinterpret_cast<T *>(static_cast<uintptr_t>(raw)) : nullptr;
}

template <typename T>
v8::Local<v8::BigInt> ToHandle(T *pointer) {
  return v8::BigInt::NewFromUnsigned(v8::Isolate::GetCurrent(), static_cast<uint64_t>(reinterpret_cast<uintptr_t>(pointer)));
}

double UnixMs() { return g_get_real_time() / 1000.0; }

// ---- The FLV relay -------------------------------------------------------------------------------------------

struct Target {
  uint32_t id;
  GstAppSrc *src;
  bool waitingForKeyframe;
  int64_t offsetMs;
};

struct Relay {
  std::mutex lock;
  std::vector<Target> targets;
  std::vector<GstBuffer *> header;
  uint32_t nextId = 1;
  uint64_t maxQueuedBytes;
  std::atomic<uint64_t> bytes{0};
  std::atomic<uint64_t> skipped{0};
  std::atomic<int> refs{2};
  bool closed = false;

  explicit Relay(uint64_t cap) : maxQueuedBytes(cap) {}
  ~Relay() {
    for (auto &target : targets) gst_object_unref(target.src);
    for (auto *buffer : header) gst_buffer_unref(buffer);
  }
};

void Unref(Relay *relay) {
  if (--relay->refs == 0) delete relay;
}

bool IsVideoKeyframe(GstBuffer *tag) {
  guint8 bytes[12];
  if (gst_buffer_extract(tag, 0, bytes, sizeof bytes) < sizeof bytes) return false;
  return bytes[0] == 9 && (bytes[11] >> 4) == 1;
}

// The tag stamped `offsetMs` later (24 bits, then the extended byte); the file header ("FLV") as it is.
GstBuffer *Stamped(GstBuffer *tag, int64_t offsetMs) {
  guint8 head[11];
  if (offsetMs == 0 || gst_buffer_extract(tag, 0, head, sizeof head) < sizeof head || memcmp(head, "FLV", 3) == 0) {
    return gst_buffer_ref(tag);
  }
  uint32_t ms = ((uint32_t{head[4]} << 16) | (uint32_t{head[5]} << 8) | head[6] | (uint32_t{head[7]} << 24)) +
                static_cast<uint32_t>(offsetMs);
  head[4] = (ms >> 16) & 0xff;
  head[5] = (ms >> 8) & 0xff;
  head[6] = ms & 0xff;
  head[7] = (ms >> 24) & 0xff;
  GstBuffer *copy = gst_buffer_copy_deep(tag);
  gst_buffer_fill(copy, 4, head + 4, 4);
  return copy;
}

void Push(Target &target, GstBuffer *tag) { gst_app_src_push_buffer(target.src, Stamped(tag, target.offsetMs)); }

GstPadProbeReturn OnFlvTag(GstPad *pad, GstPadProbeInfo *info, gpointer user) {
  auto *relay = static_cast<Relay *>(user);
  GstBuffer *tag = GST_PAD_PROBE_INFO_BUFFER(info);
  if (tag == nullptr) return GST_PAD_PROBE_OK;
  relay->bytes += gst_buffer_get_size(tag);
  std::lock_guard<std::mutex> guard(relay->lock);
  if (relay->header.empty()) {
    GstCaps *caps = gst_pad_get_current_caps(pad);
    const GValue *streamheader =
        caps != nullptr ? gst_structure_get_value(gst_caps_get_structure(caps, 0), "streamheader") : nullptr;
    if (streamheader != nullptr && GST_VALUE_HOLDS_ARRAY(streamheader)) {
      for (guint i = 0; i < gst_value_array_get_size(streamheader); i++) {
        const GValue *item = gst_value_array_get_value(streamheader, i);
        if (GST_VALUE_HOLDS_BUFFER(item)) relay->header.push_back(gst_buffer_ref(gst_value_get_buffer(item)));
      }
    }
    if (caps != nullptr) gst_caps_unref(caps);
  }
  if (relay->targets.empty()) return GST_PAD_PROBE_OK;
  bool keyframe = IsVideoKeyframe(tag);
  for (auto &target : relay->targets) {
    if (gst_app_src_get_current_level_bytes(target.src) > relay->maxQueuedBytes) {
      relay->skipped++;
      target.waitingForKeyframe = true;
      continue;
    }
    if (target.waitingForKeyframe) {
      if (!keyframe || relay->header.empty()) continue;
      target.waitingForKeyframe = false;
      for (auto *buffer : relay->header) Push(target, buffer);
    }
    Push(target, tag);
  }
  return GST_PAD_PROBE_OK;
}

void ProbeGone(gpointer user) { Unref(static_cast<Relay *>(user)); }

// relay(muxer, maxQueuedBytes): a relay of every buffer `muxer` puts out on its src pad; close it with relayClose.
NAN_METHOD(RelayOpen) {
  GstElement *muxer = ElementOf(info[0]);
  if (muxer == nullptr || !info[1]->IsNumber()) return Nan::ThrowTypeError("relay: expected (muxer, maxQueuedBytes)");
  GstPad *pad = gst_element_get_static_pad(muxer, "src");
  if (pad == nullptr) return Nan::ThrowError("relay: the muxer has no src pad");
  auto *relay = new Relay(static_cast<uint64_t>(info[1].As<v8::Number>()->Value()));
  gst_pad_add_probe(pad, GST_PAD_PROBE_TYPE_BUFFER, OnFlvTag, relay, ProbeGone);
  gst_object_unref(pad);
  info.GetReturnValue().Set(ToHandle(relay));
}

// relayAdd(relay, appsrc, offsetMs): the appsrc gets the stream from the next key frame on; returns the target's id.
NAN_METHOD(RelayAdd) {
  auto *relay = FromHandle<Relay>(info[0]);
  GstElement *src = ElementOf(info[1]);
  if (relay == nullptr || src == nullptr || !GST_IS_APP_SRC(src) || !info[2]->IsNumber()) {
    return Nan::ThrowTypeError("relayAdd: expected (relay, appsrc, offsetMs)");
  }
  std::lock_guard<std::mutex> guard(relay->lock);
  if (relay->closed) return Nan::ThrowError("relayAdd: the relay is closed");
  uint32_t id = relay->nextId++;
  gst_object_ref(src);
  relay->targets.push_back({id, GST_APP_SRC(src), true, static_cast<int64_t>(info[2].As<v8::Number>()->Value())});
  info.GetReturnValue().Set(id);
}

// relayRemove(relay, id): nothing more goes to that target (false if it was not there).
NAN_METHOD(RelayRemove) {
  auto *relay = FromHandle<Relay>(info[0]);
  if (relay == nullptr || !info[1]->IsUint32()) return Nan::ThrowTypeError("relayRemove: expected (relay, id)");
  uint32_t id = info[1].As<v8::Uint32>()->Value();
  std::lock_guard<std::mutex> guard(relay->lock);
  for (auto it = relay->targets.begin(); it != relay->targets.end(); ++it) {
    if (it->id != id) continue;
    gst_object_unref(it->src);
    relay->targets.erase(it);
    return info.GetReturnValue().Set(true);
  }
  info.GetReturnValue().Set(false);
}

// relayTake(relay): [bytes relayed, tags skipped for full targets] since the last call.
NAN_METHOD(RelayTake) {
  auto *relay = FromHandle<Relay>(info[0]);
  if (relay == nullptr) return Nan::ThrowTypeError("relayTake: expected a relay");
  v8::Local<v8::Array> counts = Nan::New<v8::Array>(2);
  Nan::Set(counts, 0, Nan::New(static_cast<double>(relay->bytes.exchange(0))));
  Nan::Set(counts, 1, Nan::New(static_cast<double>(relay->skipped.exchange(0))));
  info.GetReturnValue().Set(counts);
}

// relayClose(relay): drops every target; the handle must not be used after.
NAN_METHOD(RelayClose) {
  auto *relay = FromHandle<Relay>(info[0]);
  if (relay == nullptr) return Nan::ThrowTypeError("relayClose: expected a relay");
  {
    std::lock_guard<std::mutex> guard(relay->lock);
    relay->closed = true;
    for (auto &target : relay->targets) gst_object_unref(target.src);
    relay->targets.clear();
  }
  Unref(relay);
}

// ---- The encoder clock ---------------------------------------------------------------------------------------

constexpr size_t kFrames = 512;  // about 20 s at 25 fps

// A frame's input timestamp and its wall times in and out. The encoder's output is matched to its input by order,
// not by timestamp (encoders put out frames in input order without B-frames, as the room's are set; and they may
// restamp them: x264enc and the video encoder base class shift timestamps by 1000 hours to keep DTS positive).
struct Stamp {
  GstClockTime pts = GST_CLOCK_TIME_NONE;
  double inMs = 0;
  double outMs = 0;
};

struct EncoderClock {
  std::mutex lock;
  Stamp frames[kFrames];
  uint64_t in = 0;   // frames that went in; frames[in % kFrames] is the next
  uint64_t out = 0;  // frames that came out
  std::vector<double> encodeMs;  // frames out since the last take: how long each was in the encoder
  std::atomic<int> refs{3};      // JavaScript's, and each of the two probes'
};

void Unref(EncoderClock *clock) {
  if (--clock->refs == 0) delete clock;
}

struct ClockProbe {
  EncoderClock *clock;
  bool input;
};

GstPadProbeReturn OnEncoderBuffer(GstPad *, GstPadProbeInfo *info, gpointer user) {
  auto *probe = static_cast<ClockProbe *>(user);
  GstBuffer *buffer = GST_PAD_PROBE_INFO_BUFFER(info);
  if (buffer == nullptr) return GST_PAD_PROBE_OK;
  double now = UnixMs();
  EncoderClock *clock = probe->clock;
  std::lock_guard<std::mutex> guard(clock->lock);
  if (probe->input) {
    clock->frames[clock->in++ % kFrames] = {GST_BUFFER_PTS(buffer), now, 0};
    // An encoder far behind (or one that dropped frames): the oldest are forgotten, not matched wrongly.
    if (clock->in - clock->out > kFrames / 2) clock->out = clock->in - kFrames / 2;
  } else if (clock->out < clock->in) {
    Stamp &slot = clock->frames[clock->out++ % kFrames];
    slot.outMs = now;
    if (clock->encodeMs.size() < kFrames) clock->encodeMs.push_back(now - slot.inMs);
  }
  return GST_PAD_PROBE_OK;
}

void ClockProbeGone(gpointer user) {
  auto *probe = static_cast<ClockProbe *>(user);
  Unref(probe->clock);
  delete probe;
}

// encoderClock(encoder): notes each frame's wall time into and out of `encoder`.
NAN_METHOD(EncoderClockOpen) {
  GstElement *encoder = ElementOf(info[0]);
  if (encoder == nullptr) return Nan::ThrowTypeError("encoderClock: expected an encoder");
  GstPad *sink = gst_element_get_static_pad(encoder, "sink");
  GstPad *src = gst_element_get_static_pad(encoder, "src");
  if (sink == nullptr || src == nullptr) {
    if (sink != nullptr) gst_object_unref(sink);
    if (src != nullptr) gst_object_unref(src);
    return Nan::ThrowError("encoderClock: the encoder has no sink and src pads");
  }
  auto *clock = new EncoderClock();
  gst_pad_add_probe(sink, GST_PAD_PROBE_TYPE_BUFFER, OnEncoderBuffer, new ClockProbe{clock, true}, ClockProbeGone);
  gst_pad_add_probe(src, GST_PAD_PROBE_TYPE_BUFFER, OnEncoderBuffer, new ClockProbe{clock, false}, ClockProbeGone);
  gst_object_unref(sink);
  gst_object_unref(src);
  info.GetReturnValue().Set(ToHandle(clock));
}

// encodedAt(clock, ptsNs): the wall time (Unix ms) the first frame stamped at or after `ptsNs` on its way in came
// out of the encoder, if it is still remembered and out; undefined otherwise.
NAN_METHOD(EncodedAt) {
  auto *clock = FromHandle<EncoderClock>(info[0]);
  if (clock == nullptr || !info[1]->IsNumber()) return Nan::ThrowTypeError("encodedAt: expected (clock, ptsNs)");
  auto pts = static_cast<GstClockTime>(info[1].As<v8::Number>()->Value());
  std::lock_guard<std::mutex> guard(clock->lock);
  const Stamp *best = nullptr;
  for (const auto &slot : clock->frames) {
    if (slot.pts == GST_CLOCK_TIME_NONE || slot.pts < pts || slot.outMs == 0) continue;
    if (best == nullptr || slot.pts < best->pts) best = &slot;
  }
  if (best != nullptr) info.GetReturnValue().Set(best->outMs);
}

// encodeTimes(clock): milliseconds each frame spent in the encoder, for frames out since the last call.
NAN_METHOD(EncodeTimes) {
  auto *clock = FromHandle<EncoderClock>(info[0]);
  if (clock == nullptr) return Nan::ThrowTypeError("encodeTimes: expected a clock");
  std::vector<double> taken;
  {
    std::lock_guard<std::mutex> guard(clock->lock);
    taken.swap(clock->encodeMs);
  }
  v8::Local<v8::Array> times = Nan::New<v8::Array>(taken.size());
  for (size_t i = 0; i < taken.size(); i++) Nan::Set(times, i, Nan::New(taken[i]));
  info.GetReturnValue().Set(times);
}

// encoderClockClose(clock): the handle must not be used after.
NAN_METHOD(EncoderClockClose) {
  auto *clock = FromHandle<EncoderClock>(info[0]);
  if (clock == nullptr) return Nan::ThrowTypeError("encoderClockClose: expected a clock");
  Unref(clock);
}

// ---- GLib's log ----------------------------------------------------------------------------------------------

// GStreamer (and GLib under it) report what goes wrong on their own threads through GLib's log: "Got data flow before
// segment event", failed assertions. They are bugs when a room runs normally, so they are counted and the last few
// kept, for the metrics and for tests to fail on; they are still printed as GLib prints them.
struct LogWatch {
  std::mutex lock;
  double warnings = 0;
  double criticals = 0;
  std::vector<std::string> recent;  // the last kLogKept, oldest first
};
std::atomic<bool> logQuiet{false};  // counted and kept, not printed
constexpr size_t kLogKept = 16;
LogWatch *logWatch = nullptr;

void OnLog(const gchar *domain, GLogLevelFlags level, const gchar *message, gpointer) {
  if ((level & (G_LOG_LEVEL_WARNING | G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_ERROR)) != 0) {
    std::lock_guard<std::mutex> guard(logWatch->lock);
    if ((level & G_LOG_LEVEL_WARNING) != 0) logWatch->warnings++;
    else logWatch->criticals++;
    std::string text = std::string(domain != nullptr ? domain : "") + ((level & G_LOG_LEVEL_WARNING) ? "-WARNING: " : "-CRITICAL: ") +
                       (message != nullptr ? message : "");
    if (logWatch->recent.size() == kLogKept) logWatch->recent.erase(logWatch->recent.begin());
    logWatch->recent.push_back(std::move(text));
    if (logQuiet) return;
  }
  g_log_default_handler(domain, level, message, nullptr);
}

// logWatch(): from now on, this process's GLib warnings and criticals are counted (once per process; the handler is
// GLib's default one, used by every domain that has none of its own, GStreamer's included).
NAN_METHOD(LogWatchStart) {
  static std::once_flag once;
  std::call_once(once, [] {
    logWatch = new LogWatch();
    g_log_set_default_handler(OnLog, nullptr);
  });
}

// logQuiet(quiet): while true, warnings and criticals are counted and kept but not printed (a test that injects a
// fault GStreamer complains about, so that the suite's output shows only what is wrong).
NAN_METHOD(LogQuiet) { logQuiet = Nan::To<bool>(info[0]).FromMaybe(false); }

// logCounts(): [warnings, criticals, the last messages] since logWatch().
NAN_METHOD(LogCounts) {
  if (logWatch == nullptr) return Nan::ThrowError("logCounts: logWatch() first");
  std::lock_guard<std::mutex> guard(logWatch->lock);
  v8::Local<v8::Array> recent = Nan::New<v8::Array>(logWatch->recent.size());
  for (size_t i = 0; i < logWatch->recent.size(); i++) Nan::Set(recent, i, Nan::New(logWatch->recent[i]).ToLocalChecked());
  v8::Local<v8::Array> result = Nan::New<v8::Array>(3);
  Nan::Set(result, 0, Nan::New(logWatch->warnings));
  Nan::Set(result, 1, Nan::New(logWatch->criticals));
  Nan::Set(result, 2, recent);
  info.GetReturnValue().Set(result);
}

}  // namespace

NODE_MODULE_INIT() {
  Nan::SetMethod(exports, "logWatch", LogWatchStart);
  Nan::SetMethod(exports, "logCounts", LogCounts);
  Nan::SetMethod(exports, "logQuiet", LogQuiet);
  Nan::SetMethod(exports, "relay", RelayOpen);
  Nan::SetMethod(exports, "relayAdd", RelayAdd);
  Nan::SetMethod(exports, "relayRemove", RelayRemove);
  Nan::SetMethod(exports, "relayTake", RelayTake);
  Nan::SetMethod(exports, "relayClose", RelayClose);
  Nan::SetMethod(exports, "encoderClock", EncoderClockOpen);
  Nan::SetMethod(exports, "encodedAt", EncodedAt);
  Nan::SetMethod(exports, "encodeTimes", EncodeTimes);
  Nan::SetMethod(exports, "encoderClockClose", EncoderClockClose);
}
