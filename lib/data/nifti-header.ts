// NIfTI-1 and NIfTI-2 headers: parsing (fields by nifti-reader-js) with validation, the
// voxel-to-world affine the header implies, and serialising a NIfTI-1 header for writing.
// Both versions end up in one NiftiHeader so that the reader treats them alike. Field offsets
// used here follow nifti1.h and nifti2.h.

// The library's NIFTI1 class is renamed: NIFTI1 here is the writer's byte layout.
import { NIFTI1 as Nifti1Fields, NIFTI2 as Nifti2Fields, isNIFTI1, isNIFTI2 } from 'nifti-reader-js';
import { closestOrthogonal, det3, linearPart, quaternionToRotation, rotationToQuaternion } from './affine.js';
import type { Affine, DatatypeName, Vec3 } from './volume.js';

/** A file that cannot be read as the image it claims to be. The message names the file. */
export class NiftiError extends Error {
  constructor(
    readonly file: string,
    detail: string,
  ) {
    super(`${file}: ${detail}`);
    this.name = 'NiftiError';
  }
}

export interface DatatypeInfo {
  code: number;
  name: DatatypeName;
  bytes: number;
}

const DATATYPES: DatatypeInfo[] = [
  { code: 2, name: 'uint8', bytes: 1 },
  { code: 4, name: 'int16', bytes: 2 },
  { code: 8, name: 'int32', bytes: 4 },
  { code: 16, name: 'float32', bytes: 4 },
  { code: 64, name: 'float64', bytes: 8 },
  { code: 256, name: 'int8', bytes: 1 },
  { code: 512, name: 'uint16', bytes: 2 },
  { code: 768, name: 'uint32', bytes: 4 },
  { code: 1024, name: 'int64', bytes: 8 },
  { code: 1280, name: 'uint64', bytes: 8 },
];

// Standard codes that exist but are not one real value per voxel; named so the error can say what
// the file holds.
const UNSUPPORTED_DATATYPES: Record<number, string> = {
  1: 'binary (1 bit)',
  32: 'complex64',
  128: 'RGB24',
  1536: 'float128',
  1792: 'complex128',
  2048: 'complex256',
  2304: 'RGBA32',
};

export function datatypeByName(name: DatatypeName): DatatypeInfo {
  return DATATYPES.find((d) => d.name === name)!;
}

type Kind = 'i16' | 'f32';

/** Byte offsets of the NIfTI-1 fields the writer sets (nifti1.h). */
interface Layout {
  size: number;
  dim: [Kind, number];
  datatype: number;
  bitpix: number;
  pixdim: [Kind, number];
  voxOffset: [Kind, number];
  sclSlope: [Kind, number];
  sclInter: [Kind, number];
  qformCode: [Kind, number];
  sformCode: [Kind, number];
  /** quatern_b, _c, _d, qoffset_x, _y, _z: six consecutive floats. */
  quatern: [Kind, number];
  /** srow_x, srow_y, srow_z: twelve consecutive floats. */
  srow: [Kind, number];
  xyztUnits: [Kind | 'u8', number];
}

const NIFTI1: Layout = {
  size: 348,
  dim: ['i16', 40],
  datatype: 70,
  bitpix: 72,
  pixdim: ['f32', 76],
  voxOffset: ['f32', 108],
  sclSlope: ['f32', 112],
  sclInter: ['f32', 116],
  qformCode: ['i16', 252],
  sformCode: ['i16', 254],
  quatern: ['f32', 256],
  srow: ['f32', 280],
  xyztUnits: ['u8', 123],
};

const NIFTI2_SIZE = 540;
// The NIfTI-2 int64 fields read here rather than by nifti-reader-js (see nifti2Int64Fields).
const NIFTI2_DIM = 16;
const NIFTI2_VOX_OFFSET = 168;

