// Training-time augmentation (spec §4): ROI crops (half centred on a lesion voxel, half random),
// random flips on each axis, intensity scale and shift, and modality dropout. The spatial
// transform of a sample is drawn once and applied to every contrast and the label alike. Pure
// functions of a prepared subject and a random stream: the loader derives the stream from the
// sample's place in the data, which makes its batches reproducible.

import type { ContrastName } from './contrasts.js';
import type { PreparedSubject } from './preprocess.js';
import type { Random } from '../util/random.js';
import type { Shape3, Vec3 } from './volume.js';

/**
 * - 'lesion-random': each crop is, with probability ½, centred on a label voxel chosen uniformly
 *   (MONAI's RandCropByPosNegLabel with pos = neg = 1, but its "negative" half uniformly placed,
 *   as the spec asks); a subject without lesion voxels gets a random crop.
 * - 'random': a uniformly placed crop (MONAI's RandSpatialCrop).
 * - 'none': the whole prepared volume (e.g. for validation).
 */
export type CropMode = 'lesion-random' | 'random' | 'none';

export interface ModalityDropout {
  /** Probability with which each contrast is dropped, independently. */
  p: number;
  /** Keep a dropped contrast's slot with zeros instead of removing it: what UNETR and the U-Net,
   * whose input channels are fixed, see for a missing contrast. Adaptive UNETR and AMAE take any
   * subset, so for them dropped contrasts are removed (the default). */
  zeroFill?: boolean;
}

export interface AugmentOptions {
  /** Default 'random' when the loader has an ROI, 'none' otherwise. */
  crops?: CropMode;
  /** Flip each axis with probability ½. */
  flips?: boolean;
  /** Scale and shift each contrast's intensities by up to ±10 % (see scaleShiftForeground). */
  intensity?: boolean;
  modalityDropout?: ModalityDropout;
}

export interface SampleContrast {
  id: number;
  name: ContrastName;
  data: Float32Array;
}

/** One subject of a batch: its (cropped, augmented) contrasts in registry order, C-order
 * [H][W][D] of `shape`, and the label likewise. */
export interface Sample {
  id: string;
  contrasts: SampleContrast[];
  /** The label file's values (0 = background); present when the subject has a label. */
  label?: Uint8Array;
  shape: Shape3;
}

/** A prepared subject as the loader keeps it: with the flat indices of its lesion voxels listed
 * once, so that lesion-centred crops need not scan the label for every sample. */
export interface AugmentSource extends Pick<PreparedSubject, 'id' | 'contrasts' | 'shape' | 'label'> {
  lesion: Uint32Array;
}

/** Intensity factors and offsets are drawn from ±this (MONAI's factors = offsets = 0.1). */
export const INTENSITY_RANGE = 0.1;

/** Flat indices of the non-zero label voxels (none without a label). */
export function lesionVoxels(label: Uint8Array | undefined): Uint32Array {
  if (!label) return new Uint32Array(0);
  let count = 0;
  for (let n = 0; n < label.length; n++) if (label[n] !== 0) count++;
  const out = new Uint32Array(count);
  for (let n = 0, m = 0; n < label.length; n++) if (label[n] !== 0) out[m++] = n;
  return out;
}

/** Checks options before any work starts, so a mistake fails at once rather than in a batch. */
export function checkAugmentOptions(roi: Shape3 | undefined, options: AugmentOptions): void {
  const crops = options.crops ?? (roi ? 'random' : 'none');
  if (!['lesion-random', 'random', 'none'].includes(crops)) throw new RangeError(`augment.crops '${crops}' must be 'lesion-random', 'random' or 'none'`);
  if (crops !== 'none' && !roi) throw new RangeError(`augment.crops '${crops}' needs an roi`);
  const p = options.modalityDropout?.p;
  if (p !== undefined && !(p >= 0 && p <= 1)) throw new RangeError(`augment.modalityDropout.p ${p} must be a probability (0–1)`);
}

/**
 * One training sample from a prepared subject. The random stream is read in a fixed order — crop
 * (the lesion coin, then the centre or the start), flips (i, j, k), dropout (per contrast, then
 * the survivor if all were drawn), intensity (factor and offset per kept contrast) — so that a
 * stream gives the same sample whatever ran before. The result never shares memory with the
 * source: the loader's cache keeps the source for later epochs.
 */
export function augmentSample(subject: AugmentSource, roi: Shape3 | undefined, options: AugmentOptions, random: Random): Sample {
  checkAugmentOptions(roi, options);
  const crops = options.crops ?? (roi ? 'random' : 'none');
  const size: Shape3 = crops === 'none' ? subject.shape : roi!;
  let start: Vec3 = [0, 0, 0];
  if (crops !== 'none') {
    const onLesion = crops === 'lesion-random' && random.next() < 0.5 && subject.lesion.length > 0;
    start = onLesion
      ? centredCropStart(subject.shape, size, voxelAt(subject.lesion[random.int(subject.lesion.length)], subject.shape))
      : randomCropStart(subject.shape, size, random);
  }
  const flips: [boolean, boolean, boolean] = options.flips ? [random.next() < 0.5, random.next() < 0.5, random.next() < 0.5] : [false, false, false];
  const dropout = options.modalityDropout;
  const dropped = dropout ? droppedContrasts(subject.contrasts.length, dropout.p, random) : subject.contrasts.map(() => false);
  const voxels = size[0] * size[1] * size[2];

  const contrasts: SampleContrast[] = [];
  subject.contrasts.forEach(({ id, name, data }, c) => {
    if (dropped[c]) {
      if (dropout?.zeroFill) contrasts.push({ id, name, data: new Float32Array(voxels) });
      return;
    }
    const out = extractCrop(data, subject.shape, start, size, flips);
    if (options.intensity) scaleShiftForeground(out, 1 + random.symmetric(INTENSITY_RANGE), random.symmetric(INTENSITY_RANGE));
    contrasts.push({ id, name, data: out });
  });
  const sample: Sample = { id: subject.id, contrasts, shape: [...size] };
  if (subject.label) sample.label = extractCrop(subject.label, subject.shape, start, size, flips);
  return sample;
}

