// A subject: its contrasts (and lesion label) read, reoriented to RAS and resampled onto one grid,
// the reference contrast's, with what is needed to map a result back onto the reference file's
// own grid (spec §5).

import { CONTRASTS, contrastName, type ContrastName } from './contrasts.js';
import { readNifti, readNiftiChannels } from './nifti.js';
import { asClosestCanonical } from './orientation.js';
import { resample, type Interpolation } from './resample.js';
import { makeVolume, type Grid, type Volume } from './volume.js';

/** A NIfTI file holding one 3D image, or one volume of a 4D file (0-based index along dims 4–7,
 * as Medical Segmentation Decathlon images hold their contrasts). */
export type ImageRef = string | { file: string; channel: number };

export interface SubjectSpec {
  id: string;
  /** Contrast (registry name or alias, any case) → its image. */
  images: Record<string, ImageRef>;
  /** The lesion label: integer values 0–255, 0 = background. */
  label?: ImageRef;
}

export interface SubjectOptions {
  /** Contrasts whose grid becomes the subject's grid, most preferred first; the first one the
   * subject has wins, and registry order decides after the list. Default TRACE, ADC, FLAIR:
   * the diffusion images are what stroke lesions are labelled on. */
  referenceOrder?: string[];
  /** Where the subject was described (e.g. the dataset file), to start error messages with. */
  where?: string;
}

export interface SubjectContrast {
  id: number;
  name: ContrastName;
  volume: Volume;
}

export interface Subject {
  id: string;
  /** Where the subject was described (SubjectOptions.where), for later errors. */
  where: string;
  reference: ContrastName;
  /** The reference contrast's grid as its file stores it: where predictions go back to. */
  originalGrid: Grid;
  /** The reference's grid reoriented to the closest RAS grid: every contrast and the label lie
   * on it. */
  grid: Grid;
  /** In registry order. */
  contrasts: SubjectContrast[];
  /** Nearest-neighbour resampled, so its values are the label file's. */
  label?: Volume;
}

export const DEFAULT_REFERENCE_ORDER: readonly ContrastName[] = ['TRACE', 'ADC', 'FLAIR'];

/**
 * An error in one case of a data set. The message starts with where the case was described (when
 * known), the case id and the field, e.g. "data/dataset.json: case 'sub-3', images.FLAIR: …".
 */
export class CaseError extends Error {
  constructor(
    readonly where: string,
    readonly caseId: string,
    readonly field: string,
    detail: string,
    options?: ErrorOptions,
  ) {
    super(`${where ? `${where}: ` : ''}case '${caseId}', ${field}: ${detail}`, options);
    this.name = 'CaseError';
  }
}

/**
 * Reads a subject: every contrast reoriented to RAS and resampled (trilinear) onto the reference
 * contrast's RAS grid through the affines, the label likewise with nearest neighbours. A contrast
 * whose background is a non-zero constant is shifted so that the background is 0 (see
 * zeroBackground). Errors name the case, the field and the file.
 */
