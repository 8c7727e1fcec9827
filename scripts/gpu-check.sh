#!/usr/bin/env bash
# The GPU session's one command: build the CUDA addon there, check every op against the CPU, train
# the tiny model on both, and time the paper preset's step against PyTorch on the same GPU.
#
# Prepare here first (once per session, in the checkout the session started in):
#   npm install && bash scripts/gpu-bundle.sh      # .gpu/: Node + node_modules, ~30 MiB
# Then ONE call of the device tool's `run`:
#   command:   bash scripts/gpu-check.sh
#   carry:     [".gpu"]
#   timeout_s: 540
# Logs come back in $OUT (7 files: env.log, build.log, test-cuda.log, test-own-gemm.log,
# bench.log, parity.jsonl, summary.txt); the summary table is printed last.
#
# Phases, each under `timeout` so a hang cannot eat the lease, all within GPU_CHECK_BUDGET
# seconds (420 by default; a phase gets the smaller of its own cap and what is left):
#   env        nvidia-smi, node/npm/nvcc/cmake/g++/python3/torch versions (Node from .gpu/ when
#              the machine has none, or one older than 20; node_modules from .gpu/ when missing)
#   build      build-cuda/ with cuBLAS from pip's nvidia-cublas (AMAE_CUBLAS_ROOT) when there;
#              if the build fails, .gpu/amae-cuda.node.xz (this machine's, no cuBLAS) when present
#   test-cuda  test/cuda: every op's f32 parity (+ poisoned outputs), bf16 for the GEMM ops, the
#              tiny AMAE model CPU vs CUDA; AMAE_REQUIRE_CUDA=1 so an all-skipped run fails
#   own-gemm   the GEMM ops' f32 and bf16 parity again with AMAE_CUDA_GEMM=own (amae's kernels
#              instead of cuBLAS); skipped when the build has no cuBLAS (test-cuda ran them)
#   bench      AMAE_BENCH_DEVICE=cuda npm run bench amae: paper preset, batch AMAE_BENCH_BATCH
#              (16), amae then PyTorch eager (bf16 autocast + SDPA) and torch.compile, MFU
# GPU_CHECK_SKIP="bench own-gemm" (say) leaves phases out; AMAE_PARITY_OPS=a,b limits the parity
# tests to those ops (a rerun of failures).
set -uo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
OUT=${OUT:-/tmp/gpu-check}
mkdir -p "$OUT"
: > "$OUT/parity.jsonl"
phases=/tmp/gpu-check-phases.tsv
: > "$phases"
BUDGET=${GPU_CHECK_BUDGET:-420}
start=$SECONDS

skipped() { [[ " ${GPU_CHECK_SKIP:-} " == *" $1 "* ]]; }
# phase NAME CAP LOG COMMAND...: runs COMMAND under timeout, its output in LOG, records the result.
phase() {
  local name=$1 cap=$2 log=$3
  shift 3
  local left=$((BUDGET - (SECONDS - start)))
  local limit=$((cap < left ? cap : left))
  if skipped "$name"; then
    printf '%s\tskipped (GPU_CHECK_SKIP)\t0\n' "$name" >> "$phases"
    return 0
  fi
  if ((limit < 15)); then
    printf '%s\tskipped (budget spent)\t0\n' "$name" >> "$phases"
    echo "=== $name: skipped, ${left}s of the budget left"
    return 0
  fi
  echo "=== $name (limit ${limit}s) → $log"
  local t0=$SECONDS
  timeout -k 10 "$limit" "$@" >> "$OUT/$log" 2>&1
  local rc=$?
  local took=$((SECONDS - t0)) status=ok
  ((rc == 124 || rc == 137)) && status="TIMEOUT after ${limit}s"
  ((rc != 0 && rc != 124 && rc != 137)) && status="FAILED (exit $rc)"
  printf '%s\t%s\t%s\n' "$name" "$status" "$took" >> "$phases"
  tail -n 12 "$OUT/$log" | cut -c1-240
  echo "=== $name: $status in ${took}s"
  return $rc
}