export interface NiftiHeader {
  version: 1 | 2;
  littleEndian: boolean;
  /** dim[0] (the number of dimensions) followed by dim[1..7]. */
  dim: number[];
  datatype: DatatypeInfo;
  bitpix: number;
  /** pixdim[0] (qfac) followed by the voxel sizes pixdim[1..7]. */
  pixdim: number[];
  voxOffset: number;
  sclSlope: number;
  sclInter: number;
  qformCode: number;
  sformCode: number;
  /** quatern_b, quatern_c, quatern_d. */
  quatern: Vec3;
  qoffset: Vec3;
  /** srow_x, srow_y, srow_z. */
  srow: number[][];
  xyztUnits: number;
  intentCode: number;
  /** As nifti-reader-js reads it: NUL bytes are left out rather than ending the text. */
  descrip: string;
}

/** Bytes a reader must have to parse either header version. */
export const MAX_HEADER_BYTES = NIFTI2_SIZE;

/**
 * Parses and validates a header from the start of a (decompressed) NIfTI file.
 *
 * nifti-reader-js parses the fields. Around it, this function decides what the library does not:
 * the byte order and version come from sizeof_hdr (348 or 540 in either order, as the standard
 * says to detect them; the library looks at the magic only), a wrong magic or a .hdr/.img pair
 * gets its own message, and every value that later sizes an allocation or places the voxels is
 * checked. The library sees exactly the header's bytes, never the extensions after them, whose
 * parser throws messages that cannot say which file was wrong, and which amae does not use.
 */
export function parseHeader(bytes: Uint8Array, file: string): NiftiHeader {
  if (bytes.length < 4) throw new NiftiError(file, `only ${bytes.length} bytes: too short for a NIfTI header`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let littleEndian = true;
  let sizeofHdr = view.getInt32(0, true);
  if (sizeofHdr !== NIFTI1.size && sizeofHdr !== NIFTI2_SIZE) {
    const big = view.getInt32(0, false);
    if (big !== NIFTI1.size && big !== NIFTI2_SIZE) {
      throw new NiftiError(file, `sizeof_hdr is ${sizeofHdr}, neither 348 (NIfTI-1) nor 540 (NIfTI-2): not a NIfTI file`);
    }
    littleEndian = false;
    sizeofHdr = big;
  }
  const version = sizeofHdr === NIFTI1.size ? 1 : 2;
  if (bytes.length < sizeofHdr) {
    throw new NiftiError(file, `only ${bytes.length} bytes: too short for the ${sizeofHdr}-byte header it announces`);
  }
  // A copy of just the header: the library takes a whole ArrayBuffer, and `bytes` may be a view
  // into a larger one.
  const buffer = bytes.slice(0, sizeofHdr).buffer;
  checkMagic(buffer, version, file);
  // The version is already known from sizeof_hdr, so the header class is chosen here rather than
  // by the library's readHeader, which goes by the magic alone.
  const h = version === 1 ? new Nifti1Fields() : new Nifti2Fields();
  try {
    h.readHeader(buffer);
  } catch (e) {
    throw new NiftiError(file, `header cannot be parsed (nifti-reader-js: ${(e as Error).message})`);
  }
  if (version === 2 && h.magic !== NIFTI2_MAGIC) {
    // NIfTI-2 follows its magic with \r\n\x1a\n so that a text-mode transfer, which rewrites line
    // ends, is detected instead of silently shifting every later field.
    throw new NiftiError(file, 'NIfTI-2 end-of-line check bytes are wrong (file mangled by a text-mode transfer?)');
  }

  const exact = version === 2 ? nifti2Int64Fields(view, littleEndian, file) : null;
  const header: NiftiHeader = {
    version,
    littleEndian,
    dim: exact ? exact.dim : h.dims.slice(0, 8),
    datatype: lookupDatatype(h.datatypeCode, file),
    bitpix: h.numBitsPerVoxel,
    pixdim: h.pixDims.slice(0, 8),
    voxOffset: exact ? exact.voxOffset : h.vox_offset,
    sclSlope: h.scl_slope,
    sclInter: h.scl_inter,
    qformCode: h.qform_code,
    sformCode: h.sform_code,
    quatern: [h.quatern_b, h.quatern_c, h.quatern_d],
    qoffset: [h.qoffset_x, h.qoffset_y, h.qoffset_z],
    // NIfTI-2's `affine` is always the srow; for NIfTI-1 see nifti1Srow.
    srow: version === 2 ? h.affine.slice(0, 3).map((r) => [...r]) : nifti1Srow(view, littleEndian),
    xyztUnits: h.xyzt_units,
    intentCode: h.intent_code,
    descrip: h.description,
  };
  checkDims(header, file);
  // NIfTI-1 stores vox_offset as a float; a fractional or too small one cannot locate the data.
  if (!Number.isInteger(header.voxOffset) || header.voxOffset < sizeofHdr) {
    throw new NiftiError(file, `vox_offset ${header.voxOffset} is not a byte offset at or after the ${sizeofHdr}-byte header`);
  }
  return header;
}

/**
 * dim[0..7] and vox_offset of a NIfTI-2 header, exactly. nifti-reader-js 0.8.0 joins the two
 * halves of an int64 in floating point and then subtracts 2⁶⁴ once more for negative values, so a
 * negative dim comes out as −1.8e19 (little-endian) or −4294967296 (big-endian), and values beyond
 * 2⁵³ are silently rounded. These fields size allocations and locate the voxels.
 */
function nifti2Int64Fields(view: DataView, littleEndian: boolean, file: string): { dim: number[]; voxOffset: number } {
  const int64 = (offset: number): number => {
    const v = view.getBigInt64(offset, littleEndian);
    if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < -BigInt(Number.MAX_SAFE_INTEGER)) {
      throw new NiftiError(file, `a 64-bit header field at byte ${offset} holds ${v}, beyond any sane size`);
    }
    return Number(v);
  };
  return { dim: Array.from({ length: 8 }, (_, i) => int64(NIFTI2_DIM + 8 * i)), voxOffset: int64(NIFTI2_VOX_OFFSET) };
}

