{
  "targets": [
    {
      "target_name": "livehost_compose",
      "sources": ["compose.c"],
      "cflags": ["-O3", "-Wall"],
      "defines": ["NAPI_VERSION=8"]
    },
    {
      "target_name": "livehost_text",
      "sources": ["text.c"],
      "cflags": ["-O2", "-Wall", "<!@(pkg-config --cflags pangocairo)"],
      "libraries": ["<!@(pkg-config --libs pangocairo)"],
      "defines": ["NAPI_VERSION=8"]
    },
    {
      "target_name": "livehost_appsrc",
      "sources": ["appsrc.cc"],
      "include_dirs": ["<!(node -p \"require('path').dirname(require.resolve('nan/package.json'))\")"],
      "cflags": ["-O2", "-Wall", "-Wno-cast-function-type", "<!@(pkg-config --cflags gstreamer-app-1.0)"],
      "cflags_cc": ["-O2", "-Wall", "-Wno-cast-function-type", "<!@(pkg-config --cflags gstreamer-app-1.0)"],
      "libraries": ["<!@(pkg-config --libs gstreamer-app-1.0)"]
    },
    {
      "target_name": "livehost_webrtc",
      "sources": ["webrtc.cc"],
      "include_dirs": ["<!(node -p \"require('path').dirname(require.resolve('nan/package.json'))\")"],
      "cflags": ["-O2", "-Wall", "-Wno-cast-function-type", "<!@(pkg-config --cflags gstreamer-webrtc-1.0 gstreamer-sdp-1.0)"],
      "cflags_cc": ["-O2", "-Wall", "-Wno-cast-function-type", "<!@(pkg-config --cflags gstreamer-webrtc-1.0 gstreamer-sdp-1.0)"],
      "libraries": ["<!@(pkg-config --libs gstreamer-webrtc-1.0 gstreamer-sdp-1.0)"]
    },
    {
      "target_name": "livehost_sei",
      "sources": ["sei.cc"],
      "include_dirs": ["<!(node -p \"require('path').dirname(require.resolve('nan/package.json'))\")"],
      "cflags": ["-O2", "-Wall", "-Wno-cast-function-type", "<!@(pkg-config --cflags gstreamer-1.0)"],
      "cflags_cc": ["-O2", "-Wall", "-Wno-cast-function-type", "<!@(pkg-config --cflags gstreamer-1.0)"],
      "libraries": ["<!@(pkg-config --libs gstreamer-1.0)"]
    },
    {
      "target_name": "livehost_taps",
      "sources": ["taps.cc"],
      "include_dirs": ["<!(node -p \"require('path').dirname(require.resolve('nan/package.json'))\")"],
      "cflags": ["-O2", "-Wall", "-Wno-cast-function-type", "<!@(pkg-config --cflags gstreamer-app-1.0)"],
      "cflags_cc": ["-O2", "-Wall", "-Wno-cast-function-type", "<!@(pkg-config --cflags gstreamer-app-1.0)"],
      "libraries": ["<!@(pkg-config --libs gstreamer-app-1.0)"]
    }
  ]
}
