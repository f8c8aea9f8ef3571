#!/usr/bin/env bash
# Builds the CUDA addon, build-cuda/troupe_cuda.node, from native/cuda/ and the shared kernel registry
# (native/src/kernel_call.cc, kernel_rules.gen.cc). Needs nvcc and the CUDA runtime (headers, libcudart_static);
# cuBLAS and NCCL are loaded at run time (dlopen), so neither is needed here. The CPU addon (binding.gyp) is
# untouched: machines without nvcc never run this. Rebuilds only when a source is newer than the addon.
#   CUDA_ARCHS="90"      compute capabilities to build for (space-separated; 90 = H100/H200)
#   NODE_INCLUDE=dir     holds node_api.h (default: next to the running node, else /usr/include/node)
#   NAPI_INCLUDE=dir     holds napi.h (default: node_modules/node-addon-api)
#   OUT_DIR=dir          where troupe_cuda.node goes (default: build-cuda)
#   JOBS=n               parallel compiles (default: nproc)
set -euo pipefail
cd "$(dirname "$0")/.."

NVCC=${NVCC:-$(command -v nvcc || true)}
[ -n "$NVCC" ] || { echo "gpu-build: nvcc not found (install the CUDA toolkit or set NVCC)" >&2; exit 2; }
# nvcc may be a wrapper script: ask it where the toolkit is (its dry run prints TOP=<toolkit>/bin/..).
if [ -z "${CUDA_HOME:-}" ]; then
  CUDA_HOME=$("$NVCC" -dryrun -x cu -E /dev/null -o /dev/null 2>&1 | sed -n 's/^#\$ TOP=//p' | head -1)
  CUDA_HOME=$(cd "${CUDA_HOME:-$(dirname "$(readlink -f "$NVCC")")/..}" && pwd)
fi
[ -f "$CUDA_HOME/include/cuda_runtime.h" ] || { echo "gpu-build: no cuda_runtime.h under $CUDA_HOME (set CUDA_HOME)" >&2; exit 2; }
# The CUDA runtime: static where the toolkit has it (the addon then needs only the driver), else the shared
# library with its directory as the addon's run path (e.g. a pip-installed toolkit).
CUDART=()
for d in "$CUDA_HOME/lib64" "$CUDA_HOME/lib" "$CUDA_HOME/targets/x86_64-linux/lib"; do
  [ -f "$d/libcudart_static.a" ] && { CUDART=(-L"$d" -lcudart_static); break; }
done
if [ ${#CUDART[@]} -eq 0 ]; then
  for d in "$CUDA_HOME/lib64" "$CUDA_HOME/lib" ${LD_LIBRARY_PATH//:/ }; do
    so=$(ls "$d"/libcudart.so* 2>/dev/null | head -1)
    [ -n "$so" ] && { CUDART=("$so" "-Wl,-rpath,$d"); break; }
  done
fi
[ ${#CUDART[@]} -gt 0 ] || { echo "gpu-build: no CUDA runtime library (libcudart_static.a or libcudart.so) under $CUDA_HOME" >&2; exit 2; }

if [ -z "${NODE_INCLUDE:-}" ]; then
  NODE_BIN=$(command -v node || true)
  for d in ${NODE_BIN:+"$(dirname "$(dirname "$(readlink -f "$NODE_BIN")")")/include/node"} /usr/include/node /usr/local/include/node; do
    [ -f "$d/node_api.h" ] && { NODE_INCLUDE=$d; break; }
  done
fi
[ -f "${NODE_INCLUDE:-}/node_api.h" ] || { echo "gpu-build: node_api.h not found (set NODE_INCLUDE)" >&2; exit 2; }
NAPI_INCLUDE=${NAPI_INCLUDE:-node_modules/node-addon-api}
[ -f "$NAPI_INCLUDE/napi.h" ] || { echo "gpu-build: napi.h not found in $NAPI_INCLUDE (set NAPI_INCLUDE)" >&2; exit 2; }

OUT_DIR=${OUT_DIR:-build-cuda}
OBJ=$OUT_DIR/obj
mkdir -p "$OBJ"
TARGET=$OUT_DIR/troupe_cuda.node
CU_SOURCES=(native/cuda/*.cu)
CC_SOURCES=(native/cuda/*.cc native/src/kernel_call.cc native/src/kernel_rules.gen.cc)

if [ -f "$TARGET" ] && [ -z "$(find native/cuda native/src/kernel_call.* native/src/kernel_args.h native/src/kernel_rules.gen.cc scripts/gpu-build.sh -newer "$TARGET" -print -quit)" ]; then
  echo "gpu-build: $TARGET is up to date"
  exit 0
fi

GENCODE=()
for a in ${CUDA_ARCHS:-90}; do GENCODE+=(-gencode "arch=compute_$a,code=sm_$a"); done
last=$(echo ${CUDA_ARCHS:-90} | awk '{print $NF}')
GENCODE+=(-gencode "arch=compute_$last,code=compute_$last")  # PTX too, for newer GPUs
DEFINES=(-DNAPI_VERSION=9 -DNAPI_CPP_EXCEPTIONS -DNODE_ADDON_API_CPP_EXCEPTIONS_ALL -DBUILDING_NODE_EXTENSION)
CXXFLAGS=(-O2 -std=c++17 -fPIC -fvisibility=hidden -Wall -Wno-unused-parameter "-I$CUDA_HOME/include" "-I$NODE_INCLUDE" "-I$NAPI_INCLUDE" "${DEFINES[@]}")
NVCCFLAGS=(-O3 -std=c++17 -Xcompiler -fPIC -Xcompiler -fvisibility=hidden "${GENCODE[@]}" -Werror all-warnings)

echo "gpu-build: nvcc $("$NVCC" --version | sed -n 's/.*release \([0-9.]*\).*/\1/p'), CUDA $CUDA_HOME, archs ${CUDA_ARCHS:-90}, node headers $NODE_INCLUDE"
pids=()
fail=0
run() {  # run a compile in the background, at most JOBS at a time
  while [ "$(jobs -rp | wc -l)" -ge "${JOBS:-$(nproc)}" ]; do wait -n || fail=1; done
  "$@" & pids+=($!)
}
HEADERS=(native/cuda/*.h native/cuda/*.cuh native/src/*.h scripts/gpu-build.sh)
fresh() {  # object $1 is newer than its source $2 and every header
  [ -f "$1" ] && [ -z "$(find "$2" "${HEADERS[@]}" -newer "$1" -print -quit)" ]
}
objects=()
for src in "${CU_SOURCES[@]}"; do
  o=$OBJ/$(basename "$src").o; objects+=("$o")
  fresh "$o" "$src" || run "$NVCC" "${NVCCFLAGS[@]}" -c "$src" -o "$o"
done
for src in "${CC_SOURCES[@]}"; do
  o=$OBJ/$(basename "$src").o; objects+=("$o")
  fresh "$o" "$src" || run "${CXX:-g++}" "${CXXFLAGS[@]}" -c "$src" -o "$o"
done
for p in "${pids[@]}"; do wait "$p" || fail=1; done
[ "$fail" -eq 0 ] || { echo "gpu-build: compilation failed" >&2; exit 1; }
"${CXX:-g++}" -shared -o "$TARGET.tmp" "${objects[@]}" "${CUDART[@]}" -ldl -lpthread -lrt
mv "$TARGET.tmp" "$TARGET"
echo "gpu-build: wrote $TARGET"
