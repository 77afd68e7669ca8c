// WebRTC viewers of a room's main pipeline: one webrtcbin per viewer, fed from the room's shared encodes (media/
// webrtc.ts decides the shape of each viewer's bin and checks the offer; this file does what gstreamer-superficial
// cannot: GObject signals with GstPromise). A viewer's bin is added to the pipeline, its offer set, its transceivers
// made send-only with the codec the offer named, its pads linked to the shared tees, then the answer is made and
// set, and ICE gathering is waited for (no trickle: the answer carries every candidate). That sequence runs on a
// thread of its own per viewer, waiting on each GstPromise in turn; results and connection states come back to the
// JavaScript thread through one uv_async. Removal (on request, or when JavaScript decides a failed viewer is gone)
// runs on a thread too: the tees' pads are unlinked between two buffers and released, the bin is taken out of the
// pipeline's state changes, set to NULL (its streaming threads stopped) and taken out of the pipeline.
//
// Main thread only: the binding's wrappers belong to one isolate, so this addon keeps its sessions in one table.
#include <nan.h>
#include <gst/gst.h>
#include <gst/sdp/sdp.h>
#define GST_USE_UNSTABLE_API
#include <gst/webrtc/webrtc.h>

#include <cstdint>
#include <cstring>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace {

// The layout of gstreamer-superficial's GObjectWrap (see appsrc.cc): a Nan::ObjectWrap whose one member is the
// wrapped GObject. media/webrtc.ts checks the wrapper's class before it hands one over.
class GObjectWrapLayout : public Nan::ObjectWrap {
 public:
  GObject *obj;
};

struct Event {
  uint32_t id;
  std::string type;  // "answer", "error", "state", "closed"
  std::string text;  // the answer SDP, an error message, or the connection state
};

struct Branch {
  GstElement *tee = nullptr;  // ref
  GstPad *teePad = nullptr;   // ref, once requested
  int mline = -1;
  std::string caps;           // the codec the offer named, for the transceiver's codec-preferences
  std::string element;        // the bin's element whose src pad feeds webrtcbin
  std::string ghost;          // the bin's ghost sink pad the tee links to
};

struct Session {
  uint32_t id = 0;
  GstElement *pipeline = nullptr;  // ref
  GstElement *bin = nullptr;       // ref
  GstElement *webrtc = nullptr;    // ref
  GstWebRTCICE *ice = nullptr;     // ref, let go last (see TearDown)
  Branch video, audio;
  std::string offer;
  guint64 gatherTimeoutUs = 0;
  GThread *negotiation = nullptr;
  GMutex lock;
  GCond changed;
  bool closing = false;  // under lock
  bool gathered = false;  // under lock
};

std::mutex eventsLock;
std::vector<Event> events;
uv_async_t *wake = nullptr;
Nan::Callback *onEvents = nullptr;

std::mutex sessionsLock;
std::map<uint32_t, Session *> sessions;

void Post(uint32_t id, const char *type, const std::string &text) {
  {
    std::lock_guard<std::mutex> guard(eventsLock);
    events.push_back(Event{id, type, text});
  }
  if (wake != nullptr) uv_async_send(wake);
}

void Deliver(uv_async_t *) {
  std::vector<Event> batch;
  {
    std::lock_guard<std::mutex> guard(eventsLock);
    batch.swap(events);
  }
  if (batch.empty() || onEvents == nullptr) return;
  Nan::HandleScope scope;
  v8::Local<v8::Array> list = Nan::New<v8::Array>(static_cast<uint32_t>(batch.size()));
  for (uint32_t i = 0; i < batch.size(); i++) {
    v8::Local<v8::Object> event = Nan::New<v8::Object>();
    Nan::Set(event, Nan::New("id").ToLocalChecked(), Nan::New(batch[i].id));
    Nan::Set(event, Nan::New("type").ToLocalChecked(), Nan::New(batch[i].type).ToLocalChecked());
    Nan::Set(event, Nan::New("text").ToLocalChecked(), Nan::New(batch[i].text).ToLocalChecked());
    Nan::Set(list, i, event);
  }
  v8::Local<v8::Value> argv[] = {list};
  Nan::AsyncResource resource("livehost:webrtc");
  onEvents->Call(1, argv, &resource);
}

