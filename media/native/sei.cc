// The implicit AI-content label in the video itself: an H.264 SEI message of type user_data_unregistered (a 16-byte
// UUID, then the label's text) put in front of the picture of every key frame an encoder puts out, so that every
// output made from that encode (HLS segments, recordings, RTMP pushes, WebRTC viewers) carries it, and a player or
// platform reading any key frame finds it. `label(encoder, uuid, text)` adds a buffer probe on the encoder's source
// pad; the encoder must put out an Annex B byte stream aligned on access units (x264enc and nvh264enc do). The SEI goes
// right before the first slice: after the delimiter and parameter sets (H.264 7.4.1.2.3), which parsers need first.
#include <nan.h>
#include <gst/gst.h>

#include <cstring>
#include <string>
#include <vector>

namespace {

// The layout of gstreamer-superficial's GObjectWrap (see appsrc.cc, which mirrors it for the same reason).
class GObjectWrapLayout : public Nan::ObjectWrap {
 public:
  GObject *obj;
};

// A whole SEI NAL unit, start code included, with emulation prevention applied to its payload.
std::vector<guint8> SeiNal(const guint8 uuid[16], const std::string &text) {
  std::vector<guint8> rbsp;
  rbsp.push_back(5);  // payloadType: user_data_unregistered
  size_t size = 16 + text.size();
  while (size >= 255) {
    rbsp.push_back(255);
    size -= 255;
  }
  rbsp.push_back(static_cast<guint8>(size));
  rbsp.insert(rbsp.end(), uuid, uuid + 16);
  rbsp.insert(rbsp.end(), text.begin(), text.end());
  rbsp.push_back(0x80);  // rbsp_trailing_bits
  std::vector<guint8> nal = {0, 0, 0, 1, 0x06};  // nal_unit_type 6 (SEI), nal_ref_idc 0
  int zeros = 0;
  for (guint8 byte : rbsp) {
    if (zeros >= 2 && byte <= 3) {
      nal.push_back(3);  // emulation_prevention_three_byte
      zeros = 0;
    }
    nal.push_back(byte);
    zeros = byte == 0 ? zeros + 1 : 0;
  }
  return nal;
}

// Where the access unit's first slice starts (its start code), so the SEI goes after the delimiter, parameter sets
// and the encoder's own SEI, right before the picture; 0 when no slice is found.
size_t BeforeFirstSlice(const guint8 *data, size_t size) {
  for (size_t i = 0; i + 3 < size; i++) {
    if (data[i] != 0 || data[i + 1] != 0 || data[i + 2] != 1) continue;
    int type = data[i + 3] & 0x1f;
    if (type >= 1 && type <= 5) return i > 0 && data[i - 1] == 0 ? i - 1 : i;
    i += 2;
  }
  return 0;
}

GstPadProbeReturn OnBuffer(GstPad *, GstPadProbeInfo *info, gpointer user) {
  GstBuffer *buffer = GST_PAD_PROBE_INFO_BUFFER(info);
  if (buffer == nullptr || GST_BUFFER_FLAG_IS_SET(buffer, GST_BUFFER_FLAG_DELTA_UNIT)) return GST_PAD_PROBE_OK;
  const auto *sei = static_cast<std::vector<guint8> *>(user);
  GstMapInfo map;
  if (!gst_buffer_map(buffer, &map, GST_MAP_READ)) return GST_PAD_PROBE_OK;
  size_t at = BeforeFirstSlice(map.data, map.size);
  GstBuffer *labelled = gst_buffer_new_allocate(nullptr, map.size + sei->size(), nullptr);
  GstMapInfo out;
  if (labelled == nullptr || !gst_buffer_map(labelled, &out, GST_MAP_WRITE)) {
    if (labelled != nullptr) gst_buffer_unref(labelled);
    gst_buffer_unmap(buffer, &map);
    return GST_PAD_PROBE_OK;
  }
  memcpy(out.data, map.data, at);
  memcpy(out.data + at, sei->data(), sei->size());
  memcpy(out.data + at + sei->size(), map.data + at, map.size - at);
  gst_buffer_unmap(labelled, &out);
  gst_buffer_unmap(buffer, &map);
  gst_buffer_copy_into(labelled, buffer, GST_BUFFER_COPY_METADATA, 0, -1);
  gst_buffer_unref(buffer);
  GST_PAD_PROBE_INFO_DATA(info) = labelled;
  return GST_PAD_PROBE_OK;
}

void FreeSei(gpointer user) { delete static_cast<std::vector<guint8> *>(user); }

// label(encoder, uuid (16 bytes), text): every key frame the element puts out from now on carries the SEI.
NAN_METHOD(Label) {
  if (!info[0]->IsObject() || info[0].As<v8::Object>()->InternalFieldCount() < 1) {
    return Nan::ThrowTypeError("label: expected an element of gstreamer-superficial");
  }
  auto *wrap = Nan::ObjectWrap::Unwrap<GObjectWrapLayout>(info[0].As<v8::Object>());
  if (wrap == nullptr || wrap->obj == nullptr || !GST_IS_ELEMENT(wrap->obj)) {
    return Nan::ThrowTypeError("label: not an element");
  }
  if (!info[1]->IsArrayBufferView() || info[1].As<v8::ArrayBufferView>()->ByteLength() != 16) {
    return Nan::ThrowTypeError("label: the UUID must be 16 bytes");
  }
  Nan::Utf8String text(info[2]);
  if (*text == nullptr || text.length() == 0 || text.length() > 4096) {
    return Nan::ThrowRangeError("label: the text must be 1 to 4096 bytes");
  }
  guint8 uuid[16];
  info[1].As<v8::ArrayBufferView>()->CopyContents(uuid, 16);
  GstPad *pad = gst_element_get_static_pad(GST_ELEMENT(wrap->obj), "src");
  if (pad == nullptr) return Nan::ThrowError("label: the element has no src pad");
  auto *sei = new std::vector<guint8>(SeiNal(uuid, std::string(*text, text.length())));
  gst_pad_add_probe(pad, GST_PAD_PROBE_TYPE_BUFFER, OnBuffer, sei, FreeSei);
  gst_object_unref(pad);
}

}  // namespace

NODE_MODULE_INIT() { Nan::SetMethod(exports, "label", Label); }
