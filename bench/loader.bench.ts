// The loader's throughput in subjects per second: a 128³ subject of 4 contrasts (ADC, TRACE, T2,
// FLAIR; .nii.gz) and a uint8 label, read, reoriented, z-scored and cut into a 96³ training crop
// (random crop, flips, intensity). Cold (no cache) with 1 worker and with one per core, then from
// the cache; the main thread doing the same reading and preparing without workers is the anchor.
// Images are stored twice: as float32 (writeNifti writes float32 and uint8 only) and as int16,
// what scanners and `amae synth` write (built with the tests' NIfTI byte writer).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { createLoader, type LoaderOptions } from '../lib/data/loader.js';
import { writeNifti } from '../lib/data/nifti.js';
import { prepareSubject } from '../lib/data/preprocess.js';
import { loadSubject, type SubjectSpec } from '../lib/data/subject.js';
import { makeVolume, type Affine, type Shape3 } from '../lib/data/volume.js';
import { niftiBytes } from '../test/helpers/nifti-bytes.js';
import { rng } from '../test/helpers/random.js';
import type { Emit } from './util.js';

const N = 128;
const SHAPE: Shape3 = [N, N, N];
const AFFINE: Affine = [
  [1, 0, 0, -64],
  [0, 1, 0, -64],
  [0, 0, 1, -64],
  [0, 0, 0, 1],
];
const CONTRASTS = ['ADC', 'TRACE', 'T2', 'FLAIR'];
// The same files under this many case ids: without a cache each is read anew.
const CASES = 4;
const TRAINING: LoaderOptions = {
  roi: [96, 96, 96],
  augment: { crops: 'random', flips: true, intensity: true },
  preprocess: { spacing: 1, patchSize: 16 },
};

export default async function (emit: Emit): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'amae-bench-loader-'));
  try {
    for (const datatype of ['float32', 'int16'] as const) {
      const spec = await writeSubject(dir, datatype);
      const bytes = [...Object.values(spec.images), spec.label!].reduce((sum, f) => sum + fs.statSync(f as string).size, 0);
      const cases = Array.from({ length: CASES }, (_, i) => ({ ...spec, id: `s${i}` }));
      const base = { case: `128^3 x4 ${datatype} .nii.gz -> 96^3 crop`, file_mb: +(bytes / 2 ** 20).toFixed(1) };

      const inline = await timeInline(cases);
      emit({ ...base, mode: 'main thread, no workers', subjects_per_s: +inline.toFixed(2) });
      const cores = os.availableParallelism();
      for (const workers of [...new Set([1, cores])]) {
        const rate = await loaderRate(cases, { ...TRAINING, workers, prefetch: Math.max(2, workers), cache: 'none' }, 3);
        emit({ ...base, mode: `cold, ${workers} worker${workers > 1 ? 's' : ''}`, subjects_per_s: +rate.toFixed(2), vs_main_thread: +(rate / inline).toFixed(2) });
      }
      const cached = await loaderRate(cases, { ...TRAINING, workers: cores, cache: 'memory' }, 25);
      emit({ ...base, mode: 'cached (crop + augment only)', subjects_per_s: +cached.toFixed(1), vs_main_thread: +(cached / inline).toFixed(1) });
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Subjects per second reading and preparing on the main thread, one after another. */
async function timeInline(cases: SubjectSpec[]): Promise<number> {
  prepareSubject(await loadSubject(cases[0]), TRAINING.preprocess);
  const t0 = performance.now();
  for (const spec of cases) prepareSubject(await loadSubject(spec), TRAINING.preprocess);
  return cases.length / ((performance.now() - t0) / 1000);
}

/**
 * Subjects per second delivered by a loader in steady state: the first epoch starts the workers
 * (and fills the cache, where there is one) and is not counted; the rate is the arrivals after
 * its last batch over the time they took.
 */
async function loaderRate(cases: SubjectSpec[], options: LoaderOptions, epochs: number): Promise<number> {
  let t0 = 0;
  let count = 0;
  for await (const batch of createLoader(cases, { ...options, epochs })) {
    if (batch.epoch === 0) t0 = performance.now();
    else count += batch.subjects.length;
  }
  return count / ((performance.now() - t0) / 1000);
}

/** A head: an ellipsoid of tissue with contrast-specific levels, noise, and a lesion. */
async function writeSubject(dir: string, datatype: 'float32' | 'int16'): Promise<SubjectSpec> {
  const r = rng(1);
  const head = new Uint8Array(N ** 3);
  const label = new Float32Array(N ** 3);
  for (let i = 0, m = 0; i < N; i++) {
    for (let j = 0; j < N; j++) {
      for (let k = 0; k < N; k++, m++) {
        const rho = ((i - 64) / 54) ** 2 + ((j - 64) / 60) ** 2 + ((k - 64) / 50) ** 2;
        head[m] = rho < 1 ? (rho < 0.7 ? 2 : 1) : 0;
        label[m] = Math.hypot(i - 80, j - 50, k - 60) < 8 ? 1 : 0;
      }
    }
  }
  const images: Record<string, string> = {};
  for (const [c, name] of CONTRASTS.entries()) {
    const data = new Float32Array(N ** 3);
    for (let m = 0; m < data.length; m++) {
      if (head[m]) data[m] = Math.round(300 + 200 * c + 150 * head[m] + 400 * label[m] + 60 * r());
    }
    const file = path.join(dir, `${datatype}_${name}.nii.gz`);
    if (datatype === 'float32') {
      await writeNifti(file, makeVolume(data, SHAPE, AFFINE));
    } else {
      // niftiBytes takes voxels in disk order (i fastest).
      const disk = new Int16Array(N ** 3);
      for (let i = 0, m = 0; i < N; i++) for (let j = 0; j < N; j++) for (let k = 0; k < N; k++, m++) disk[(k * N + j) * N + i] = data[m];
      fs.writeFileSync(file, gzipSync(niftiBytes({ dims: SHAPE, datatype: 4, values: disk, srow: AFFINE.slice(0, 3) }), { level: 6 }));
    }
    images[name] = file;
  }
  const labelFile = path.join(dir, `${datatype}_label.nii.gz`);
  await writeNifti(labelFile, makeVolume(label, SHAPE, AFFINE), { datatype: 'uint8' });
  return { id: 's', images, label: labelFile };
}
