// The in-memory 3D image every part of the data layer passes around.
//
// Layout (spec §1): C-order [i][j][k] with k fastest, where i, j, k are the NIfTI voxel
// indices. The affine maps a voxel index (i, j, k, 1) to world millimetres (RAS+, as NIfTI
// defines world space), so geometry survives every permutation, flip or resampling as long as
// the affine is updated with the data.

export type Vec3 = [number, number, number];
export type Shape3 = [number, number, number];
/** 4×4 row-major homogeneous matrix; the last row is [0, 0, 0, 1]. */
export type Affine = number[][];

/** NIfTI datatype names this package reads (the on-disk storage of a file's voxels). */
export type DatatypeName =
  | 'uint8'
  | 'int8'
  | 'int16'
  | 'uint16'
  | 'int32'
  | 'uint32'
  | 'int64'
  | 'uint64'
  | 'float32'
  | 'float64';

export interface Volume {
  /** Voxel values after scl_slope/scl_inter, C-order [i][j][k], k fastest. */
  data: Float32Array;
  shape: Shape3;
  /** Voxel index → world mm (RAS+). */
  affine: Affine;
  /** Voxel sizes in mm: the lengths of the affine's first three columns. */
  spacing: Vec3;
  /** The file the values came from ('' for a volume made in memory); kept through reorientation
   * and resampling so that later errors can still name it. */
  source: string;
  /** How the source stored its voxels; provenance only — `data` is always float32. */
  datatype: DatatypeName;
}

/** The geometry of a voxel grid without its values, e.g. a resampling target. */
export interface Grid {
  shape: Shape3;
  affine: Affine;
}

/** Voxel sizes implied by an affine: the norms of its first three columns. */
export function affineSpacing(affine: Affine): Vec3 {
  const norm = (c: number) => Math.hypot(affine[0][c], affine[1][c], affine[2][c]);
  return [norm(0), norm(1), norm(2)];
}

/**
 * Builds a Volume, checking that data, shape and affine agree, so that a malformed volume fails
 * where it is made rather than deep inside a resampler.
 */
export function makeVolume(
  data: Float32Array,
  shape: Shape3,
  affine: Affine,
  source = '',
  datatype: DatatypeName = 'float32',
): Volume {
  const where = source || 'volume';
  if (shape.length !== 3 || !shape.every((n) => Number.isInteger(n) && n > 0)) {
    throw new RangeError(`${where}: shape [${shape}] must be three positive integers`);
  }
  if (data.length !== shape[0] * shape[1] * shape[2]) {
    throw new RangeError(`${where}: shape [${shape}] needs ${shape[0] * shape[1] * shape[2]} values, got ${data.length}`);
  }
  checkAffine(affine, where);
  return { data, shape: [...shape], affine: affine.map((r) => [...r]), spacing: affineSpacing(affine), source, datatype };
}

function checkAffine(affine: Affine, where: string): void {
  const ok =
    affine.length === 4 &&
    affine.every((r) => r.length === 4 && r.every(Number.isFinite)) &&
    affine[3][0] === 0 &&
    affine[3][1] === 0 &&
    affine[3][2] === 0 &&
    affine[3][3] === 1;
  if (!ok) throw new RangeError(`${where}: affine must be a finite 4×4 matrix with last row [0, 0, 0, 1]`);
}
