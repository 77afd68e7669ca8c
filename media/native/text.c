// N-API text renderer for the room's overlays (subtitles, product and coupon cards, labels), on Pango and cairo:
// lines broken as Pango breaks them (Unicode line breaking: CJK between characters, never inside a number), boxes
// sized from the font's real metrics, text past its last allowed line measured (so the caller can carry it to the
// next cue) or ended with an ellipsis. Runs on the calling thread (the main thread), a millisecond or two a box.
#include <node_api.h>
#include <pango/pangocairo.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define THROW(kind, message)                    \
  do {                                          \
    napi_throw_##kind##_error(env, NULL, message); \
    return NULL;                                \
  } while (0)

// A string argument as UTF-8 (freed by the caller).
static char *utf8_arg(napi_env env, napi_value value) {
  size_t length;
  if (napi_get_value_string_utf8(env, value, NULL, 0, &length) != napi_ok) return NULL;
  char *text = malloc(length + 1);
  if (text == NULL) return NULL;
  napi_get_value_string_utf8(env, value, text, length + 1, &length);
  return text;
}

static int int_arg(napi_env env, napi_value value, int32_t *out) {
  return napi_get_value_int32(env, value, out) == napi_ok;
}

// One layout on a scratch context: the font description, wrapped at `width` px (0: no wrapping).
static PangoLayout *new_layout(cairo_t *cr, const char *text, const char *font, int width) {
  PangoLayout *layout = pango_cairo_create_layout(cr);
  PangoFontDescription *description = pango_font_description_from_string(font);
  pango_layout_set_font_description(layout, description);
  pango_font_description_free(description);
  if (width > 0) {
    pango_layout_set_width(layout, width * PANGO_SCALE);
    pango_layout_set_wrap(layout, PANGO_WRAP_WORD_CHAR);
  }
  pango_layout_set_text(layout, text, -1);
  return layout;
}

// UTF-16 code units in the first `bytes` bytes of `text` (JavaScript's string offsets).
static int utf16_units(const char *text, int bytes) {
  int units = 0;
  for (const char *p = text; p < text + bytes; p = g_utf8_next_char(p)) units += g_utf8_get_char(p) > 0xffff ? 2 : 1;
  return units;
}

static napi_value number_array(napi_env env, const double *values, int count) {
  napi_value array, item;
  napi_create_array_with_length(env, count, &array);
  for (int i = 0; i < count; i++) {
    napi_create_double(env, values[i], &item);
    napi_set_element(env, array, i, item);
  }
  return array;
}

// measure(text, font, width, maxLines) -> [width, height, lines, fitUnits, lineHeight, inkTop, inkBottom]
// The logical extent (px) of `text` wrapped at `width` (0: one line), over at most `maxLines` lines (0: all); `lines`
// counts every line the whole text takes, `fitUnits` is how much of it (UTF-16 units) those first lines hold; ink
// top and bottom are where glyph pixels are, relative to the layout's top.
static napi_value measure(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  int32_t width, max_lines;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 4 || !int_arg(env, argv[2], &width) ||
      !int_arg(env, argv[3], &max_lines) || width < 0 || max_lines < 0) {
    THROW(type, "measure: expected (text, font, width, maxLines)");
  }
  char *text = utf8_arg(env, argv[0]);
  char *font = utf8_arg(env, argv[1]);
  if (text == NULL || font == NULL) {
    free(text);
    free(font);
    THROW(type, "measure: text and font must be strings");
  }
  cairo_surface_t *surface = cairo_image_surface_create(CAIRO_FORMAT_ARGB32, 1, 1);
  cairo_t *cr = cairo_create(surface);
  PangoLayout *layout = new_layout(cr, text, font, width);
  int lines = pango_layout_get_line_count(layout);
  int fit_bytes = (int)strlen(text);
  if (max_lines > 0 && lines > max_lines) {
    fit_bytes = pango_layout_get_line_readonly(layout, max_lines)->start_index;
    pango_layout_set_text(layout, text, fit_bytes);
  }
  PangoRectangle ink, logical;
  pango_layout_get_pixel_extents(layout, &ink, &logical);
  PangoLayoutIter *iter = pango_layout_get_iter(layout);
  int line_top, line_bottom;
  pango_layout_iter_get_line_yrange(iter, &line_top, &line_bottom);
  pango_layout_iter_free(iter);
  double result[7] = {
      logical.width,  logical.height, lines, utf16_units(text, fit_bytes), (line_bottom - line_top) / (double)PANGO_SCALE,
      ink.y,          ink.y + ink.height,
  };
  g_object_unref(layout);
  cairo_destroy(cr);
  cairo_surface_destroy(surface);
  free(text);
  free(font);
  return number_array(env, result, 7);
}

static void set_argb(cairo_t *cr, uint32_t argb) {
  cairo_set_source_rgba(cr, ((argb >> 16) & 0xff) / 255.0, ((argb >> 8) & 0xff) / 255.0, (argb & 0xff) / 255.0,
                        ((argb >> 24) & 0xff) / 255.0);
}

static uint32_t uint_property(napi_env env, napi_value object, const char *name, int *ok) {
  napi_value value;
  uint32_t out = 0;
  if (napi_get_named_property(env, object, name, &value) != napi_ok || napi_get_value_uint32(env, value, &out) != napi_ok) {
    *ok = 0;
  }
  return out;
}

static int32_t int_property(napi_env env, napi_value object, const char *name, int *ok) {
  napi_value value;
  int32_t out = 0;
  if (napi_get_named_property(env, object, name, &value) != napi_ok || napi_get_value_int32(env, value, &out) != napi_ok) {
    *ok = 0;
  }
  return out;
}

