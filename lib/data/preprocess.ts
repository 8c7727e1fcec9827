// Preprocessing a subject for the models (spec §5): target spacing, crop to the head's bounding
// box, per-contrast percentile clipping and z-scoring over the foreground, and a fit to multiples
// of the patch size. Every step is recorded as a grid (an affine), so that a prediction on the
// prepared voxels maps back onto the reference file's own grid in one resampling.

import { matmul4 } from './affine.js';
import type { ContrastName } from './contrasts.js';
import { resample, resampleToSpacing, type Interpolation } from './resample.js';
import { percentiles } from './stats.js';
import { CaseError, type Subject } from './subject.js';
import { makeVolume, type Affine, type Grid, type Shape3, type Vec3, type Volume } from './volume.js';

export interface PreprocessOptions {
  /** Voxel size to resample to, mm (one number: isotropic); null keeps the reference's. Default 1. */
  spacing?: number | Vec3 | null;
  /** Patch size p: every axis of the result is a multiple of it. Default 16. */
  patchSize?: number;
  /** Smallest result shape (e.g. the model's ROI): smaller volumes are padded up to it, rounded up
   * to multiples of p. */
  minShape?: number | Shape3;
  /** Largest result shape, multiples of p: larger volumes are centre-cropped down to it. */
  maxShape?: number | Shape3;
  /** Percentiles of each contrast's foreground to clip to before the z-score. Default 0.5, 99.5. */
  clip?: [number, number];
}

export interface PreparedContrast {
  id: number;
  name: ContrastName;
  /** C-order [H][W][D] on the prepared grid; z-scored over the foreground, background 0. */
  data: Float32Array;
}

/** What preprocessing did, enough to map results back (restore). Plain data: it survives
 * structured cloning to and from worker threads. */
export interface PreprocessRecord {
  reference: ContrastName;
  /** The reference contrast file's own grid: where restore puts results. */
  original: Grid;
  /** The subject's (RAS) grid after resampling to the target spacing. */
  resampled: Grid;
  /** The bounding box of the non-zero voxels of all contrasts and the label, on `resampled`. */
  crop: { start: Vec3; shape: Shape3 };
  /** Voxels added at each end of each axis to fit multiples of p; negative where the centre
   * crop to maxShape removed voxels instead. */
  pad: { before: Vec3; after: Vec3 };
  /** Voxel index → world mm on the prepared grid: all the steps above composed. */
  affine: Affine;
}

export interface PreparedSubject {
  id: string;
  /** In registry order. */
  contrasts: PreparedContrast[];
  shape: Shape3;
  /** The label's values (0 = background) on the prepared grid. */
  label?: Uint8Array;
  inverse: PreprocessRecord;
}

const DEFAULTS = { spacing: 1, patchSize: 16, clip: [0.5, 99.5] as [number, number] };

/**
 * The subject ready for a model. Steps, in order: resample to the target spacing (trilinear, the
 * label nearest); crop to the bounding box of the non-zero voxels of every contrast and the label
 * (the label is included so that no lesion voxel is ever cropped away); per contrast, clip to the
 * percentiles of its non-zero voxels, then z-score them with the clipped values' mean and
 * population standard deviation (MONAI's NormalizeIntensity with nonzero=True), background
 * staying 0; pad with zeros (centred) to multiples of p and at least minShape, or centre-crop to
 * maxShape.
 */
