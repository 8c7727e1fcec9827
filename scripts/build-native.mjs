// Builds the addon with cmake-js (the primary build).
//   AMAE_CUDA=1      adds the CUDA backend      → build/
//   AMAE_SANITIZE=1  ASan + UBSan build         → build-sanitize/
// Used by `npm install` (through scripts/install.mjs) and `npm run build:native`.
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import os from 'node:os';

const require = createRequire(import.meta.url);
const cmakeJs = require.resolve('cmake-js/bin/cmake-js');

export function buildNative({ cuda = !!process.env.AMAE_CUDA, sanitize = !!process.env.AMAE_SANITIZE } = {}) {
  const args = [cmakeJs, 'compile', '--out', sanitize ? 'build-sanitize' : 'build', '--parallel', String(os.cpus().length)];
  if (cuda) args.push('--CDAMAE_CUDA=ON');
  if (sanitize) args.push('--CDAMAE_SANITIZE=ON', '--config', 'RelWithDebInfo');
  const r = spawnSync(process.execPath, args, { stdio: 'inherit' });
  return r.status === 0;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  process.exit(buildNative() ? 0 : 1);
}
