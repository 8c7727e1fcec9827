// Writing NIfTI-1: round trips through our reader, the header's qform, value checks, and nibabel
// reading what we wrote.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import { headerAffine, NiftiError } from '../../lib/data/nifti-header.js';
import { readNifti, readNiftiHeader, writeNifti } from '../../lib/data/nifti.js';
import { makeVolume, type Affine, type Volume } from '../../lib/data/volume.js';
import { nibabelTest, python } from '../helpers/nibabel.js';
import { randn, rng } from '../helpers/random.js';
import { REAL, realFile, realTest } from '../helpers/real-data.js';

let tmp = '';
test.before(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'amae-nifti-write-'));
});
test.after.always(() => fs.rmSync(tmp, { recursive: true, force: true }));

const f32 = (x: number) => Math.fround(x);

/** An oblique, reflected, anisotropic affine whose entries are float32-exact. */
function obliqueAffine(shear = 0): Affine {
  const t = 0.4;
  const m = [
    [Math.cos(t), -Math.sin(t), 0],
    [Math.sin(t) * Math.cos(0.2), Math.cos(t) * Math.cos(0.2), -Math.sin(0.2)],
    [Math.sin(t) * Math.sin(0.2), Math.cos(t) * Math.sin(0.2), Math.cos(0.2)],
  ];
  const zooms = [0.8, 1.2, -3]; // negative: a reflection, which the qform carries in qfac
  return [
    [f32(m[0][0] * zooms[0]), f32(m[0][1] * zooms[1] + shear), f32(m[0][2] * zooms[2]), -90.5],
    [f32(m[1][0] * zooms[0]), f32(m[1][1] * zooms[1]), f32(m[1][2] * zooms[2]), 101.25],
    [f32(m[2][0] * zooms[0]), f32(m[2][1] * zooms[1]), f32(m[2][2] * zooms[2]), -40],
    [0, 0, 0, 1],
  ];
}

function image(affine = obliqueAffine()): Volume {
  return makeVolume(randn([5, 6, 7], 1, 100).data, [5, 6, 7], affine, 'memory');
}

function mask(): Volume {
  const r = rng(2);
  const data = Float32Array.from({ length: 5 * 6 * 7 }, () => Math.floor(r() * 4) * (r() < 0.5 ? 1 : 60));
  return makeVolume(data, [5, 6, 7], obliqueAffine(), 'memory');
}

test('float32 images round-trip exactly through .nii.gz and .nii', async (t) => {
  const dir = fs.mkdtempSync(path.join(tmp, 'roundtrip-'));
  for (const name of ['img.nii.gz', 'img.nii']) {
    const v = image();
    const file = path.join(dir, name);
    await writeNifti(file, v);
    const back = await readNifti(file);
    t.deepEqual(back.shape, v.shape);
    t.deepEqual(back.data, v.data);
    t.deepEqual(back.affine, v.affine);
    t.is(back.datatype, 'float32');
    t.deepEqual(fs.readdirSync(dir).filter((f) => f.includes('.partial-')), [], 'no partial file left');
  }
});

test('uint8 masks round-trip; non-integer or out-of-range labels are refused', async (t) => {
  const m = mask();
  const file = path.join(tmp, 'mask.nii.gz');
  await writeNifti(file, m, { datatype: 'uint8' });
  const back = await readNifti(file);
  t.deepEqual(back.data, m.data);
  t.is(back.datatype, 'uint8');

  const bad = mask();
  bad.data[(1 * 6 + 2) * 7 + 3] = 0.5;
  await t.throwsAsync(writeNifti(path.join(tmp, 'bad.nii.gz'), bad, { datatype: 'uint8' }), {
    instanceOf: NiftiError,
    message: /bad\.nii\.gz: cannot write voxel \[1, 2, 3\] = 0\.5: values must be an integer 0–255 for uint8/,
  });
  bad.data[(1 * 6 + 2) * 7 + 3] = 256;
  await t.throwsAsync(writeNifti(path.join(tmp, 'bad.nii.gz'), bad, { datatype: 'uint8' }), { message: /= 256/ });
  const nan = image();
  nan.data[0] = NaN;
  await t.throwsAsync(writeNifti(path.join(tmp, 'nan.nii'), nan), { message: /voxel \[0, 0, 0\] = NaN: values must be finite/ });
  t.false(fs.existsSync(path.join(tmp, 'bad.nii.gz')));
});