/**
 * srow_x, srow_y, srow_z of a NIfTI-1 header. nifti-reader-js keeps them only as its `affine`, and
 * only when it prefers the sform (sform_code ≥ qform_code); the standard and nibabel use the
 * sform whenever sform_code > 0, so a file with qform_code 2 and sform_code 1 needs them read here.
 */
function nifti1Srow(view: DataView, littleEndian: boolean): number[][] {
  const at = NIFTI1.srow[1];
  return [0, 1, 2].map((r) => [0, 1, 2, 3].map((c) => view.getFloat32(at + 4 * (4 * r + c), littleEndian)));
}

// What nifti-reader-js reads as a NIfTI-2 magic: the 8 bytes "n+2\0\r\n\x1a\n" without the NUL.
const NIFTI2_MAGIC = 'n+2\r\n\x1a\n';

function checkMagic(header: ArrayBuffer, version: 1 | 2, file: string): void {
  const isVersion = version === 1 ? isNIFTI1 : isNIFTI2;
  if (isVersion(header)) return;
  const expected = version === 1 ? 'n+1' : 'n+2';
  // With its second argument the library also accepts ni1/ni2, the magic of a .hdr/.img pair.
  if (isVersion(header, true)) {
    throw new NiftiError(file, `magic 'ni${version}' marks the header of a .hdr/.img pair; only single-file NIfTI (.nii, .nii.gz) is supported`);
  }
  const at = version === 1 ? 344 : 4;
  const shown = Array.from(new Uint8Array(header, at, 4), (b) =>
    b >= 32 && b < 127 ? String.fromCharCode(b) : `\\x${b.toString(16).padStart(2, '0')}`,
  ).join('');
  throw new NiftiError(file, `wrong magic '${shown}' (expected '${expected}'): not a NIfTI-${version} file`);
}

