// The synthetic data set, amae's built-in default (spec §5): subjects with a random head,
// 1–9 contrasts each, infarct labels for some, written as int16 NIfTI with a dataset.json. Every
// byte is a function of the seed, and subject i depends only on (seed, i, whether it is labelled,
// size), so a larger data set from the same seed begins with the same subjects.

import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { matmul4 } from './affine.js';
import { CONTRASTS, type ContrastName } from './contrasts.js';
import { writeNifti } from './nifti.js';
import { randomAnatomy, sampleTissues, type Anatomy, type TissueMaps } from './synth-anatomy.js';
import { randomProtocol, renderDiffusion, renderStructural } from './synth-contrast.js';
import { randomLesionCount, randomLesions } from './synth-lesion.js';
import { Random } from '../util/random.js';
import { makeVolume, type Affine, type Grid, type Shape3, type Vec3, type Volume } from './volume.js';

export interface SynthSubject {
  id: string;
  /** The subject's contrasts, in registry order. */
  images: Partial<Record<ContrastName, Volume>>;
  /** Infarct mask (0/1) on the ADC grid; labelled subjects only. */
  label?: Volume;
  /** How many infarcts were placed (0–3); a label may still be empty where they missed the brain. */
  lesions: number;
  /** The ground truth the images were rendered from, on the main (ADC) grid: tissue fractions
   * and the infarcted fraction of the parenchyma. */
  tissues: TissueMaps;
}

/** Spec §5: paths relative to dataset.json. */
export interface DatasetJsonCase {
  id: string;
  images: Partial<Record<ContrastName, string>>;
  label?: string;
}

export interface DatasetJson {
  name: string;
  description: string;
  contrasts: ContrastName[];
  training: DatasetJsonCase[];
  validation: DatasetJsonCase[];
  test: DatasetJsonCase[];
  unlabeled: DatasetJsonCase[];
}

export interface SynthOptions {
  /** Subjects in all; the first `labeled` get infarct labels. */
  subjects: number;
  labeled: number;
  /** Voxels along each axis of a subject's main grid. */
  size: number;
  seed: number;
}

/** Labelled subjects go to training, validation and test in this ratio, in order. */
export const SPLIT = { training: 0.6, validation: 0.2, test: 0.2 } as const;

const DEG = Math.PI / 180;

function rotationAbout(axis: 0 | 1 | 2, angle: number): Affine {
  const m: Affine = [
    [1, 0, 0, 0],
    [0, 1, 0, 0],
    [0, 0, 1, 0],
    [0, 0, 0, 1],
  ];
  const [a, b] = [(axis + 1) % 3, (axis + 2) % 3];
  m[a][a] = m[b][b] = Math.cos(angle);
  m[a][b] = -Math.sin(angle);
  m[b][a] = Math.sin(angle);
  return m;
}

/**
 * A grid whose voxel axis a runs along world axis `worlds[a]` (signs[a] says which way) with
 * spacing[a] mm, turned by `tilt`, centred on the world point `centre`.
 */
function gridAround(shape: Shape3, worlds: number[], signs: number[], spacing: number[], tilt: Affine, centre: Vec3): Grid {
  const axes: Affine = [
    [0, 0, 0, 0],
    [0, 0, 0, 0],
    [0, 0, 0, 0],
    [0, 0, 0, 1],
  ];
  worlds.forEach((w, a) => (axes[w][a] = signs[a] * spacing[a]));
  const affine = matmul4(tilt, axes);
  for (let r = 0; r < 3; r++) {
    affine[r][3] = centre[r] - [0, 1, 2].reduce((s, a) => s + affine[r][a] * ((shape[a] - 1) / 2), 0);
  }
  // float32-exact, so that the affine read back from the file is the one the data were made on.
  return { shape, affine: affine.map((row) => row.map(Math.fround)) };
}

/** Template point (mm) → world, through the head's pose (no warp: good enough to aim a FOV). */
function templateToWorld(an: Anatomy, p: Vec3): Vec3 {
  const m = an.toWorld;
  return [0, 1, 2].map((r) => m[r][0] * p[0] + m[r][1] * p[1] + m[r][2] * p[2] + m[r][3]) as Vec3;
}

/**
 * The main grid: size³ voxels in any of the 48 axis orders and directions (readers must reorient),
 * per-axis spacing from a random field of view around the head, sometimes slightly oblique.
 */
function mainGrid(random: Random, an: Anatomy, size: number): Grid {
  const worlds = [0, 1, 2];
  for (let a = 2; a > 0; a--) {
    const b = random.int(a + 1);
    [worlds[a], worlds[b]] = [worlds[b], worlds[a]];
  }
  const signs = worlds.map(() => random.sign());
  // Field of view per world axis (mm): left–right, anterior–posterior, inferior–superior.
  const fov = [random.uniform(190, 230), random.uniform(225, 260), random.uniform(200, 240)];
  const spacing = worlds.map((w) => fov[w] / size);
  const tilt = random.chance(0.4)
    ? matmul4(rotationAbout(0, random.uniform(-8, 8) * DEG), rotationAbout(2, random.uniform(-5, 5) * DEG))
    : rotationAbout(0, 0);
  // Centred a little behind the cerebrum's centre (the cerebellum is behind it) at the level of
  // the ventricles, as a technologist centres a head scan.
  const aim: Vec3 = [random.uniform(-4, 4), random.uniform(-14, -4), random.uniform(-2, 8)];
  return gridAround([size, size, size], worlds, signs, spacing, tilt, templateToWorld(an, aim));
}

