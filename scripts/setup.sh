#!/usr/bin/env bash
# Installs what troupe needs on a Debian/Ubuntu machine (and Chromium for the browser test), then the npm packages
# and the native addon.
# Safe to run again: it installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v nats-server >/dev/null 2>&1 || need+=(nats-server)
dpkg -s libopenblas-dev >/dev/null 2>&1 || need+=(libopenblas-dev)
command -v g++ >/dev/null 2>&1 || need+=(g++)
command -v make >/dev/null 2>&1 || need+=(make)
command -v python3 >/dev/null 2>&1 || need+=(python3)
# headless Chromium for the dashboard's browser test (test/dashboard), driven by playwright-core, which downloads none
[ -x /usr/bin/chromium ] || need+=(chromium)
if [ ${#need[@]} -gt 0 ]; then
  echo "troupe setup: installing system packages: ${need[*]}"
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}"
fi

# Not `npm ci`: vite lists a Windows-only optional package that this registry lacks, which `npm ci` refuses.
npm install --no-audit --no-fund

# The bundled command line (bin/troupe.js also rebuilds it on demand when a source changed).
node scripts/build-cli.mjs
