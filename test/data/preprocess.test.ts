// Preprocessing: shapes fit the patch size, the foreground is z-scored and the background stays 0,
// nothing of the label is lost, and restore() undoes every step onto the reference file's grid.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import { readNifti, writeNifti } from '../../lib/data/nifti.js';
import { prepareSubject, restore, type PreparedSubject } from '../../lib/data/preprocess.js';
import { CaseError, loadSubject, type Subject } from '../../lib/data/subject.js';
import { CONTRASTS, type ContrastName } from '../../lib/data/contrasts.js';
import { makeVolume, type Affine, type Shape3 } from '../../lib/data/volume.js';
import { niftiBytes } from '../helpers/nifti-bytes.js';
import { rng } from '../helpers/random.js';
import { REAL, realFile, realTest } from '../helpers/real-data.js';

let tmp = '';
test.before(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'amae-preprocess-'));
});
test.after.always(() => fs.rmSync(tmp, { recursive: true, force: true }));

const SHAPE: Shape3 = [30, 37, 23];
const AFFINE: Affine = [
  [1, 0, 0, -15],
  [0, 1, 0, -18],
  [0, 0, 1, -11],
  [0, 0, 0, 1],
];
// The "head": an ellipsoid whose bounding box is i 5–24, j 8–28, k 4–18.
const inHead = (i: number, j: number, k: number) => ((i - 14.5) / 10) ** 2 + ((j - 18) / 10.6) ** 2 + ((k - 11) / 7.4) ** 2 < 1;
const inLesion = (i: number, j: number, k: number) => Math.hypot(i - 12, j - 20, k - 9) < 3.5;

/** A subject on a 1 mm RAS grid: two contrasts of random intensities inside the head (with a few
 * outliers for the clip to catch), 0 outside; a lesion of label 1 and 2. */
function syntheticSubject(seed = 1): Subject {
  const r = rng(seed);
  const n = SHAPE[0] * SHAPE[1] * SHAPE[2];
  const image = (scale: number, offset: number) => {
    const d = new Float32Array(n);
    let m = 0;
    for (let i = 0; i < SHAPE[0]; i++) {
      for (let j = 0; j < SHAPE[1]; j++) {
        for (let k = 0; k < SHAPE[2]; k++, m++) {
          if (!inHead(i, j, k)) continue;
          d[m] = offset + scale * r() + (r() < 0.002 ? 50 * scale : 0);
        }
      }
    }
    return d;
  };
  const label = new Float32Array(n);
  let m = 0;
  for (let i = 0; i < SHAPE[0]; i++) for (let j = 0; j < SHAPE[1]; j++) for (let k = 0; k < SHAPE[2]; k++, m++) if (inLesion(i, j, k)) label[m] = 1 + (k % 2);
  const contrasts = (
    [
      ['ADC', image(800, 300)],
      ['TRACE', image(100, 20)],
    ] as [ContrastName, Float32Array][]
  ).map(([name, d]) => ({ id: CONTRASTS.indexOf(name), name, volume: makeVolume(d, SHAPE, AFFINE, `${name}.nii.gz`) }));
  return {
    id: 'synthetic',
    where: 'test',
    reference: 'TRACE',
    originalGrid: { shape: SHAPE, affine: AFFINE },
    grid: { shape: SHAPE, affine: AFFINE },
    contrasts,
    label: makeVolume(label, SHAPE, AFFINE, 'label.nii.gz'),
  };
}

function foreground(d: Float32Array): { count: number; mean: number; sd: number } {
  let count = 0;
  let sum = 0;
  let sum2 = 0;
  for (const x of d) {
    if (x === 0) continue;
    count++;
    sum += x;
    sum2 += x * x;
  }
  const mean = sum / count;
  return { count, mean, sd: Math.sqrt(sum2 / count - mean * mean) };
}

function nonZero(d: ArrayLike<number>): number {
  let c = 0;
  for (let n = 0; n < d.length; n++) if (d[n] !== 0) c++;
  return c;
}

