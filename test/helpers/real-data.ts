// The real MRI files of /work/shared/data/real (see its SOURCES.md): never copied into the repo,
// so tests that use them look for the folder and skip, saying why, where it is absent.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import test, { type ExecutionContext } from 'ava';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** AMAE_REAL_DATA if set, else <repo>/../shared/data/real; null when that folder is absent. */
export const realDataDir: string | null = (() => {
  const dir = process.env.AMAE_REAL_DATA ?? path.resolve(repoRoot, '../shared/data/real');
  return fs.existsSync(path.join(dir, 'SOURCES.md')) ? dir : null;
})();

let toldSkip = false;

/** A test on the real files: skipped, with the reason printed once per file, where they are absent. */
export function realTest(title: string, fn: (t: ExecutionContext) => void | Promise<void>): void {
  if (realDataDir) return test(title, fn);
  if (!toldSkip) console.log('skipping real-data tests: no real data (set AMAE_REAL_DATA to the folder holding SOURCES.md)');
  toldSkip = true;
  test.skip(title, fn);
}

/** Absolute path of a file under the real-data folder (only meaningful inside a realTest). */
export function realFile(relative: string): string {
  return path.join(realDataDir ?? '', relative);
}

export const REAL = {
  adc: 'isles22_ensemble_sample/sub-strokecase0001_ses-0001_adc.nii.gz',
  dwi: 'isles22_ensemble_sample/sub-strokecase0001_ses-0001_dwi.nii.gz',
  flair2015: 'deepmedic_brats2015/brats_2013_pat0001_1/Flair_subtrMeanDivStd.nii.gz',
  label2015: 'deepmedic_brats2015/brats_2013_pat0001_1/OTMultiClass.nii.gz',
  brainmask2015: 'deepmedic_brats2015/brats_2013_pat0001_1/brainmask.nii.gz',
  t1n2023: 'brainlesion_brats2023_gli/BraTS-GLI-00001-000/BraTS-GLI-00001-000-t1n.nii.gz',
} as const;
