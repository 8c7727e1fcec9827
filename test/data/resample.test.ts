// Resampling through affines: identities, known shifts and scales, label preservation, no
// overlap, scipy's map_coordinates as the oracle for trilinear values, and the real ISLES ADC.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import { applyAffine, invertAffine, matmul4 } from '../../lib/data/affine.js';
import { readNifti } from '../../lib/data/nifti.js';
import { asClosestCanonical } from '../../lib/data/orientation.js';
import { resample, resampleToSpacing } from '../../lib/data/resample.js';
import { makeVolume, type Affine, type Shape3, type Volume } from '../../lib/data/volume.js';
import { assertClose } from '../helpers/check.js';
import { python, pythonHas } from '../helpers/nibabel.js';
import { randn, rng } from '../helpers/random.js';
import { REAL, realFile, realTest } from '../helpers/real-data.js';

const oblique: Affine = [
  [-1.9, 0.3, 0.1, 80],
  [0.25, 2.1, -0.2, -100],
  [0.05, 0.15, 3.2, -30],
  [0, 0, 0, 1],
];

function noise(shape: Shape3, affine: Affine = oblique, seed = 1): Volume {
  return makeVolume(randn(shape, seed, 10).data, shape, affine, 'noise.nii.gz');
}

/** f(i, j, k) = 2i − 3j + 0.5k + 7: trilinear interpolation reproduces it exactly. */
function linearField(shape: Shape3, affine: Affine): Volume {
  const data = new Float32Array(shape[0] * shape[1] * shape[2]);
  let n = 0;
  for (let i = 0; i < shape[0]; i++) for (let j = 0; j < shape[1]; j++) for (let k = 0; k < shape[2]; k++) data[n++] = 2 * i - 3 * j + 0.5 * k + 7;
  return makeVolume(data, shape, affine, 'field');
}

const at = (v: Volume, i: number, j: number, k: number) => v.data[(i * v.shape[1] + j) * v.shape[2] + k];

test('onto its own grid, a volume comes back identical (linear and nearest)', (t) => {
  const v = noise([7, 8, 9]);
  for (const order of ['linear', 'nearest'] as const) {
    const r = resample(v, v, { order });
    t.deepEqual(r.data, v.data, order);
    t.deepEqual(r.affine, v.affine);
    t.is(r.source, v.source);
  }
});

test('a grid equal up to rounding gives a copy of the values; a real sub-voxel shift interpolates', (t) => {
  const v = noise([7, 8, 9]);
  const nudged = v.affine.map((r) => [...r]);
  nudged[0][3] += 1e-9;
  const same = resample(v, { shape: v.shape, affine: nudged }, { order: 'linear' });
  t.deepEqual(same.data, v.data);
  t.not(same.data, v.data, 'a new buffer: the caller may change it');
  t.deepEqual(same.affine, nudged);
  const shifted = v.affine.map((r) => [...r]);
  shifted[0][3] += 1e-3;
  t.notDeepEqual(resample(v, { shape: v.shape, affine: shifted }, { order: 'linear' }).data, v.data);
});

test('onto the canonical grid, resampling equals reorientation', (t) => {
  const v = noise([5, 6, 7]);
  const canonical = asClosestCanonical(v);
  for (const order of ['linear', 'nearest'] as const) t.deepEqual(resample(v, canonical, { order }).data, canonical.data, order);
});

test('a shift of one voxel moves the data by one voxel and zero-fills the uncovered slab', (t) => {
  const v = noise([6, 5, 4]);
  // Reference voxel i sits where moving voxel i + 1 is.
  const ref = { shape: v.shape, affine: matmul4(v.affine, [[1, 0, 0, 1], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]]) };
  const r = resample(v, ref, { order: 'linear' });
  for (let i = 0; i < 6; i++) {
    for (let j = 0; j < 5; j++) {
      for (let k = 0; k < 4; k++) t.is(at(r, i, j, k), i < 5 ? at(v, i + 1, j, k) : 0);
    }
  }
});

