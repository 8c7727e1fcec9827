// A study's NIfTI files to a lesion mask on the reference file's own grid (spec §4, §5): every
// image read, reoriented and resampled onto the reference contrast's grid, preprocessed as in
// training (or fed as it is with preprocess 'none'), segmented by sliding windows, the
// probabilities mapped back to the reference file's grid (trilinear) and thresholded at 0.5.
import { type ContrastName, contrastName } from '../data/contrasts.js';
import { type PreparedSubject, type PreprocessOptions, prepareSubject, restore } from '../data/preprocess.js';
import { loadSubject } from '../data/subject.js';
import { type Volume, makeVolume } from '../data/volume.js';
import type { AnySegmentationModel } from '../models/segmentation.js';
import { type SegmentOptions, segmentVolume } from './segment.js';

export interface PredictOptions extends SegmentOptions {
  /** The contrast whose grid the output lies on; default the first of TRACE (DWI), ADC present,
   * else the first given. */
  reference?: string;
  /** 'none': the volumes as they are on the reference grid (only reoriented), for data that was
   * preprocessed already; else spec §5's preprocessing with these options (default spacing null,
   * the data's own voxel size, as training's default). */
  preprocess?: 'none' | Pick<PreprocessOptions, 'spacing' | 'clip'>;
}

export interface Prediction {
  /** 0/1 on the reference file's grid, with its affine. */
  mask: Volume;
  /** Probabilities on the same grid. */
  probabilities: Volume;
  /** Slots the model has and the images lack (zero-filled; UNETR and U-Net). */
  zeroFilled: ContrastName[];
  /** Σ mask × voxel volume, in millilitres. */
  lesionMl: number;
}

/** images: contrast name or alias → a NIfTI file. Errors name the file or the contrast. */
export async function predictFiles(model: AnySegmentationModel, images: Record<string, string>, options: PredictOptions = {}): Promise<Prediction> {
  const names = Object.keys(images);
  if (names.length === 0) throw new RangeError('images: give at least one image, as CONTRAST=file');
  const canonical = names.map((n) => contrastName(n, 'images'));
  const accepted = new Set(model.contrasts);
  canonical.forEach((c, i) => {
    if (!accepted.has(c)) throw new RangeError(`images.${names[i]}: this ${model.kind} model does not take ${c}; it takes ${model.contrasts.join(', ')}`);
  });
  const reference = options.reference
    ? contrastName(options.reference, 'reference')
    : ((['TRACE', 'ADC'] as ContrastName[]).find((c) => canonical.includes(c)) ?? canonical[0]);
  if (!canonical.includes(reference)) throw new RangeError(`reference ${reference} is not among the images (${canonical.join(', ')})`);
  const subject = await loadSubject({ id: 'predict', images }, { referenceOrder: [reference], where: 'images' });
  const prepared: Pick<PreparedSubject, 'shape' | 'inverse' | 'contrasts'> =
    options.preprocess === 'none'
      ? {
          shape: subject.grid.shape,
          contrasts: subject.contrasts.map((c) => ({ id: c.id, name: c.name, data: c.volume.data })),
          inverse: { affine: subject.grid.affine, original: subject.originalGrid } as PreparedSubject['inverse'],
        }
      : prepareSubject(subject, { spacing: null, ...options.preprocess, patchSize: 16, minShape: [...model.config.size] });
  const contrasts = prepared.contrasts.map((c) => ({ id: c.id, data: c.data }));
  const probs = await segmentVolume(model, contrasts, prepared.shape, options);
  const V = prepared.shape[0] * prepared.shape[1] * prepared.shape[2];
  const probabilities = restore(prepared, probs.subarray(0, V), 'linear');
  const mask = makeVolume(Float32Array.from(probabilities.data, (p) => (p >= 0.5 ? 1 : 0)), probabilities.shape, probabilities.affine, 'mask');
  const zeroFilled = model.kind === 'adaptive-unetr' ? [] : model.contrasts.filter((c) => !canonical.includes(c));
  return { mask, probabilities, zeroFilled, lesionMl: (sum(mask.data) * mask.spacing[0] * mask.spacing[1] * mask.spacing[2]) / 1000 };
}

function sum(a: Float32Array): number {
  let s = 0;
  for (const v of a) s += v;
  return s;
}
