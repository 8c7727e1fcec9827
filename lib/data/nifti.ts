// Reading and writing NIfTI files (.nii, .nii.gz; NIfTI-1 and NIfTI-2 on input).
//
// Memory is guarded before anything large is allocated: the header says how many bytes the
// voxels take, and that is checked against a cap and against what the file can possibly hold,
// so a corrupt or hostile header fails fast instead of exhausting memory.

import { open } from 'node:fs/promises';
import { endianness } from 'node:os';
import { promisify } from 'node:util';
import { constants as zc, createGunzip, gunzipSync, gzip as gzipCb } from 'node:zlib';
import {
  MAX_HEADER_BYTES,
  NiftiError,
  datatypeByName,
  headerAffine,
  headerScaling,
  headerShape,
  niftiHeaderBytes,
  parseHeader,
  type NiftiHeader,
} from './nifti-header.js';
import { makeVolume, type Affine, type Volume } from './volume.js';
import { writeFileAtomic } from '../util/atomic.js';

/** Upper bound on the voxel bytes of one file, raw or as float32: far above any MRI volume (a
 * 512³ float64 is 1 GiB) and far below what would take a machine down. */
export const MAX_VOXEL_BYTES = 2 ** 31;

// Deflate cannot compress better than about 1032:1, so a gzip file of n bytes cannot hold more
// than this many bytes; a header promising more is refuted before allocating anything.
const MAX_DEFLATE_RATIO = 1040;

const HOST_LITTLE_ENDIAN = endianness() === 'LE';

const gzipAsync = promisify(gzipCb);
// On MRI volumes zlib level 6 takes 2–3.5× as long as level 1 for images only ~5% smaller;
// written volumes (predictions, synthetic data) favour speed, as nibabel's default of 1 does.
const GZIP_LEVEL = 1;

function isGzip(prefix: Uint8Array): boolean {
  return prefix.length >= 2 && prefix[0] === 0x1f && prefix[1] === 0x8b;
}

/** The file's bytes: the whole file when gzipped (it must all be inflated anyway), else only the
 * header part, so that a huge .nii is not read before its header is checked. */
async function readStart(file: string): Promise<{ bytes: Uint8Array; size: number; gz: boolean }> {
  let handle;
  try {
    handle = await open(file, 'r');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new NiftiError(file, code === 'ENOENT' ? 'no such file' : `cannot open (${(e as Error).message})`);
  }
  try {
    const { size } = await handle.stat();
    const head = new Uint8Array(Math.min(size, 64 * 1024));
    await handle.read(head, 0, head.length, 0);
    if (!isGzip(head)) return { bytes: head, size, gz: false };
    if (size > MAX_VOXEL_BYTES) throw new NiftiError(file, `compressed file of ${size} bytes is larger than the ${MAX_VOXEL_BYTES}-byte limit`);
    const all = new Uint8Array(size);
    const { bytesRead } = await handle.read(all, 0, size, 0);
    if (bytesRead < size) throw new NiftiError(file, `file shrank while being read (${bytesRead} of ${size} bytes)`);
    return { bytes: all, size, gz: true };
  } finally {
    await handle.close();
  }
}

/**
 * Inflates just enough of the gzip stream to parse the header. Z_SYNC_FLUSH makes zlib return what
 * a truncated input decodes to instead of failing, so a growing compressed prefix is tried until
 * the header is complete.
 */
function gunzipHeader(compressed: Uint8Array, file: string): Uint8Array {
  try {
    for (let n = 1024; n < compressed.length; n *= 4) {
      const out = gunzipSync(compressed.subarray(0, n), { finishFlush: zc.Z_SYNC_FLUSH });
      if (out.length >= MAX_HEADER_BYTES) return out;
    }
    // The whole stream, strictly: a stream too short for a header then fails as a gzip error
    // rather than as a short header.
    return gunzipSync(compressed, { maxOutputLength: MAX_VOXEL_BYTES });
  } catch (e) {
    throw new NiftiError(file, `corrupt or truncated gzip stream (${(e as Error).message})`);
  }
}

/**
 * Inflates the whole stream (so that gzip's CRC is checked) but keeps only the first `want`
 * bytes: memory stays what the header promised even when trailing data or a hostile stream
 * inflates to more.
 */
async function gunzipPrefix(compressed: Uint8Array, want: number, file: string): Promise<Uint8Array> {
  const out = new Uint8Array(want);
  let filled = 0;
  const inflater = createGunzip({ chunkSize: 1 << 20 });
  inflater.end(compressed);
  try {
    for await (const chunk of inflater as AsyncIterable<Buffer>) {
      if (filled < want) {
        const n = Math.min(chunk.length, want - filled);
        out.set(chunk.subarray(0, n), filled);
        filled += n;
      }
    }
  } catch (e) {
    throw new NiftiError(file, `corrupt or truncated gzip stream (${(e as Error).message})`);
  }
  if (filled < want) {
    throw new NiftiError(file, `data shorter than the header promises: needs ${want} bytes, decompresses to ${filled}`);
  }
  return out;
}

