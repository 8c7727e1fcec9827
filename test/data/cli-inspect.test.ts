// `amae inspect`, run as a user runs it: spawning bin/amae.js.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import type { InspectReport } from '../../lib/cli/inspect.js';
import { niftiBytes } from '../helpers/nifti-bytes.js';
import { REAL, realFile, realTest } from '../helpers/real-data.js';

const bin = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../bin/amae.js');

function amae(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [bin, ...args], { encoding: 'utf8' }, (err, stdout, stderr) => {
      resolve({ code: err ? Number(err.code ?? 1) : 0, stdout, stderr });
    });
  });
}

let tmp = '';
let scaled = '';
test.before(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'amae-cli-'));
  scaled = path.join(tmp, 'scaled.nii');
  // int16 values 0..23 scaled by 0.5 − 1 (so −1..10.5), LPS with 2 × 3 × 4 mm voxels.
  const srow = [
    [-2, 0, 0, 10],
    [0, -3, 0, 20],
    [0, 0, 4, -30],
  ];
  const values = Array.from({ length: 24 }, (_, n) => n);
  fs.writeFileSync(scaled, niftiBytes({ datatype: 4, dims: [4, 3, 2], values, sclSlope: 0.5, sclInter: -1, srow, sformCode: 1 }));
});
test.after.always(() => fs.rmSync(tmp, { recursive: true, force: true }));

test('plain text: dims, voxel size, datatype, scaling, orientation, affine, value range', async (t) => {
  const { code, stdout, stderr } = await amae('inspect', scaled);
  t.is(code, 0, stderr);
  const field = (name: string) => stdout.split('\n').find((l) => l.startsWith(name))?.slice(12);
  t.is(field('dims'), '4 × 3 × 2');
  t.is(field('voxel size'), '2 × 3 × 4 mm');
  t.is(field('datatype'), 'int16 (code 4)');
  t.is(field('scaling'), 'scl_slope 0.5, scl_inter -1 (applied)');
  t.regex(field('orientation')!, /^LPS \(affine from sform; qform_code 0, sform_code 1\)$/);
  t.is(field('affine'), '[  -2    0    0   10 ]');
  t.is(field('min / max'), '-1 / 10.5');
  t.is(field('mean'), '4.75');
});

test('--json carries the same report', async (t) => {
  const { code, stdout } = await amae('inspect', scaled, '--json');
  t.is(code, 0);
  const r = JSON.parse(stdout) as InspectReport;
  t.like(r, { file: scaled, format: 'NIfTI-1', dims: [4, 3, 2], volumes: 1, datatype: 'int16', sclSlope: 0.5, sclInter: -1, scaled: true });
  t.like(r, { orientation: 'LPS', affineFrom: 'sform', min: -1, max: 10.5, mean: 4.75, voxelSize: [2, 3, 4] });
  t.deepEqual(r.affine[1], [0, -3, 0, 20]);
});

test('bad input: exit code 2 and one line naming the file and the problem', async (t) => {
  const bad = path.join(tmp, 'bad.nii.gz');
  fs.writeFileSync(bad, Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 1, 2, 3]));
  const r = await amae('inspect', bad, '--json');
  t.is(r.code, 2);
  t.is(r.stdout, '');
  t.regex(r.stderr, new RegExp(`^amae inspect: ${bad.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: corrupt or truncated gzip stream .*\\n$`));
  t.is(r.stderr.split('\n').length, 2);
});

test('usage errors exit 2; help exits 0', async (t) => {
  const [none, unknown, extra, help] = await Promise.all([
    amae('inspect'),
    amae('inspect', scaled, '--colour'),
    amae('frobnicate'),
    amae('inspect', '--help'),
  ]);
  t.is(none.code, 2);
  t.regex(none.stderr, /^amae inspect: expected one FILE, got 0; usage: amae inspect FILE/);
  t.is(unknown.code, 2);
  t.regex(unknown.stderr, /Unknown option '--colour'/);
  t.is(extra.code, 2);
  t.regex(extra.stderr, /unknown command 'frobnicate'/);
  t.is(help.code, 0);
  t.regex(help.stdout, /^usage: amae inspect FILE/);
});

test('--png writes a greyscale PNG; an unwritable one exits 2', async (t) => {
  const png = path.join(tmp, 'small.png');
  const [ok, bad] = await Promise.all([amae('inspect', scaled, '--png', png), amae('inspect', scaled, '--png', path.join(tmp, 'no/dir/x.png'))]);
  t.is(ok.code, 0, ok.stderr);
  t.regex(ok.stdout, new RegExp(`preview\\s+${png.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
  const bytes = fs.readFileSync(png);
  t.is(bytes.subarray(1, 4).toString('latin1'), 'PNG');
  t.is(bytes[25], 0, 'colour type greyscale');
  t.is(bad.code, 2);
  t.regex(bad.stderr, /^amae inspect: cannot write .*no\/dir\/x\.png \(ENOENT/);
});

realTest('a real file: the ISLES ADC, with a preview', async (t) => {
  const png = path.join(tmp, 'adc.png');
  const { code, stdout } = await amae('inspect', realFile(REAL.adc), '--json', '--png', png);
  t.is(code, 0);
  const r = JSON.parse(stdout) as InspectReport;
  t.is(r.png, png);
  // 112 × 112 × 73 voxels of 2 mm: 224 mm across at 256 pixels, three panels and two gaps.
  const bytes = fs.readFileSync(png);
  t.deepEqual([bytes.readUInt32BE(16), bytes.readUInt32BE(20)], [256 + 256 + 256 + 8, 256]);
  t.like(r, { dims: [112, 112, 73], datatype: 'float64', orientation: 'LAS', affineFrom: 'sform', qformCode: 2, sformCode: 1 });
  r.voxelSize.forEach((s) => t.true(Math.abs(s - 2) < 1e-3));
  t.true(r.min < 0 && r.max > 4 && r.mean > 0.2 && r.mean < 0.25);
});