GstElement *ElementOf(v8::Local<v8::Value> value) {
  if (!value->IsObject() || value.As<v8::Object>()->InternalFieldCount() < 1) return nullptr;
  auto *wrap = Nan::ObjectWrap::Unwrap<GObjectWrapLayout>(value.As<v8::Object>());
  if (wrap == nullptr || wrap->obj == nullptr || !GST_IS_ELEMENT(wrap->obj)) return nullptr;
  return GST_ELEMENT(wrap->obj);
}

// The top-level pipeline holding `element` (a new reference), or null.
GstElement *PipelineOf(GstElement *element) {
  GstObject *at = GST_OBJECT(gst_object_ref(element));
  while (true) {
    GstObject *parent = gst_object_get_parent(at);
    if (parent == nullptr) break;
    gst_object_unref(at);
    at = parent;
  }
  if (!GST_IS_PIPELINE(at)) {
    gst_object_unref(at);
    return nullptr;
  }
  return GST_ELEMENT(at);
}

// Messages from inside a viewer's bin are that viewer's business: an error there (DTLS failed, a send error) ends the
// viewer, never the room's pipeline, which the graph would otherwise rebuild.
GstBusSyncReply OnBusMessage(GstBus *, GstMessage *message, gpointer) {
  if (GST_MESSAGE_TYPE(message) != GST_MESSAGE_ERROR && GST_MESSAGE_TYPE(message) != GST_MESSAGE_WARNING) {
    return GST_BUS_PASS;
  }
  GstObject *at = GST_MESSAGE_SRC(message) ? GST_OBJECT(gst_object_ref(GST_MESSAGE_SRC(message))) : nullptr;
  uint32_t id = 0;
  while (at != nullptr) {
    const char *name = GST_OBJECT_NAME(at);
    if (name != nullptr && g_str_has_prefix(name, "whep_")) id = static_cast<uint32_t>(g_ascii_strtoull(name + 5, nullptr, 10));
    GstObject *parent = gst_object_get_parent(at);
    gst_object_unref(at);
    at = parent;
    if (id != 0) {
      if (at != nullptr) gst_object_unref(at);
      break;
    }
  }
  if (id == 0) return GST_BUS_PASS;
  if (GST_MESSAGE_TYPE(message) == GST_MESSAGE_ERROR) {
    GError *error = nullptr;
    gst_message_parse_error(message, &error, nullptr);
    Post(id, "error", error != nullptr ? error->message : "error");
    if (error != nullptr) g_error_free(error);
  }
  return GST_BUS_DROP;
}

void WatchPipelineBus(GstElement *pipeline) {
  if (g_object_get_data(G_OBJECT(pipeline), "livehost-whep-bus") != nullptr) return;
  g_object_set_data(G_OBJECT(pipeline), "livehost-whep-bus", GINT_TO_POINTER(1));
  GstBus *bus = gst_element_get_bus(pipeline);
  gst_bus_set_sync_handler(bus, OnBusMessage, nullptr, nullptr);
  gst_object_unref(bus);
}

const char *StateName(GstWebRTCPeerConnectionState state) {
  switch (state) {
    case GST_WEBRTC_PEER_CONNECTION_STATE_NEW: return "new";
    case GST_WEBRTC_PEER_CONNECTION_STATE_CONNECTING: return "connecting";
    case GST_WEBRTC_PEER_CONNECTION_STATE_CONNECTED: return "connected";
    case GST_WEBRTC_PEER_CONNECTION_STATE_DISCONNECTED: return "disconnected";
    case GST_WEBRTC_PEER_CONNECTION_STATE_FAILED: return "failed";
    case GST_WEBRTC_PEER_CONNECTION_STATE_CLOSED: return "closed";
  }
  return "unknown";
}

void OnConnectionState(GstElement *webrtc, GParamSpec *, gpointer data) {
  auto *session = static_cast<Session *>(data);
  GstWebRTCPeerConnectionState state;
  g_object_get(webrtc, "connection-state", &state, nullptr);
  Post(session->id, "state", StateName(state));
}