/** Everything the header decides, settled before the voxels are read so that a header that
 * cannot be used fails without reading them. */
interface Layout {
  header: NiftiHeader;
  shape: [number, number, number];
  channels: number;
  /** Bytes from the start of the (decompressed) file to the end of the voxels. */
  end: number;
  affine: Affine;
  scaling: { slope: number; inter: number } | null;
}

function layoutOf(header: NiftiHeader, file: string): Layout {
  const { shape, channels } = headerShape(header);
  const nvox = shape[0] * shape[1] * shape[2] * channels;
  const voxelBytes = nvox * header.datatype.bytes;
  // The float32 copy counts too: a huge uint8 image needs four times its file size.
  const need = Math.max(voxelBytes, nvox * 4);
  if (need > MAX_VOXEL_BYTES) {
    throw new NiftiError(
      file,
      `dims [${header.dim.slice(1, header.dim[0] + 1)}] of ${header.datatype.name} need ${need} bytes, over the ${MAX_VOXEL_BYTES}-byte limit`,
    );
  }
  const { affine } = headerAffine(header, file);
  return { header, shape, channels, end: header.voxOffset + voxelBytes, affine, scaling: headerScaling(header, file) };
}

/** The header's layout and the file's bytes up to the end of the voxels; `check` may reject the
 * layout before the voxels are read. */
async function readRaw(file: string, check: (layout: Layout) => void): Promise<{ layout: Layout; bytes: Uint8Array }> {
  const start = await readStart(file);
  const header = parseHeader(start.gz ? gunzipHeader(start.bytes, file) : start.bytes, file);
  const layout = layoutOf(header, file);
  check(layout);
  if (start.gz) {
    if (layout.end > start.size * MAX_DEFLATE_RATIO) {
      throw new NiftiError(file, `data shorter than the header promises: ${layout.end} bytes cannot come from ${start.size} compressed bytes`);
    }
    return { layout, bytes: await gunzipPrefix(start.bytes, layout.end, file) };
  }
  if (layout.end > start.size) {
    throw new NiftiError(file, `data shorter than the header promises: needs ${layout.end} bytes, the file has ${start.size}`);
  }
  const handle = await open(file, 'r');
  try {
    const bytes = new Uint8Array(layout.end);
    const { bytesRead } = await handle.read(bytes, 0, layout.end, 0);
    if (bytesRead < layout.end) throw new NiftiError(file, `file shrank while being read (${bytesRead} of ${layout.end} bytes)`);
    return { layout, bytes };
  } finally {
    await handle.close();
  }
}

/** Reverses the byte order of every `width`-byte element in place. */
function swapBytes(b: Uint8Array, width: number): void {
  for (let o = 0; o + width <= b.length; o += width) {
    for (let i = 0, j = width - 1; i < j; i++, j--) {
      const t = b[o + i];
      b[o + i] = b[o + j];
      b[o + j] = t;
    }
  }
}

/** A typed view of the voxels in host byte order. `bytes` is owned by the reader and is
 * byte-swapped in place when the file's order differs; misaligned data is copied first. */
function voxelArray(bytes: Uint8Array, layout: Layout): ArrayLike<number> {
  const { header } = layout;
  const width = header.datatype.bytes;
  let region = bytes.subarray(header.voxOffset, layout.end);
  if ((region.byteOffset % width) !== 0) region = region.slice();
  if (header.littleEndian !== HOST_LITTLE_ENDIAN && width > 1) swapBytes(region, width);
  const { buffer, byteOffset } = region;
  const n = region.length / width;
  switch (header.datatype.name) {
    case 'uint8':
      return region;
    case 'int8':
      return new Int8Array(buffer, byteOffset, n);
    case 'int16':
      return new Int16Array(buffer, byteOffset, n);
    case 'uint16':
      return new Uint16Array(buffer, byteOffset, n);
    case 'int32':
      return new Int32Array(buffer, byteOffset, n);
    case 'uint32':
      return new Uint32Array(buffer, byteOffset, n);
    case 'float32':
      return new Float32Array(buffer, byteOffset, n);
    case 'float64':
      return new Float64Array(buffer, byteOffset, n);
    // 64-bit integers become the nearest double, as nibabel's float conversion does.
    case 'int64':
      return Float64Array.from(new BigInt64Array(buffer, byteOffset, n), Number);
    case 'uint64':
      return Float64Array.from(new BigUint64Array(buffer, byteOffset, n), Number);
  }
}

/**
 * One 3D volume per channel: disk order (i fastest) transposed to C-order [i][j][k] (k fastest),
 * scaled, and checked for non-finite values, which would poison every statistic downstream.
 */
