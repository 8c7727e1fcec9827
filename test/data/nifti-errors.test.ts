// Bad input must fail with an Error naming the file and what is wrong — never a crash, a hang, a
// giant allocation, or silently wrong values. Every corrupt file is made here, in a temp dir.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import test from 'ava';
import { NiftiError } from '../../lib/data/nifti-header.js';
import { readNifti, readNiftiHeader } from '../../lib/data/nifti.js';
import { indexRamp, niftiBytes, type FixtureSpec } from '../helpers/nifti-bytes.js';

let tmp = '';
test.before(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'amae-nifti-errors-'));
});
test.after.always(() => fs.rmSync(tmp, { recursive: true, force: true }));

let serial = 0;
function put(name: string, bytes: Uint8Array): string {
  const file = path.join(tmp, `${serial++}-${name}`);
  fs.writeFileSync(file, bytes);
  return file;
}

const valid: FixtureSpec = { dims: [4, 3, 2], values: indexRamp(4, 3, 2) };

async function rejects(t: import('ava').ExecutionContext, file: string, pattern: RegExp): Promise<void> {
  const err = await t.throwsAsync(readNifti(file), { instanceOf: NiftiError });
  t.true(err!.message.startsWith(`${file}: `), `message names the file: ${err!.message}`);
  t.regex(err!.message, pattern);
  t.false(err!.message.includes('\n'), 'one line');
}

test('a missing file', async (t) => {
  await rejects(t, path.join(tmp, 'nope.nii.gz'), /no such file/);
});

test('a truncated gzip stream', async (t) => {
  const gz = gzipSync(niftiBytes({ dims: [20, 20, 20], values: indexRamp(20, 20, 20) }));
  await rejects(t, put('cut.nii.gz', gz.subarray(0, Math.floor(gz.length / 2))), /corrupt or truncated gzip stream/);
});

test('a gzip stream whose CRC does not match', async (t) => {
  const gz = Uint8Array.from(gzipSync(niftiBytes(valid)));
  gz[gz.length - 8] ^= 0xff; // first byte of the CRC-32 trailer
  await rejects(t, put('crc.nii.gz', gz), /corrupt or truncated gzip stream \(incorrect data check\)/);
});

test('a gzip file with a broken deflate header', async (t) => {
  const gz = Uint8Array.from(gzipSync(niftiBytes(valid)));
  gz[2] = 7; // compression method: only 8 (deflate) exists
  await rejects(t, put('method.nii.gz', gz), /corrupt or truncated gzip stream \(unknown compression method\)/);
});

test('a file too short for any header', async (t) => {
  await rejects(t, put('short.nii', new Uint8Array([1, 2, 3, 4, 5, 6, 7])), /sizeof_hdr is .* not a NIfTI file/);
  await rejects(t, put('tiny.nii', new Uint8Array([92, 1, 0, 0, 5])), /only 5 bytes: too short for the 348-byte header/);
});

test('wrong magic, and the magic of a .hdr/.img pair', async (t) => {
  await rejects(t, put('magic.nii', niftiBytes({ ...valid, magic: 'xyz' })), /wrong magic 'xyz\\x00' \(expected 'n\+1'\)/);
  await rejects(t, put('pair.nii', niftiBytes({ ...valid, magic: 'ni1' })), /\.hdr\/\.img pair/);
});

test('sizeof_hdr other than 348 or 540', async (t) => {
  await rejects(t, put('size.nii', niftiBytes({ ...valid, sizeofHdr: 349 })), /sizeof_hdr is 349, neither 348 \(NIfTI-1\) nor 540 \(NIfTI-2\)/);
});

test('a NIfTI-2 file mangled by a text-mode transfer', async (t) => {
  const bytes = niftiBytes({ ...valid, version: 2 });
  bytes[8] = 0x0a; // \r\n became \n
  await rejects(t, put('eol.nii', bytes), /end-of-line check bytes are wrong/);
});

test('dims of zero, negative, or a bad dim[0]', async (t) => {
  await rejects(t, put('dim0.nii', niftiBytes({ dims: [4, 0, 2], values: [] })), /dim\[2\] = 0: every used dimension must be at least 1/);
  await rejects(t, put('neg.nii', niftiBytes({ dims: [4, 3, -2], values: [] })), /dim\[3\] = -2/);
  await rejects(t, put('rank.nii', niftiBytes({ ...valid, dim0: 9 })), /dim\[0\] = 9: the number of dimensions must be 1 to 7/);
  // NIfTI-2 dims are int64: read exactly in both byte orders (nifti-reader-js 0.8.0 mangles
  // negative ones), and refused beyond 2^53.
  for (const littleEndian of [true, false]) {
    const file = put('neg2.nii', niftiBytes({ version: 2, littleEndian, dims: [4, 3, -2], values: [] }));
    await rejects(t, file, /dim\[3\] = -2: every used dimension must be at least 1/);
    const huge = put('huge2.nii', niftiBytes({ version: 2, littleEndian, dims: [4, 3, 2 ** 60], values: [] }));
    await rejects(t, huge, /a 64-bit header field at byte 40 holds 1152921504606846976, beyond any sane size/);
  }
});

