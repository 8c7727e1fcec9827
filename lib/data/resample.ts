// Resampling one volume onto another grid through their affines (world mm ↔ voxel index).
//
// The moving grid covers its voxels' cells, [−0.5, n − 0.5] along each axis in index space;
// samples outside it are 0. Inside it, linear interpolation replicates the edge voxels over the
// outer half cell. (A stricter [0, n − 1] extent, as scipy's map_coordinates with mode
// 'constant' uses, would zero the outer half voxel of every resampleToSpacing result, whose grid
// keeps the field of view's corner rather than its first voxel centre.)

import { invertAffine, matmul4 } from './affine.js';
import { makeVolume, type Affine, type Grid, type Shape3, type Vec3, type Volume } from './volume.js';

export type Interpolation = 'linear' | 'nearest';

export interface ResampleOptions {
  /** 'linear' (trilinear) for images, 'nearest' for labels: it never invents a label value. */
  order: Interpolation;
}

// Sample positions within this distance of a voxel centre are taken as on it, so that grids that
// coincide up to rounding reproduce the moving voxels exactly.
const SNAP = 1e-6;

/**
 * The moving volume sampled at every voxel centre of the reference grid. The result has the
 * reference's shape and affine and keeps the moving volume's source and datatype (provenance).
 * Throws when no reference voxel falls inside the moving grid: the two images do not overlap.
 */
export function resample(moving: Volume, reference: Grid, { order }: ResampleOptions): Volume {
  const t = matmul4(invertAffine(moving.affine), reference.affine);
  const [n0, n1, n2] = moving.shape;
  const [r0, r1, r2] = reference.shape;
  // The same grid (every sample within SNAP of its own voxel centre): the loop below would copy
  // every value exactly, so copy them at once. Contrasts of one subject usually share a grid.
  if (n0 === r0 && n1 === r1 && n2 === r2 && isIdentityMap(t, reference.shape)) {
    return makeVolume(moving.data.slice(), reference.shape, reference.affine, moving.source, moving.datatype);
  }
  const src = moving.data;
  const s0 = n1 * n2;
  const s1 = n2;
  const out = new Float32Array(r0 * r1 * r2);
  const lo = -0.5 - SNAP;
  const [hi0, hi1, hi2] = [n0 - 0.5 + SNAP, n1 - 0.5 + SNAP, n2 - 0.5 + SNAP];
  let inside = 0;
  let idx = 0;
  for (let i = 0; i < r0; i++) {
    for (let j = 0; j < r1; j++) {
      // Index-space position of reference voxel (i, j, 0); each step in k adds t's third column.
      let x = t[0][0] * i + t[0][1] * j + t[0][3];
      let y = t[1][0] * i + t[1][1] * j + t[1][3];
      let z = t[2][0] * i + t[2][1] * j + t[2][3];
      for (let k = 0; k < r2; k++, idx++, x += t[0][2], y += t[1][2], z += t[2][2]) {
        if (!(x >= lo && x <= hi0 && y >= lo && y <= hi1 && z >= lo && z <= hi2)) continue;
        inside++;
        if (order === 'nearest') {
          const a = clamp(Math.floor(x + 0.5), n0 - 1);
          const b = clamp(Math.floor(y + 0.5), n1 - 1);
          const c = clamp(Math.floor(z + 0.5), n2 - 1);
          out[idx] = src[a * s0 + b * s1 + c];
          continue;
        }
        const [a0, a1, fa] = corners(x, n0);
        const [b0, b1, fb] = corners(y, n1);
        const [c0, c1, fc] = corners(z, n2);
        const p00 = a0 * s0 + b0 * s1;
        const p01 = a0 * s0 + b1 * s1;
        const p10 = a1 * s0 + b0 * s1;
        const p11 = a1 * s0 + b1 * s1;
        const v00 = src[p00 + c0] + fc * (src[p00 + c1] - src[p00 + c0]);
        const v01 = src[p01 + c0] + fc * (src[p01 + c1] - src[p01 + c0]);
        const v10 = src[p10 + c0] + fc * (src[p10 + c1] - src[p10 + c0]);
        const v11 = src[p11 + c0] + fc * (src[p11 + c1] - src[p11 + c0]);
        const v0 = v00 + fb * (v01 - v00);
        const v1 = v10 + fb * (v11 - v10);
        out[idx] = v0 + fa * (v1 - v0);
      }
    }
  }
  if (inside === 0) {
    throw new Error(`${moving.source || 'volume'}: its grid does not overlap the reference grid at all (wrong affine, or another subject?)`);
  }
  return makeVolume(out, reference.shape, reference.affine, moving.source, moving.datatype);
}

/** Whether the index map t moves no voxel centre of a grid of this shape by more than SNAP along
 * any axis. */
function isIdentityMap(t: Affine, shape: Shape3): boolean {
  for (let r = 0; r < 3; r++) {
    let drift = Math.abs(t[r][3]);
    for (let c = 0; c < 3; c++) drift += Math.abs(t[r][c] - (r === c ? 1 : 0)) * (shape[c] - 1);
    if (!(drift <= SNAP)) return false;
  }
  return true;
}

function clamp(v: number, max: number): number {
  return v < 0 ? 0 : v > max ? max : v;
}

// The two neighbouring voxel indices along an axis of n voxels and the weight of the upper one,
// with the position clamped to [0, n − 1] (edge replication over the outer half cell). Returned in
// a reused tuple, which callers destructure at once: no allocation per sample in the hot loop.
const scratch: [number, number, number] = [0, 0, 0];
function corners(x: number, n: number): [number, number, number] {
  const c = x <= 0 ? 0 : x >= n - 1 ? n - 1 : x;
  let i0 = Math.floor(c);
  let f = c - i0;
  if (f > 1 - SNAP) {
    i0 += 1;
    f = 0;
  } else if (f < SNAP) {
    f = 0;
  }
  scratch[0] = i0;
  scratch[1] = f === 0 ? i0 : i0 + 1;
  scratch[2] = f;
  return scratch;
}

/**
 * The volume on a grid of the given voxel size (mm; one number for isotropic) with the same axis
 * directions and the same field-of-view corner: the outer corner of voxel (0, 0, 0) stays where it
 * is, and each axis gets round(n · old / new) voxels.
 */
export function resampleToSpacing(volume: Volume, spacing: Vec3 | number, order: Interpolation): Volume {
  const target: Vec3 = typeof spacing === 'number' ? [spacing, spacing, spacing] : spacing;
  if (!target.every((s) => Number.isFinite(s) && s > 0)) {
    throw new RangeError(`${volume.source || 'volume'}: target spacing [${target}] must be positive`);
  }
  const ratio = target.map((s, a) => s / volume.spacing[a]);
  const shape = volume.shape.map((n, a) => Math.max(1, Math.round(n / ratio[a]))) as Shape3;
  // New index v ↦ old index −0.5 + (v + 0.5)·ratio: voxel edges at −0.5 coincide.
  const scale: Affine = [
    [ratio[0], 0, 0, 0.5 * ratio[0] - 0.5],
    [0, ratio[1], 0, 0.5 * ratio[1] - 0.5],
    [0, 0, ratio[2], 0.5 * ratio[2] - 0.5],
    [0, 0, 0, 1],
  ];
  return resample(volume, { shape, affine: matmul4(volume.affine, scale) }, { order });
}