void OnGatheringState(GstElement *webrtc, GParamSpec *, gpointer data) {
  auto *session = static_cast<Session *>(data);
  GstWebRTCICEGatheringState state;
  g_object_get(webrtc, "ice-gathering-state", &state, nullptr);
  if (state != GST_WEBRTC_ICE_GATHERING_STATE_COMPLETE) return;
  g_mutex_lock(&session->lock);
  session->gathered = true;
  g_cond_broadcast(&session->changed);
  g_mutex_unlock(&session->lock);
}

bool Closing(Session *session) {
  g_mutex_lock(&session->lock);
  bool closing = session->closing;
  g_mutex_unlock(&session->lock);
  return closing;
}

// Emits a webrtcbin action with a promise and waits for its reply; false (and `error`) when it failed.
bool Await(Session *session, const char *action, GstWebRTCSessionDescription *description, GstStructure **reply,
           std::string *error) {
  GstPromise *promise = gst_promise_new();
  if (description != nullptr) {
    g_signal_emit_by_name(session->webrtc, action, description, promise);
  } else {
    g_signal_emit_by_name(session->webrtc, action, nullptr, promise);
  }
  GstPromiseResult result = gst_promise_wait(promise);
  if (result != GST_PROMISE_RESULT_REPLIED) {
    gst_promise_unref(promise);
    *error = std::string(action) + ": no reply";
    return false;
  }
  const GstStructure *answer = gst_promise_get_reply(promise);
  if (answer != nullptr && gst_structure_has_field(answer, "error")) {
    GError *gerror = nullptr;
    gst_structure_get(answer, "error", G_TYPE_ERROR, &gerror, nullptr);
    *error = std::string(action) + ": " + (gerror != nullptr ? gerror->message : "failed");
    if (gerror != nullptr) g_error_free(gerror);
    gst_promise_unref(promise);
    return false;
  }
  if (reply != nullptr) *reply = answer != nullptr ? gst_structure_copy(answer) : nullptr;
  gst_promise_unref(promise);
  return true;
}

// A sink pad of webrtcbin locked to m-line `mline` of the offer, its transceiver made send-only with the offer's
// codec, linked from the bin's payloader. (webrtcbin 1.22 associates transceivers with the offer's m-lines only once
// the answer is set, and matches them to m-lines in create-answer by their codec preferences.)
bool LinkBranch(Session *session, Branch &branch, std::string *error) {
  if (branch.tee == nullptr) return true;
  std::string padName = "sink_" + std::to_string(branch.mline);
  GstPad *sink = gst_element_request_pad_simple(session->webrtc, padName.c_str());
  if (sink == nullptr) {
    *error = "webrtcbin gave no pad " + padName;
    return false;
  }
  GstWebRTCRTPTransceiver *transceiver = nullptr;
  g_object_get(sink, "transceiver", &transceiver, nullptr);
  GstCaps *caps = gst_caps_from_string(branch.caps.c_str());
  if (transceiver == nullptr || caps == nullptr) {
    if (transceiver != nullptr) gst_object_unref(transceiver);
    if (caps != nullptr) gst_caps_unref(caps);
    gst_object_unref(sink);
    *error = transceiver == nullptr ? "no transceiver on " + padName : "codec caps do not parse: " + branch.caps;
    return false;
  }
  g_object_set(transceiver, "direction", GST_WEBRTC_RTP_TRANSCEIVER_DIRECTION_SENDONLY, "codec-preferences", caps,
               nullptr);
  gst_caps_unref(caps);
  gst_object_unref(transceiver);

  GstElement *source = gst_bin_get_by_name(GST_BIN(session->bin), branch.element.c_str());
  GstPad *src = source != nullptr ? gst_element_get_static_pad(source, "src") : nullptr;
  bool linked = src != nullptr && gst_pad_link(src, sink) == GST_PAD_LINK_OK;
  if (src != nullptr) gst_object_unref(src);
  if (source != nullptr) gst_object_unref(source);
  gst_object_unref(sink);
  if (!linked) {
    *error = "could not link " + branch.element + " to webrtcbin " + padName;
    return false;
  }
  // Now fed from the room's shared encode (the tee never waits on a viewer: the bin's queue is leaky).
  branch.teePad = gst_element_request_pad_simple(branch.tee, "src_%u");
  GstPad *ghost = gst_element_get_static_pad(session->bin, branch.ghost.c_str());
  linked = branch.teePad != nullptr && ghost != nullptr && gst_pad_link(branch.teePad, ghost) == GST_PAD_LINK_OK;
  if (ghost != nullptr) gst_object_unref(ghost);
  if (!linked) {
    *error = "could not link the shared " + branch.ghost + " branch";
    return false;
  }
  return true;
}

