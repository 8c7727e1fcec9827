// Reading without nibabel: files built byte by byte from the standard, so the voxel order, the
// byte order, both header versions and the three ways to get an affine are checked by value.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import test from 'ava';
import { readNifti, readNiftiChannels, readNiftiHeader } from '../../lib/data/nifti.js';
import type { DatatypeName } from '../../lib/data/volume.js';
import { indexRamp, niftiBytes, type FixtureSpec } from '../helpers/nifti-bytes.js';

let tmp = '';
test.before(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'amae-nifti-layout-'));
});
test.after.always(() => fs.rmSync(tmp, { recursive: true, force: true }));

function put(name: string, spec: FixtureSpec, gz = false): string {
  const file = path.join(tmp, name);
  const bytes = niftiBytes(spec);
  fs.writeFileSync(file, gz ? gzipSync(bytes) : bytes);
  return file;
}

const [NI, NJ, NK] = [4, 3, 2];

test('disk order (i fastest) becomes C-order [i][j][k] in every version, byte order and compression', async (t) => {
  for (const version of [1, 2] as const) {
    for (const littleEndian of [true, false]) {
      for (const gz of [false, true]) {
        const name = `v${version}-${littleEndian ? 'le' : 'be'}.nii${gz ? '.gz' : ''}`;
        const file = put(name, { version, littleEndian, datatype: 4, dims: [NI, NJ, NK], values: indexRamp(NI, NJ, NK) }, gz);
        const v = await readNifti(file);
        t.deepEqual(v.shape, [NI, NJ, NK], name);
        const expected: number[] = [];
        for (let i = 0; i < NI; i++) for (let j = 0; j < NJ; j++) for (let k = 0; k < NK; k++) expected.push(i + 10 * j + 100 * k);
        t.deepEqual(Array.from(v.data), expected, name);
        t.is(v.datatype, 'int16');
        const h = await readNiftiHeader(file);
        t.is(h.version, version);
        t.is(h.littleEndian, littleEndian);
      }
    }
  }
});

test('every integer and float datatype, with extreme values', async (t) => {
  const cases: [number, DatatypeName, number[]][] = [
    [2, 'uint8', [0, 255, 7]],
    [256, 'int8', [-128, 127, -1]],
    [4, 'int16', [-32768, 32767, 5]],
    [512, 'uint16', [0, 65535, 9]],
    [8, 'int32', [-(2 ** 31), 2 ** 31 - 1, 3]],
    [768, 'uint32', [0, 2 ** 32 - 1, 11]],
    [1024, 'int64', [-(2 ** 53), 2 ** 53, -4]],
    [1280, 'uint64', [0, 2 ** 60, 13]],
    [16, 'float32', [-1.5, 3.25e30, 1e-30]],
    [64, 'float64', [-2.5, 1e38, 1e-300]],
  ];
  for (const [code, name, values] of cases) {
    for (const littleEndian of [true, false]) {
      const v = await readNifti(put(`${name}-${littleEndian}.nii`, { datatype: code, littleEndian, dims: [3, 1, 1], values }));
      t.deepEqual(Array.from(v.data), Array.from(Float32Array.from(values)), `${name} ${littleEndian ? 'LE' : 'BE'}`);
      t.is(v.datatype, name);
    }
  }
});

test('scl_slope/scl_inter are applied; a slope of 0 means unscaled', async (t) => {
  const scaled = await readNifti(put('scaled.nii', { datatype: 4, dims: [3, 1, 1], values: [0, 10, -4], sclSlope: 0.5, sclInter: -3 }));
  t.deepEqual(Array.from(scaled.data), [-3, 2, -5]);
  const unscaled = await readNifti(put('slope0.nii', { datatype: 4, dims: [3, 1, 1], values: [0, 10, -4], sclSlope: 0, sclInter: 100 }));
  t.deepEqual(Array.from(unscaled.data), [0, 10, -4]);
});

test('affine from sform when its code is positive, whatever the qform says', async (t) => {
  const srow = [
    [0, -2, 0, 10],
    [3, 0, 0, -20],
    [0, 0, 1.5, 30],
  ];
  const v = await readNifti(put('sform.nii', { ...ramp(), srow, sformCode: 2, qformCode: 1, quatern: [0, 0, 1] }));
  t.deepEqual(v.affine, [...srow, [0, 0, 0, 1]]);
  t.deepEqual(v.spacing, [3, 2, 1.5]);
});