test('a half-voxel shift averages neighbours; the outer half cell replicates the edge', (t) => {
  const v = noise([6, 3, 3]);
  const ref = { shape: v.shape, affine: matmul4(v.affine, [[1, 0, 0, 0.5], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]]) };
  const r = resample(v, ref, { order: 'linear' });
  const want: number[] = [];
  const got: number[] = [];
  for (let i = 0; i < 6; i++) {
    want.push(i < 5 ? (at(v, i, 1, 2) + at(v, i + 1, 1, 2)) / 2 : at(v, 5, 1, 2));
    got.push(at(r, i, 1, 2));
  }
  assertClose(t, got, want, { rtol: 1e-6, atol: 1e-5 });
});

test('a linear field is reproduced exactly on a finer, rotated grid', (t) => {
  const v = linearField([8, 9, 10], oblique);
  const fine = resampleToSpacing(v, [0.7, 0.9, 1.3], 'linear');
  const toMoving = matmul4(invertAffine(v.affine), fine.affine);
  const got: number[] = [];
  const want: number[] = [];
  for (let i = 0; i < fine.shape[0]; i++) {
    for (let j = 0; j < fine.shape[1]; j++) {
      for (let k = 0; k < fine.shape[2]; k++) {
        const [x, y, z] = applyAffine(toMoving, [i, j, k]);
        if (x < 0 || y < 0 || z < 0 || x > 7 || y > 8 || z > 9) continue;
        got.push(at(fine, i, j, k));
        want.push(2 * x - 3 * y + 0.5 * z + 7);
      }
    }
  }
  t.true(want.length > 1000);
  assertClose(t, got, want, { rtol: 1e-5, atol: 1e-4 });
});

test('resampleToSpacing keeps the field of view corner and sizes axes by round(n·old/new)', (t) => {
  const v = noise([10, 11, 7]);
  const r = resampleToSpacing(v, 1, 'linear');
  t.deepEqual(
    r.shape,
    v.shape.map((n, a) => Math.round((n * v.spacing[a]) / 1)),
  );
  r.spacing.forEach((s) => t.true(Math.abs(s - 1) < 1e-12));
  const corner = (x: Volume) => applyAffine(x.affine, [-0.5, -0.5, -0.5]);
  assertClose(t, corner(r), corner(v), { atol: 1e-9, rtol: 0 });
  // Same spacing: the identity.
  t.deepEqual(resampleToSpacing(v, v.spacing, 'linear').data, v.data);
  t.throws(() => resampleToSpacing(v, [1, 0, 1], 'linear'), { message: /noise\.nii\.gz: target spacing \[1,0,1\] must be positive/ });
});

test('nearest keeps label values; linear would blend them', (t) => {
  const r = rng(4);
  const labels = [0, 1, 2, 4];
  const data = Float32Array.from({ length: 9 * 9 * 9 }, () => labels[Math.floor(r() * 4)]);
  const v = makeVolume(data, [9, 9, 9], oblique, 'labels.nii.gz');
  const rotated: Affine = [
    [0.5, -1.1, 0.2, 70],
    [1.2, 0.4, 0.1, -95],
    [-0.1, 0.2, 1.4, -25],
    [0, 0, 0, 1],
  ];
  const grid = { shape: [20, 20, 20] as Shape3, affine: rotated };
  const near = resample(v, grid, { order: 'nearest' });
  t.true(near.data.every((x) => labels.includes(x)));
  t.deepEqual([...new Set(near.data)].sort(), labels, 'every label survives');
  t.false(resample(v, grid, { order: 'linear' }).data.every((x) => labels.includes(x)));
});

test('grids that do not overlap at all are an error naming the file', (t) => {
  const v = noise([4, 4, 4]);
  const far = { shape: v.shape, affine: matmul4([[1, 0, 0, 1000], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]], v.affine) };
  t.throws(() => resample(v, far, { order: 'linear' }), { message: /^noise\.nii\.gz: its grid does not overlap the reference grid/ });
});