export async function loadSubject(spec: SubjectSpec, options: SubjectOptions = {}): Promise<Subject> {
  const where = options.where ?? '';
  const fail = (field: string, e: unknown): never => {
    if (e instanceof CaseError) throw e;
    throw new CaseError(where, spec.id, field, (e as Error).message, { cause: e });
  };

  const byName = new Map<ContrastName, { field: string; ref: ImageRef }>();
  for (const [given, ref] of Object.entries(spec.images)) {
    const field = `images.${given}`;
    let name: ContrastName;
    try {
      name = contrastName(given, '');
    } catch (e) {
      return fail(field, e);
    }
    const clash = byName.get(name);
    if (clash) throw new CaseError(where, spec.id, field, `${clash.field} is the same contrast (${name})`);
    byName.set(name, { field, ref });
  }
  if (byName.size === 0) throw new CaseError(where, spec.id, 'images', 'no contrast given');

  const preferred = (options.referenceOrder ?? DEFAULT_REFERENCE_ORDER).map((n) => contrastName(n, 'referenceOrder option'));
  const reference = [...preferred, ...CONTRASTS].find((n) => byName.has(n))!;

  // A 4D file is read once however many of its channels the subject uses.
  const files = new Map<string, Promise<Volume[]>>();
  const read = (ref: ImageRef): Promise<Volume> => {
    if (typeof ref === 'string') return readNifti(ref);
    let all = files.get(ref.file);
    if (!all) files.set(ref.file, (all = readNiftiChannels(ref.file)));
    return all.then((vols) => {
      if (!(ref.channel >= 0 && ref.channel < vols.length)) {
        throw new Error(`${ref.file}: has ${vols.length} volume${vols.length === 1 ? '' : 's'}, no channel ${ref.channel}`);
      }
      return vols[ref.channel];
    });
  };

  const names = CONTRASTS.filter((n) => byName.has(n));
  const [read3d, labelFile] = await Promise.all([
    Promise.all(
      names.map(async (name) => {
        const { field, ref } = byName.get(name)!;
        try {
          const stored = zeroBackground(await read(ref));
          return { stored: { shape: stored.shape, affine: stored.affine } as Grid, ras: asClosestCanonical(stored) };
        } catch (e) {
          return fail(field, e);
        }
      }),
    ),
    (async () => {
      if (spec.label === undefined) return undefined;
      try {
        const v = await read(spec.label);
        checkLabelValues(v);
        return v;
      } catch (e) {
        return fail('label', e);
      }
    })(),
  ]);

  const refIndex = names.indexOf(reference);
  const originalGrid = read3d[refIndex].stored;
  const refVolume = read3d[refIndex].ras;
  const grid: Grid = { shape: refVolume.shape, affine: refVolume.affine };

  const contrasts = names.map((name, n) => {
    try {
      const volume = n === refIndex ? refVolume : resample(read3d[n].ras, grid, { order: 'linear' });
      return { id: CONTRASTS.indexOf(name), name, volume };
    } catch (e) {
      return fail(byName.get(name)!.field, e);
    }
  });
  let label: Volume | undefined;
  if (labelFile) {
    try {
      label = resample(asClosestCanonical(labelFile), grid, { order: 'nearest' });
    } catch (e) {
      fail('label', e);
    }
  }
  return { id: spec.id, where, reference, originalGrid, grid, contrasts, label };
}

/**
 * Values on the subject's grid (a Float32Array in its layout, or a Volume on any grid) resampled
 * onto the reference file's own grid. The subject's grid is that grid reoriented, so this only
 * permutes and flips voxels back: lossless, with either interpolation.
 */
export function toOriginalGrid(subject: Pick<Subject, 'grid' | 'originalGrid'>, values: Float32Array | Volume, order: Interpolation): Volume {
  const volume = values instanceof Float32Array ? makeVolume(values, subject.grid.shape, subject.grid.affine) : values;
  return resample(volume, subject.originalGrid, { order });
}

/**
 * The volume with a constant non-zero background moved to 0. Preprocessing takes the non-zero
 * voxels as the head (spec §5) and resampling fills with 0 outside an image, so a background of
 * another value — as in images a provider z-scored within the brain, where it sits at the
 * minimum — would count as foreground. Recognised when all 8 corner voxels hold the volume's
 * minimum and some voxel is above it, and only then; the shift changes nothing else, since the
 * z-score is shift-invariant.
 */
function zeroBackground(volume: Volume): Volume {
  const [ni, nj, nk] = volume.shape;
  const d = volume.data;
  const corner = d[0];
  if (corner === 0) return volume;
  for (const i of [0, ni - 1]) {
    for (const j of [0, nj - 1]) {
      for (const k of [0, nk - 1]) if (d[(i * nj + j) * nk + k] !== corner) return volume;
    }
  }
  let constant = true;
  for (let n = 0; n < d.length; n++) {
    if (d[n] < corner) return volume;
    if (d[n] !== corner) constant = false;
  }
  // A constant image has no background to tell from the rest.
  if (constant) return volume;
  const out = new Float32Array(d.length);
  for (let n = 0; n < d.length; n++) out[n] = d[n] - corner;
  return makeVolume(out, volume.shape, volume.affine, volume.source, volume.datatype);
}

function checkLabelValues(label: Volume): void {
  const d = label.data;
  for (let n = 0; n < d.length; n++) {
    const x = d[n];
    if (!(Number.isInteger(x) && x >= 0 && x <= 255)) {
      const [, nj, nk] = label.shape;
      const at = [Math.floor(n / (nj * nk)), Math.floor(n / nk) % nj, n % nk];
      throw new Error(`${label.source}: voxel [${at}] = ${x}; a label holds integers 0–255`);
    }
  }
}