test('absurd dims fail before anything is allocated', async (t) => {
  // 30000³ int16 would be 54 TB on disk, 108 TB as float32; the header alone must refute it.
  const file = put('huge.nii', niftiBytes({ dims: [30000, 30000, 30000], datatype: 4, values: [] }));
  const before = process.memoryUsage().rss;
  await rejects(t, file, /dims \[30000,30000,30000\] of int16 need 108000000000000 bytes, over the 2147483648-byte limit/);
  t.true(process.memoryUsage().rss - before < 256 << 20);
  // Under the cap but more than a tiny gzip could ever inflate to.
  const gz = gzipSync(niftiBytes({ dims: [500, 500, 500], datatype: 4, values: [] }));
  await rejects(t, put('bomb.nii.gz', gz), /data shorter than the header promises: 250000352 bytes cannot come from \d+ compressed bytes/);
});

test('vox_offset before the header end, fractional, or past the end of the file', async (t) => {
  const withOffset = (offset: number) => {
    const bytes = niftiBytes(valid);
    new DataView(bytes.buffer).setFloat32(108, offset, true);
    return bytes;
  };
  await rejects(t, put('early.nii', withOffset(100)), /vox_offset 100 is not a byte offset at or after the 348-byte header/);
  await rejects(t, put('frac.nii', withOffset(352.5)), /vox_offset 352.5/);
  await rejects(t, put('past.nii', withOffset(4096)), /data shorter than the header promises: needs 4192 bytes, the file has 448/);
});

test('data shorter than the header promises, plain and gzipped', async (t) => {
  const bytes = niftiBytes(valid);
  const cut = bytes.subarray(0, bytes.length - 3);
  await rejects(t, put('short-data.nii', cut), /needs 448 bytes, the file has 445/);
  await rejects(t, put('short-data.nii.gz', gzipSync(cut)), /needs 448 bytes, decompresses to 445/);
});

test('unsupported and unknown datatypes', async (t) => {
  await rejects(t, put('complex.nii', niftiBytes({ ...valid, datatype: 32 })), /datatype 32 \(complex64\) is not supported/);
  await rejects(t, put('rgb.nii', niftiBytes({ ...valid, datatype: 128 })), /datatype 128 \(RGB24\) is not supported/);
  const weird = put('weird.nii', niftiBytes({ ...valid, datatype: 99 }));
  await rejects(t, weird, /datatype 99 is not a NIfTI datatype code/);
  // The header alone already says so.
  await t.throwsAsync(readNiftiHeader(weird), { message: /datatype 99/ });
});

test('NaN and infinite voxels are counted and refused', async (t) => {
  const values = indexRamp(4, 3, 2);
  values[0] = NaN;
  values[5] = Infinity;
  values[7] = -Infinity;
  await rejects(t, put('nan.nii', niftiBytes({ ...valid, values })), /3 voxels are NaN or infinite/);
  // A float64 beyond float32's range would become Infinity: refused too.
  const big = indexRamp(4, 3, 2);
  big[1] = 1e300;
  await rejects(t, put('overflow.nii', niftiBytes({ ...valid, datatype: 64, values: big })), /1 voxel is NaN or infinite/);
});

test('a valid slope with a non-finite intercept', async (t) => {
  await rejects(t, put('inter.nii', niftiBytes({ ...valid, sclSlope: 2, sclInter: NaN })), /scl_slope is 2 but scl_inter is NaN/);
});

test('geometry that cannot be built: no voxel size, a singular sform', async (t) => {
  await rejects(
    t,
    put('pixdim.nii', niftiBytes({ ...valid, sformCode: 0, qformCode: 1, pixdim: [1, 1, 0, 1] })),
    /pixdim\[2\] = 0 is not a voxel size/,
  );
  const zero = [
    [0, 0, 0, 0],
    [0, 0, 0, 0],
    [0, 0, 0, 0],
  ];
  await rejects(t, put('singular.nii', niftiBytes({ ...valid, srow: zero })), /the sform affine is singular/);
});
