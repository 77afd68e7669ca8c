{
  "targets": [
    {
      "target_name": "livehost_espeak",
      "sources": ["espeak_addon.c"],
      "libraries": ["-lespeak-ng"],
      "cflags": ["-O2", "-Wall"],
      "defines": ["NAPI_VERSION=8"]
    }
  ]
}
