// A summary of a NIfTI file — header, geometry, value range — as `amae inspect` reports it.

import { headerAffine, headerScaling, headerShape, type NiftiHeader } from './nifti-header.js';
import { readNiftiChannels, readNiftiHeader } from './nifti.js';
import { orientationCode } from './orientation.js';
import { affineSpacing, type DatatypeName, type Volume } from './volume.js';

export interface NiftiDescription {
  file: string;
  format: 'NIfTI-1' | 'NIfTI-2';
  byteOrder: 'little-endian' | 'big-endian';
  /** The spatial dims followed by any further ones, as stored (dim[1..dim[0]]). */
  dims: number[];
  /** 3D volumes in the file (the product of dims 4–7). */
  volumes: number;
  datatype: DatatypeName;
  datatypeCode: number;
  /** mm, from the affine. */
  voxelSize: number[];
  /** scl_slope and scl_inter as stored (null where the header holds NaN). */
  sclSlope: number | null;
  sclInter: number | null;
  /** Whether the values below had that scaling applied (a slope of 0 or NaN means none). */
  scaled: boolean;
  orientation: string;
  affineFrom: 'sform' | 'qform' | 'pixdim';
  qformCode: number;
  sformCode: number;
  affine: number[][];
  /** Over every voxel of every volume, after scaling. */
  min: number;
  max: number;
  mean: number;
}

/** What a NIfTI file holds, with its volumes (read once for both). */
export async function describeNifti(file: string): Promise<{ description: NiftiDescription; volumes: Volume[] }> {
  const header: NiftiHeader = await readNiftiHeader(file);
  const volumes = await readNiftiChannels(file);
  const { affine, from } = headerAffine(header, file);
  let min = Infinity;
  let max = -Infinity;
  let sum = 0;
  let n = 0;
  for (const v of volumes) {
    for (const x of v.data) {
      if (x < min) min = x;
      if (x > max) max = x;
      sum += x;
    }
    n += v.data.length;
  }
  const finiteOrNull = (x: number) => (Number.isFinite(x) ? x : null);
  const description: NiftiDescription = {
    file,
    format: header.version === 1 ? 'NIfTI-1' : 'NIfTI-2',
    byteOrder: header.littleEndian ? 'little-endian' : 'big-endian',
    dims: header.dim.slice(1, header.dim[0] + 1),
    volumes: headerShape(header).channels,
    datatype: header.datatype.name,
    datatypeCode: header.datatype.code,
    voxelSize: affineSpacing(affine),
    sclSlope: finiteOrNull(header.sclSlope),
    sclInter: finiteOrNull(header.sclInter),
    scaled: headerScaling(header, file) !== null,
    orientation: orientationCode(affine),
    affineFrom: from,
    qformCode: header.qformCode,
    sformCode: header.sformCode,
    affine,
    min,
    max,
    mean: sum / n,
  };
  return { description, volumes };
}
