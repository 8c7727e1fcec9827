// Percentiles, the PNG encoder and the mid-slice preview behind `amae inspect --png`.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import test from 'ava';
import { encodePng } from '../../lib/data/png.js';
import { midSlicePreview } from '../../lib/data/preview.js';
import { percentiles } from '../../lib/data/stats.js';
import { makeVolume, type Affine } from '../../lib/data/volume.js';
import { python, pythonHas } from '../helpers/nibabel.js';
import { rng } from '../helpers/random.js';

test('percentiles match the sorted definition (numpy linear), ties included', (t) => {
  const r = rng(9);
  for (const n of [1, 2, 7, 1000, 20001]) {
    const values = Float32Array.from({ length: n }, () => (r() < 0.5 ? 0 : Math.round(r() * 50)));
    const sorted = Array.from(values).sort((a, b) => a - b);
    const ps = [0, 0.5, 1, 25, 50, 99, 99.5, 100];
    const want = ps.map((p) => {
      const rank = (p / 100) * (n - 1);
      const lo = Math.floor(rank);
      return sorted[lo] + (rank - lo) * ((sorted[Math.min(lo + 1, n - 1)] ?? 0) - sorted[lo]);
    });
    percentiles(values, ps).forEach((x, i) => t.true(Math.abs(x - want[i]) < 1e-9, `n=${n} p=${ps[i]}: ${x} vs ${want[i]}`));
  }
  t.throws(() => percentiles([1], [101]), { message: /percentile 101/ });
  t.throws(() => percentiles([], [50]), { message: /no values/ });
});

/** Decodes our own PNG output: chunk CRCs checked with node's zlib.crc32, IDAT inflated. */
function decodePng(png: Uint8Array): { width: number; height: number; pixels: Uint8Array } {
  const view = new DataView(png.buffer, png.byteOffset, png.byteLength);
  let at = 8;
  let width = 0;
  let height = 0;
  const idat: Uint8Array[] = [];
  while (at < png.length) {
    const len = view.getUint32(at);
    const type = String.fromCharCode(...png.subarray(at + 4, at + 8));
    const data = png.subarray(at + 8, at + 8 + len);
    if (view.getUint32(at + 8 + len) !== zlib.crc32(png.subarray(at + 4, at + 8 + len))) throw new Error(`bad CRC in ${type}`);
    if (type === 'IHDR') [width, height] = [view.getUint32(at + 8), view.getUint32(at + 12)];
    if (type === 'IDAT') idat.push(data);
    at += 12 + len;
  }
  const raw = zlib.inflateSync(Buffer.concat(idat));
  const pixels = new Uint8Array(width * height);
  for (let y = 0; y < height; y++) {
    if (raw[y * (width + 1)] !== 0) throw new Error('unexpected filter');
    pixels.set(raw.subarray(y * (width + 1) + 1, (y + 1) * (width + 1)), y * width);
  }
  return { width, height, pixels };
}

test('encodePng: signature, chunks and pixels decode back', (t) => {
  const pixels = Uint8Array.from({ length: 7 * 3 }, (_, i) => (i * 37) % 256);
  const png = encodePng(pixels, 7, 3);
  t.deepEqual(Array.from(png.subarray(0, 8)), [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  const back = decodePng(png);
  t.deepEqual([back.width, back.height], [7, 3]);
  t.deepEqual(back.pixels, pixels);
  t.throws(() => encodePng(pixels, 5, 3), { message: /21 pixels do not make a 5×3 image/ });
});

const PIL_READ = String.raw`
import json, sys
from PIL import Image
im = Image.open(sys.argv[1]); im.load()
print(json.dumps(dict(mode=im.mode, size=list(im.size), pixels=list(im.getdata()))))
`;

test('encodePng output opens in PIL', (t) => {
  if (!pythonHas('PIL')) return t.pass('PIL absent: decoded by our own reader only');
  const pixels = Uint8Array.from({ length: 11 * 5 }, (_, i) => (i * 53) % 256);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'amae-png-'));
  try {
    const file = path.join(dir, 'x.png');
    fs.writeFileSync(file, encodePng(pixels, 11, 5));
    const im = python<{ mode: string; size: number[]; pixels: number[] }>(PIL_READ, file);
    t.is(im.mode, 'L');
    t.deepEqual(im.size, [11, 5]);
    t.deepEqual(im.pixels, Array.from(pixels));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('the preview puts a left-anterior-superior marker where a neurological viewer shows it', (t) => {
  // An LPS grid (as BraTS): voxel i runs to the patient's left, j posterior, k superior.
  const shape: [number, number, number] = [20, 24, 16];
  const affine: Affine = [
    [-1, 0, 0, 0],
    [0, -1, 0, 0],
    [0, 0, 1, 0],
    [0, 0, 0, 1],
  ];
  const data = new Float32Array(20 * 24 * 16).fill(1);
  // A bright block on the patient's left (high i), anterior (low j), superior (high k) side,
  // crossing every middle slice.
  for (let i = 8; i < 18; i++) for (let j = 2; j < 12; j++) for (let k = 8; k < 14; k++) data[(i * 24 + j) * 16 + k] = 100;
  const img = midSlicePreview(makeVolume(data, shape, affine));
  // Panels at 1 mm → 256 pixels across the largest extent (24 mm): scale 24/256 mm per pixel.
  const scale = 256 / 24;
  const widths = [24, 20, 20].map((n) => Math.round(n * scale));
  t.is(img.width, widths[0] + widths[1] + widths[2] + 8);
  t.is(img.height, Math.round(24 * scale));
  const panelLeft = [0, widths[0] + 4, widths[0] + widths[1] + 8];
  const pixel = (panel: number, fx: number, fy: number, h: number) => {
    const top = Math.floor((img.height - h) / 2);
    return img.pixels[(top + Math.floor(fy * h)) * img.width + panelLeft[panel] + Math.floor(fx * widths[panel])];
  };
  const hz = Math.round(16 * scale);
  // Sagittal: anterior right, superior up. Coronal and axial: patient's left on the image's left.
  t.is(pixel(0, 0.75, 0.25, hz), 255, 'sagittal: anterior-superior is top right');
  t.is(pixel(0, 0.25, 0.75, hz), 0, 'sagittal: posterior-inferior is dark');
  t.is(pixel(1, 0.25, 0.25, hz), 255, 'coronal: left-superior is top left');
  t.is(pixel(1, 0.75, 0.25, hz), 0);
  t.is(pixel(2, 0.25, 0.25, img.height), 255, 'axial: left-anterior is top left');
  t.is(pixel(2, 0.75, 0.75, img.height), 0);
});
