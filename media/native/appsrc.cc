// Pushes into a GStreamer appsrc from any thread: the compose workers hand each room's frames to its encoder without
// the main thread. gstreamer-superficial (the binding media/gst.ts wraps) is usable from one V8 isolate only (its
// wrapper classes keep process-wide persistent handles), so the main thread builds the pipelines as before and takes
// here a counted reference to each appsrc (`retain`), a plain number any thread may hold; gst_app_src_push_buffer is
// thread-safe. The holder of a handle gives it back with `release`; pushing into a stopped appsrc is refused by
// GStreamer (a flow return), never a crash, as long as the reference is held.
#include <nan.h>
#include <gst/app/gstappsrc.h>
#include <gst/gst.h>

#include <cstring>

namespace {

// The layout of gstreamer-superficial's GObjectWrap (GObjectWrap.h, version 1.7.4 as locked in package-lock.json):
// a Nan::ObjectWrap whose one data member is the wrapped GObject. Its field is private there, hence this mirror; the
// JavaScript side checks the wrapper's class name (GstAppSrc) and `retain` checks the GObject's type before use.
class GObjectWrapLayout : public Nan::ObjectWrap {
 public:
  GObject *obj;
};

GstAppSrc *FromHandle(const Nan::FunctionCallbackInfo<v8::Value> &info, int index) {
  if (!info[index]->IsBigInt()) {
    Nan::ThrowTypeError("appsrc: expected a handle from retain()");
    return nullptr;
  }
  bool lossless = false;
  uint64_t value = info[index].As<v8::BigInt>()->Uint64Value(&lossless);
  if (!lossless || value == 0) {
    Nan::ThrowTypeError("appsrc: not a handle");
    return nullptr;
  }
  return reinterpret_cast<GstAppSrc *>(static_cast<uintptr_t>(value));
}

// retain(element): a counted reference to the appsrc behind a binding's element wrapper, as a bigint handle.
NAN_METHOD(Retain) {
  if (!info[0]->IsObject() || info[0].As<v8::Object>()->InternalFieldCount() < 1) {
    return Nan::ThrowTypeError("retain: expected an appsrc element of gstreamer-superficial");
  }
  auto *wrap = Nan::ObjectWrap::Unwrap<GObjectWrapLayout>(info[0].As<v8::Object>());
  if (wrap == nullptr || wrap->obj == nullptr || !GST_IS_APP_SRC(wrap->obj)) {
    return Nan::ThrowTypeError("retain: not an appsrc");
  }
  gst_object_ref(wrap->obj);
  info.GetReturnValue().Set(
      v8::BigInt::NewFromUnsigned(info.GetIsolate(), static_cast<uint64_t>(reinterpret_cast<uintptr_t>(wrap->obj))));
}

// release(handle): gives the reference back. The handle must not be used after.
NAN_METHOD(Release) {
  GstAppSrc *src = FromHandle(info, 0);
  if (src != nullptr) gst_object_unref(src);
}

// Each appsrc pushed into gets a pool of buffers of the size last pushed: a room's frames are all one size, and a
// fresh 1.4 MB allocation per 720x1280 frame costs page faults on every frame (the kernel zeroes the pages, then
// the copy touches them again). Made on first use, replaced when the size changes, freed with the appsrc.
GQuark PoolQuark() {
  static GQuark quark = g_quark_from_static_string("livehost-appsrc-pool");
  return quark;
}

void FreePool(gpointer data) {
  auto *pool = static_cast<GstBufferPool *>(data);
  gst_buffer_pool_set_active(pool, FALSE);
  gst_object_unref(pool);
}

// A buffer of `length` bytes from the appsrc's pool, or a plain new one when no pool can be made.
GstBuffer *NewBuffer(GstAppSrc *src, size_t length) {
  static GMutex lock;
  GstBufferPool *pool = nullptr;
  g_mutex_lock(&lock);
  auto *held = static_cast<GstBufferPool *>(g_object_get_qdata(G_OBJECT(src), PoolQuark()));
  guint size = 0;
  if (held != nullptr) {
    GstStructure *config = gst_buffer_pool_get_config(held);
    gst_buffer_pool_config_get_params(config, nullptr, &size, nullptr, nullptr);
    gst_structure_free(config);
  }
  if (held != nullptr && size == length) {
    pool = static_cast<GstBufferPool *>(gst_object_ref(held));
  } else if (length >= 64 * 1024) {
    // Small buffers (audio) come from malloc's own free lists already: pools are for frames.
    pool = gst_buffer_pool_new();
    GstStructure *config = gst_buffer_pool_get_config(pool);
    gst_buffer_pool_config_set_params(config, nullptr, static_cast<guint>(length), 2, 0);
    if (gst_buffer_pool_set_config(pool, config) && gst_buffer_pool_set_active(pool, TRUE)) {
      g_object_set_qdata_full(G_OBJECT(src), PoolQuark(), gst_object_ref(pool), FreePool);
    } else {
      gst_object_unref(pool);
      pool = nullptr;
    }
  }
  g_mutex_unlock(&lock);
  GstBuffer *buffer = nullptr;
  if (pool != nullptr) {
    if (gst_buffer_pool_acquire_buffer(pool, &buffer, nullptr) != GST_FLOW_OK) buffer = nullptr;
    gst_object_unref(pool);
  }
  return buffer != nullptr ? buffer : gst_buffer_new_allocate(nullptr, length, nullptr);
}

// push(handle, bytes, ptsNs): copies `bytes` into a buffer stamped `ptsNs` and queues it; returns the flow return
// (0: queued; negative: flushing, end of stream, ...).
NAN_METHOD(Push) {
  GstAppSrc *src = FromHandle(info, 0);
  if (src == nullptr) return;
  if (!info[1]->IsArrayBufferView() || !info[2]->IsNumber()) {
    return Nan::ThrowTypeError("push: expected (handle, bytes, ptsNs)");
  }
  auto view = info[1].As<v8::ArrayBufferView>();
  size_t length = view->ByteLength();
  double pts = info[2].As<v8::Number>()->Value();
  if (!(pts >= 0)) return Nan::ThrowRangeError("push: ptsNs must be >= 0");
  GstBuffer *buffer = NewBuffer(src, length);
  if (buffer == nullptr) return Nan::ThrowError("push: out of memory");
  GstMapInfo map;
  if (!gst_buffer_map(buffer, &map, GST_MAP_WRITE)) {
    gst_buffer_unref(buffer);
    return Nan::ThrowError("push: buffer not writable");
  }
  // A plain copy from the view's memory: CopyContents copies a SharedArrayBuffer (the compose workers' frames) with
  // relaxed atomic word moves, several times slower than memcpy. The worker does not write a frame it has handed over.
  const uint8_t *bytes = static_cast<const uint8_t *>(view->Buffer()->Data()) + view->ByteOffset();
  memcpy(map.data, bytes, length);
  gst_buffer_unmap(buffer, &map);
  GST_BUFFER_PTS(buffer) = static_cast<GstClockTime>(pts);
  GstFlowReturn flow = gst_app_src_push_buffer(src, buffer);  // takes the buffer
  info.GetReturnValue().Set(static_cast<int32_t>(flow));
}

// level(handle): bytes queued in the appsrc, not yet taken by its streaming thread.
NAN_METHOD(Level) {
  GstAppSrc *src = FromHandle(info, 0);
  if (src == nullptr) return;
  info.GetReturnValue().Set(static_cast<double>(gst_app_src_get_current_level_bytes(src)));
}

}  // namespace

// Context-aware: the compose workers load it too.
NODE_MODULE_INIT() {
  Nan::SetMethod(exports, "retain", Retain);
  Nan::SetMethod(exports, "release", Release);
  Nan::SetMethod(exports, "push", Push);
  Nan::SetMethod(exports, "level", Level);
}