function lookupDatatype(code: number, file: string): DatatypeInfo {
  const info = DATATYPES.find((d) => d.code === code);
  if (info) return info;
  const known = UNSUPPORTED_DATATYPES[code];
  throw new NiftiError(
    file,
    known
      ? `datatype ${code} (${known}) is not supported: only real-valued scalar voxels can be read`
      : `datatype ${code} is not a NIfTI datatype code`,
  );
}

function checkDims(h: NiftiHeader, file: string): void {
  const n = h.dim[0];
  if (!(n >= 1 && n <= 7)) throw new NiftiError(file, `dim[0] = ${n}: the number of dimensions must be 1 to 7`);
  for (let i = 1; i <= n; i++) {
    if (!(h.dim[i] >= 1)) throw new NiftiError(file, `dim[${i}] = ${h.dim[i]}: every used dimension must be at least 1`);
  }
}

/** The spatial shape (missing axes are 1) and the number of 3D volumes along dims 4–7. */
export function headerShape(h: NiftiHeader): { shape: [number, number, number]; channels: number } {
  const d = (i: number) => (i <= h.dim[0] ? h.dim[i] : 1);
  let channels = 1;
  for (let i = 4; i <= 7; i++) channels *= d(i);
  return { shape: [d(1), d(2), d(3)], channels };
}

export type AffineSource = 'sform' | 'qform' | 'pixdim';

/**
 * The voxel-to-world affine by the standard's precedence: sform when sform_code > 0, else the
 * qform (quaternion, qfac = sign of pixdim[0]) when qform_code > 0, else plain pixdim scaling
 * (the standard's "method 1"; nibabel instead builds an Analyze-style affine with a flipped x
 * and a centred origin here, so files without any orientation differ between the two).
 * Spatial units (xyzt_units) are not applied, as nibabel does not: in practice they are mm.
 */
export function headerAffine(h: NiftiHeader, file: string): { affine: Affine; from: AffineSource } {
  let affine: Affine;
  let from: AffineSource;
  if (h.sformCode > 0) {
    affine = [...h.srow.map((r) => [...r]), [0, 0, 0, 1]];
    from = 'sform';
  } else {
    const zooms = [1, 2, 3].map((i) => h.pixdim[i]);
    zooms.forEach((z, i) => {
      if (!(z > 0) || !Number.isFinite(z)) {
        throw new NiftiError(file, `pixdim[${i + 1}] = ${z} is not a voxel size, and there is no sform to use instead`);
      }
    });
    if (h.qformCode > 0) {
      const r = quaternionToRotation(...h.quatern);
      // qfac (pixdim[0]) is ±1; it flips the third axis. 0 is read as 1, as the standard allows.
      const qfac = h.pixdim[0] < 0 ? -1 : 1;
      const z = [zooms[0], zooms[1], qfac * zooms[2]];
      affine = [
        [r[0][0] * z[0], r[0][1] * z[1], r[0][2] * z[2], h.qoffset[0]],
        [r[1][0] * z[0], r[1][1] * z[1], r[1][2] * z[2], h.qoffset[1]],
        [r[2][0] * z[0], r[2][1] * z[1], r[2][2] * z[2], h.qoffset[2]],
        [0, 0, 0, 1],
      ];
      from = 'qform';
    } else {
      affine = [
        [zooms[0], 0, 0, 0],
        [0, zooms[1], 0, 0],
        [0, 0, zooms[2], 0],
        [0, 0, 0, 1],
      ];
      from = 'pixdim';
    }
  }
  const d = det3(linearPart(affine));
  if (!Number.isFinite(d) || d === 0 || !affine.every((r) => r.every(Number.isFinite))) {
    throw new NiftiError(file, `the ${from} affine is singular or not finite: the voxel grid has no valid geometry`);
  }
  return { affine, from };
}

