import test from 'ava';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Amae } from '../../lib/models/amae.js';

const bin = fileURLToPath(new URL('../../bin/amae.js', import.meta.url));

test('amae demo: synthetic data, then pre-training with its figure, end to end', async (t) => {
  const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'amae-demo-')), 'demo');
  const r = spawnSync(process.execPath, [bin, 'demo', '--out', out, '--subjects', '3', '--epochs', '2'], { encoding: 'utf8' });
  t.is(r.status, 0, r.stderr);
  t.regex(r.stdout, /\[1\/2\] synthetic data set: 3 subjects/);
  t.regex(r.stdout, /\[2\/2\] AMAE pre-training, demo preset, 2 epochs/);
  t.true(fs.existsSync(path.join(out, 'data', 'dataset.json')));
  const png = fs.readFileSync(path.join(out, 'pretrain', 'recon.png'));
  t.deepEqual([...png.subarray(1, 4)], [0x50, 0x4e, 0x47]);
  const model = await Amae.load(path.join(out, 'pretrain', 'amae.safetensors'));
  t.deepEqual(model.config.size, [64, 64, 64]);
  const metrics = fs.readFileSync(path.join(out, 'pretrain', 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  t.true(metrics.length >= 2 && metrics.every((m) => Number.isFinite(m.loss)));
});

test('amae demo: a bad option exits 2 with one line', (t) => {
  const r = spawnSync(process.execPath, [bin, 'demo', '--subjects', 'many'], { encoding: 'utf8' });
  t.is(r.status, 2);
  t.regex(r.stderr, /^amae demo: --subjects must be an integer/);
  t.is(r.stderr.trim().split('\n').length, 1);
});
