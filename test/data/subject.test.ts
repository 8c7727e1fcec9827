// Subject assembly: contrasts on very different grids meet on the reference's RAS grid, the label
// goes back onto the reference file's own grid exactly, and every failure names the case, the
// field and the file.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import { applyAffine, invertAffine } from '../../lib/data/affine.js';
import { readNifti, writeNifti } from '../../lib/data/nifti.js';
import { orientationCode } from '../../lib/data/orientation.js';
import { CaseError, loadSubject, toOriginalGrid } from '../../lib/data/subject.js';
import { makeVolume, type Affine, type Shape3, type Vec3, type Volume } from '../../lib/data/volume.js';
import { indexRamp, niftiBytes } from '../helpers/nifti-bytes.js';
import { REAL, realFile, realTest } from '../helpers/real-data.js';

let tmp = '';
test.before(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'amae-subject-'));
});
test.after.always(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** A volume whose voxel (i, j, k) holds f(world position of its centre). */
function sampled(shape: Shape3, affine: Affine, f: (p: Vec3) => number): Volume {
  const data = new Float32Array(shape[0] * shape[1] * shape[2]);
  let n = 0;
  for (let i = 0; i < shape[0]; i++) for (let j = 0; j < shape[1]; j++) for (let k = 0; k < shape[2]; k++) data[n++] = f(applyAffine(affine, [i, j, k]));
  return makeVolume(data, shape, affine);
}

/** The first index where two arrays differ (or their lengths do), −1 where they are equal. */
function firstDifference(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) return Math.min(a.length, b.length);
  for (let n = 0; n < a.length; n++) if (a[n] !== b[n]) return n;
  return -1;
}

async function put(name: string, v: Volume, datatype: 'float32' | 'uint8' = 'float32'): Promise<string> {
  const file = path.join(tmp, name);
  await writeNifti(file, v, { datatype });
  return file;
}

// The reference: 2 mm, stored LPS (x and y flipped), as many scanners write it.
const REF_SHAPE: Shape3 = [20, 24, 16];
const REF_AFFINE: Affine = [
  [-2, 0, 0, 20],
  [0, -2, 0, 24],
  [0, 0, 2, -16],
  [0, 0, 0, 1],
];
/** A linear field of world position: trilinear interpolation reproduces it exactly. */
const field = (p: Vec3) => 500 + 3 * p[0] - 2 * p[1] + 5 * p[2];

// A FLAIR as ISLES'22 stores it: 0.9 × 0.9 mm in-plane, 5 mm slices, its voxel axes permuted
// (i runs along z, j along x, k along y) and rotated 20° about the slice axis.
function flairAffine(): Affine {
  const th = (20 * Math.PI) / 180;
  const [c, s] = [Math.cos(th), Math.sin(th)];
  // Columns: i → world z (5 mm), j → (cos, sin, 0)·0.9, k → (−sin, cos, 0)·0.9.
  return [
    [0, 0.9 * c, -0.9 * s, -5],
    [0, 0.9 * s, 0.9 * c, -30],
    [5, 0, 0, -10],
    [0, 0, 0, 1],
  ];
}
const FLAIR_SHAPE: Shape3 = [6, 40, 40];

function lesion(shape: Shape3): Volume {
  const data = new Float32Array(shape[0] * shape[1] * shape[2]);
  for (let i = 5; i < 11; i++) for (let j = 6; j < 15; j++) for (let k = 4; k < 9; k++) data[(i * shape[1] + j) * shape[2] + k] = (i + j + k) % 3;
  return makeVolume(data, shape, REF_AFFINE);
}