static char *string_property(napi_env env, napi_value object, const char *name) {
  napi_value value;
  if (napi_get_named_property(env, object, name, &value) != napi_ok) return NULL;
  return utf8_arg(env, value);
}

// box(width, height, background, radius, items) -> Uint8Array RGBA (straight alpha), width * height * 4 bytes.
// A rounded box of `background` (ARGB) with each item drawn on it: { text, font, x, y, width, maxLines, align
// (0 left, 1 center, 2 right), colour (ARGB), strike (0/1) }; an item longer than its maxLines ends with "…".
static napi_value box(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  int32_t width, height, radius;
  uint32_t background, count;
  bool is_array = false;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 5 || !int_arg(env, argv[0], &width) ||
      !int_arg(env, argv[1], &height) || napi_get_value_uint32(env, argv[2], &background) != napi_ok ||
      !int_arg(env, argv[3], &radius) || napi_is_array(env, argv[4], &is_array) != napi_ok || !is_array) {
    THROW(type, "box: expected (width, height, background, radius, items)");
  }
  if (width <= 0 || height <= 0 || width > 8192 || height > 8192 || radius < 0) {
    THROW(range, "box: width and height must be 1 to 8192, radius >= 0");
  }
  napi_get_array_length(env, argv[4], &count);
  cairo_surface_t *surface = cairo_image_surface_create(CAIRO_FORMAT_ARGB32, width, height);
  cairo_t *cr = cairo_create(surface);
  double r = radius * 2 > (width < height ? width : height) ? (width < height ? width : height) / 2.0 : radius;
  cairo_new_sub_path(cr);
  cairo_arc(cr, width - r, r, r, -G_PI / 2, 0);
  cairo_arc(cr, width - r, height - r, r, 0, G_PI / 2);
  cairo_arc(cr, r, height - r, r, G_PI / 2, G_PI);
  cairo_arc(cr, r, r, r, G_PI, 3 * G_PI / 2);
  cairo_close_path(cr);
  set_argb(cr, background);
  cairo_fill(cr);
  const char *failed = NULL;
  for (uint32_t i = 0; i < count && failed == NULL; i++) {
    napi_value item;
    napi_get_element(env, argv[4], i, &item);
    int ok = 1;
    int32_t x = int_property(env, item, "x", &ok), y = int_property(env, item, "y", &ok);
    int32_t wrap = int_property(env, item, "width", &ok), max_lines = int_property(env, item, "maxLines", &ok);
    int32_t align = int_property(env, item, "align", &ok), strike = int_property(env, item, "strike", &ok);
    uint32_t colour = uint_property(env, item, "colour", &ok);
    char *text = string_property(env, item, "text");
    char *font = string_property(env, item, "font");
    if (!ok || text == NULL || font == NULL || wrap < 0 || max_lines < 0 || align < 0 || align > 2) {
      failed = "box: an item is { text, font, x, y, width, maxLines, align, colour, strike }";
    } else {
      PangoLayout *layout = new_layout(cr, text, font, wrap);
      pango_layout_set_alignment(layout, align == 1 ? PANGO_ALIGN_CENTER : align == 2 ? PANGO_ALIGN_RIGHT : PANGO_ALIGN_LEFT);
      if (max_lines > 0) {
        pango_layout_set_height(layout, -max_lines);
        pango_layout_set_ellipsize(layout, PANGO_ELLIPSIZE_END);
      }
      if (strike) {
        PangoAttrList *attributes = pango_attr_list_new();
        pango_attr_list_insert(attributes, pango_attr_strikethrough_new(TRUE));
        pango_layout_set_attributes(layout, attributes);
        pango_attr_list_unref(attributes);
      }
      set_argb(cr, colour);
      cairo_move_to(cr, x, y);
      pango_cairo_show_layout(cr, layout);
      g_object_unref(layout);
    }
    free(text);
    free(font);
  }
  cairo_destroy(cr);
  cairo_surface_flush(surface);
  if (failed != NULL) {
    cairo_surface_destroy(surface);
    THROW(type, failed);
  }
  // cairo's ARGB32 is premultiplied, one native-endian word a pixel; the overlays take straight RGBA bytes.
  napi_value buffer, array;
  void *data;
  size_t bytes = (size_t)width * height * 4;
  napi_create_arraybuffer(env, bytes, &data, &buffer);
  uint8_t *out = data;
  const uint8_t *pixels = cairo_image_surface_get_data(surface);
  int stride = cairo_image_surface_get_stride(surface);
  for (int row = 0; row < height; row++) {
    const uint32_t *in = (const uint32_t *)(pixels + (size_t)row * stride);
    for (int col = 0; col < width; col++, out += 4) {
      uint32_t p = in[col];
      uint32_t a = p >> 24;
      uint32_t red = (p >> 16) & 0xff, green = (p >> 8) & 0xff, blue = p & 0xff;
      if (a != 0 && a != 255) {
        red = (red * 255 + a / 2) / a;
        green = (green * 255 + a / 2) / a;
        blue = (blue * 255 + a / 2) / a;
      }
      out[0] = red > 255 ? 255 : red;
      out[1] = green > 255 ? 255 : green;
      out[2] = blue > 255 ? 255 : blue;
      out[3] = a;
    }
  }
  cairo_surface_destroy(surface);
  napi_create_typedarray(env, napi_uint8_array, bytes, buffer, 0, &array);
  return array;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_value fn;
  napi_create_function(env, "measure", NAPI_AUTO_LENGTH, measure, NULL, &fn);
  napi_set_named_property(env, exports, "measure", fn);
  napi_create_function(env, "box", NAPI_AUTO_LENGTH, box, NULL, &fn);
  napi_set_named_property(env, exports, "box", fn);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
