// The Volume constructor's checks and the affine helpers everything else builds on.
import test from 'ava';
import {
  applyAffine,
  closestOrthogonal,
  det3,
  invertAffine,
  matmul4,
  quaternionToRotation,
  rotationToQuaternion,
  type Mat3,
} from '../../lib/data/affine.js';
import { makeVolume, type Affine } from '../../lib/data/volume.js';
import { rng } from '../helpers/random.js';

const eye: Affine = [
  [1, 0, 0, 0],
  [0, 1, 0, 0],
  [0, 0, 1, 0],
  [0, 0, 0, 1],
];

test('makeVolume checks shape, length and affine, and derives the spacing', (t) => {
  const v = makeVolume(new Float32Array(6), [1, 2, 3], [[0, 2, 0, 1], [3, 0, 0, 2], [0, 0, -4, 3], [0, 0, 0, 1]], 'x.nii');
  t.deepEqual(v.spacing, [3, 2, 4]);
  t.throws(() => makeVolume(new Float32Array(5), [1, 2, 3], eye, 'x.nii'), { instanceOf: RangeError, message: /^x\.nii: shape \[1,2,3\] needs 6 values, got 5/ });
  t.throws(() => makeVolume(new Float32Array(0), [0, 2, 3], eye), { message: /shape \[0,2,3\] must be three positive integers/ });
  t.throws(() => makeVolume(new Float32Array(1), [1, 1, 1], [[1, 0, 0, NaN], ...eye.slice(1)]), { message: /affine must be a finite 4×4/ });
  t.throws(() => makeVolume(new Float32Array(1), [1, 1, 1], [...eye.slice(0, 3), [0, 0, 1, 1]]), { message: /last row \[0, 0, 0, 1\]/ });
});

function randomRotation(r: () => number): Mat3 {
  // A random unit quaternion, drawn with any sign of a.
  const q = [r() - 0.5, r() - 0.5, r() - 0.5, r() - 0.5];
  const n = Math.hypot(...q);
  const [a, b, c, d] = q.map((x) => x / n);
  return [
    [a * a + b * b - c * c - d * d, 2 * (b * c - a * d), 2 * (b * d + a * c)],
    [2 * (b * c + a * d), a * a + c * c - b * b - d * d, 2 * (c * d - a * b)],
    [2 * (b * d - a * c), 2 * (c * d + a * b), a * a + d * d - c * c - b * b],
  ];
}

const maxDiff = (a: number[][], b: number[][]) => Math.max(...a.flatMap((row, i) => row.map((x, j) => Math.abs(x - b[i][j]))));

test('rotation → quaternion → rotation, including 180° turns', (t) => {
  const r = rng(21);
  const rotations = Array.from({ length: 200 }, () => randomRotation(r));
  rotations.push(
    [[-1, 0, 0], [0, -1, 0], [0, 0, 1]],
    [[1, 0, 0], [0, -1, 0], [0, 0, -1]],
    [[-1, 0, 0], [0, 1, 0], [0, 0, -1]],
    [[0, 1, 0], [1, 0, 0], [0, 0, -1]],
  );
  for (const rot of rotations) t.true(maxDiff(quaternionToRotation(...rotationToQuaternion(rot)), rot) < 1e-12);
});

test('closestOrthogonal removes zooms and shears but keeps a rotation', (t) => {
  const r = rng(22);
  for (let n = 0; n < 50; n++) {
    const rot = randomRotation(r);
    t.true(maxDiff(closestOrthogonal(rot), rot) < 1e-12);
    const sheared = rot.map((row) => [row[0], row[1] + 0.05 * row[0], row[2]]);
    const o = closestOrthogonal(sheared);
    const oot = o.map((row) => [0, 1, 2].map((c) => row[0] * o[c][0] + row[1] * o[c][1] + row[2] * o[c][2]));
    t.true(maxDiff(oot, [[1, 0, 0], [0, 1, 0], [0, 0, 1]]) < 1e-12, 'orthogonal');
    t.true(Math.abs(det3(o) - 1) < 1e-12);
    t.true(maxDiff(o, rot) < 0.05, 'close to the unsheared rotation');
  }
});

test('invertAffine undoes an affine; singular ones are refused', (t) => {
  const a: Affine = [[0.3, -2, 0.1, 10], [1.9, 0.2, 0, -5], [0, 0.4, 3, 7], [0, 0, 0, 1]];
  t.true(maxDiff(matmul4(a, invertAffine(a)), eye) < 1e-12);
  const p = applyAffine(invertAffine(a), applyAffine(a, [1.5, -2, 3]));
  t.true(maxDiff([p], [[1.5, -2, 3]]) < 1e-12);
  t.throws(() => invertAffine([[1, 0, 0, 0], [2, 0, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]]), { message: /singular/ });
});
