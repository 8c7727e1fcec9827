// `npm install` hook: use a prebuild when one loads, else build from source with cmake-js,
// and if cmake is unavailable fall back to node-gyp (binding.gyp, CPU only).
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildNative } from './build-native.mjs';

const require = createRequire(import.meta.url);
const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));

function loads() {
  try {
    require('node-gyp-build')(root);
    return true;
  } catch {
    return false;
  }
}

if (!process.env.AMAE_BUILD_FROM_SOURCE && loads()) process.exit(0);
if (buildNative()) process.exit(0);
console.error('amae: cmake-js build failed; trying node-gyp (CPU only)');
const gyp = spawnSync('npx', ['--no-install', 'node-gyp', 'rebuild'], { stdio: 'inherit', cwd: root });
process.exit(gyp.status ?? 1);