/** Integers spanning int16's whole range, extremes included. */
function int16Image(): Volume {
  const r = rng(3);
  const data = Float32Array.from({ length: 5 * 6 * 7 }, () => Math.floor(r() * 65536) - 32768);
  data[0] = -32768;
  data[1] = 32767;
  return makeVolume(data, [5, 6, 7], obliqueAffine(), 'memory');
}

test('int16 images round-trip with scl_slope 1, scl_inter 0; fractions and out-of-range values are refused', async (t) => {
  const v = int16Image();
  const file = path.join(tmp, 'int16.nii.gz');
  await writeNifti(file, v, { datatype: 'int16' });
  const back = await readNifti(file);
  t.deepEqual(back.data, v.data);
  t.deepEqual(back.affine, v.affine);
  t.is(back.datatype, 'int16');
  const h = await readNiftiHeader(file);
  t.like(h, { sclSlope: 1, sclInter: 0 });
  t.is(h.datatype.code, 4);

  for (const [x, shown] of [
    [32768, '32768'],
    [-32769, '-32769'],
    [1.5, '1.5'],
  ] as const) {
    const bad = int16Image();
    bad.data[(2 * 6 + 1) * 7 + 4] = x;
    await t.throwsAsync(writeNifti(path.join(tmp, 'bad16.nii'), bad, { datatype: 'int16' }), {
      instanceOf: NiftiError,
      message: new RegExp(`bad16\\.nii: cannot write voxel \\[2, 1, 4\\] = ${shown}: values must be an integer -32768–32767 for int16`),
    });
  }
  t.false(fs.existsSync(path.join(tmp, 'bad16.nii')));
});

test('the header: codes, pixdim, and a qform that reproduces the affine', async (t) => {
  const v = image();
  const file = path.join(tmp, 'hdr.nii');
  await writeNifti(file, v);
  const h = await readNiftiHeader(file);
  t.is(h.version, 1);
  t.is(h.sformCode, 2);
  t.is(h.qformCode, 1);
  t.is(h.voxOffset, 352);
  t.is(h.pixdim[0], -1, 'the reflection is in qfac');
  [0.8, 1.2, 3].forEach((z, i) => t.true(Math.abs(h.pixdim[i + 1] - z) < 1e-6));
  const q = headerAffine({ ...h, sformCode: 0 }, file);
  t.is(q.from, 'qform');
  q.affine.forEach((row, r) => row.forEach((x, c) => t.true(Math.abs(x - v.affine[r][c]) < 1e-5, `qform[${r}][${c}]`)));
});

test('qforms of axis-aligned affines, including 180° rotations (quaternion a = 0)', async (t) => {
  const affines: Affine[] = [
    [[-1, 0, 0, 0], [0, -1, 0, 239], [0, 0, 1, 0], [0, 0, 0, 1]], // BraTS LPS
    [[-2, 0, 0, 1], [0, 2, 0, 2], [0, 0, 2, 3], [0, 0, 0, 1]], // LAS: a reflection
    [[0, 0, 1, 0], [-1, 0, 0, 0], [0, -1, 0, 0], [0, 0, 0, 1]], // permuted
    [[1, 0, 0, 0], [0, -1, 0, 0], [0, 0, -1, 0], [0, 0, 0, 1]], // 180° about x
  ];
  for (const [n, affine] of affines.entries()) {
    const file = path.join(tmp, `aligned-${n}.nii`);
    await writeNifti(file, makeVolume(new Float32Array(8), [2, 2, 2], affine));
    const h = await readNiftiHeader(file);
    const q = headerAffine({ ...h, sformCode: 0 }, file).affine;
    t.deepEqual(q.map((row) => row.map((x) => Math.round(x * 1e6) / 1e6 + 0)), affine, `affine ${n}`);
  }
});