export function prepareSubject(subject: Subject, options: PreprocessOptions = {}): PreparedSubject {
  const p = options.patchSize ?? DEFAULTS.patchSize;
  if (!(Number.isInteger(p) && p > 0)) throw new RangeError(`patchSize ${p} must be a positive integer`);
  const [lowP, highP] = options.clip ?? DEFAULTS.clip;
  if (!(lowP >= 0 && lowP < highP && highP <= 100)) throw new RangeError(`clip [${lowP}, ${highP}] must be percentiles with low < high`);
  const minShape = shapeOption(options.minShape, 'minShape', 1).map((n) => Math.ceil(n / p) * p);
  const maxShape = shapeOption(options.maxShape, 'maxShape', Infinity);
  maxShape.forEach((n, a) => {
    if (Number.isFinite(n) && n % p !== 0) throw new RangeError(`maxShape [${maxShape}] must be multiples of the patch size ${p}`);
    if (n < minShape[a]) throw new RangeError(`maxShape [${maxShape}] is below minShape [${minShape}] (rounded up to multiples of ${p})`);
  });

  const spacing = options.spacing === undefined ? DEFAULTS.spacing : options.spacing;
  const toSpacing = (v: Volume, order: Interpolation) => (spacing === null ? v : resampleToSpacing(v, spacing, order));
  const images = subject.contrasts.map((c) => ({ ...c, volume: toSpacing(c.volume, 'linear') }));
  const label = subject.label && toSpacing(subject.label, 'nearest');
  const resampled: Grid = { shape: images[0].volume.shape, affine: images[0].volume.affine };

  for (const c of images) {
    if (!c.volume.data.some((x) => x !== 0)) {
      throw new CaseError(
        subject.where,
        subject.id,
        `images.${c.name}`,
        `${c.volume.source}: no non-zero voxel on the subject's grid (an empty image, or one outside the ${subject.reference} image's field of view)`,
      );
    }
  }
  const box = nonZeroBox([...images.map((c) => c.volume.data), ...(label ? [label.data] : [])], resampled.shape);

  const fitted = box.shape.map((n, a) => Math.min(Math.max(Math.ceil(n / p) * p, minShape[a]), maxShape[a])) as Shape3;
  // Centred, the odd voxel (padded or cut) at the end, as MONAI's SpatialPad and
  // CenterSpatialCrop place it.
  const before = box.shape.map((n, a) => Math.trunc((fitted[a] - n) / 2)) as Vec3;
  const after = box.shape.map((n, a) => fitted[a] - n - before[a]) as Vec3;
  // Prepared voxel v sits at resampled voxel v + start − before.
  const shift = box.start.map((s, a) => s - before[a]) as Vec3;
  const place = (src: Float32Array, dst: Float32Array | Uint8Array) => copyShifted(src, resampled.shape, dst, fitted, shift);

  const contrasts = images.map(({ id, name, volume }) => {
    const data = new Float32Array(fitted[0] * fitted[1] * fitted[2]);
    place(volume.data, data);
    // Statistics over the whole foreground, also where a maxShape crop leaves part of it out.
    zScore(data, foregroundStats(volume.data, lowP, highP));
    return { id, name, data };
  });
  let labelData: Uint8Array | undefined;
  if (label) {
    labelData = new Uint8Array(fitted[0] * fitted[1] * fitted[2]);
    place(label.data, labelData);
  }
  const translate: Affine = [
    [1, 0, 0, shift[0]],
    [0, 1, 0, shift[1]],
    [0, 0, 1, shift[2]],
    [0, 0, 0, 1],
  ];
  return {
    id: subject.id,
    contrasts,
    shape: fitted,
    label: labelData,
    inverse: {
      reference: subject.reference,
      original: subject.originalGrid,
      resampled,
      crop: box,
      pad: { before, after },
      affine: matmul4(resampled.affine, translate),
    },
  };
}

/**
 * Values on the prepared grid (e.g. a prediction) on the reference contrast file's own grid: the
 * steps undone in one resampling through the recorded affine, 0 outside the prepared box. With
 * the spacing kept, every original voxel centre is a prepared voxel centre, so 'nearest' gives
 * back a label exactly.
 */
export function restore(prepared: Pick<PreparedSubject, 'shape' | 'inverse'>, values: Float32Array, order: Interpolation): Volume {
  const volume = makeVolume(values, prepared.shape, prepared.inverse.affine, 'prediction');
  return resample(volume, prepared.inverse.original, { order });
}