gpointer Negotiate(gpointer data) {
  auto *session = static_cast<Session *>(data);
  std::string error;
  GstSDPMessage *sdp = nullptr;
  GstStructure *reply = nullptr;
  GstWebRTCSessionDescription *answer = nullptr;
  if (gst_sdp_message_new_from_text(session->offer.c_str(), &sdp) != GST_SDP_OK) {
    Post(session->id, "error", "offer: not SDP");
    return nullptr;
  }
  GstWebRTCSessionDescription *offer = gst_webrtc_session_description_new(GST_WEBRTC_SDP_TYPE_OFFER, sdp);
  bool ok = Await(session, "set-remote-description", offer, nullptr, &error);
  gst_webrtc_session_description_free(offer);
  ok = ok && !Closing(session) && LinkBranch(session, session->video, &error) &&
       LinkBranch(session, session->audio, &error);
  ok = ok && !Closing(session) && Await(session, "create-answer", nullptr, &reply, &error);
  if (ok) {
    if (reply != nullptr) gst_structure_get(reply, "answer", GST_TYPE_WEBRTC_SESSION_DESCRIPTION, &answer, nullptr);
    if (answer == nullptr) {
      error = "create-answer: no answer";
      ok = false;
    }
  }
  if (reply != nullptr) gst_structure_free(reply);
  ok = ok && !Closing(session) && Await(session, "set-local-description", answer, nullptr, &error);
  if (answer != nullptr) gst_webrtc_session_description_free(answer);
  if (ok) {
    gint64 until = g_get_monotonic_time() + static_cast<gint64>(session->gatherTimeoutUs);
    g_mutex_lock(&session->lock);
    GstWebRTCICEGatheringState state;
    g_object_get(session->webrtc, "ice-gathering-state", &state, nullptr);
    if (state == GST_WEBRTC_ICE_GATHERING_STATE_COMPLETE) session->gathered = true;
    while (!session->gathered && !session->closing) {
      if (!g_cond_wait_until(&session->changed, &session->lock, until)) break;
    }
    bool gathered = session->gathered;
    g_mutex_unlock(&session->lock);
    if (!gathered) {
      error = "ICE gathering did not complete";
      ok = false;
    }
  }
  if (ok && Closing(session)) {
    error = "closed while negotiating";
    ok = false;
  }
  if (!ok) {
    Post(session->id, "error", error);
    return nullptr;
  }
  GstWebRTCSessionDescription *local = nullptr;
  g_object_get(session->webrtc, "local-description", &local, nullptr);
  if (local == nullptr) {
    Post(session->id, "error", "no local description");
    return nullptr;
  }
  gchar *text = gst_sdp_message_as_text(local->sdp);
  Post(session->id, "answer", text);
  g_free(text);
  gst_webrtc_session_description_free(local);
  return nullptr;
}

GstPadProbeReturn UnlinkWhenIdle(GstPad *pad, GstPadProbeInfo *, gpointer data) {
  GstPad *peer = gst_pad_get_peer(pad);
  if (peer != nullptr) {
    gst_pad_unlink(pad, peer);
    gst_object_unref(peer);
  }
  gst_promise_reply(static_cast<GstPromise *>(data), nullptr);
  return GST_PAD_PROBE_REMOVE;
}

void ReleaseBranch(Branch &branch) {
  if (branch.teePad != nullptr) {
    // Unlinked first, between two buffers (an idle probe: the tee's thread waits while it runs): tee deactivates a
    // pad it releases while its thread may be pushing the sticky events through it, which drops the segment and lets
    // the buffer reach the still-linked bin without one ("Got data flow before segment event"). Not long to wait:
    // the bin's leaky queue never holds a push.
    GstPromise *unlinked = gst_promise_new();
    gst_pad_add_probe(branch.teePad, GST_PAD_PROBE_TYPE_IDLE, UnlinkWhenIdle, gst_promise_ref(unlinked),
                      reinterpret_cast<GDestroyNotify>(gst_promise_unref));
    gst_promise_wait(unlinked);
    gst_promise_unref(unlinked);
    gst_element_release_request_pad(branch.tee, branch.teePad);
    gst_object_unref(branch.teePad);
    branch.teePad = nullptr;
  }
  if (branch.tee != nullptr) gst_object_unref(branch.tee);
  branch.tee = nullptr;
}

