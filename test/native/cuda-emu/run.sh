#!/usr/bin/env bash
# Host emulation of the CUDA kernels (no GPU needed): the real native/cuda/*.cu and context.cuh,
# with launches and __shared__ declarations rewritten (sync.mjs), compiled by g++ against an
# emulated CUDA runtime (include/cuda_runtime.h, runtime.cpp: each CUDA thread a fiber, barriers,
# warp collectives, device memory that host code cannot touch) under ASan and UBSan, and checked
# against the CPU ops (<family>.test.cpp). Every family of native/sources-cuda.txt must have its
# test and call every one of its ops (sync.mjs fails otherwise). The pseudo-family "model"
# (model.test.cpp) runs the whole AMAE model and the segmentation models (native/models, native/core/memory.cpp and arena.cpp,
# built with AMAE_WITH_CUDA onto the emulated device memory of context.cpp) on CUDA vs the CPU.
#
# Usage: test/native/cuda-emu/run.sh [family...]
#   Runs every family twice, with the real grid caps and with EMU_SMALL=1 (caps of 2 blocks, so
#   grid-stride loops and chunk growth run on small shapes), JOBS (default: nproc) at a time.
#   EMU_SEED=n changes the schedules (block order, fiber order; default 1, and 2 with EMU_SMALL),
#   EMU_ORDER=1 runs everything in order (debugging). Exit status 1 on any FAIL line or crash.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
work=${EMU_WORK:-$(mktemp -d)}
[ -n "${EMU_WORK:-}" ] || trap 'rm -rf "$work"' EXIT
mkdir -p "$work/native" "$work/obj"
for d in ops core cpu models; do ln -sfn "$root/native/$d" "$work/native/$d"; done
families=$(node "$here/sync.mjs" "$root" "$work") || { echo "$families"; exit 1; }
all_families=$families
families="emu $families model"  # the emulator's own self-test first (emu.test.cpp), the whole model last
[ $# -gt 0 ] && families="$*"
jobs=${JOBS:-$(nproc)}

san="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
common="-DAMAE_WITH_CUDA -std=c++20 -g -march=x86-64-v3 -fno-trapping-math -pthread -Wall -Wno-unknown-pragmas -Wno-sign-compare -Wno-unused-function -I$work -I$here/include"
# The kernels, the emulated context, the tests and the model code (native/models, core memory and
# arena): sanitised. The emulator (runtime.cpp) and the CPU reference: optimised only.
# AMAE_WITH_CUDA everywhere: memory.cpp routes CUDA memory to cuda::device_* (context.cpp) and
# the models' ops:: dispatch to cuda:: (one definition of those inline functions in every unit).
units=()
for f in $all_families; do units+=("cu:$work/native/cuda/$f.cu"); done
units+=("rt:$here/runtime.cpp")
for f in "$here"/context.cpp "$here"/main.cpp "$here"/*.test.cpp "$root"/native/models/{params,vit,amae,model,tokenizer,blocks,segmentation,unetr,unet}.cpp \
  "$root"/native/core/{memory,arena}.cpp; do units+=("emu:$f"); done
for f in "$root"/native/cpu/*.cpp "$root"/native/core/threads.cpp; do units+=("cpu:$f"); done
# With a kept EMU_WORK, an object newer than its source and every header is reused.
headers=$(find "$here" "$root/native" "$work/native/cuda" -name '*.h' -o -name '*.cuh' | xargs ls -t | head -1)
obj_of() { echo "$work/obj/$(echo "$1" | md5sum | cut -c1-12).o"; }
compile() {
  local kind=${1%%:*} src=${1#*:} obj
  obj=$(obj_of "$src")
  [ -n "${EMU_KEEP:-}" ] && [ "$obj" -nt "$src" ] && [ "$obj" -nt "$headers" ] && return 0
  case $kind in
    rt) g++ $common -O2 -DEMU_ASAN=1 -c "$src" -o "$obj" ;;
    cu) g++ $common $san -O1 -x c++ -c "$src" -o "$obj" ;;
    emu) g++ $common $san -O1 -c "$src" -o "$obj" ;;
    cpu) g++ $common -O2 -c "$src" -o "$obj" ;;
  esac || { echo "FAIL compile: $src"; return 1; }
}
export -f compile obj_of
[ -n "${EMU_WORK:-}" ] && export EMU_KEEP=1
export common san work headers
t0=$(date +%s)
printf '%s\n' "${units[@]}" | xargs -P "$jobs" -I{} bash -c 'compile "$@"' _ {}
objs=()
for u in "${units[@]}"; do objs+=("$(obj_of "${u#*:}")"); done
g++ $san -pthread "${objs[@]}" -o "$work/emu_test"
t1=$(date +%s)
echo "built in $((t1 - t0)) s: families $families"

# One process per (family, mode), so a crash (ASan, an emulator abort) names its family and the
# rest still run.
run_one() {
  local fam=$1 small=$2 out="$work/out.$1.$2"
  # The two modes also run different fiber schedules (seeds 1 and 2 unless EMU_SEED is set).
  if EMU_SEED=${EMU_SEED:-$((small + 1))} EMU_SMALL=$small ASAN_OPTIONS=detect_leaks=0:abort_on_error=0 "$work/emu_test" "$fam" >"$out" 2>&1; then
    echo "exit 0" >>"$out"
  else
    echo "FAIL $fam (EMU_SMALL=$small): exit status $?" >>"$out"
  fi
}
export -f run_one
for f in $families; do printf '%s 0\n%s 1\n' "$f" "$f"; done | xargs -P "$jobs" -L1 bash -c 'run_one "$@"' _
status=0
for f in $families; do
  for m in 0 1; do
    cat "$work/out.$f.$m"
    grep -q '^FAIL' "$work/out.$f.$m" && status=1
  done
done
echo "emulation: $(cat "$work"/out.* | grep -c '^ok  ') ok, $(cat "$work"/out.* | grep -c '^FAIL' || true) FAIL, $(( $(date +%s) - t0 )) s in all"
exit $status