function checkNormalised(t: import('ava').ExecutionContext, prepared: PreparedSubject): void {
  for (const c of prepared.contrasts) {
    const { mean, sd } = foreground(c.data);
    t.true(Math.abs(mean) < 1e-3, `${c.name} foreground mean ${mean}`);
    t.true(Math.abs(sd - 1) < 1e-3, `${c.name} foreground sd ${sd}`);
  }
}

test('crop to the head, z-score the foreground, pad to multiples of p; restore undoes it exactly', (t) => {
  const subject = syntheticSubject();
  const prepared = prepareSubject(subject, { patchSize: 16 });
  t.deepEqual(prepared.inverse.crop, { start: [5, 8, 4], shape: [20, 21, 15] });
  t.deepEqual(prepared.shape, [32, 32, 16]);
  t.deepEqual(prepared.inverse.pad, { before: [6, 5, 0], after: [6, 6, 1] });
  t.deepEqual(
    prepared.contrasts.map((c) => [c.id, c.name]),
    [
      [0, 'ADC'],
      [1, 'TRACE'],
    ],
  );
  checkNormalised(t, prepared);
  // Background stays 0: the non-zero voxels are the head's, in every contrast.
  const head = nonZero(subject.contrasts[0].volume.data);
  for (const c of prepared.contrasts) t.is(nonZero(c.data), head, c.name);
  // The outliers were clipped: nothing lies far out.
  for (const c of prepared.contrasts) t.true(c.data.every((x) => Math.abs(x) < 3), c.name);
  // The label: every voxel kept, and restore() puts it back where it was.
  t.is(nonZero(prepared.label!), nonZero(subject.label!.data));
  const back = restore(prepared, Float32Array.from(prepared.label!), 'nearest');
  t.deepEqual(back.shape, SHAPE);
  t.deepEqual(back.affine, AFFINE);
  t.deepEqual(back.data, subject.label!.data);
  // The prepared grid's affine is the crop and pad as a translation at 1 mm.
  t.deepEqual(prepared.inverse.affine[0], [1, 0, 0, -15 + 5 - 6]);
});

test('minShape pads up to it; maxShape centre-crops, and restore zero-fills what was cut', (t) => {
  const subject = syntheticSubject();
  const big = prepareSubject(subject, { patchSize: 16, minShape: [48, 16, 40] });
  t.deepEqual(big.shape, [48, 32, 48]);
  t.is(nonZero(big.label!), nonZero(subject.label!.data));
  checkNormalised(t, big);
  t.deepEqual(restore(big, Float32Array.from(big.label!), 'nearest').data, subject.label!.data);

  const small = prepareSubject(subject, { patchSize: 8, maxShape: 16 });
  t.deepEqual(small.shape, [16, 16, 16]);
  t.deepEqual(small.inverse.pad.before, [-2, -2, 0]);
  // What survives the crop maps back onto the same voxels; the cut rows come back 0.
  const back = restore(small, Float32Array.from(small.label!), 'nearest');
  const { start } = small.inverse.crop;
  let m = 0;
  for (let i = 0; i < SHAPE[0]; i++) {
    for (let j = 0; j < SHAPE[1]; j++) {
      for (let k = 0; k < SHAPE[2]; k++, m++) {
        const kept = [i - start[0] - 2, j - start[1] - 2].every((x) => x >= 0 && x < 16) && k - start[2] < 16 && k >= start[2];
        if (back.data[m] !== (kept ? subject.label!.data[m] : 0)) t.fail(`voxel ${[i, j, k]}`);
      }
    }
  }
  t.pass();
});

test('a coarser target spacing: grid, shape and a restore back onto the original grid', (t) => {
  const subject = syntheticSubject();
  const prepared = prepareSubject(subject, { spacing: 2, patchSize: 4 });
  t.deepEqual(prepared.inverse.resampled.shape, [15, 19, 12]);
  t.deepEqual(
    prepared.inverse.affine.slice(0, 3).map((r) => r.slice(0, 3)),
    [
      [2, 0, 0],
      [0, 2, 0],
      [0, 0, 2],
    ],
  );
  t.true(prepared.shape.every((n) => n % 4 === 0));
  checkNormalised(t, prepared);
  const back = restore(prepared, Float32Array.from(prepared.label!), 'nearest');
  t.deepEqual(back.shape, SHAPE);
  // Twice the voxel size loses the lesion's outline, not the lesion.
  const [before, after] = [nonZero(subject.label!.data), nonZero(back.data)];
  t.true(Math.abs(after - before) < 0.35 * before, `${before} → ${after}`);
});

