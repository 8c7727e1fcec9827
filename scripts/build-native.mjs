// Builds the addon with cmake-js (the primary build).
//   AMAE_CUDA=1      adds the CUDA backend      → build/
//   AMAE_SANITIZE=1  ASan + UBSan build         → build-sanitize/
//   AMAE_CUBLAS_ROOT a folder with include/cublas_v2.h and lib/libcublas.so*, for CUDA builds
//                    (found on its own in python3's pip nvidia-cublas when unset)
// Used by `npm install` (through scripts/install.mjs), `npm run build:native`, and with
// out: 'build-cuda' by `npm run test:cuda` (scripts/test-cuda.mjs).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';

const require = createRequire(import.meta.url);
const cmakeJs = require.resolve('cmake-js/bin/cmake-js');

// pip's cuBLAS: nvidia-cublas-cu12 unpacks to site-packages/nvidia/cublas/{include,lib}, the CUDA
// 13 wheel (nvidia-cublas 13.x) to site-packages/nvidia/cu13/{include,lib}.
const FIND_PIP_CUBLAS = `
import glob, os
try:
    import nvidia
    bases = list(nvidia.__path__)
except Exception:
    bases = []
for base in bases:
    for sub in ("cu13", "cublas", "cu12"):
        d = os.path.join(base, sub)
        if os.path.exists(os.path.join(d, "include", "cublas_v2.h")) and glob.glob(os.path.join(d, "lib", "libcublas.so*")):
            print(d)
            raise SystemExit(0)
`;

/** AMAE_CUBLAS_ROOT, else pip's nvidia-cublas under python3 (AMAE_PYTHON), else undefined. */
export function findCublasRoot() {
  if (process.env.AMAE_CUBLAS_ROOT) return process.env.AMAE_CUBLAS_ROOT;
  const r = spawnSync(process.env.AMAE_PYTHON || 'python3', ['-c', FIND_PIP_CUBLAS], { encoding: 'utf8' });
  const dir = r.status === 0 ? r.stdout.trim() : '';
  return dir || undefined;
}

/** nvcc on PATH, or the toolkit's default place (then added to PATH for CMake); else undefined. */
export function findNvcc() {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (dir && fs.existsSync(path.join(dir, 'nvcc'))) return path.join(dir, 'nvcc');
  }
  const cudaHome = process.env.CUDA_HOME || process.env.CUDA_PATH || '/usr/local/cuda';
  const nvcc = path.join(cudaHome, 'bin', 'nvcc');
  if (!fs.existsSync(nvcc)) return undefined;
  process.env.PATH = `${path.dirname(nvcc)}${path.delimiter}${process.env.PATH ?? ''}`;
  return nvcc;
}

export function buildNative({
  cuda = !!process.env.AMAE_CUDA,
  sanitize = !!process.env.AMAE_SANITIZE,
  out = sanitize ? 'build-sanitize' : 'build',
  cublasRoot = cuda ? findCublasRoot() : undefined,
} = {}) {
  const args = [cmakeJs, 'compile', '--out', out, '--parallel', String(os.cpus().length)];
  if (cuda) args.push('--CDAMAE_CUDA=ON');
  if (cuda && cublasRoot) args.push(`--CDAMAE_CUBLAS_ROOT=${cublasRoot}`);
  if (sanitize) args.push('--CDAMAE_SANITIZE=ON', '--config', 'RelWithDebInfo');
  const r = spawnSync(process.execPath, args, { stdio: 'inherit' });
  return r.status === 0;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  process.exit(buildNative() ? 0 : 1);
}