gpointer TearDown(gpointer data) {
  auto *session = static_cast<Session *>(data);
  g_mutex_lock(&session->lock);
  session->closing = true;
  g_cond_broadcast(&session->changed);
  g_mutex_unlock(&session->lock);
  if (session->negotiation != nullptr) g_thread_join(session->negotiation);
  session->negotiation = nullptr;
  g_signal_handlers_disconnect_by_data(session->webrtc, session);
  // The tees stop feeding the viewer first, then the bin stops and leaves the pipeline.
  ReleaseBranch(session->video);
  ReleaseBranch(session->audio);
  // Out of the pipeline's own state changes before it stops: a pipeline still starting sets every child it holds to
  // PLAYING from a thread of its own once it has prerolled, and a bin it came to between its NULL and its removal
  // played again, with nothing left to stop it: disposed while playing, its queues' threads ran on in freed elements
  // (CI: audio_in:src at 100% CPU after the test, and the file never ended). The pipeline reads the flag under the
  // bin's state lock, so it either finished with the bin before the NULL below or leaves it alone.
  gst_element_set_locked_state(session->bin, TRUE);
  gst_element_set_state(session->bin, GST_STATE_NULL);
  gst_bin_remove(GST_BIN(session->pipeline), session->bin);
  gst_object_unref(session->webrtc);
  gst_object_unref(session->bin);
  gst_object_unref(session->pipeline);
  // webrtcbin 1.22's ICE agent stops its thread when finalized, and hangs there (the thread and its sockets lost)
  // when that thread itself drops the last reference, which it does when a callback of its own held one at the
  // moment webrtcbin let go. So the last reference is dropped here, once every other is gone.
  if (session->ice != nullptr) {
    for (int waited = 0; GST_OBJECT_REFCOUNT_VALUE(session->ice) > 1 && waited < 500; waited++) g_usleep(10000);
    gst_object_unref(session->ice);
  }
  g_mutex_clear(&session->lock);
  g_cond_clear(&session->changed);
  uint32_t id = session->id;
  delete session;
  Post(id, "closed", "");
  return nullptr;
}

bool ReadBranch(v8::Local<v8::Object> spec, const char *key, Branch &branch, std::string *error) {
  v8::Local<v8::Value> value = Nan::Get(spec, Nan::New(key).ToLocalChecked()).ToLocalChecked();
  if (value->IsUndefined() || value->IsNull()) return true;
  if (!value->IsObject()) {
    *error = std::string(key) + " must be an object";
    return false;
  }
  auto object = value.As<v8::Object>();
  GstElement *tee = ElementOf(Nan::Get(object, Nan::New("tee").ToLocalChecked()).ToLocalChecked());
  v8::Local<v8::Value> mline = Nan::Get(object, Nan::New("mline").ToLocalChecked()).ToLocalChecked();
  Nan::Utf8String caps(Nan::Get(object, Nan::New("caps").ToLocalChecked()).ToLocalChecked());
  Nan::Utf8String element(Nan::Get(object, Nan::New("element").ToLocalChecked()).ToLocalChecked());
  Nan::Utf8String ghost(Nan::Get(object, Nan::New("ghost").ToLocalChecked()).ToLocalChecked());
  if (tee == nullptr || !mline->IsUint32() || *caps == nullptr || *element == nullptr || *ghost == nullptr) {
    *error = std::string(key) + ": expected { tee, mline, caps, element, ghost }";
    return false;
  }
  branch.tee = GST_ELEMENT(gst_object_ref(tee));
  branch.mline = static_cast<int>(mline.As<v8::Uint32>()->Value());
  branch.caps = *caps;
  branch.element = *element;
  branch.ghost = *ghost;
  return true;
}

