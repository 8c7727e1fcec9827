// `amae synth --out DIR [--subjects N] [--labeled M] [--size S] [--seed K]`: writes the synthetic
// data set (lib/data/synth.ts), amae's built-in default that needs no download.

import path from 'node:path';
import { writeSynthDataset, type SynthOptions } from '../data/synth.js';
import { integer, parseCommandLine } from './args.js';
import { UsageError } from './errors.js';

export const SYNTH_USAGE = `synth --out DIR [--subjects N] [--labeled M] [--size S] [--seed K]
      writes a synthetic data set with no download: N subjects (default 20), the first M
      (default half) with infarct labels, S³ voxels (default 64), seed K (default 1); int16
      .nii.gz per contrast and DIR/dataset.json`;

const FILE_SYSTEM_ERRORS = new Set(['EACCES', 'EPERM', 'EEXIST', 'ENOENT', 'ENOTDIR', 'EISDIR', 'EROFS', 'ENOSPC', 'EDQUOT']);

interface SynthArgs extends SynthOptions {
  out: string;
}

function parse(args: string[]): SynthArgs {
  const options = {
    out: { type: 'string' },
    subjects: { type: 'string' },
    labeled: { type: 'string' },
    size: { type: 'string' },
    seed: { type: 'string' },
  } as const;
  const parsed = parseCommandLine(args, options, SYNTH_USAGE);
  const v = parsed.values;
  if (v.out === undefined || v.out === '') throw new UsageError(`--out DIR is required; usage: amae ${SYNTH_USAGE}`);
  const subjects = integer('subjects', v.subjects ?? '20', 1, 100000);
  const labeled = integer('labeled', v.labeled ?? String(Math.ceil(subjects / 2)), 0, subjects);
  // Below 16 voxels a head is a few blobs; above 256 one subject no longer fits comfortably in memory.
  const size = integer('size', v.size ?? '64', 16, 256);
  const seed = integer('seed', v.seed ?? '1', 0, 0xffffffff);
  return { out: v.out, subjects, labeled, size, seed };
}

export async function synth(args: string[]): Promise<void> {
  const { out, ...options } = parse(args);
  const start = performance.now();
  let dataset;
  try {
    dataset = await writeSynthDataset(out, options);
  } catch (e) {
    // The directory cannot be made or written: the user's to fix, not a bug.
    if (FILE_SYSTEM_ERRORS.has((e as NodeJS.ErrnoException).code ?? '')) {
      throw new UsageError(`cannot write to ${out} (${(e as Error).message})`);
    }
    throw e;
  }
  const seconds = ((performance.now() - start) / 1000).toFixed(1);
  const { training, validation, test, unlabeled } = dataset;
  process.stdout.write(
    `wrote ${options.subjects} subjects of ${options.size}³ to ${path.join(out, 'dataset.json')} in ${seconds} s: ` +
      `${training.length} training, ${validation.length} validation, ${test.length} test (labelled), ${unlabeled.length} unlabelled\n`,
  );
}
