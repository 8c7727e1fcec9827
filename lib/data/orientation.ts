// Axis orientation of a voxel grid and reorientation to the closest canonical (RAS) grid by axis
// permutation and flips only — no interpolation, so every voxel value survives unchanged
// (spec §5, nibabel's as_closest_canonical).

import { closestOrthogonal, linearPart, matmul4 } from './affine.js';
import { makeVolume, type Affine, type Volume } from './volume.js';

/** For each voxel axis: the world axis (0 = x/R, 1 = y/A, 2 = z/S) it runs along most closely,
 * and whether it runs the positive (+1) or negative (−1) way. */
export type Orientation = [AxisDirection, AxisDirection, AxisDirection];
export interface AxisDirection {
  world: 0 | 1 | 2;
  sign: 1 | -1;
}

/**
 * The world axis each voxel axis follows, as nibabel's io_orientation: remove the zooms, take the
 * closest rotation (so that shears and small obliquities do not matter), then give each voxel axis,
 * in order, the not-yet-taken world axis it has the largest component along.
 */
export function axisOrientation(affine: Affine): Orientation {
  const m = linearPart(affine);
  const zooms = [0, 1, 2].map((c) => Math.hypot(m[0][c], m[1][c], m[2][c]) || 1);
  const r = closestOrthogonal(m.map((row) => row.map((v, c) => v / zooms[c])));
  const taken = [false, false, false];
  return [0, 1, 2].map((c) => {
    let best = -1;
    for (let w = 0; w < 3; w++) {
      if (!taken[w] && (best < 0 || Math.abs(r[w][c]) > Math.abs(r[best][c]))) best = w;
    }
    taken[best] = true;
    return { world: best, sign: r[best][c] < 0 ? -1 : 1 } as AxisDirection;
  }) as Orientation;
}

const LETTERS = [
  ['L', 'R'],
  ['P', 'A'],
  ['I', 'S'],
];

/** The direction each voxel axis points to, e.g. 'LPS' (nibabel's aff2axcodes). */
export function orientationCode(affine: Affine): string {
  return axisOrientation(affine)
    .map(({ world, sign }) => LETTERS[world][sign > 0 ? 1 : 0])
    .join('');
}

/**
 * The same image on the closest RAS grid: voxel axis n of the result runs along world axis n in the
 * positive direction. The data are permuted and flipped; the affine is updated exactly, so every
 * voxel keeps its world position. A volume that is already RAS is returned as is.
 */
export function asClosestCanonical(volume: Volume): Volume {
  const ornt = axisOrientation(volume.affine);
  if (ornt.every(({ world, sign }, axis) => world === axis && sign === 1)) return volume;

  const old = volume.shape;
  const oldStrides = [old[1] * old[2], old[2], 1];
  // fromNew[n]: the old voxel axis that becomes new axis n.
  const fromNew = [0, 1, 2].map((n) => ornt.findIndex((o) => o.world === n));
  const shape: [number, number, number] = [old[fromNew[0]], old[fromNew[1]], old[fromNew[2]]];

  // New index → old index: old[a] = n[world(a)] or, flipped, old_shape[a] − 1 − n[world(a)].
  const toOld: Affine = [
    [0, 0, 0, 0],
    [0, 0, 0, 0],
    [0, 0, 0, 0],
    [0, 0, 0, 1],
  ];
  let base = 0;
  const step = [0, 0, 0];
  ornt.forEach(({ world, sign }, a) => {
    toOld[a][world] = sign;
    if (sign < 0) {
      toOld[a][3] = old[a] - 1;
      base += (old[a] - 1) * oldStrides[a];
    }
    step[world] = sign * oldStrides[a];
  });

  const src = volume.data;
  const out = new Float32Array(src.length);
  let idx = 0;
  for (let x = 0; x < shape[0]; x++) {
    for (let y = 0; y < shape[1]; y++) {
      let o = base + x * step[0] + y * step[1];
      for (let z = 0; z < shape[2]; z++, o += step[2]) out[idx++] = src[o];
    }
  }
  return makeVolume(out, shape, matmul4(volume.affine, toOld), volume.source, volume.datatype);
}
