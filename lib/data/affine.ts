// Small dense 3×3 / 4×4 matrix helpers for voxel-to-world affines. Matrices are row-major
// number[][]; everything is float64 so that composing and inverting affines loses nothing that
// matters at the scale of a voxel.

import type { Affine, Vec3 } from './volume.js';

export type Mat3 = number[][];

function identity4(): Affine {
  return [
    [1, 0, 0, 0],
    [0, 1, 0, 0],
    [0, 0, 1, 0],
    [0, 0, 0, 1],
  ];
}

export function matmul4(a: Affine, b: Affine): Affine {
  const out = identity4();
  for (let r = 0; r < 4; r++) {
    for (let c = 0; c < 4; c++) {
      out[r][c] = a[r][0] * b[0][c] + a[r][1] * b[1][c] + a[r][2] * b[2][c] + a[r][3] * b[3][c];
    }
  }
  return out;
}

/** The upper-left 3×3 (rotation, zooms and shears) of an affine. */
export function linearPart(a: Affine): Mat3 {
  return [a[0].slice(0, 3), a[1].slice(0, 3), a[2].slice(0, 3)];
}

export function det3(m: Mat3): number {
  return (
    m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1]) -
    m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0]) +
    m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0])
  );
}

/** Inverse by cofactors; throws when the matrix is singular. */
function invert3(m: Mat3): Mat3 {
  const d = det3(m);
  if (!Number.isFinite(d) || d === 0) throw new RangeError('matrix is singular');
  const c = (r0: number, r1: number, c0: number, c1: number) => m[r0][c0] * m[r1][c1] - m[r0][c1] * m[r1][c0];
  return [
    [c(1, 2, 1, 2) / d, -c(0, 2, 1, 2) / d, c(0, 1, 1, 2) / d],
    [-c(1, 2, 0, 2) / d, c(0, 2, 0, 2) / d, -c(0, 1, 0, 2) / d],
    [c(1, 2, 0, 1) / d, -c(0, 2, 0, 1) / d, c(0, 1, 0, 1) / d],
  ];
}

/** Inverse of an affine whose last row is [0, 0, 0, 1]: [M t]⁻¹ = [M⁻¹ −M⁻¹t]. */
export function invertAffine(a: Affine): Affine {
  const mi = invert3(linearPart(a));
  const t = [a[0][3], a[1][3], a[2][3]];
  const out = identity4();
  for (let r = 0; r < 3; r++) {
    for (let c = 0; c < 3; c++) out[r][c] = mi[r][c];
    out[r][3] = -(mi[r][0] * t[0] + mi[r][1] * t[1] + mi[r][2] * t[2]);
  }
  return out;
}

export function applyAffine(a: Affine, p: Vec3): Vec3 {
  return [
    a[0][0] * p[0] + a[0][1] * p[1] + a[0][2] * p[2] + a[0][3],
    a[1][0] * p[0] + a[1][1] * p[1] + a[1][2] * p[2] + a[1][3],
    a[2][0] * p[0] + a[2][1] * p[1] + a[2][2] * p[2] + a[2][3],
  ];
}

function transpose3(m: Mat3): Mat3 {
  return [0, 1, 2].map((r) => [m[0][r], m[1][r], m[2][r]]);
}

/**
 * The orthogonal factor R of the polar decomposition M = R·S: the rotation (or rotoreflection)
 * closest to M. Newton's iteration R ← (R + R⁻ᵀ)/2 converges quadratically for any non-singular M
 * and needs no SVD; a 3×3 settles in well under 20 steps.
 */
export function closestOrthogonal(m: Mat3): Mat3 {
  let r = m.map((row) => [...row]);
  for (let it = 0; it < 100; it++) {
    const it3 = transpose3(invert3(r));
    let change = 0;
    const next = r.map((row, i) =>
      row.map((v, j) => {
        const n = 0.5 * (v + it3[i][j]);
        change = Math.max(change, Math.abs(n - v));
        return n;
      }),
    );
    r = next;
    if (change < 1e-15) break;
  }
  return r;
}

/**
 * Rotation matrix of the unit quaternion (a, b, c, d) whose a is implied by b, c, d, as NIfTI
 * stores it. When rounding makes b²+c²+d² exceed 1 the rotation is by 180° (a = 0) and (b, c, d)
 * is renormalised, as the reference implementation nifti1_io does.
 */
export function quaternionToRotation(b: number, c: number, d: number): Mat3 {
  let a = 1 - (b * b + c * c + d * d);
  if (a < 1e-7) {
    const s = 1 / Math.sqrt(b * b + c * c + d * d);
    b *= s;
    c *= s;
    d *= s;
    a = 0;
  } else {
    a = Math.sqrt(a);
  }
  return [
    [a * a + b * b - c * c - d * d, 2 * (b * c - a * d), 2 * (b * d + a * c)],
    [2 * (b * c + a * d), a * a + c * c - b * b - d * d, 2 * (c * d - a * b)],
    [2 * (b * d - a * c), 2 * (c * d + a * b), a * a + d * d - c * c - b * b],
  ];
}

/**
 * The (b, c, d) of a proper rotation's unit quaternion with a ≥ 0 (NIfTI stores only b, c, d and
 * infers a = √(1−b²−c²−d²), so a must not be negative). Shepperd's method: divide by the largest
 * of the four candidates so that no branch loses precision.
 */
export function rotationToQuaternion(r: Mat3): [number, number, number] {
  const tr = r[0][0] + r[1][1] + r[2][2];
  let a: number, b: number, c: number, d: number;
  if (tr >= r[0][0] && tr >= r[1][1] && tr >= r[2][2]) {
    a = 0.5 * Math.sqrt(Math.max(0, 1 + tr));
    b = (r[2][1] - r[1][2]) / (4 * a);
    c = (r[0][2] - r[2][0]) / (4 * a);
    d = (r[1][0] - r[0][1]) / (4 * a);
  } else if (r[0][0] >= r[1][1] && r[0][0] >= r[2][2]) {
    b = 0.5 * Math.sqrt(Math.max(0, 1 + r[0][0] - r[1][1] - r[2][2]));
    a = (r[2][1] - r[1][2]) / (4 * b);
    c = (r[0][1] + r[1][0]) / (4 * b);
    d = (r[0][2] + r[2][0]) / (4 * b);
  } else if (r[1][1] >= r[2][2]) {
    c = 0.5 * Math.sqrt(Math.max(0, 1 - r[0][0] + r[1][1] - r[2][2]));
    a = (r[0][2] - r[2][0]) / (4 * c);
    b = (r[0][1] + r[1][0]) / (4 * c);
    d = (r[1][2] + r[2][1]) / (4 * c);
  } else {
    d = 0.5 * Math.sqrt(Math.max(0, 1 - r[0][0] - r[1][1] + r[2][2]));
    a = (r[1][0] - r[0][1]) / (4 * d);
    b = (r[0][2] + r[2][0]) / (4 * d);
    c = (r[1][2] + r[2][1]) / (4 * d);
  }
  // q and −q are the same rotation; pick the one with a ≥ 0.
  return a < 0 ? [-b, -c, -d] : [b, c, d];
}
