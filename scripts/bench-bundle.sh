#!/bin/sh
# Packs the speech benchmarks (`tts`, `cuda`, `transport`) into one folder that runs on another x86-64 Linux machine
# with nothing installed: a GPU node, or a bigger machine to compare with. It holds the bundled benchmark code, this
# machine's node and nats-server, the espeak-ng addon with its libraries and the English and Mandarin data, and
# onnxruntime-node. The benchmarks that need GStreamer (media, room, lipsync) are not in it.
#
#   sh scripts/bench-bundle.sh OUT_DIR [--cuda-providers DIR]
#   OUT_DIR/run.sh tts            # on the other machine: the same figures as `npm run bench -- tts`
#
# --cuda-providers DIR copies onnxruntime's CUDA provider libraries (libonnxruntime_providers_cuda.so and
# libonnxruntime_providers_shared.so, from the GPU release of the same onnxruntime version) next to the runtime, as
# onnxruntime-node's own CUDA install does; the node then needs the CUDA and cuDNN libraries those load, on its
# library path. Run `npm run setup` first (it builds dist/ and the addon).
set -eu
cd "$(dirname "$0")/.."

say() { printf 'bench-bundle: %s\n' "$*" >&2; }
[ $# -ge 1 ] || { say "usage: sh scripts/bench-bundle.sh OUT_DIR [--cuda-providers DIR]"; exit 2; }
out=$1
shift
providers=""
while [ $# -gt 0 ]; do
  case $1 in
    --cuda-providers) providers=${2:?--cuda-providers needs a folder}; shift 2 ;;
    *) say "unknown option $1"; exit 2 ;;
  esac
done
addon=gpu-workers/tts/native/build/Release/livehost_espeak.node
for need in dist/bench/main.js "$addon"; do
  [ -e "$need" ] || { say "$need is missing: run npm run setup first"; exit 1; }
done
if [ -n "$providers" ] && [ ! -e "$providers/libonnxruntime_providers_cuda.so" ]; then
  say "no libonnxruntime_providers_cuda.so in $providers"
  exit 1
fi
[ ! -e "$out" ] || [ -z "$(ls -A "$out")" ] || { say "$out is not empty"; exit 1; }
mkdir -p "$out"

say "bundling the benchmarks"
# The same layout as the repository, so that the code finds the addon and writes bench/results/ where it would.
npx rolldown dist/bench/main.js dist/bench/tts-client.js --platform node --format esm --dir "$out/dist/bench" \
  --external onnxruntime-node --external gstreamer-superficial --entryFileNames '[name].js' --chunkFileNames '[name]-[hash].js' \
  >/dev/null
printf '{ "name": "livehost", "private": true, "type": "module" }\n' >"$out/package.json"
mkdir -p "$out/$(dirname "$addon")"
cp "$addon" "$out/$addon"

say "onnxruntime-node (linux x64)"
ort=$out/node_modules/onnxruntime-node
mkdir -p "$ort/bin/napi-v6/linux" "$out/node_modules/onnxruntime-common"
cp -r node_modules/onnxruntime-node/package.json node_modules/onnxruntime-node/dist "$ort/"
cp -r node_modules/onnxruntime-node/bin/napi-v6/linux/x64 "$ort/bin/napi-v6/linux/"
cp -r node_modules/onnxruntime-common/. "$out/node_modules/onnxruntime-common/"
if [ -n "$providers" ]; then
  cp "$providers"/libonnxruntime_providers_*.so "$ort/bin/napi-v6/linux/x64/"
fi

say "node, nats-server, and espeak-ng's libraries and data"
runtime=$out/runtime
mkdir -p "$runtime/bin" "$runtime/lib" "$runtime/espeak-ng-data"
cp "$(command -v node)" "$(command -v nats-server)" "$runtime/bin/"
# Every library the addon loads except the C library itself, which the other machine has.
ldd "$addon" | awk '/=> \// { print $3 }' | grep -v -E '/(libc|libm|libpthread|libdl|librt)\.so|ld-linux' |
  while read -r lib; do cp -L "$lib" "$runtime/lib/"; done
data=$(dirname "$(find /usr/lib /usr/share -type f -name phontab -path '*espeak-ng-data*' | head -n 1)")
for part in phontab phonindex phondata intonations en_dict cmn_dict lang voices; do
  cp -r "$data/$part" "$runtime/espeak-ng-data/"
done

cat >"$out/run.sh" <<'EOF'
#!/bin/sh
# npm run bench -- "$@", with the node, libraries and data this folder carries.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
export PATH="$here/runtime/bin:$PATH"
export LD_LIBRARY_PATH="$here/node_modules/onnxruntime-node/bin/napi-v6/linux/x64:${LD_LIBRARY_PATH:+$LD_LIBRARY_PATH:}$here/runtime/lib"
export ESPEAK_DATA_PATH="$here/runtime" UV_THREADPOOL_SIZE=128
exec node "$here/dist/bench/main.js" "$@"
EOF
chmod +x "$out/run.sh"
say "done: $(du -sh "$out" | cut -f1) in $out; run $out/run.sh tts (or cuda, transport) there"