/**
 * The scaling to apply, or null for none. As nibabel and the standard: a slope of 0 (or a
 * non-finite one) means unscaled; a valid slope with a non-finite intercept is an error.
 */
export function headerScaling(h: NiftiHeader, file: string): { slope: number; inter: number } | null {
  if (h.sclSlope === 0 || !Number.isFinite(h.sclSlope)) return null;
  if (!Number.isFinite(h.sclInter)) {
    throw new NiftiError(file, `scl_slope is ${h.sclSlope} but scl_inter is ${h.sclInter}`);
  }
  if (h.sclSlope === 1 && h.sclInter === 0) return null;
  return { slope: h.sclSlope, inter: h.sclInter };
}

export interface HeaderSpec {
  shape: [number, number, number];
  datatype: DatatypeInfo;
  affine: Affine;
}

/** Byte offset of the voxels in a written single-file NIfTI-1: the header plus the 4-byte
 * extension flag (all zero: no extensions). */
const NIFTI1_VOX_OFFSET = 352;

/**
 * A little-endian single-file NIfTI-1 header (with its 4 zero extension bytes) for a 3D image.
 * The sform holds the affine exactly (to float32); the qform holds its rotation part, the closest
 * rotation when the affine has shears, with qfac carrying a reflection. sform_code is 2
 * ('aligned', nibabel's code for an image's affine) and qform_code 1 ('scanner anat').
 */
export function niftiHeaderBytes(spec: HeaderSpec): Uint8Array {
  const bytes = new Uint8Array(NIFTI1_VOX_OFFSET);
  const view = new DataView(bytes.buffer);
  const L = NIFTI1;
  view.setInt32(0, L.size, true);
  const dim = [3, ...spec.shape, 1, 1, 1, 1];
  dim.forEach((v, i) => view.setInt16(L.dim[1] + 2 * i, v, true));
  view.setInt16(L.datatype, spec.datatype.code, true);
  view.setInt16(L.bitpix, spec.datatype.bytes * 8, true);

  const m = linearPart(spec.affine);
  const zooms = [0, 1, 2].map((c) => Math.hypot(m[0][c], m[1][c], m[2][c]));
  // Columns divided by their zooms leave rotation·shear; the quaternion needs a proper rotation,
  // so a reflection (negative determinant) moves into qfac by negating the third column.
  const unit = m.map((row) => row.map((v, c) => v / zooms[c]));
  const qfac = det3(unit) < 0 ? -1 : 1;
  const rot = closestOrthogonal(unit.map((row) => [row[0], row[1], qfac * row[2]]));
  const [qb, qc, qd] = rotationToQuaternion(rot);
  const pixdim = [qfac, ...zooms, 1, 1, 1, 1];
  pixdim.forEach((v, i) => view.setFloat32(L.pixdim[1] + 4 * i, v, true));
  view.setFloat32(L.voxOffset[1], NIFTI1_VOX_OFFSET, true);
  view.setFloat32(L.sclSlope[1], 1, true);
  view.setFloat32(L.sclInter[1], 0, true);
  view.setUint8(L.xyztUnits[1], 2); // NIFTI_UNITS_MM
  view.setInt16(L.qformCode[1], 1, true);
  view.setInt16(L.sformCode[1], 2, true);
  [qb, qc, qd, spec.affine[0][3], spec.affine[1][3], spec.affine[2][3]].forEach((v, i) =>
    view.setFloat32(L.quatern[1] + 4 * i, v, true),
  );
  for (let r = 0; r < 3; r++) {
    for (let c = 0; c < 4; c++) view.setFloat32(L.srow[1] + 4 * (4 * r + c), spec.affine[r][c], true);
  }
  bytes.set([0x6e, 0x2b, 0x31, 0], 344); // "n+1\0"
  return bytes;
}