/**
 * A clinical FLAIR's own grid, as ISLES'22 FLAIRs come: axial slices, fine in-plane and thick
 * (0.45 × 0.45 × 5 mm there; here in-plane twice as fine as the main grid and slices about 5×
 * as thick as in-plane), a slab over the brain, tilted like a slab aligned with the AC–PC line.
 */
function flairGrid(random: Random, an: Anatomy, size: number): Grid {
  const inPlane = 2 * size;
  const slices = Math.max(4, Math.round(size / 4));
  const fov = random.uniform(220, 240);
  const slab = random.uniform(150, 170);
  const lrFirst = random.chance(0.7);
  const worlds = lrFirst ? [0, 1, 2] : [1, 0, 2];
  const signs = [random.sign(), random.sign(), random.chance(0.8) ? 1 : -1];
  const spacing = [fov / inPlane, fov / inPlane, slab / slices];
  const tilt = rotationAbout(0, random.uniform(-12, 12) * DEG);
  const aim: Vec3 = [random.uniform(-3, 3), random.uniform(-12, -2), random.uniform(-12, -4)];
  return gridAround([inPlane, inPlane, slices], worlds, signs, spacing, tilt, templateToWorld(an, aim));
}

/** Which contrasts a subject has: labelled ones as ISLES-like stroke protocols (ADC and TRACE
 * always, T2 mostly, FLAIR often, the rest now and then); unlabelled ones a uniformly random
 * number (1–K) of uniformly chosen contrasts. */
function pickContrasts(random: Random, labeled: boolean): ContrastName[] {
  if (labeled) {
    const odds: Record<ContrastName, number> = { ADC: 1, TRACE: 1, T2: 0.8, FLAIR: 0.6, GRE: 0.15, SWI: 0.15, T1: 0.15, T1CE: 0.1, PD: 0.1 };
    return CONTRASTS.filter((c) => random.chance(odds[c]));
  }
  const pool = [...CONTRASTS];
  for (let a = pool.length - 1; a > 0; a--) {
    const b = random.int(a + 1);
    [pool[a], pool[b]] = [pool[b], pool[a]];
  }
  const chosen = new Set(pool.slice(0, 1 + random.int(pool.length)));
  return CONTRASTS.filter((c) => chosen.has(c));
}

function subjectId(index: number): string {
  return `synth-${String(index + 1).padStart(4, '0')}`;
}

/** Subject `index` of the data set made from `seed`. */
export function synthSubject(seed: number, index: number, size: number, labeled: boolean): SynthSubject {
  if (!Number.isInteger(size) || size < 8) throw new RangeError(`size ${size} must be an integer ≥ 8`);
  const id = subjectId(index);
  const stream = (name: string) => new Random(seed, index, labeled ? 'labelled' : 'unlabelled', name);
  const choice = stream('choices');
  const contrasts = pickContrasts(choice, labeled);
  const anatomy = randomAnatomy(stream('anatomy'));
  const lesionCount = randomLesionCount(choice);
  const lesions = randomLesions(stream('lesions'), lesionCount, anatomy.sulci, anatomy.coarse);
  const protocol = randomProtocol(stream('protocol'));
  const main = mainGrid(stream('main-grid'), anatomy, size);
  const ownFlairGrid = contrasts.includes('FLAIR') && choice.chance(0.5);

  const maps = sampleTissues(anatomy, lesions, main);
  const images: Partial<Record<ContrastName, Volume>> = {};
  const volume = (data: Float32Array, grid: Grid, name: string) => makeVolume(data, grid.shape, grid.affine, `${id} ${name}`, 'int16');
  if (contrasts.includes('ADC') || contrasts.includes('TRACE')) {
    const { adc, trace } = renderDiffusion(maps, main, protocol, stream('render-diffusion'));
    if (contrasts.includes('ADC')) images.ADC = volume(adc, main, 'ADC');
    if (contrasts.includes('TRACE')) images.TRACE = volume(trace, main, 'TRACE');
  }
  for (const c of contrasts) {
    if (c === 'ADC' || c === 'TRACE') continue;
    if (c === 'FLAIR' && ownFlairGrid) {
      const grid = flairGrid(stream('flair-grid'), anatomy, size);
      // Thick slices average the anatomy over their thickness: two samples across each.
      const flairMaps = sampleTissues(anatomy, lesions, grid, [1, 1, 2]);
      images.FLAIR = volume(renderStructural(c, flairMaps, grid, protocol, stream(`render-${c}`)), grid, c);
    } else {
      images[c] = volume(renderStructural(c, maps, main, protocol, stream(`render-${c}`)), main, c);
    }
  }
  const subject: SynthSubject = { id, images, lesions: lesionCount, tissues: maps };
  if (labeled) {
    // Labelled where most of a voxel's brain tissue — and so most of its signal change — is infarct.
    const mask = new Float32Array(maps.lesion.length);
    const { gm, wm, deep } = maps.fractions;
    for (let p = 0; p < mask.length; p++) mask[p] = maps.lesion[p] * (gm[p] + wm[p] + deep[p]) >= 0.5 ? 1 : 0;
    subject.label = makeVolume(mask, main.shape, main.affine, `${id} label`, 'uint8');
  }
  return subject;
}

