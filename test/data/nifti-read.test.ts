// Reading NIfTI against nibabel: nibabel writes every datatype in both byte orders, NIfTI-1 and
// NIfTI-2, gzipped or not, with sform, qform-only (qfac −1), scaling and 4D variants; we read
// them back and must get nibabel's own get_fdata() values and affine.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import { readNifti, readNiftiChannels, readNiftiHeader } from '../../lib/data/nifti.js';
import type { DatatypeName, Volume } from '../../lib/data/volume.js';
import { hasNibabel, nibabelTest, python } from '../helpers/nibabel.js';
import { REAL, realFile, realTest } from '../helpers/real-data.js';

interface Case {
  name: string;
  file: string;
  /** float32 C-order values of nibabel's get_fdata(), one file per 3D volume. */
  expected: string[];
  affine: number[][];
  shape: number[];
  datatype: DatatypeName;
  version: 1 | 2;
}

const MAKE_CASES = String.raw`
import json, sys, numpy as np, nibabel as nib
out = sys.argv[1]
rng = np.random.default_rng(0)
# A rotated, anisotropic, translated affine whose entries are float32-exact after a round trip.
th = 0.3
rot = np.array([[np.cos(th), -np.sin(th), 0], [np.sin(th), np.cos(th), 0], [0, 0, 1]])
aff = np.eye(4); aff[:3, :3] = rot @ np.diag([0.9, 1.1, 2.5]); aff[:3, 3] = [-20.5, 13.25, 7]
aff = aff.astype(np.float32).astype(np.float64)
cases = []

def save(name, data, dtype, endian='<', version=1, gz=False, slope=None, inter=None, qform_only=False, affine=aff):
    cls = nib.Nifti1Header if version == 1 else nib.Nifti2Header
    hdr = cls(endianness=endian)
    hdr.set_data_shape(data.shape)
    hdr.set_data_dtype(dtype)
    if qform_only:
        hdr.set_qform(affine, code=1)
        hdr.set_sform(affine, code=0)
    else:
        hdr.set_sform(affine, code=2)
        hdr.set_qform(affine, code=1)
    if slope is not None:  # raw fields: set_slope_inter refuses a slope of 0
        hdr['scl_slope'], hdr['scl_inter'] = slope, inter
    path = f'{out}/{name}.nii' + ('.gz' if gz else '')
    with nib.openers.ImageOpener(path, 'wb') as f:
        hdr.write_to(f)
        f.write(data.astype(hdr.get_data_dtype()).tobytes(order='F'))
    img = nib.load(path)
    vals = img.get_fdata()
    vols = [vals] if vals.ndim == 3 else [vals[..., c] for c in range(vals.shape[3])]
    exp = []
    for c, v in enumerate(vols):
        e = f'{out}/{name}.{c}.f32'
        v.astype(np.float32).tofile(e)  # C order
        exp.append(e)
    cases.append(dict(name=name, file=path, expected=exp, affine=img.affine.tolist(), shape=list(vals.shape[:3]),
                      datatype=str(np.dtype(dtype)), version=version))

shape = (3, 4, 5)
for dt in ['uint8', 'int8', 'int16', 'uint16', 'int32', 'uint32', 'int64', 'uint64', 'float32', 'float64']:
    info = np.iinfo(dt) if np.dtype(dt).kind in 'iu' else None
    if info is not None:
        # The extremes of the type plus random values in its range.
        lo, hi = max(info.min, -2**40), min(info.max, 2**40)
        d = rng.integers(lo, hi, size=shape, endpoint=True, dtype=dt)
        d.flat[0], d.flat[1] = info.min, info.max
    else:
        d = rng.normal(0, 100, size=shape).astype(dt)
    for endian in '<>':
        save(f'{dt}_{"le" if endian == "<" else "be"}', d, dt, endian, gz=(endian == '<'))
f = rng.normal(0, 1, size=(5, 4, 3)).astype(np.float32)
save('nifti2_le', f, 'float32', '<', version=2)
save('nifti2_be_gz', f, 'float32', '>', version=2, gz=True)
save('nifti2_int16', rng.integers(-500, 500, size=shape, dtype=np.int16), 'int16', version=2)
# qform only, with a reflection (qfac −1).
flip = aff @ np.diag([1, 1, -1, 1])
save('qform_qfac', f, 'float32', qform_only=True, affine=flip)
save('scaled', rng.integers(-1000, 1000, size=shape, dtype=np.int16), 'int16', slope=0.5, inter=-3, gz=True)
save('slope_zero', rng.integers(-1000, 1000, size=shape, dtype=np.int16), 'int16', slope=0.0, inter=7)
save('four_d', rng.integers(0, 300, size=(3, 4, 5, 2), dtype=np.int16), 'int16', gz=True)
print(json.dumps(cases))
`;