const SCIPY = String.raw`
import json, sys, numpy as np
from scipy.ndimage import map_coordinates
c = json.load(open(sys.argv[1]))
vol = np.array(c['data'], dtype=np.float32).reshape(c['shape'])
pts = np.array(c['points']).T
# Inside the grid, our edge replication is scipy's mode 'nearest'.
print(json.dumps(map_coordinates(vol.astype(np.float64), pts, order=1, mode='nearest').tolist()))
`;

test('trilinear values agree with scipy map_coordinates (order 1) at random oblique points', (t) => {
  if (!pythonHas('numpy', 'scipy.ndimage')) return t.pass('skipped: /usr/bin/python3 lacks scipy');
  const v = noise([9, 10, 11], oblique, 3);
  const grid = {
    shape: [13, 12, 14] as Shape3,
    affine: [
      [-1.2, 0.4, 0.3, 78],
      [0.35, 1.4, -0.25, -95],
      [0.1, 0.2, 2.1, -26],
      [0, 0, 0, 1],
    ],
  };
  const r = resample(v, grid, { order: 'linear' });
  const toMoving = matmul4(invertAffine(v.affine), grid.affine);
  const points: number[][] = [];
  const got: number[] = [];
  for (let i = 0; i < 13; i++) {
    for (let j = 0; j < 12; j++) {
      for (let k = 0; k < 14; k++) {
        const p = applyAffine(toMoving, [i, j, k]);
        if (p.every((x, a) => x >= -0.5 && x <= v.shape[a] - 0.5)) {
          points.push(p);
          got.push(at(r, i, j, k));
        } else {
          t.is(at(r, i, j, k), 0);
        }
      }
    }
  }
  t.true(points.length > 300, `${points.length} points inside`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'amae-resample-'));
  try {
    fs.writeFileSync(path.join(dir, 'c.json'), JSON.stringify({ data: Array.from(v.data), shape: v.shape, points }));
    assertClose(t, got, python<number[]>(SCIPY, path.join(dir, 'c.json')), { rtol: 1e-5, atol: 1e-4 });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

realTest('the real 2 mm ISLES ADC on a 1 mm grid', async (t) => {
  const adc = await readNifti(realFile(REAL.adc));
  const t0 = performance.now();
  const fine = resampleToSpacing(adc, 1, 'linear');
  t.log(`resampled ${fine.shape.join('×')} in ${(performance.now() - t0).toFixed(0)} ms`);
  t.deepEqual(fine.shape, [224, 224, 146]);
  fine.spacing.forEach((s) => t.true(Math.abs(s - 1) < 1e-6));
  // Upsampling by 2 barely changes the mean; every fine voxel lies inside the coarse grid.
  const mean = (x: Float32Array) => x.reduce((a, b) => a + b, 0) / x.length;
  t.true(Math.abs(mean(fine.data) - mean(adc.data)) < 0.01 * Math.abs(mean(adc.data)));
  // Fine index v sits at coarse index −0.5 + (v + 0.5)/2, so fine 2a+1 is at coarse a + 0.25.
  const [a, b, c] = [50, 60, 30];
  const lerp = (u: number, w: number, f: number) => u + f * (w - u);
  const corner = (di: number, dj: number, dk: number) => at(adc, a + di, b + dj, c + dk);
  const want = lerp(
    lerp(lerp(corner(0, 0, 0), corner(0, 0, 1), 0.25), lerp(corner(0, 1, 0), corner(0, 1, 1), 0.25), 0.25),
    lerp(lerp(corner(1, 0, 0), corner(1, 0, 1), 0.25), lerp(corner(1, 1, 0), corner(1, 1, 1), 0.25), 0.25),
    0.25,
  );
  t.true(Math.abs(at(fine, 2 * a + 1, 2 * b + 1, 2 * c + 1) - want) < 1e-5);
});