test('an unwritable path fails with an error naming it', async (t) => {
  const file = path.join(tmp, 'no-such-dir', 'x.nii.gz');
  await t.throwsAsync(writeNifti(file, image()), { instanceOf: NiftiError, message: /no-such-dir\/x\.nii\.gz: cannot write/ });
});

realTest('a real float64 ADC survives read → write → read unchanged (as float32)', async (t) => {
  const v = await readNifti(realFile(REAL.adc));
  const file = path.join(tmp, 'adc.nii.gz');
  await writeNifti(file, v);
  const back = await readNifti(file);
  t.deepEqual(back.affine, v.affine);
  t.true(back.data.every((x, i) => x === v.data[i]));
});

const NIB_READ = String.raw`
import json, sys, numpy as np, nibabel as nib
res = []
for f in sys.argv[1:]:
    img = nib.load(f)
    h = img.header
    res.append(dict(data=np.asarray(img.dataobj).astype(np.float64).ravel().tolist(), dtype=str(h.get_data_dtype()),
                    affine=img.affine.tolist(), qform=h.get_qform().tolist(), sform=h.get_sform().tolist(),
                    codes=[int(h['qform_code']), int(h['sform_code'])], zooms=[float(z) for z in h.get_zooms()],
                    slope_inter=[float(img.dataobj.slope), float(img.dataobj.inter)],
                    axcodes=''.join(nib.aff2axcodes(img.affine))))
print(json.dumps(res))
`;

nibabelTest('nibabel reads what we write: data, dtype, sform, qform, codes', async (t) => {
  const files = {
    image: path.join(tmp, 'nib-image.nii.gz'),
    mask: path.join(tmp, 'nib-mask.nii'),
    sheared: path.join(tmp, 'nib-sheared.nii.gz'),
    int16: path.join(tmp, 'nib-int16.nii.gz'),
  };
  const vols = { image: image(), mask: mask(), sheared: image(obliqueAffine(0.25)), int16: int16Image() };
  await writeNifti(files.image, vols.image);
  await writeNifti(files.mask, vols.mask, { datatype: 'uint8' });
  await writeNifti(files.sheared, vols.sheared);
  await writeNifti(files.int16, vols.int16, { datatype: 'int16' });
  const [img, msk, sh, i16] = python<
    {
      data: number[];
      dtype: string;
      affine: Affine;
      qform: Affine;
      sform: Affine;
      codes: number[];
      zooms: number[];
      slope_inter: number[];
      axcodes: string;
    }[]
  >(NIB_READ, files.image, files.mask, files.sheared, files.int16);

  const near = (a: Affine, b: Affine, tol: number) => a.every((row, r) => row.every((x, c) => Math.abs(x - b[r][c]) <= tol));
  for (const [theirs, v, dtype] of [
    [img, vols.image, 'float32'],
    [msk, vols.mask, 'uint8'],
    [i16, vols.int16, 'int16'],
  ] as const) {
    t.is(theirs.dtype, dtype);
    t.deepEqual(theirs.slope_inter, [1, 0]);
    t.deepEqual(theirs.data, Array.from(v.data), `${dtype} data`);
    t.deepEqual(theirs.sform, v.affine);
    t.deepEqual(theirs.affine, v.affine);
    t.true(near(theirs.qform, v.affine, 1e-5), 'qform ≈ affine');
    t.deepEqual(theirs.codes, [1, 2]);
    t.deepEqual(theirs.zooms.map((z) => Math.round(z * 1e5) / 1e5), [0.8, 1.2, 3]);
  }
  // With a shear only the sform can hold the affine; the qform keeps its closest rotation.
  t.deepEqual(sh.sform, vols.sheared.affine);
  t.false(near(sh.qform, vols.sheared.affine, 1e-3));
  t.is(sh.axcodes, img.axcodes);
});
