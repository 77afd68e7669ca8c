#!/bin/sh
# Everything livehost needs, on Debian 12 with Node.js 20: Debian packages (only those missing; sudo only when not
# root), npm packages, generated code and the build. `npm test`, `npm run demo` and `npm run bench` run this first;
# it takes a second when nothing changed.
set -eu
cd "$(dirname "$0")/.."

say() { printf 'setup: %s\n' "$*" >&2; }

node_major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$node_major" -lt 20 ]; then
  say "Node.js 20 or newer is required (found $(node --version))"
  exit 1
fi

# Engines and tools livehost runs for real: NATS, GStreamer 1.22 (with headers for gstreamer-superficial), protoc with the well-known types, espeak-ng (the embedded voice), ffmpeg's
# ffprobe (media tests), Noto CJK fonts and Pango's headers (subtitles and cards, drawn by media/native/text.c), nginx with its RTMP module (the ingest the RTMP
# tests push to), libnice's GStreamer elements and webrtcbin's headers (WebRTC viewers), chromium (the viewer page test), openssl (test certificates), and the toolchain node-gyp builds
# native addons with.
debian_packages="
  nats-server
  protobuf-compiler libprotobuf-dev
  espeak-ng libespeak-ng-dev
  gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad
  gstreamer1.0-plugins-ugly gstreamer1.0-libav gstreamer1.0-x libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev
  gstreamer1.0-nice libgstreamer-plugins-bad1.0-dev
  nginx libnginx-mod-rtmp fonts-noto-cjk libpango1.0-dev
  ffmpeg pkg-config python3 make g++
  openssl
  chromium
"

if command -v dpkg-query >/dev/null 2>&1; then
  missing=""
  for package in $debian_packages; do
    if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
      missing="$missing $package"
    fi
  done
  if [ -n "$missing" ]; then
    say "installing Debian packages:$missing"
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    # shellcheck disable=SC2086
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing
  fi
else
  say "not a Debian system: install these yourself if missing:$(echo $debian_packages)"
fi

# npm packages: again only when the lock file or a patch of a package (patches/, applied by postinstall) changed
# since the last install.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ] \
  || [ -n "$(find patches -type f -newer node_modules/.package-lock.json -print -quit 2>/dev/null)" ]; then
  say "installing npm packages (npm ci)"
  npm ci --no-audit --no-fund
  touch node_modules/.package-lock.json
fi
sh charts/testing/install-helm.sh

# Generated contracts: when a .proto is newer than the last generation.
if [ ! -f proto/gen/README ] || [ -n "$(find proto/livehost proto/grpc scripts/gen-proto.sh -newer proto/gen/README -print -quit)" ]; then
  say "generating contracts (proto/gen)"
  sh scripts/gen-proto.sh
fi

# The espeak-ng binding (the embedded voice): when missing or older than its source.
addon=gpu-workers/tts/native/build/Release/livehost_espeak.node
if [ ! -f "$addon" ] || [ -n "$(find gpu-workers/tts/native -maxdepth 1 -type f -newer "$addon" -print -quit)" ]; then
  say "building the espeak-ng binding"
  (cd gpu-workers/tts/native && npx --no-install node-gyp rebuild --loglevel=warn)
fi

# media/native (the room picture's blend kernel, the overlays' text renderer, the appsrc pusher, the WebRTC viewers, the H.264 AI-content label,
# the taps on a room's streaming threads: FLV relay to RTMP pushes, encoder clock):
# when one is missing or older than a source there. Without the WebRTC addon (no libgstreamer-plugins-bad1.0-dev) a host answers WHEP with 503.
native_missing=""
for addon_name in livehost_compose livehost_text livehost_appsrc livehost_webrtc livehost_sei livehost_taps; do
  built=media/native/build/Release/$addon_name.node
  if [ ! -f "$built" ] || [ -n "$(find media/native -maxdepth 1 -type f -newer "$built" -print -quit)" ]; then
    native_missing=1
  fi
done
if [ -n "$native_missing" ]; then
  say "building media/native (compose kernel, text, appsrc, WebRTC, AI-content label, taps)"
  (cd media/native && npx --no-install node-gyp rebuild --loglevel=warn)
fi

say "building (dist)"
npx --no-install tsc -p tsconfig.build.json

# The small models the project makes itself (nothing is downloaded): the synthetic Piper-format voice and the
# default avatar pack.
if [ ! -f models/tts/en_US-livehost_synthetic-x_low.onnx ] || [ ! -f models/avatars/default/pack.json ] \
  || [ dist/gpu-workers/tts/piper-synthetic.js -nt models/tts/en_US-livehost_synthetic-x_low.onnx ] \
  || [ dist/gpu-workers/lipsync/default-avatar.js -nt models/avatars/default/pack.json ]; then
  say "making models (models/tts, models/avatars)"
  node dist/cli/main.js models make --out models >/dev/null
fi
