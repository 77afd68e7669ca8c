// N-API kernel for the room's picture: alpha-blends a YUVA image (an overlay, a mouth patch) into an I420 frame.
// It is the same integer arithmetic as media/picture.ts's blendInto, written without branches so the compiler
// vectorizes it; the JS version stays as the reference and the fallback.
#include <node_api.h>
#include <stdint.h>
#include <stddef.h>
#include <string.h>

// dst[c] = (dst[c] * (256 - w) + src[c] * w) >> 8, w from the alpha scaled by op (0..256), per pixel of a rows x cols
// window; strides are the widths of the two pictures. Every intermediate fits 16 bits (the blend is a convex
// combination: at most 255 * 256), so the compiler packs 16 lanes into an AVX2 register (8 with the baseline SSE2).
__attribute__((target_clones("avx2", "default"))) static void blend_plane(uint8_t *restrict dst, size_t dst_stride,
                                                                          const uint8_t *restrict src,
                                                                          const uint8_t *restrict alpha,
                                                                          size_t src_stride, int cols, int rows,
                                                                          unsigned op) {
  const uint16_t scale = (uint16_t)op;
  for (int r = 0; r < rows; r++) {
    uint8_t *d = dst + (size_t)r * dst_stride;
    const uint8_t *s = src + (size_t)r * src_stride;
    const uint8_t *a = alpha + (size_t)r * src_stride;
    for (int c = 0; c < cols; c++) {
      uint16_t al = (uint16_t)((uint16_t)(a[c] * scale) >> 8);
      uint16_t w = (uint16_t)(al + (al >> 7));
      d[c] = (uint8_t)((uint16_t)(d[c] * (uint16_t)(256 - w) + s[c] * w) >> 8);
    }
  }
}

static int typed_bytes(napi_env env, napi_value value, uint8_t **data, size_t *length) {
  napi_typedarray_type type;
  napi_value buffer;
  size_t offset;
  void *raw;
  if (napi_get_typedarray_info(env, value, &type, length, &raw, &buffer, &offset) != napi_ok) return 0;
  if (type != napi_uint8_array) return 0;
  *data = raw;
  return 1;
}

// blend(frame, frameWidth, frameHeight, y, u, v, a, ac, imageWidth, imageHeight, x0, y0, op,
//       left, top, right, bottom): x0, y0 even; the clip (image coordinates) already inside both pictures.
static napi_value blend(napi_env env, napi_callback_info info) {
  size_t argc = 17;
  napi_value argv[17];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 17) {
    napi_throw_type_error(env, NULL, "blend: expected 17 arguments");
    return NULL;
  }
  uint8_t *planes[5];
  size_t lengths[5];
  uint8_t *frame;
  size_t frame_length;
  int ok = typed_bytes(env, argv[0], &frame, &frame_length);
  for (int i = 0; i < 5; i++) ok = ok && typed_bytes(env, argv[3 + i], &planes[i], &lengths[i]);
  int32_t n[11];
  const int ints[11] = {1, 2, 8, 9, 10, 11, 12, 13, 14, 15, 16};
  for (int i = 0; i < 11; i++) ok = ok && napi_get_value_int32(env, argv[ints[i]], &n[i]) == napi_ok;
  if (!ok) {
    napi_throw_type_error(env, NULL, "blend: expected Uint8Arrays and integers");
    return NULL;
  }
  int width = n[0], height = n[1], iw = n[2], ih = n[3], x0 = n[4], y0 = n[5], op = n[6];
  int left = n[7], top = n[8], right = n[9], bottom = n[10];
  int icw = (iw + 1) / 2, ich = (ih + 1) / 2, cw = width / 2, chh = height / 2;
  // Everything the loops touch must lie inside the arrays given.
  int valid = width > 0 && height > 0 && (width % 2) == 0 && (height % 2) == 0 && (x0 % 2) == 0 &&
              (y0 % 2) == 0 && op >= 0 && op <= 256 && frame_length >= (size_t)width * height * 3 / 2 &&
              lengths[0] >= (size_t)iw * ih && lengths[3] >= (size_t)iw * ih && lengths[1] >= (size_t)icw * ich &&
              lengths[2] >= (size_t)icw * ich && lengths[4] >= (size_t)icw * ich && left >= 0 && top >= 0 &&
              right <= iw && bottom <= ih && left < right && top < bottom && x0 + left >= 0 && y0 + top >= 0 &&
              x0 + right <= width && y0 + bottom <= height;
  if (!valid) {
    napi_throw_range_error(env, NULL, "blend: image window outside the frame or the image");
    return NULL;
  }
  blend_plane(frame + (size_t)(y0 + top) * width + x0 + left, width, planes[0] + (size_t)top * iw + left, planes[3] + (size_t)top * iw + left, iw,
              right - left, bottom - top, op);
  int cleft = (left + 1) / 2, ctop = (top + 1) / 2;
  int cright = icw < cw - x0 / 2 ? icw : cw - x0 / 2;
  int cbottom = ich < chh - y0 / 2 ? ich : chh - y0 / 2;
  if (cleft < cright && ctop < cbottom) {
    size_t at = (size_t)(y0 / 2 + ctop) * cw + x0 / 2 + cleft;
    size_t from = (size_t)ctop * icw + cleft;
    uint8_t *u = frame + (size_t)width * height;
    uint8_t *v = u + (size_t)cw * chh;
    blend_plane(u + at, cw, planes[1] + from, planes[4] + from, icw, cright - cleft, cbottom - ctop, op);
    blend_plane(v + at, cw, planes[2] + from, planes[4] + from, icw, cright - cleft, cbottom - ctop, op);
  }
  return NULL;
}

// copy(dst, src): dst's first src.length bytes from src (as long as dst). A frame of the idle loop lives in a
// SharedArrayBuffer that the compose workers share; V8 copies out of one with relaxed atomic word moves (the memory
// model asks it to), several times slower than memcpy. The loop's frames are written once, before any worker reads.
static napi_value copy(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  uint8_t *dst, *src;
  size_t dst_length, src_length;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 2 ||
      !typed_bytes(env, argv[0], &dst, &dst_length) || !typed_bytes(env, argv[1], &src, &src_length)) {
    napi_throw_type_error(env, NULL, "copy: expected (dst, src) Uint8Arrays");
    return NULL;
  }
  if (dst_length < src_length) {
    napi_throw_range_error(env, NULL, "copy: destination shorter than the source");
    return NULL;
  }
  memcpy(dst, src, src_length);
  return NULL;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_value fn;
  napi_create_function(env, "blend", NAPI_AUTO_LENGTH, blend, NULL, &fn);
  napi_set_named_property(env, exports, "blend", fn);
  napi_create_function(env, "copy", NAPI_AUTO_LENGTH, copy, NULL, &fn);
  napi_set_named_property(env, exports, "copy", fn);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