function checkOptions({ subjects, labeled, size, seed }: SynthOptions): void {
  if (!Number.isInteger(subjects) || subjects < 1) throw new RangeError(`subjects must be a positive integer, got ${subjects}`);
  if (!Number.isInteger(labeled) || labeled < 0 || labeled > subjects) {
    throw new RangeError(`labeled must be an integer from 0 to subjects (${subjects}), got ${labeled}`);
  }
  if (!Number.isInteger(size) || size < 8 || size > 512) throw new RangeError(`size must be an integer from 8 to 512, got ${size}`);
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) throw new RangeError(`seed must be an integer from 0 to 4294967295, got ${seed}`);
}

/** Labelled subjects 0..m−1 split in order: training first, then validation, then test. */
function splitLabeled(m: number): { training: number; validation: number; test: number } {
  const test = Math.round(m * SPLIT.test);
  const validation = Math.round(m * SPLIT.validation);
  return { training: m - test - validation, validation, test };
}

/**
 * `mkdir -p`, one level at a time: Node's own recursive mkdir never returns where the file system
 * answers ENOENT for a directory it will not create (e.g. under /proc), which this turns into
 * an error.
 */
async function makeDirectory(dir: string): Promise<void> {
  const parent = path.dirname(dir);
  try {
    await mkdir(dir);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return;
    if (code !== 'ENOENT' || parent === dir) throw e;
    await makeDirectory(parent);
    await mkdir(dir).catch((again: NodeJS.ErrnoException) => {
      if (again.code !== 'EEXIST') throw again;
    });
  }
}

/**
 * Writes the data set into `dir` (created if missing): one folder per subject with an int16
 * .nii.gz per contrast (and a uint8 label), and dataset.json, written last, so that a data set
 * with a dataset.json is complete. A subject's files are compressed (zlib's thread pool) while
 * the next subject is generated.
 */
export async function writeSynthDataset(dir: string, options: SynthOptions, onSubject?: (done: number, total: number) => void): Promise<DatasetJson> {
  checkOptions(options);
  const { subjects, labeled, size, seed } = options;
  await makeDirectory(dir);
  const cases: DatasetJsonCase[] = [];
  let pending: Promise<void> = Promise.resolve();
  for (let index = 0; index < subjects; index++) {
    const subject = synthSubject(seed, index, size, index < labeled);
    await pending;
    onSubject?.(index, subjects);
    const folder = path.join(dir, subject.id);
    await makeDirectory(folder);
    const entry: DatasetJsonCase = { id: subject.id, images: {} };
    const writes: Promise<void>[] = [];
    for (const [contrast, volume] of Object.entries(subject.images) as [ContrastName, Volume][]) {
      const rel = `${subject.id}/${subject.id}_${contrast}.nii.gz`;
      entry.images[contrast] = rel;
      writes.push(writeNifti(path.join(dir, rel), volume, { datatype: 'int16' }));
    }
    if (subject.label) {
      entry.label = `${subject.id}/${subject.id}_label.nii.gz`;
      writes.push(writeNifti(path.join(dir, entry.label), subject.label, { datatype: 'uint8' }));
    }
    cases.push(entry);
    pending = Promise.all(writes).then(() => undefined);
  }
  await pending;
  onSubject?.(subjects, subjects);

  const split = splitLabeled(labeled);
  const dataset: DatasetJson = {
    name: 'amae-synth',
    description: `amae synth --subjects ${subjects} --labeled ${labeled} --size ${size} --seed ${seed}: synthetic heads with 0–3 infarcts; labelled subjects split ${SPLIT.training}/${SPLIT.validation}/${SPLIT.test} into training/validation/test`,
    contrasts: [...CONTRASTS],
    training: cases.slice(0, split.training),
    validation: cases.slice(split.training, split.training + split.validation),
    test: cases.slice(split.training + split.validation, labeled),
    unlabeled: cases.slice(labeled),
  };
  const file = path.join(dir, 'dataset.json');
  const partial = `${file}.partial-${process.pid}`;
  try {
    await writeFile(partial, `${JSON.stringify(dataset, null, 2)}\n`);
    await rename(partial, file);
  } catch (e) {
    await rm(partial, { force: true });
    throw e;
  }
  return dataset;
}
