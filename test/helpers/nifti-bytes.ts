// Builds NIfTI files byte by byte from nifti1.h / nifti2.h, independently of lib/data, so tests
// can make any header — valid, odd, or corrupt — without nibabel.

export interface FixtureSpec {
  version?: 1 | 2;
  littleEndian?: boolean;
  /** dim[1..n]; dim[0] = its length unless `dim0` says otherwise. */
  dims: number[];
  dim0?: number;
  /** NIfTI datatype code (default 16, float32). */
  datatype?: number;
  voxOffset?: number;
  sclSlope?: number;
  sclInter?: number;
  /** pixdim[0..3] (default [1, 1, 1, 1]). */
  pixdim?: number[];
  qformCode?: number;
  sformCode?: number;
  quatern?: [number, number, number];
  qoffset?: [number, number, number];
  /** srow_x, srow_y, srow_z (default: identity). */
  srow?: number[][];
  /** Overrides the magic string (up to 4 characters). */
  magic?: string;
  sizeofHdr?: number;
  /** Voxel values in disk order (i fastest). */
  values: ArrayLike<number>;
}

const WIDTHS: Record<number, number> = { 2: 1, 4: 2, 8: 4, 16: 4, 64: 8, 256: 1, 512: 2, 768: 4, 1024: 8, 1280: 8, 32: 8, 128: 3 };

function setValue(view: DataView, at: number, code: number, v: number, le: boolean): void {
  switch (code) {
    case 2: return view.setUint8(at, v);
    case 256: return view.setInt8(at, v);
    case 4: return view.setInt16(at, v, le);
    case 512: return view.setUint16(at, v, le);
    case 8: return view.setInt32(at, v, le);
    case 768: return view.setUint32(at, v, le);
    case 1024: return view.setBigInt64(at, BigInt(v), le);
    case 1280: return view.setBigUint64(at, BigInt(v), le);
    case 16: return view.setFloat32(at, v, le);
    case 64: return view.setFloat64(at, v, le);
    default: // unsupported types: the bytes do not matter, only the header's claim
  }
}

export function niftiBytes(spec: FixtureSpec): Uint8Array {
  const v2 = spec.version === 2;
  const le = spec.littleEndian ?? true;
  const code = spec.datatype ?? 16;
  const width = WIDTHS[code] ?? 4;
  const hdrSize = v2 ? 540 : 348;
  const voxOffset = spec.voxOffset ?? hdrSize + 4;
  const dataBytes = spec.values.length * width;
  const bytes = new Uint8Array(Math.max(voxOffset, hdrSize + 4) + dataBytes);
  const view = new DataView(bytes.buffer);
  const f = (at: number, x: number) => (v2 ? view.setFloat64(at, x, le) : view.setFloat32(at, x, le));
  const fw = v2 ? 8 : 4;
  const int = (at: number, x: number) => (v2 ? view.setInt32(at, x, le) : view.setInt16(at, x, le));

  view.setInt32(0, spec.sizeofHdr ?? hdrSize, le);
  const dim = [spec.dim0 ?? spec.dims.length, ...spec.dims];
  while (dim.length < 8) dim.push(1);
  dim.forEach((d, i) => (v2 ? view.setBigInt64(16 + 8 * i, BigInt(d), le) : view.setInt16(40 + 2 * i, d, le)));
  view.setInt16(v2 ? 12 : 70, code, le);
  view.setInt16(v2 ? 14 : 72, width * 8, le);
  const pixdim = [...(spec.pixdim ?? [1, 1, 1, 1])];
  while (pixdim.length < 8) pixdim.push(1);
  pixdim.forEach((p, i) => f((v2 ? 104 : 76) + fw * i, p));
  if (v2) view.setBigInt64(168, BigInt(voxOffset), le);
  else view.setFloat32(108, voxOffset, le);
  f(v2 ? 176 : 112, spec.sclSlope ?? 1);
  f(v2 ? 184 : 116, spec.sclInter ?? 0);
  int(v2 ? 344 : 252, spec.qformCode ?? 0);
  int(v2 ? 348 : 254, spec.sformCode ?? 1);
  [...(spec.quatern ?? [0, 0, 0]), ...(spec.qoffset ?? [0, 0, 0])].forEach((q, i) => f((v2 ? 352 : 256) + fw * i, q));
  const srow = spec.srow ?? [
    [1, 0, 0, 0],
    [0, 1, 0, 0],
    [0, 0, 1, 0],
  ];
  srow.flat().forEach((s, i) => f((v2 ? 400 : 280) + fw * i, s));
  const magic = spec.magic ?? (v2 ? 'n+2' : 'n+1');
  const magicAt = v2 ? 4 : 344;
  for (let i = 0; i < 4; i++) bytes[magicAt + i] = i < magic.length ? magic.charCodeAt(i) : 0;
  if (v2) bytes.set([0x0d, 0x0a, 0x1a, 0x0a], 8);

  for (let n = 0; n < spec.values.length; n++) setValue(view, voxOffset + n * width, code, spec.values[n], le);
  return bytes;
}

/** Values v(i, j, k) = i + 10 j + 100 k in disk order, so a misplaced voxel shows its index. */
export function indexRamp(ni: number, nj: number, nk: number): number[] {
  const out: number[] = [];
  for (let k = 0; k < nk; k++) for (let j = 0; j < nj; j++) for (let i = 0; i < ni; i++) out.push(i + 10 * j + 100 * k);
  return out;
}
