{
  "targets": [
    {
      "target_name": "livehost_compose",
      "sources": ["compose.c"],
      "cflags": ["-O3", "-Wall"],
      "defines": ["NAPI_VERSION=8"]
    }
  ]
}
