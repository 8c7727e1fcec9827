// `npm run test:cuda`: builds the addon with the CUDA backend (build-cuda/; cuBLAS from
// AMAE_CUBLAS_ROOT or python3's pip nvidia-cublas when there, else amae's own GEMM kernels) and
// runs test/cuda against it. Without a GPU (CI) this compiles every .cu file and the CUDA tests
// skip, each naming the reason. Options, all through the environment:
//   AMAE_TEST_CUDA_NO_BUILD=1  use build-cuda/ as it is (scripts/gpu-check.sh builds first)
//   --build-only               (argument) build, then stop
//   AMAE_REQUIRE_CUDA=1        fail when no GPU is usable instead of skipping
//   AMAE_CUDA_GEMM=own         (read by the addon) amae's own GEMM kernels even with cuBLAS
//   AMAE_PARITY_GEMM_ONLY=1    only the GEMM-based ops' parity tests
//   AMAE_PARITY_OPS=a,b        only these ops' parity tests
//   AMAE_PARITY_REPORT=file    append one JSON line per op checked
// Extra arguments go to ava (e.g. a single test file).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildNative, findCublasRoot, findNvcc } from './build-native.mjs';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
process.chdir(root);
const addon = path.join('build-cuda', 'Release', 'amae.node');

if (!process.env.AMAE_TEST_CUDA_NO_BUILD) {
  const nvcc = findNvcc();
  if (!nvcc) {
    // Nothing to compile with: say so plainly rather than fail a machine that has no toolkit.
    console.log('test:cuda: no nvcc (CUDA toolkit) on this machine, so no CUDA build and no CUDA tests');
    process.exit(process.env.AMAE_REQUIRE_CUDA ? 1 : 0);
  }
  const cublasRoot = findCublasRoot();
  console.log(`test:cuda: building ${addon} with ${nvcc}; cuBLAS: ${cublasRoot ?? "CMake's search of the toolkit (else amae's own GEMMs)"}`);
  if (!buildNative({ cuda: true, out: 'build-cuda', cublasRoot })) process.exit(1);
}
if (!fs.existsSync(addon)) {
  console.error(`test:cuda: ${addon} is missing`);
  process.exit(1);
}

if (process.argv.includes('--build-only')) process.exit(0);
// A shared library links with undefined symbols (Node provides napi_*), and loading is lazy: an
// op whose cuda:: function is missing would kill the process at its first call. Such a build is
// broken, so it fails here, naming what is missing.
const nm = spawnSync('nm', ['-uC', addon], { encoding: 'utf8' });
if (nm.status !== 0) {
  console.error(`test:cuda: nm could not read ${addon}: ${nm.stderr}`);
  process.exit(1);
}
const missing = [...new Set([...nm.stdout.matchAll(/amae::\w+::(\w+)\(/g)].map((m) => m[1]))].sort();
if (missing.length) {
  console.error(`test:cuda: ${addon} leaves amae functions undefined: ${missing.join(', ')}`);
  process.exit(1);
}

const files = process.argv.slice(2).filter((a) => a !== '--build-only');
const ava = path.join(root, 'node_modules', 'ava', 'entrypoints', 'cli.mjs');
const env = { ...process.env, AMAE_ADDON: addon };
// npm test's ava configuration leaves test/cuda out; named files still run.
const cudaTests = fs.readdirSync('test/cuda').filter((f) => f.endsWith('.test.ts')).map((f) => path.join('test', 'cuda', f));
const r = spawnSync(process.execPath, [ava, ...(files.length ? files : cudaTests)], { stdio: 'inherit', env });
process.exit(r.status ?? 1);
