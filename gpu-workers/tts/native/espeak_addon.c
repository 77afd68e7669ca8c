// N-API binding to libespeak-ng (Debian's libespeak-ng1): synthesis with the library's own word, phoneme and
// sentence events, so timings come from the synthesizer itself rather than from parsing --pho output.
// The library is a process-wide singleton and not thread-safe: the JS side calls it from one worker thread only.
#include <node_api.h>
#include <espeak-ng/speak_lib.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
  napi_env env;
  napi_value callback;
  int aborted;
  int failed;
} SynthContext;

static SynthContext *current = NULL;
static int sample_rate = 0;

#define CHECK(call)                                                   \
  do {                                                                \
    if ((call) != napi_ok) {                                          \
      napi_throw_error(env, NULL, "espeak addon: N-API call failed"); \
      return NULL;                                                    \
    }                                                                 \
  } while (0)

static void set_int(napi_env env, napi_value obj, const char *key, int64_t value) {
  napi_value v;
  napi_create_int64(env, value, &v);
  napi_set_named_property(env, obj, key, v);
}

// Called by espeak_Synth for every buffer of audio (and the events it covers). Returning 1 stops synthesis.
static int on_synth(short *wav, int numsamples, espeak_EVENT *events) {
  if (current == NULL || current->aborted) return 1;
  napi_env env = current->env;
  napi_value list;
  if (napi_create_array(env, &list) != napi_ok) return 1;
  uint32_t n = 0;
  for (espeak_EVENT *e = events; e != NULL && e->type != espeakEVENT_LIST_TERMINATED; e++) {
    if (e->type != espeakEVENT_WORD && e->type != espeakEVENT_PHONEME && e->type != espeakEVENT_SENTENCE &&
        e->type != espeakEVENT_END && e->type != espeakEVENT_MSG_TERMINATED)
      continue;
    napi_value obj;
    napi_create_object(env, &obj);
    set_int(env, obj, "type", e->type);
    set_int(env, obj, "textPosition", e->text_position);
    set_int(env, obj, "length", e->length);
    set_int(env, obj, "audioPositionMs", e->audio_position);
    set_int(env, obj, "sample", e->sample);
    if (e->type == espeakEVENT_PHONEME) {
      char name[9];
      memcpy(name, e->id.string, 8);
      name[8] = '\0';
      napi_value phoneme;
      napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &phoneme);
      napi_set_named_property(env, obj, "phoneme", phoneme);
    }
    napi_set_element(env, list, n++, obj);
  }
  napi_value samples;
  if (wav != NULL && numsamples > 0) {
    void *data;
    napi_value buffer;
    if (napi_create_arraybuffer(env, (size_t)numsamples * 2, &data, &buffer) != napi_ok) return 1;
    memcpy(data, wav, (size_t)numsamples * 2);
    napi_create_typedarray(env, napi_int16_array, (size_t)numsamples, buffer, 0, &samples);
  } else {
    napi_get_null(env, &samples);
  }
  napi_value global, result;
  napi_value argv[2] = {samples, list};
  napi_get_global(env, &global);
  if (napi_call_function(env, global, current->callback, 2, argv, &result) != napi_ok) {
    current->failed = 1;
    current->aborted = 1;
    return 1;
  }
  bool keep_going = true;
  napi_valuetype type;
  napi_typeof(env, result, &type);
  if (type == napi_boolean) napi_get_value_bool(env, result, &keep_going);
  if (!keep_going) {
    current->aborted = 1;
    return 1;
  }
  return 0;
}

// A JS string argument as a malloc'd UTF-8 C string (free it), or NULL with a JS exception pending.
static char *get_string(napi_env env, napi_value value) {
  size_t len;
  if (napi_get_value_string_utf8(env, value, NULL, 0, &len) != napi_ok) {
    napi_throw_type_error(env, NULL, "expected a string");
    return NULL;
  }
  char *out = malloc(len + 1);
  if (out == NULL) {
    napi_throw_error(env, NULL, "out of memory");
    return NULL;
  }
  napi_get_value_string_utf8(env, value, out, len + 1, &len);
  return out;
}

// Selects an espeak-ng voice by name; false with a JS exception pending if it does not exist.
static bool set_voice(napi_env env, napi_value value) {
  char voice[128];
  size_t voice_len;
  if (napi_get_value_string_utf8(env, value, voice, sizeof(voice), &voice_len) != napi_ok ||
      espeak_SetVoiceByName(voice) != EE_OK) {
    napi_throw_error(env, "ESPEAK_VOICE", "unknown espeak-ng voice");
    return false;
  }
  return true;
}