void Discard(Session *session) {
  ReleaseBranch(session->video);
  ReleaseBranch(session->audio);
  if (session->bin != nullptr) gst_object_unref(session->bin);
  if (session->webrtc != nullptr) gst_object_unref(session->webrtc);
  if (session->pipeline != nullptr) gst_object_unref(session->pipeline);
  if (session->ice != nullptr) gst_object_unref(session->ice);
  g_mutex_clear(&session->lock);
  g_cond_clear(&session->changed);
  delete session;
}

// open(id, spec): adds viewer `id`'s bin to the pipeline of the tees named in spec and starts the negotiation; the
// answer (or an error) comes back as an event. spec: { offer, bin (a bin description: webrtcbin named "webrtc", the
// payloaders, queues), video?, audio? ({ tee, mline, caps, element, ghost }), minPort, maxPort, gatherTimeoutMs }.
// Throws (nothing added) when the spec or the bin description is unusable.
NAN_METHOD(Open) {
  if (!info[0]->IsUint32() || info[0].As<v8::Uint32>()->Value() == 0 || !info[1]->IsObject()) {
    return Nan::ThrowTypeError("open: expected (id, spec)");
  }
  uint32_t id = info[0].As<v8::Uint32>()->Value();
  auto spec = info[1].As<v8::Object>();
  auto *session = new Session();
  session->id = id;
  g_mutex_init(&session->lock);
  g_cond_init(&session->changed);
  std::string error;
  if (!ReadBranch(spec, "video", session->video, &error) || !ReadBranch(spec, "audio", session->audio, &error)) {
    Discard(session);
    return Nan::ThrowTypeError(("open: " + error).c_str());
  }
  GstElement *anchor = session->video.tee != nullptr ? session->video.tee : session->audio.tee;
  session->pipeline = anchor != nullptr ? PipelineOf(anchor) : nullptr;
  if (session->pipeline == nullptr) {
    Discard(session);
    return Nan::ThrowTypeError("open: the tees are not in a pipeline");
  }
  Nan::Utf8String offer(Nan::Get(spec, Nan::New("offer").ToLocalChecked()).ToLocalChecked());
  Nan::Utf8String description(Nan::Get(spec, Nan::New("bin").ToLocalChecked()).ToLocalChecked());
  uint32_t minPort = Nan::To<uint32_t>(Nan::Get(spec, Nan::New("minPort").ToLocalChecked()).ToLocalChecked()).FromMaybe(0);
  uint32_t maxPort = Nan::To<uint32_t>(Nan::Get(spec, Nan::New("maxPort").ToLocalChecked()).ToLocalChecked()).FromMaybe(0);
  uint32_t gatherMs =
      Nan::To<uint32_t>(Nan::Get(spec, Nan::New("gatherTimeoutMs").ToLocalChecked()).ToLocalChecked()).FromMaybe(5000);
  Nan::Utf8String stun(Nan::Get(spec, Nan::New("stunServer").ToLocalChecked()).ToLocalChecked());
  Nan::Utf8String turn(Nan::Get(spec, Nan::New("turnServer").ToLocalChecked()).ToLocalChecked());
  session->offer = *offer != nullptr ? *offer : "";
  session->gatherTimeoutUs = static_cast<guint64>(gatherMs) * 1000;

  GError *gerror = nullptr;
  GstElement *bin = gst_parse_bin_from_description_full(*description != nullptr ? *description : "", FALSE, nullptr,
                                                        GST_PARSE_FLAG_FATAL_ERRORS, &gerror);
  if (bin == nullptr || gerror != nullptr) {
    std::string message = gerror != nullptr ? gerror->message : "no bin";
    if (gerror != nullptr) g_error_free(gerror);
    if (bin != nullptr) gst_object_unref(bin);
    Discard(session);
    return Nan::ThrowError(("open: " + message).c_str());
  }
  std::string name = "whep_" + std::to_string(id);
  gst_object_set_name(GST_OBJECT(bin), name.c_str());
  session->bin = GST_ELEMENT(gst_object_ref_sink(bin));
  session->webrtc = gst_bin_get_by_name(GST_BIN(bin), "webrtc");
  bool ghosted = session->webrtc != nullptr;
  for (Branch *branch : {&session->video, &session->audio}) {
    if (!ghosted || branch->tee == nullptr) continue;
    std::string queueName = branch->ghost + "_in";
    GstElement *queue = gst_bin_get_by_name(GST_BIN(bin), queueName.c_str());
    GstPad *target = queue != nullptr ? gst_element_get_static_pad(queue, "sink") : nullptr;
    ghosted = target != nullptr && gst_element_add_pad(bin, gst_ghost_pad_new(branch->ghost.c_str(), target));
    if (target != nullptr) gst_object_unref(target);
    if (queue != nullptr) gst_object_unref(queue);
  }
  if (!ghosted) {
    Discard(session);
    return Nan::ThrowError("open: the bin needs a webrtcbin named webrtc and a queue <ghost>_in per branch");
  }
  // A server-reflexive candidate from STUN, a relayed one from TURN (checked by the caller; "" or undefined: none).
  if (*stun != nullptr && stun.length() > 0 && strcmp(*stun, "undefined") != 0) {
    g_object_set(session->webrtc, "stun-server", *stun, nullptr);
  }
  if (*turn != nullptr && turn.length() > 0 && strcmp(*turn, "undefined") != 0) {
    g_object_set(session->webrtc, "turn-server", *turn, nullptr);
  }
  // ICE over UDP only, in the configured port range, and without UPnP port mapping (libnice's default: a UPnP
  // context per viewer, with sockets and a search on the network that a room host has no use for).
  GstWebRTCICE *ice = nullptr;
  g_object_get(session->webrtc, "ice-agent", &ice, nullptr);
  if (ice != nullptr) {
    g_object_set(ice, "ice-tcp", FALSE, nullptr);
    if (maxPort > 0) g_object_set(ice, "min-rtp-port", minPort, "max-rtp-port", maxPort, nullptr);
    GObject *agent = nullptr;
    g_object_get(ice, "agent", &agent, nullptr);
    if (agent != nullptr) {
      if (g_object_class_find_property(G_OBJECT_GET_CLASS(agent), "upnp") != nullptr) {
        g_object_set(agent, "upnp", FALSE, nullptr);
      }
      g_object_unref(agent);
    }
    session->ice = ice;
  }
  g_signal_connect(session->webrtc, "notify::connection-state", G_CALLBACK(OnConnectionState), session);
  g_signal_connect(session->webrtc, "notify::ice-gathering-state", G_CALLBACK(OnGatheringState), session);
  WatchPipelineBus(session->pipeline);
  gst_bin_add(GST_BIN(session->pipeline), session->bin);
  gst_element_sync_state_with_parent(session->bin);
  {
    std::lock_guard<std::mutex> guard(sessionsLock);
    sessions[id] = session;
  }
  session->negotiation = g_thread_new(name.c_str(), Negotiate, session);
}