function toVolumes(file: string, layout: Layout, raw: ArrayLike<number>): Volume[] {
  const { header, shape, channels, affine, scaling } = layout;
  const [ni, nj, nk] = shape;
  const n3 = ni * nj * nk;
  const strideI = nj * nk;
  const volumes: Volume[] = [];
  let nonFinite = 0;
  for (let c = 0; c < channels; c++) {
    const out = new Float32Array(n3);
    let src = c * n3;
    // Read the disk sequentially (i fastest) and scatter into C-order.
    for (let k = 0; k < nk; k++) {
      for (let j = 0; j < nj; j++) {
        const dst = j * nk + k;
        if (scaling) {
          const { slope, inter } = scaling;
          for (let i = 0; i < ni; i++) out[dst + i * strideI] = raw[src++] * slope + inter;
        } else {
          for (let i = 0; i < ni; i++) out[dst + i * strideI] = raw[src++];
        }
      }
    }
    for (let i = 0; i < n3; i++) if (!Number.isFinite(out[i])) nonFinite++;
    volumes.push(makeVolume(out, shape, affine, file, header.datatype.name));
  }
  if (nonFinite > 0) {
    throw new NiftiError(file, `${nonFinite} voxel${nonFinite === 1 ? ' is' : 's are'} NaN or infinite (after scaling, as float32)`);
  }
  return volumes;
}

/** Reads only the header (a .nii.gz is inflated just far enough). */
export async function readNiftiHeader(file: string): Promise<NiftiHeader> {
  const start = await readStart(file);
  return parseHeader(start.gz ? gunzipHeader(start.bytes, file) : start.bytes, file);
}

/**
 * Every 3D volume of a file: one for a 3D image, one per index of dims 4–7 otherwise (e.g. the
 * contrasts of a Medical Segmentation Decathlon 4D image, in file order).
 */
export async function readNiftiChannels(file: string): Promise<Volume[]> {
  const { layout, bytes } = await readRaw(file, () => {});
  return toVolumes(file, layout, voxelArray(bytes, layout));
}

/** A 3D image. A file holding several volumes along dims 4–7 is an error: read it with
 * readNiftiChannels. */
export async function readNifti(file: string): Promise<Volume> {
  const { layout, bytes } = await readRaw(file, ({ header, channels }) => {
    if (channels > 1) {
      throw new NiftiError(file, `holds ${channels} volumes (dims [${header.dim.slice(1, header.dim[0] + 1)}]); read it with readNiftiChannels`);
    }
  });
  return toVolumes(file, layout, voxelArray(bytes, layout))[0];
}

export interface WriteOptions {
  /** 'float32' for images (default); 'int16' for images whose values are integers −32768–32767
   * (as scanners store them, half the bytes of float32); 'uint8' for masks and labels, whose
   * values must be integers 0–255. */
  datatype?: 'float32' | 'int16' | 'uint8';
}

/** The integer range each integer datatype holds; float32 takes any finite value. */
const INTEGER_RANGE = { uint8: [0, 255], int16: [-32768, 32767] } as const;

/**
 * Writes a 3D volume as a single-file NIfTI-1, gzipped when the name ends in .gz. The file is
 * written beside its final name and renamed into place, so a crash never leaves half a file that
 * a later run would take for a result.
 */
export async function writeNifti(file: string, volume: Volume, options: WriteOptions = {}): Promise<void> {
  const name = options.datatype ?? 'float32';
  const datatype = datatypeByName(name);
  const [ni, nj, nk] = volume.shape;
  const n3 = ni * nj * nk;
  const voxels = name === 'uint8' ? new Uint8Array(n3) : name === 'int16' ? new Int16Array(n3) : new Float32Array(n3);
  const range = name === 'float32' ? null : INTEGER_RANGE[name];
  const src = volume.data;
  // C-order [i][j][k] back to disk order (i fastest); values are checked on the way, since a NaN,
  // a fractional label or a value the typed array would silently wrap only surfaces when the file
  // is read again. The header's scl_slope 1 / scl_inter 0 make stored integers the values.
  let dst = 0;
  for (let k = 0; k < nk; k++) {
    for (let j = 0; j < nj; j++) {
      for (let i = 0; i < ni; i++) {
        const x = src[(i * nj + j) * nk + k];
        const ok = range ? Number.isInteger(x) && x >= range[0] && x <= range[1] : Number.isFinite(x);
        if (!ok) {
          const need = range ? `an integer ${range[0]}–${range[1]} for ${name}` : 'finite';
          throw new NiftiError(file, `cannot write voxel [${i}, ${j}, ${k}] = ${x}: values must be ${need}`);
        }
        voxels[dst++] = x;
      }
    }
  }
  const body = new Uint8Array(voxels.buffer);
  if (!HOST_LITTLE_ENDIAN && datatype.bytes > 1) swapBytes(body, datatype.bytes);
  const header = niftiHeaderBytes({ shape: volume.shape, datatype, affine: volume.affine });
  const plain = new Uint8Array(header.length + body.length);
  plain.set(header, 0);
  plain.set(body, header.length);
  const bytes = /\.gz$/i.test(file) ? await gzipAsync(plain, { level: GZIP_LEVEL }) : plain;

  try {
    await writeFileAtomic(file, bytes);
  } catch (e) {
    throw new NiftiError(file, `cannot write (${(e as Error).message})`);
  }
}