let tmp = '';
let cases: Case[] = [];
test.before(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'amae-nifti-read-'));
  if (hasNibabel) cases = python<Case[]>(MAKE_CASES, tmp);
});
test.after.always(() => fs.rmSync(tmp, { recursive: true, force: true }));

// -0 and 0 are the same coordinate; deepEqual would tell them apart.
const noNegZero = (a: number[][]) => a.map((r) => r.map((x) => x + 0));

function expectedValues(file: string): Float32Array {
  const b = fs.readFileSync(file);
  return new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4);
}

nibabelTest('every datatype, byte order and header version reads as nibabel reads it', async (t) => {
  t.true(cases.length >= 26);
  for (const c of cases) {
    const vols = await readNiftiChannels(c.file);
    t.is(vols.length, c.expected.length, c.name);
    vols.forEach((v, i) => {
      t.deepEqual(v.shape, c.shape, c.name);
      // Exact: both sides compute in float64 and round once to float32.
      t.deepEqual(Array.from(v.data), Array.from(expectedValues(c.expected[i])), `${c.name} channel ${i}`);
      t.deepEqual(noNegZero(v.affine), noNegZero(c.affine), `${c.name} affine`);
      t.is(v.source, c.file);
    });
    const header = await readNiftiHeader(c.file);
    t.is(header.version, c.version, c.name);
    t.is(vols[0].datatype, c.datatype, c.name);
  }
});

interface Summary {
  shape: number[];
  affine: number[][];
  sum: number;
  min: number;
  max: number;
  probe: number[];
}

function summarise(v: Volume): Summary {
  let sum = 0;
  let min = Infinity;
  let max = -Infinity;
  for (const x of v.data) {
    sum += x;
    min = Math.min(min, x);
    max = Math.max(max, x);
  }
  const at = (i: number, j: number, k: number) => v.data[(i * v.shape[1] + j) * v.shape[2] + k];
  const [ci, cj, ck] = v.shape.map((n) => Math.floor(n / 2));
  return { shape: v.shape, affine: v.affine, sum, min, max, probe: [at(40, 50, 30), at(ci, cj, ck)] };
}

// Real files: the values nibabel reads (summarised) and the label counts SOURCES.md lists.
const SUMMARY = String.raw`
import json, sys, numpy as np, nibabel as nib
res = {}
for f in sys.argv[1:]:
    img = nib.load(f)
    d = img.get_fdata().astype(np.float32).astype(np.float64)
    res[f] = dict(shape=list(img.shape), affine=img.affine.tolist(), sum=float(d.sum()), min=float(d.min()), max=float(d.max()),
                  probe=[float(d[40, 50, 30]), float(d[d.shape[0] // 2, d.shape[1] // 2, d.shape[2] // 2])])
print(json.dumps(res))
`;

realTest('real files read as nibabel reads them (float64 ADC, int32 scaled mask, int16, float32)', async (t) => {
  const files = [REAL.adc, REAL.brainmask2015, REAL.t1n2023, REAL.flair2015].map(realFile);
  const mine = new Map<string, Summary>();
  for (const f of files) mine.set(f, summarise(await readNifti(f)));
  if (!hasNibabel) {
    t.log('nibabel absent: only the shapes are checked');
    for (const f of files) t.is(mine.get(f)!.shape.length, 3);
    return;
  }
  const theirs = python<Record<string, Summary>>(SUMMARY, ...files);
  for (const f of files) {
    const [m, r] = [mine.get(f)!, theirs[f]];
    t.deepEqual(m.shape, r.shape, f);
    t.deepEqual(noNegZero(m.affine), noNegZero(r.affine), f);
    t.deepEqual(m.probe, r.probe, f);
    t.is(m.min, r.min, f);
    t.is(m.max, r.max, f);
    t.true(Math.abs(m.sum - r.sum) <= 1e-9 * Math.abs(r.sum) + 1e-6, `${f}: sum ${m.sum} vs ${r.sum}`);
  }
});

realTest('the BraTS 2015 tumour labels have the voxel counts SOURCES.md lists', async (t) => {
  const v = await readNifti(realFile(REAL.label2015));
  const counts = [0, 0, 0, 0, 0];
  for (const x of v.data) counts[x]++;
  t.deepEqual(counts.slice(1), [26371, 53050, 818, 31485]);
  t.is(v.datatype, 'float32');
});

realTest('the scaled int32 brain mask becomes 0 and ~1 after scl_slope/scl_inter', async (t) => {
  const header = await readNiftiHeader(realFile(REAL.brainmask2015));
  t.is(header.datatype.name, 'int32');
  t.true(Math.abs(header.sclSlope - 2.328e-10) < 1e-13);
  t.is(header.sclInter, 0.5);
  const v = await readNifti(realFile(REAL.brainmask2015));
  t.true(v.data.every((x) => x === 0 || Math.abs(x - 1) < 1e-6));
  t.true(v.data.some((x) => x !== 0));
});
