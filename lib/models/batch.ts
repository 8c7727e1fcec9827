// Packing subjects into the native AMAE batch: every contrast of every subject back to back
// (subject by subject, each subject's contrasts in registry order), with per-contrast keep
// lists from the masking rule or given explicitly. Subjects may have any 1..K contrasts.
import { NUM_CONTRASTS } from '../data/contrasts.js';
import type { NativeAmaeBatch } from '../native.js';
import { Random } from '../util/random.js';
import { checkKeep, randomKeep } from './masking.js';

/** One contrast of a subject: its registry id and its voxels [H][W][D] (D fastest). */
export interface ContrastVolume {
  id: number;
  data: Float32Array;
}

export interface SubjectVolumes {
  contrasts: ContrastVolume[];
}

export type AmaeBatch = NativeAmaeBatch;

export interface PackOptions {
  /** The model's volume size [H, W, D] and patch size. */
  size: readonly [number, number, number];
  patch: number;
  /** Mask ratio r (default 0.7) for random masks… */
  maskRatio?: number;
  /** …drawn from this stream (default: a fresh Random(0)). */
  random?: Random;
  /** Or explicit keep lists: keep[s][c] for contrast c of subject s as given (before sorting). */
  keep?: ArrayLike<number>[][];
}

/** Packs subjects (each with 1..K distinct contrasts, in any order) into one batch. */
export function packBatch(subjects: readonly SubjectVolumes[], options: PackOptions): AmaeBatch {
  const { size, patch, maskRatio = 0.7, keep } = options;
  const random = options.random ?? new Random(0);
  const voxels = size[0] * size[1] * size[2];
  const P = (size[0] / patch) * (size[1] / patch) * (size[2] / patch);
  if (!Number.isInteger(P) || P < 1) throw new RangeError(`packBatch: size [${size}] is not divisible by patch ${patch}`);
  if (subjects.length < 1) throw new RangeError('packBatch: the batch needs at least one subject');
  if (keep && keep.length !== subjects.length)
    throw new RangeError(`packBatch: keep has ${keep.length} entries for ${subjects.length} subjects`);

  const order: { s: number; c: number }[] = [];
  const subjectOffsets = [0];
  subjects.forEach((subject, s) => {
    const n = subject.contrasts.length;
    if (n < 1 || n > NUM_CONTRASTS) throw new RangeError(`subjects[${s}] has ${n} contrasts; 1 to ${NUM_CONTRASTS} are accepted`);
    if (keep && keep[s].length !== n) throw new RangeError(`keep[${s}] has ${keep[s].length} lists for ${n} contrasts`);
    const sorted = subject.contrasts.map((v, c) => ({ s, c, id: v.id })).sort((a, b) => a.id - b.id);
    sorted.forEach(({ c, id }, i) => {
      const where = `subjects[${s}].contrasts[${c}]`;
      if (!Number.isInteger(id) || id < 0 || id >= NUM_CONTRASTS) throw new RangeError(`${where}.id = ${id} is not a registry id in [0, ${NUM_CONTRASTS})`);
      if (i > 0 && id === sorted[i - 1].id) throw new RangeError(`${where}.id = ${id} appears twice in subject ${s}`);
      const data = subject.contrasts[c].data;
      if (!(data instanceof Float32Array)) throw new TypeError(`${where}.data must be a Float32Array`);
      if (data.length !== voxels)
        throw new RangeError(`${where}.data has ${data.length} voxels; the model's size [${size}] needs ${voxels}`);
    });
    order.push(...sorted);
    subjectOffsets.push(order.length);
  });

  const volumes = new Float32Array(order.length * voxels);
  const contrasts = new Int32Array(order.length);
  const keepLists: Int32Array[] = [];
  order.forEach(({ s, c }, n) => {
    const v = subjects[s].contrasts[c];
    volumes.set(v.data, n * voxels);
    contrasts[n] = v.id;
    keepLists.push(keep ? checkKeep(keep[s][c], P, `keep[${s}][${c}]`) : randomKeep(P, maskRatio, random));
  });
  const keepOffsets = new Int32Array(order.length + 1);
  keepLists.forEach((k, n) => (keepOffsets[n + 1] = keepOffsets[n] + k.length));
  const flat = new Int32Array(keepOffsets[order.length]);
  keepLists.forEach((k, n) => flat.set(k, keepOffsets[n]));
  return {
    volumes: { data: volumes, shape: [order.length, size[0], size[1], size[2]] },
    contrasts,
    subjects: Int32Array.from(subjectOffsets),
    keep: flat,
    keepOffsets,
  };
}