test('the sform wins even where qform_code is higher (nifti-reader-js alone would take the qform)', async (t) => {
  const srow = [
    [2, 0, 0, 1],
    [0, 2, 0, 2],
    [0, 0, 2, 3],
  ];
  for (const littleEndian of [true, false]) {
    const v = await readNifti(put(`sform1-qform2-${littleEndian}.nii`, { ...ramp(), littleEndian, srow, sformCode: 1, qformCode: 2 }));
    t.deepEqual(v.affine, [...srow, [0, 0, 0, 1]]);
  }
});

test('extensions after the header are skipped, even ones nifti-reader-js cannot parse', async (t) => {
  const bytes = niftiBytes({ ...ramp(), voxOffset: 400 });
  bytes[348] = 1; // extension flag set
  new DataView(bytes.buffer).setInt32(352, 7, true); // esize 7: not a multiple of 16
  const file = path.join(tmp, 'extension.nii');
  fs.writeFileSync(file, bytes);
  const v = await readNifti(file);
  t.is(v.data[1], 100);
});

test('affine from the qform: quaternion rotation, zooms, qfac and offset', async (t) => {
  // b, c, d = 0, 0, 1: a 180° rotation about z, so x and y flip.
  const v = await readNifti(
    put('qform.nii', { ...ramp(), sformCode: 0, qformCode: 1, quatern: [0, 0, 1], qoffset: [5, 6, 7], pixdim: [-1, 2, 3, 4] }),
  );
  t.deepEqual(v.affine.map((r) => r.map((x) => x + 0)), [
    [-2, 0, 0, 5],
    [0, -3, 0, 6],
    [0, 0, -4, 7], // qfac −1 flips the third axis
    [0, 0, 0, 1],
  ]);
  // A 90° rotation about x: (b, c, d) = (sin 45°, 0, 0).
  const s = Math.SQRT1_2;
  const w = await readNifti(put('qform90.nii', { ...ramp(), sformCode: 0, qformCode: 2, quatern: [s, 0, 0], pixdim: [1, 1, 1, 1] }));
  const rounded = w.affine.map((r) => r.map((x) => Math.round(x * 1e6) / 1e6 + 0));
  t.deepEqual(rounded, [
    [1, 0, 0, 0],
    [0, 0, -1, 0],
    [0, 1, 0, 0],
    [0, 0, 0, 1],
  ]);
});

test('affine from pixdim alone when neither code is set (the standard, not Analyze)', async (t) => {
  const v = await readNifti(put('pixdim.nii', { ...ramp(), sformCode: 0, qformCode: 0, pixdim: [1, 0.5, 0.75, 5] }));
  t.deepEqual(v.affine, [
    [0.5, 0, 0, 0],
    [0, 0.75, 0, 0],
    [0, 0, 5, 0],
    [0, 0, 0, 1],
  ]);
});

test('4D and 5D files split into one volume per channel; 2D files get a unit third axis', async (t) => {
  const n = NI * NJ * NK;
  const values = [...indexRamp(NI, NJ, NK), ...indexRamp(NI, NJ, NK).map((x) => x + 1000), ...indexRamp(NI, NJ, NK).map((x) => x + 2000)];
  const file = put('4d.nii.gz', { datatype: 4, dims: [NI, NJ, NK, 3], values }, true);
  await t.throwsAsync(readNifti(file), { message: /4d\.nii\.gz: holds 3 volumes \(dims \[4,3,2,3\]\); read it with readNiftiChannels/ });
  const vols = await readNiftiChannels(file);
  t.is(vols.length, 3);
  vols.forEach((v, c) => {
    t.deepEqual(v.shape, [NI, NJ, NK]);
    t.is(v.data[0], 1000 * c);
    t.is(v.data[n - 1], 1000 * c + (NI - 1) + 10 * (NJ - 1) + 100 * (NK - 1));
  });
  const five = await readNiftiChannels(put('5d.nii', { datatype: 4, dims: [NI, NJ, NK, 1, 3], values }));
  t.is(five.length, 3);
  const flat = await readNifti(put('2d.nii', { datatype: 4, dims: [NI, NJ], values: indexRamp(NI, NJ, 1) }));
  t.deepEqual(flat.shape, [NI, NJ, 1]);
  // A 4D file with a single time point is a 3D image.
  const single = await readNifti(put('4d1.nii', { datatype: 4, dims: [NI, NJ, NK, 1], values: indexRamp(NI, NJ, NK) }));
  t.deepEqual(single.shape, [NI, NJ, NK]);
});

test('a gzipped file is recognised by its content, whatever its name', async (t) => {
  const v = await readNifti(put('named-plain.nii', ramp(), true));
  t.is(v.data[1], 100);
});

function ramp(): FixtureSpec {
  return { datatype: 4, dims: [NI, NJ, NK], values: indexRamp(NI, NJ, NK) };
}