test('a contrast on a very different grid (anisotropic, permuted, rotated) is resampled onto the reference grid', async (t) => {
  const trace = await put('trace.nii.gz', sampled(REF_SHAPE, REF_AFFINE, field));
  const flairVol = sampled(FLAIR_SHAPE, flairAffine(), field);
  const flair = await put('flair.nii.gz', flairVol);
  const s = await loadSubject({ id: 'a', images: { flair, DWI: trace } });
  t.is(s.reference, 'TRACE');
  t.deepEqual(
    s.contrasts.map((c) => [c.id, c.name]),
    [
      [1, 'TRACE'],
      [6, 'FLAIR'],
    ],
  );
  t.is(orientationCode(s.grid.affine), 'RAS');
  t.deepEqual(s.grid.shape, REF_SHAPE);
  t.deepEqual(s.originalGrid.affine, REF_AFFINE);
  // Every voxel of the subject's grid: inside the FLAIR's voxel centres it holds the field, outside
  // the FLAIR's cells 0.
  const toFlair = invertAffine(flairAffine());
  const [flairOnGrid] = s.contrasts.filter((c) => c.name === 'FLAIR').map((c) => c.volume);
  let inside = 0;
  let outside = 0;
  let n = 0;
  for (let i = 0; i < REF_SHAPE[0]; i++) {
    for (let j = 0; j < REF_SHAPE[1]; j++) {
      for (let k = 0; k < REF_SHAPE[2]; k++, n++) {
        const w = applyAffine(s.grid.affine, [i, j, k]);
        const q = applyAffine(toFlair, w);
        if (q.every((x, a) => x >= 0 && x <= FLAIR_SHAPE[a] - 1)) {
          inside++;
          if (Math.abs(flairOnGrid.data[n] - field(w)) > 2e-3) t.fail(`voxel ${[i, j, k]}: ${flairOnGrid.data[n]} vs ${field(w)}`);
        } else if (q.some((x, a) => x < -0.5 || x > FLAIR_SHAPE[a] - 0.5)) {
          outside++;
          if (flairOnGrid.data[n] !== 0) t.fail(`voxel ${[i, j, k]} lies outside the FLAIR but holds ${flairOnGrid.data[n]}`);
        }
      }
    }
  }
  t.true(inside > 2000 && outside > 500, `${inside} inside, ${outside} outside`);
  // The TRACE is the reference: its values on the RAS grid are its own, reoriented.
  const [traceOnGrid] = s.contrasts.map((c) => c.volume);
  t.deepEqual(traceOnGrid.data, sampled(REF_SHAPE, s.grid.affine, field).data);

  // The reference preference decides whose grid it is.
  const byFlair = await loadSubject({ id: 'a', images: { TRACE: trace, FLAIR: flair } }, { referenceOrder: ['flair'] });
  t.is(byFlair.reference, 'FLAIR');
  t.deepEqual(byFlair.originalGrid.shape, FLAIR_SHAPE);
  t.is(orientationCode(byFlair.grid.affine), 'RAS');
  t.deepEqual(byFlair.grid.shape, [40, 40, 6]);
});

test('the label goes back onto the reference file grid voxel for voxel', async (t) => {
  const trace = await put('trace-l.nii.gz', sampled(REF_SHAPE, REF_AFFINE, field));
  const adc = await put('adc-l.nii', sampled(REF_SHAPE, REF_AFFINE, (p) => 1000 - field(p)));
  const labelVol = lesion(REF_SHAPE);
  const label = await put('label.nii.gz', labelVol, 'uint8');
  const s = await loadSubject({ id: 'l', images: { ADC: adc, TRACE: trace }, label });
  t.is(s.reference, 'TRACE');
  const back = toOriginalGrid(s, s.label!.data, 'nearest');
  t.deepEqual(back.shape, REF_SHAPE);
  t.deepEqual(back.affine, REF_AFFINE);
  t.deepEqual(back.data, (await readNifti(label)).data);
  // Images come back as exactly (a pure permutation).
  t.deepEqual(toOriginalGrid(s, s.contrasts[0].volume, 'linear').data, (await readNifti(adc)).data);
});

test('the channels of a 4D file are contrasts', async (t) => {
  const ramp = indexRamp(4, 3, 2);
  const file = path.join(tmp, 'four-d.nii');
  fs.writeFileSync(file, niftiBytes({ dims: [4, 3, 2, 2], values: [...ramp, ...ramp.map((x) => x + 1000)] }));
  const s = await loadSubject({ id: 'c', images: { FLAIR: { file, channel: 0 }, T1: { file, channel: 1 } } });
  t.deepEqual(
    s.contrasts.map((c) => c.name),
    ['T1', 'FLAIR'],
  );
  t.is(s.reference, 'FLAIR');
  // Voxel (1, 0, 0) holds i + 10 j + 100 k (+ 1000 in the second channel).
  t.is(s.contrasts[1].volume.data[3 * 2], 1);
  t.is(s.contrasts[0].volume.data[3 * 2], 1001);
  const err = await t.throwsAsync(loadSubject({ id: 'c', images: { FLAIR: { file, channel: 2 } } }), { instanceOf: CaseError });
  t.is(err!.message, `case 'c', images.FLAIR: ${file}: has 2 volumes, no channel 2`);
});

