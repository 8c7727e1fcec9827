// `npm run prebuildify`: writes prebuilds/<platform>-<arch>/amae.node, which `npm pack` ships and
// node-gyp-build loads without any build step. prebuildify only knows node-gyp, so it is handed
// a shim that ignores node-gyp's arguments and runs our cmake-js build (CPU backend).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const shim = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'amae-prebuild-')), 'cmake-js-shim');
fs.writeFileSync(shim, `#!/bin/sh\nexec "${process.execPath}" "${path.join(root, 'scripts/build-native.mjs')}"\n`, { mode: 0o755 });

const bin = path.join(path.dirname(require.resolve('prebuildify/package.json')), 'bin.js');
const r = spawnSync(process.execPath, [bin, '--napi', '--strip', '--node-gyp', shim], { stdio: 'inherit', cwd: root });
fs.rmSync(path.dirname(shim), { recursive: true, force: true });
process.exit(r.status ?? 1);