function shapeOption(value: number | Shape3 | undefined, name: string, fallback: number): Shape3 {
  const shape = (value === undefined ? [fallback, fallback, fallback] : typeof value === 'number' ? [value, value, value] : [...value]) as Shape3;
  if (shape.length !== 3 || !shape.every((n) => n === Infinity || (Number.isInteger(n) && n > 0))) {
    throw new RangeError(`${name} [${shape}] must be one or three positive integers`);
  }
  return shape;
}

/** The smallest box holding every non-zero voxel of any of the arrays (all of one shape). */
function nonZeroBox(arrays: ArrayLike<number>[], shape: Shape3): { start: Vec3; shape: Shape3 } {
  const [ni, nj, nk] = shape;
  const lo = [ni, nj, nk];
  const hi = [-1, -1, -1];
  for (const d of arrays) {
    let n = 0;
    for (let i = 0; i < ni; i++) {
      for (let j = 0; j < nj; j++) {
        for (let k = 0; k < nk; k++, n++) {
          if (d[n] === 0) continue;
          if (i < lo[0]) lo[0] = i;
          if (i > hi[0]) hi[0] = i;
          if (j < lo[1]) lo[1] = j;
          if (j > hi[1]) hi[1] = j;
          if (k < lo[2]) lo[2] = k;
          if (k > hi[2]) hi[2] = k;
        }
      }
    }
  }
  return { start: lo as Vec3, shape: hi.map((h, a) => h - lo[a] + 1) as Shape3 };
}

/** dst[v] = src[v + shift] wherever that lies inside src; the rest of dst is left as it is (0). */
function copyShifted(src: Float32Array, srcShape: Shape3, dst: Float32Array | Uint8Array, dstShape: Shape3, shift: Vec3): void {
  const range = (a: number) => [Math.max(0, -shift[a]), Math.min(dstShape[a], srcShape[a] - shift[a])];
  const [[i0, i1], [j0, j1], [k0, k1]] = [range(0), range(1), range(2)];
  if (k1 <= k0) return;
  for (let i = i0; i < i1; i++) {
    for (let j = j0; j < j1; j++) {
      const s = ((i + shift[0]) * srcShape[1] + j + shift[1]) * srcShape[2] + shift[2];
      const d = (i * dstShape[1] + j) * dstShape[2];
      dst.set(src.subarray(s + k0, s + k1), d + k0);
    }
  }
}

interface Normalisation {
  lo: number;
  hi: number;
  mean: number;
  sd: number;
}

/**
 * The clip range ([low, high] percentiles of the non-zero voxels) and the mean and population
 * standard deviation of the clipped non-zero voxels. A constant foreground has no spread to
 * divide by: it is only centred, as MONAI's NormalizeIntensity divides by 1 then.
 */
function foregroundStats(data: Float32Array, low: number, high: number): Normalisation {
  let count = 0;
  for (let n = 0; n < data.length; n++) if (data[n] !== 0) count++;
  const fg = new Float32Array(count);
  for (let n = 0, m = 0; n < data.length; n++) if (data[n] !== 0) fg[m++] = data[n];
  const [lo, hi] = percentiles(fg, [low, high]);
  const clip = (x: number) => (x < lo ? lo : x > hi ? hi : x);
  let sum = 0;
  for (let m = 0; m < count; m++) sum += clip(fg[m]);
  const mean = sum / count;
  let ss = 0;
  for (let m = 0; m < count; m++) ss += (clip(fg[m]) - mean) ** 2;
  return { lo, hi, mean, sd: Math.sqrt(ss / count) || 1 };
}

/** In place: non-zero voxels clipped and z-scored; zeros (background, padding) stay 0. */
function zScore(data: Float32Array, { lo, hi, mean, sd }: Normalisation): void {
  for (let n = 0; n < data.length; n++) {
    const x = data[n];
    if (x !== 0) data[n] = ((x < lo ? lo : x > hi ? hi : x) - mean) / sd;
  }
}