test('a constant non-zero background (a provider z-scored the image) becomes 0; a zero one, or a constant image, is left alone', async (t) => {
  const shape: Shape3 = [10, 10, 10];
  const inBrain = (p: Vec3) => Math.hypot(p[0] - 4.5, p[1] - 4.5, p[2] - 4.5) < 4;
  const eye: Affine = [
    [1, 0, 0, 0],
    [0, 1, 0, 0],
    [0, 0, 1, 0],
    [0, 0, 0, 1],
  ];
  const z = await put('zscored.nii.gz', sampled(shape, eye, (p) => (inBrain(p) ? p[0] - 3 : -3.6)));
  const s = await loadSubject({ id: 'z', images: { FLAIR: z } });
  const d = s.contrasts[0].volume.data;
  const brain = sampled(shape, eye, (p) => (inBrain(p) ? 1 : 0)).data;
  d.forEach((x, n) => {
    if (brain[n] === 0 && x !== 0) t.fail(`background voxel ${n} = ${x}`);
  });
  t.true(Math.abs(d[(5 * 10 + 5) * 10 + 5] - (5 - 3 + 3.6)) < 1e-6);
  // A constant image has no background to find: unchanged.
  const flat = await put('flat.nii.gz', sampled(shape, eye, () => 7));
  t.true((await loadSubject({ id: 'z', images: { T1: flat } })).contrasts[0].volume.data.every((x) => x === 7));
  // Background 0 with negative brain values: unchanged.
  const signed = await put('signed.nii.gz', sampled(shape, eye, (p) => (inBrain(p) ? p[0] - 6 : 0)));
  t.deepEqual((await loadSubject({ id: 'z', images: { T1: signed } })).contrasts[0].volume.data, (await readNifti(signed)).data);
});

test('errors name the case, the field and the file', async (t) => {
  const trace = await put('trace-e.nii.gz', sampled(REF_SHAPE, REF_AFFINE, field));
  const far = REF_AFFINE.map((r) => [...r]);
  far[0][3] += 1000;
  const away = await put('far.nii.gz', sampled(REF_SHAPE, far, field));
  const where = 'ds/dataset.json';
  const cases: [Parameters<typeof loadSubject>[0], RegExp][] = [
    [{ id: 'e', images: { TRACE: trace, ADC: away } }, /^ds\/dataset\.json: case 'e', images\.ADC: .*far\.nii\.gz: its grid does not overlap/],
    [{ id: 'e', images: { TRACE: trace, T3: trace } }, /^ds\/dataset\.json: case 'e', images\.T3: unknown contrast 'T3'; accepted: ADC, TRACE/],
    [{ id: 'e', images: { TRACE: trace, dwi: trace } }, /^ds\/dataset\.json: case 'e', images\.dwi: images\.TRACE is the same contrast \(TRACE\)/],
    [{ id: 'e', images: { TRACE: path.join(tmp, 'gone.nii') } }, /^ds\/dataset\.json: case 'e', images\.TRACE: .*gone\.nii: no such file/],
    [{ id: 'e', images: {} }, /^ds\/dataset\.json: case 'e', images: no contrast given/],
    [{ id: 'e', images: { TRACE: trace }, label: trace }, /^ds\/dataset\.json: case 'e', label: .*trace-e\.nii\.gz: voxel \[0,0,0\] = .*; a label holds integers 0–255/],
    [{ id: 'e', images: { TRACE: trace }, label: away }, /^ds\/dataset\.json: case 'e', label: .*far\.nii\.gz: /],
  ];
  for (const [spec, message] of cases) {
    const err = await t.throwsAsync(loadSubject(spec, { where }), { instanceOf: CaseError });
    t.regex(err!.message, message);
    t.is(err!.caseId, 'e');
  }
});

realTest('real BraTS 2015: FLAIR + T1c + label; the label round-trips to its own grid', async (t) => {
  const dir = path.dirname(realFile(REAL.flair2015));
  const labelFile = realFile(REAL.label2015);
  const s = await loadSubject({
    id: 'brats_2013_pat0001_1',
    images: { FLAIR: path.join(dir, 'Flair_subtrMeanDivStd.nii.gz'), T1c: path.join(dir, 'T1c_subtrMeanDivStd.nii.gz') },
    label: labelFile,
  });
  t.is(s.reference, 'FLAIR');
  t.deepEqual(
    s.contrasts.map((c) => c.name),
    ['FLAIR', 'T1CE'],
  );
  t.is(orientationCode(s.originalGrid.affine), 'LPS');
  t.is(orientationCode(s.grid.affine), 'RAS');
  // The constant background these z-scored images have is 0 now: the non-zero voxels are the
  // brain mask's 1 487 565 (SOURCES.md's brain mask; counted with nibabel).
  t.is(
    s.contrasts[0].volume.data.reduce((n, x) => n + (x !== 0 ? 1 : 0), 0),
    1487565,
  );
  const original = await readNifti(labelFile);
  // (deepEqual would take seconds on 9 million values.)
  t.is(firstDifference(toOriginalGrid(s, s.label!.data, 'nearest').data, original.data), -1);
});

realTest('real ISLES 2022: DWI + ADC, the DWI is the reference', async (t) => {
  const s = await loadSubject({ id: 'sub-strokecase0001', images: { adc: realFile(REAL.adc), dwi: realFile(REAL.dwi) } });
  t.is(s.reference, 'TRACE');
  t.deepEqual(
    s.contrasts.map((c) => c.name),
    ['ADC', 'TRACE'],
  );
  t.is(orientationCode(s.grid.affine), 'RAS');
});
