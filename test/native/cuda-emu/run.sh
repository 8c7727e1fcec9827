#!/usr/bin/env bash
# Host emulation of the CUDA kernels (no GPU needed): each kernel runs with one std::thread per
# CUDA thread, __syncthreads as a block barrier and warp shuffles through a per-warp exchange,
# so the real kernel code (indexing, bounds guards, barriers, reduction order) is checked
# against the CPU ops. It does not model the memory model beyond barriers, launch limits,
# cuBLAS or timing. Usage: test/native/cuda-emu/run.sh  (SMALL=1 for tiny grid caps)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/native/cuda"
ln -s "$root/native/ops" "$work/native/ops"
ln -s "$root/native/core" "$work/native/core"
ln -s "$root/native/cpu" "$work/native/cpu"
cp "$here/context.cuh" "$root/native/cuda/gemm.h" "$root/native/cuda/device.h" "$work/native/cuda/"
families="gemm linear layernorm patch_embed"
python3 "$here/sync.py" "$root/native/cuda" "$work/native/cuda" $families
flags="-std=c++20 -O1 -g -march=x86-64-v3 -fno-trapping-math -pthread -fsanitize=address -Wno-unknown-pragmas"
cd "$work"
for f in $families; do g++ $flags -x c++ -c native/cuda/$f.cu -o cuda_$f.o & done
for f in cpu/gemm cpu/linear cpu/layernorm cpu/patch_embed core/threads; do g++ $flags -c native/$f.cpp -o ${f/\//_}.o & done
g++ $flags -I"$work" -c "$here/linear_layernorm_patch_embed.cpp" -o test.o
wait
g++ $flags *.o -o test
./test