// close(id): stops viewer `id` and takes its bin out of the pipeline (on a thread); event "closed" when done. False
// when there is no such viewer (closed already).
NAN_METHOD(Close) {
  if (!info[0]->IsUint32()) return Nan::ThrowTypeError("close: expected an id");
  Session *session = nullptr;
  {
    std::lock_guard<std::mutex> guard(sessionsLock);
    auto found = sessions.find(info[0].As<v8::Uint32>()->Value());
    if (found != sessions.end()) {
      session = found->second;
      sessions.erase(found);
    }
  }
  if (session == nullptr) return info.GetReturnValue().Set(false);
  g_thread_unref(g_thread_new("whep-close", TearDown, session));
  info.GetReturnValue().Set(true);
}

// addBranch(tee, description, name): a shared branch (e.g. the Opus encode) fed from a request pad of `tee` and
// ending in a new tee `name` (allow-not-linked) that viewers' bins link to, all in the pipeline of `tee`. The
// description is made a bin with its unlinked sink and src pads ghosted. Throws when it cannot be built.
NAN_METHOD(AddBranch) {
  GstElement *tee = ElementOf(info[0]);
  if (tee == nullptr || !info[1]->IsString() || !info[2]->IsString()) {
    return Nan::ThrowTypeError("addBranch: expected (tee, description, name)");
  }
  GstElement *pipeline = PipelineOf(tee);
  if (pipeline == nullptr) return Nan::ThrowTypeError("addBranch: the tee is not in a pipeline");
  Nan::Utf8String description(info[1]);
  Nan::Utf8String name(info[2]);
  GError *gerror = nullptr;
  GstElement *bin = gst_parse_bin_from_description_full(*description, TRUE, nullptr, GST_PARSE_FLAG_FATAL_ERRORS, &gerror);
  if (bin == nullptr || gerror != nullptr) {
    std::string message = gerror != nullptr ? gerror->message : "no bin";
    if (gerror != nullptr) g_error_free(gerror);
    if (bin != nullptr) gst_object_unref(bin);
    gst_object_unref(pipeline);
    return Nan::ThrowError(("addBranch: " + message).c_str());
  }
  GstElement *out = gst_element_factory_make("tee", *name);
  g_object_set(out, "allow-not-linked", TRUE, nullptr);
  gst_bin_add_many(GST_BIN(pipeline), bin, out, nullptr);
  // Playing before the tee feeds it: a buffer pushed into a pad still flushing (its element not yet started) comes
  // back FLUSHING through the tee, and the room's audio source stops its task for good.
  bool linked = gst_element_link(bin, out) && gst_element_sync_state_with_parent(out) &&
                gst_element_sync_state_with_parent(bin);
  GstPad *sink = gst_element_get_static_pad(bin, "sink");
  GstPad *src = linked ? gst_element_request_pad_simple(tee, "src_%u") : nullptr;
  linked = linked && sink != nullptr && src != nullptr && gst_pad_link(src, sink) == GST_PAD_LINK_OK;
  if (sink != nullptr) gst_object_unref(sink);
  if (src != nullptr) gst_object_unref(src);
  gst_object_unref(pipeline);
  if (!linked) return Nan::ThrowError("addBranch: could not link the branch to the tee");
}