# ---- env: Node, node_modules, versions -------------------------------------------------------
setup_env() {
  if ! command -v node > /dev/null || (($(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0) < 20)); then
    if [ -f .gpu/node.tar.xz ]; then
      mkdir -p /tmp/amae-node && tar -xJf .gpu/node.tar.xz -C /tmp/amae-node
      export PATH="/tmp/amae-node:$PATH"
      echo "node: from .gpu/node.tar.xz"
    else
      echo "node: none usable here and no .gpu/node.tar.xz (run scripts/gpu-bundle.sh and carry .gpu)"
    fi
  fi
  if [ ! -d node_modules/ava ]; then
    if [ -f .gpu/node_modules.tar.xz ]; then
      rm -rf node_modules && tar -xJf .gpu/node_modules.tar.xz -C "$root" && echo "node_modules: from .gpu/node_modules.tar.xz"
    else
      echo "node_modules: missing and no .gpu/node_modules.tar.xz"
    fi
  fi
  # The image's python3 (the one with PyTorch) may keep cmake and ninja beside it.
  local pybin
  pybin=$(dirname "$(python3 -c 'import sys; print(sys.executable)' 2>/dev/null || echo /usr/bin/python3)")
  export PATH="$PATH:$pybin:/usr/local/cuda/bin"
  export AMAE_PYTHON=${AMAE_PYTHON:-$(command -v python3)}
}
setup_env > "$OUT/env.log" 2>&1
export AMAE_PYTHON PATH
show_env() {
  echo "date: $(date -u +%FT%TZ)"
  [ -f .gpu/manifest ] && sed 's/^/bundle: /' .gpu/manifest
  nvidia-smi
  nvidia-smi --query-gpu=name,driver_version,memory.total,memory.used,clocks.sm,clocks.mem,temperature.gpu,power.draw --format=csv
  echo "node: $(node --version 2>&1) ($(command -v node))"
  echo "npm: $(npm --version 2>&1 || echo none)"
  echo "nvcc: $(nvcc --version 2>&1 | tail -2 | tr '\n' ' ')"
  echo "cmake: $(cmake --version 2>&1 | head -1)"
  echo "g++: $(g++ --version 2>&1 | head -1)"
  echo "python3: $AMAE_PYTHON $("$AMAE_PYTHON" -c 'import sys, torch; print(sys.version.split()[0], "torch", torch.__version__, "cuda", torch.version.cuda, torch.cuda.is_available())' 2>&1 | tail -1)"
  echo "cuBLAS (pip): $(node -e 'import("./scripts/build-native.mjs").then(m => console.log(m.findCublasRoot() ?? "none"))' 2>&1)"
}
export -f show_env  # timeout runs programs, not shell functions
phase env 30 env.log bash -c show_env
grep -E '^(node|npm|nvcc|cmake|g\+\+|python3|cuBLAS|bundle):' "$OUT/env.log"

# ---- build ------------------------------------------------------------------------------------
addon=build-cuda/Release/amae.node
if ! phase build 240 build.log node scripts/test-cuda.mjs --build-only; then
  rm -f "$addon"  # a warm machine's earlier build would test stale code
  if [ -f .gpu/amae-cuda.node.xz ]; then
    mkdir -p build-cuda/Release && xz -dc .gpu/amae-cuda.node.xz > "$addon"
    echo "!!! the build failed: testing .gpu/amae-cuda.node.xz, built on the development machine (no cuBLAS)" | tee -a "$OUT/build.log"
    printf 'build\tfallback: .gpu/amae-cuda.node.xz\t0\n' >> "$phases"
  fi
fi
grep -sE 'amae: cuBLAS|test:cuda: building' "$OUT/build.log" | head -3

# ---- tests ------------------------------------------------------------------------------------
export AMAE_TEST_CUDA_NO_BUILD=1 AMAE_REQUIRE_CUDA=1 AMAE_PARITY_REPORT="$OUT/parity.jsonl"
if [ -f "$addon" ]; then
  phase test-cuda 200 test-cuda.log node scripts/test-cuda.mjs
  if grep -q '"kind":"device".*"cublas":true' "$OUT/parity.jsonl"; then
    AMAE_CUDA_GEMM=own AMAE_PARITY_GEMM_ONLY=1 \
      phase own-gemm 90 test-own-gemm.log node scripts/test-cuda.mjs test/cuda/parity-f32.test.ts test/cuda/parity-bf16.test.ts
  else
    printf 'own-gemm\tskipped (no cuBLAS in this build: test-cuda ran the own kernels)\t0\n' >> "$phases"
  fi
else
  printf 'test-cuda\tskipped (no addon)\t0\nown-gemm\tskipped (no addon)\t0\n' >> "$phases"
fi

# ---- benchmark --------------------------------------------------------------------------------
if [ -f "$addon" ]; then
  left=$((BUDGET - (SECONDS - start)))
  cap=$((left < 300 ? left : 300))
  # amae_step.ts and the PyTorch anchor each stop in time for the others' figures to print.
  export AMAE_BENCH_DEADLINE_MS=$(($(date +%s) * 1000 + (cap - 10) * 1000))
  AMAE_ADDON=$addon AMAE_BENCH_DEVICE=cuda phase bench 300 bench.log node --import=tsx bench/run.ts amae
else
  printf 'bench\tskipped (no addon)\t0\n' >> "$phases"
fi

# ---- summary ----------------------------------------------------------------------------------
if command -v node > /dev/null; then
  node scripts/gpu-summary.mjs "$OUT" "$phases" | tee "$OUT/summary.txt"
  exit "${PIPESTATUS[0]}"
fi
{ echo "no node: no summary"; column -t -s $'\t' "$phases"; } | tee "$OUT/summary.txt"
exit 1