test('options are checked', (t) => {
  const s = syntheticSubject();
  t.throws(() => prepareSubject(s, { patchSize: 0 }), { message: /patchSize 0/ });
  t.throws(() => prepareSubject(s, { patchSize: 16, maxShape: 40 }), { message: /maxShape \[40,40,40\] must be multiples of the patch size 16/ });
  t.throws(() => prepareSubject(s, { patchSize: 16, minShape: 64, maxShape: 32 }), { message: /below minShape/ });
  // Axis by axis.
  t.deepEqual(prepareSubject(s, { patchSize: 16, minShape: [16, 64, 16], maxShape: [32, 64, 32] }).shape, [32, 64, 16]);
  t.throws(() => prepareSubject(s, { clip: [99, 1] }), { message: /clip \[99, 1\]/ });
  t.throws(() => prepareSubject(s, { minShape: [1, 2] as unknown as Shape3 }), { message: /minShape \[1,2\] must be one or three positive integers/ });
});

test('an all-zero contrast is an error naming the file; a NaN never gets this far', async (t) => {
  const zero = path.join(tmp, 'zero.nii.gz');
  const fine = path.join(tmp, 'fine.nii.gz');
  const s = syntheticSubject();
  await writeNifti(zero, makeVolume(new Float32Array(SHAPE[0] * SHAPE[1] * SHAPE[2]), SHAPE, AFFINE));
  await writeNifti(fine, s.contrasts[1].volume);
  const subject = await loadSubject({ id: 'z', images: { DWI: fine, FLAIR: zero } }, { where: 'data/dataset.json' });
  const err = t.throws(() => prepareSubject(subject), { instanceOf: CaseError });
  t.regex(err!.message, /^data\/dataset\.json: case 'z', images\.FLAIR: .*zero\.nii\.gz: no non-zero voxel/);

  const nan = path.join(tmp, 'nan.nii');
  fs.writeFileSync(nan, niftiBytes({ dims: [2, 2, 2], values: [1, 2, NaN, 4, 5, 6, 7, 8] }));
  await t.throwsAsync(loadSubject({ id: 'n', images: { T2: nan } }), { message: /case 'n', images\.T2: .*nan\.nii: 1 voxel is NaN or infinite/ });
});

realTest('real BraTS 2015 (FLAIR + T1c + label): p = 16, z-scored, no label voxel lost, restored exactly', async (t) => {
  const dir = path.dirname(realFile(REAL.flair2015));
  const labelFile = realFile(REAL.label2015);
  const subject = await loadSubject({
    id: 'brats_2013_pat0001_1',
    images: { FLAIR: path.join(dir, 'Flair_subtrMeanDivStd.nii.gz'), T1C: path.join(dir, 'T1c_subtrMeanDivStd.nii.gz') },
    label: labelFile,
  });
  const prepared = prepareSubject(subject);
  t.log(`prepared ${prepared.shape.join('×')}, crop ${prepared.inverse.crop.shape.join('×')} at [${prepared.inverse.crop.start}]`);
  t.true(prepared.shape.every((n) => n % 16 === 0));
  // The brain's box, not the whole 240×240×155 field of view.
  t.true(prepared.shape[0] * prepared.shape[1] * prepared.shape[2] < 0.5 * 240 * 240 * 155);
  checkNormalised(t, prepared);
  const counts = [0, 0, 0, 0, 0];
  for (const x of prepared.label!) counts[x]++;
  t.deepEqual(counts.slice(1), [26371, 53050, 818, 31485]);
  const back = restore(prepared, Float32Array.from(prepared.label!), 'nearest');
  const original = await readNifti(labelFile);
  // Compared by hand: deepEqual takes seconds on 9 million values.
  let firstDiff = -1;
  for (let n = 0; n < original.data.length && firstDiff < 0; n++) if (back.data[n] !== original.data[n]) firstDiff = n;
  t.is(firstDiff, -1);
  t.deepEqual(back.affine, original.affine);
});