// initialize(dataPath?: string): number  -- the output sample rate in Hz
static napi_value Initialize(napi_env env, napi_callback_info info) {
  if (sample_rate > 0) {
    napi_value rate;
    CHECK(napi_create_int32(env, sample_rate, &rate));
    return rate;
  }
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  char path[1024];
  const char *data_path = NULL;
  napi_valuetype type = napi_undefined;
  if (argc >= 1) napi_typeof(env, argv[0], &type);
  if (type == napi_string) {
    size_t len;
    CHECK(napi_get_value_string_utf8(env, argv[0], path, sizeof(path), &len));
    data_path = path;
  }
  int options = espeakINITIALIZE_PHONEME_EVENTS | espeakINITIALIZE_PHONEME_IPA | espeakINITIALIZE_DONT_EXIT;
  int rate = espeak_Initialize(AUDIO_OUTPUT_SYNCHRONOUS, 60, data_path, options);
  if (rate <= 0) {
    napi_throw_error(env, "ESPEAK_INIT", "espeak-ng could not be initialized (is espeak-ng-data installed?)");
    return NULL;
  }
  espeak_SetSynthCallback(on_synth);
  sample_rate = rate;
  napi_value result;
  CHECK(napi_create_int32(env, rate, &result));
  return result;
}

// synthesize(text: string, voice: string, rateWpm: number, onChunk: (samples, events) => boolean | void): boolean
// Returns false when onChunk asked to stop. Throws on an unknown voice.
static napi_value Synthesize(napi_env env, napi_callback_info info) {
  if (sample_rate <= 0) {
    napi_throw_error(env, "ESPEAK_INIT", "call initialize() first");
    return NULL;
  }
  size_t argc = 4;
  napi_value argv[4];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 4) {
    napi_throw_type_error(env, NULL, "synthesize(text, voice, rateWpm, onChunk)");
    return NULL;
  }
  int32_t rate_wpm;
  CHECK(napi_get_value_int32(env, argv[2], &rate_wpm));
  if (!set_voice(env, argv[1])) return NULL;
  char *text = get_string(env, argv[0]);
  if (text == NULL) return NULL;
  size_t text_len = strlen(text);
  espeak_SetParameter(espeakRATE, rate_wpm, 0);

  SynthContext ctx = {env, argv[3], 0, 0};
  current = &ctx;
  espeak_ERROR err = espeak_Synth(text, text_len + 1, 0, POS_CHARACTER, 0, espeakCHARS_UTF8, NULL, NULL);
  current = NULL;
  free(text);
  if (ctx.failed) return NULL;  // the callback threw: its exception is pending
  if (err != EE_OK && !ctx.aborted) {
    napi_throw_error(env, "ESPEAK_SYNTH", "espeak-ng synthesis failed");
    return NULL;
  }
  napi_value completed;
  CHECK(napi_get_boolean(env, !ctx.aborted, &completed));
  return completed;
}

// textToPhonemes(text: string, voice: string): string[]  -- IPA, one string per clause (Piper's phonemizer input)
static napi_value TextToPhonemes(napi_env env, napi_callback_info info) {
  if (sample_rate <= 0) {
    napi_throw_error(env, "ESPEAK_INIT", "call initialize() first");
    return NULL;
  }
  size_t argc = 2;
  napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (!set_voice(env, argv[1])) return NULL;
  char *text = get_string(env, argv[0]);
  if (text == NULL) return NULL;
  napi_value clauses;
  CHECK(napi_create_array(env, &clauses));
  const void *cursor = text;
  uint32_t n = 0;
  while (cursor != NULL) {
    const char *phonemes = espeak_TextToPhonemes(&cursor, espeakCHARS_UTF8, espeakPHONEMES_IPA);
    if (phonemes == NULL) break;
    napi_value clause;
    napi_create_string_utf8(env, phonemes, NAPI_AUTO_LENGTH, &clause);
    napi_set_element(env, clauses, n++, clause);
  }
  free(text);
  return clauses;
}

NAPI_MODULE_INIT() {
  napi_value fn;
  napi_create_function(env, "initialize", NAPI_AUTO_LENGTH, Initialize, NULL, &fn);
  napi_set_named_property(env, exports, "initialize", fn);
  napi_create_function(env, "synthesize", NAPI_AUTO_LENGTH, Synthesize, NULL, &fn);
  napi_set_named_property(env, exports, "synthesize", fn);
  napi_create_function(env, "textToPhonemes", NAPI_AUTO_LENGTH, TextToPhonemes, NULL, &fn);
  napi_set_named_property(env, exports, "textToPhonemes", fn);
  return exports;
}