/**
 * Start of a uniformly placed crop of `roi` inside a volume of `shape`, per axis. Where the volume
 * is smaller than the ROI the start is negative: the crop is padded with zeros, centred (the odd
 * voxel at the end, as MONAI's SpatialPad places it).
 */
export function randomCropStart(shape: Shape3, roi: Shape3, random: Random): Vec3 {
  return shape.map((n, a) => (n >= roi[a] ? random.int(n - roi[a] + 1) : -Math.floor((roi[a] - n) / 2))) as Vec3;
}

/**
 * Start of a crop of `roi` centred on a voxel (at index ⌊roi/2⌋ of the crop, as MONAI's
 * SpatialCrop puts its centre), moved the least needed to stay inside the volume — so the voxel
 * is always inside the crop. Axes where the volume is smaller than the ROI are padded as in
 * randomCropStart.
 */
export function centredCropStart(shape: Shape3, roi: Shape3, centre: Vec3): Vec3 {
  return shape.map((n, a) => {
    const r = roi[a];
    if (n < r) return -Math.floor((r - n) / 2);
    return Math.min(Math.max(centre[a] - Math.floor(r / 2), 0), n - r);
  }) as Vec3;
}

/**
 * The crop of `roi` voxels starting at `start` (negative, or running past the end: zeros there),
 * each axis then reversed where `flips` says so — crop and flip in one pass over the output.
 */
export function extractCrop(src: Float32Array, shape: Shape3, start: Vec3, roi: Shape3, flips: readonly boolean[]): Float32Array;
export function extractCrop(src: Uint8Array, shape: Shape3, start: Vec3, roi: Shape3, flips: readonly boolean[]): Uint8Array;
export function extractCrop(src: Float32Array | Uint8Array, shape: Shape3, start: Vec3, roi: Shape3, flips: readonly boolean[]): Float32Array | Uint8Array {
  const [n0, n1, n2] = shape;
  const [r0, r1, r2] = roi;
  const [s0, s1, s2] = start;
  const out = src instanceof Float32Array ? new Float32Array(r0 * r1 * r2) : new Uint8Array(r0 * r1 * r2);
  // Along k: output indices whose source lies inside the volume.
  const k0 = Math.max(0, -s2);
  const k1 = Math.min(r2, n2 - s2);
  if (k1 <= k0) return out;
  for (let i = 0; i < r0; i++) {
    const si = s0 + (flips[0] ? r0 - 1 - i : i);
    if (si < 0 || si >= n0) continue;
    for (let j = 0; j < r1; j++) {
      const sj = s1 + (flips[1] ? r1 - 1 - j : j);
      if (sj < 0 || sj >= n1) continue;
      const from = (si * n1 + sj) * n2 + s2;
      const to = (i * r1 + j) * r2;
      if (!flips[2]) {
        out.set(src.subarray(from + k0, from + k1), to + k0);
      } else {
        // Output k reads source k' = r2 − 1 − k, inside where k' ∈ [k0, k1).
        for (let k = r2 - k1; k < r2 - k0; k++) out[to + k] = src[from + r2 - 1 - k];
      }
    }
  }
  return out;
}

/**
 * In place: x → x·scale + shift on the non-zero voxels; zeros stay 0. With scale = 1 + f and
 * f, shift ∈ ±0.1 this is MONAI's RandScaleIntensity(factors=0.1) followed by
 * RandShiftIntensity(offsets=0.1), the shift in the z-scored units, i.e. a tenth of the
 * foreground's standard deviation. Unlike MONAI it spares the background: preprocessing, the crop
 * padding and zero-filled contrasts all use 0 for "no signal", and a shifted background would
 * tell the model which voxels are padding.
 */
export function scaleShiftForeground(data: Float32Array, scale: number, shift: number): void {
  for (let n = 0; n < data.length; n++) {
    const x = data[n];
    if (x !== 0) data[n] = x * scale + shift;
  }
}

/**
 * Which of `count` contrasts to drop: each with probability p, independently; where every one was
 * drawn, one of them, chosen uniformly, is kept, since a subject needs at least one contrast.
 */
export function droppedContrasts(count: number, p: number, random: Random): boolean[] {
  const dropped = Array.from({ length: count }, () => random.next() < p);
  if (count > 0 && dropped.every(Boolean)) dropped[random.int(count)] = false;
  return dropped;
}

function voxelAt(index: number, shape: Shape3): Vec3 {
  const [, n1, n2] = shape;
  return [Math.floor(index / (n1 * n2)), Math.floor(index / n2) % n1, index % n2];
}
