// `amae pretrain --device cuda` where CUDA cannot run: one line naming the device and cudaInfo()'s
// reason, exit 2, before any data is read or any file written.
import test from 'ava';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { cudaInfo } from '../../lib/device.js';

const bin = fileURLToPath(new URL('../../bin/amae.js', import.meta.url));
const info = cudaInfo();

(info.available ? test.skip : test)('amae pretrain --device cuda without CUDA: a one-line error with the reason', (t) => {
  const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'amae-device-')), 'run');
  const args = [bin, 'pretrain', '--data', path.join(out, 'no-data'), '--preset', 'tiny', '--out', out, '--device', 'cuda'];
  const r = spawnSync(process.execPath, args, { encoding: 'utf8' });
  t.is(r.status, 2);
  t.is(r.stderr, `amae pretrain: device 'cuda': ${info.reason} (use device 'cpu')\n`);
  t.false(fs.existsSync(out), 'nothing written');
});
