#!/usr/bin/env bash
# Prepares .gpu/ (git-ignored) for a GPU session, which runs scripts/gpu-check.sh on a device
# machine that has no Node and no npm registry: this machine's Node binary and the project's
# node_modules (less typescript and @types, which nothing there needs) as xz tarballs, plus, when
# build-cuda/ holds one, this machine's CUDA addon as a fallback should the build there fail.
# Run it in the checkout the session was started in (the one the device tool sends), after
# `npm install`; the `run` call then names .gpu in carry (see scripts/gpu-check.sh).
# Checks that the bundle plus the working tree that travels stays under the tool's 64 MiB.
set -euo pipefail
cd "$(dirname "$0")/.."

LIMIT_MIB=${GPU_BUNDLE_LIMIT_MIB:-60}  # the tool takes 64 MiB; keep a margin
node_bin=$(readlink -f "$(command -v node)")
nm=$(readlink -f node_modules)  # a worktree's node_modules may be a link
[ -d "$nm/ava" ] || { echo "gpu-bundle: no node_modules here: run npm install first" >&2; exit 1; }

rm -rf .gpu
mkdir -p .gpu
echo "gpu-bundle: node $(node --version) from $node_bin"
tar -C "$(dirname "$node_bin")" -cf - "$(basename "$node_bin")" | xz -9 -T0 > .gpu/node.tar.xz
echo "gpu-bundle: node_modules from $nm"
tar -C "$(dirname "$nm")" --exclude='node_modules/typescript' --exclude='node_modules/@types' -cf - "$(basename "$nm")" |
  xz -9 -T0 > .gpu/node_modules.tar.xz
if [ -f build-cuda/Release/amae.node ]; then
  xz -9 -T0 -c build-cuda/Release/amae.node > .gpu/amae-cuda.node.xz
  echo "gpu-bundle: fallback addon from build-cuda/Release/amae.node ($(date -r build-cuda/Release/amae.node -u +%FT%TZ))"
fi
{
  echo "made $(date -u +%FT%TZ) on $(uname -m)"
  echo "commit $(git rev-parse HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD 2>/dev/null || echo ' (with uncommitted changes)')"
  echo "node $(node --version)"
} > .gpu/manifest

# What travels: tracked files, untracked files git does not ignore, shared/, and .gpu.
tree_bytes=$(
  { git ls-files -z --cached --others --exclude-standard; if [ -d shared ]; then find shared -type f -print0; fi; } |
    { xargs -0 -r stat -c %s -- 2>/dev/null || true; } | awk '{s += $1} END {print s + 0}'
)
bundle_bytes=$(du -cb .gpu | tail -1 | cut -f1)
total=$((tree_bytes + bundle_bytes))
mib() { awk -v b="$1" 'BEGIN {printf "%.1f MiB", b / 1048576}'; }
echo "gpu-bundle: .gpu $(mib "$bundle_bytes") ($(cd .gpu && ls -s --block-size=K | tail -n +2 | tr '\n' ' ')), working tree $(mib "$tree_bytes"), together $(mib "$total") (limit $LIMIT_MIB MiB)"
if [ "$total" -gt $((LIMIT_MIB * 1048576)) ]; then
  echo "gpu-bundle: too large for the device tool" >&2
  exit 1
fi