// elements(element): every element in the pipeline holding `element`, at any depth, by name (tests count leftovers).
NAN_METHOD(Elements) {
  GstElement *element = ElementOf(info[0]);
  if (element == nullptr) return Nan::ThrowTypeError("elements: expected an element");
  GstElement *pipeline = PipelineOf(element);
  if (pipeline == nullptr) return Nan::ThrowTypeError("elements: not in a pipeline");
  v8::Local<v8::Array> names = Nan::New<v8::Array>();
  GstIterator *it = gst_bin_iterate_recurse(GST_BIN(pipeline));
  GValue item = G_VALUE_INIT;
  uint32_t n = 0;
  bool done = false;
  while (!done) {
    switch (gst_iterator_next(it, &item)) {
      case GST_ITERATOR_OK: {
        auto *child = GST_ELEMENT(g_value_get_object(&item));
        gchar *name = gst_element_get_name(child);
        Nan::Set(names, n++, Nan::New(name).ToLocalChecked());
        g_free(name);
        g_value_reset(&item);
        break;
      }
      case GST_ITERATOR_RESYNC:
        gst_iterator_resync(it);
        names = Nan::New<v8::Array>();
        n = 0;
        break;
      default:
        done = true;
    }
  }
  g_value_unset(&item);
  gst_iterator_free(it);
  gst_object_unref(pipeline);
  info.GetReturnValue().Set(names);
}

// setHandler(fn): where events go ([{ id, type, text }], on the JavaScript thread). The handle does not keep the
// process alive.
NAN_METHOD(SetHandler) {
  if (!info[0]->IsFunction()) return Nan::ThrowTypeError("setHandler: expected a function");
  delete onEvents;
  onEvents = new Nan::Callback(info[0].As<v8::Function>());
  if (wake == nullptr) {
    wake = new uv_async_t;
    uv_async_init(Nan::GetCurrentEventLoop(), wake, Deliver);
    uv_unref(reinterpret_cast<uv_handle_t *>(wake));
  }
}

}  // namespace

NAN_MODULE_INIT(Init) {
  Nan::SetMethod(target, "setHandler", SetHandler);
  Nan::SetMethod(target, "open", Open);
  Nan::SetMethod(target, "close", Close);
  Nan::SetMethod(target, "addBranch", AddBranch);
  Nan::SetMethod(target, "elements", Elements);
}

NODE_MODULE(livehost_webrtc, Init)
