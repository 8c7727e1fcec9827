// `amae pretrain --data D --preset P --out DIR [...]`: the pre-training run (lib/train/pretrain.ts)
// with a progress bar, then where its files went.

import type { AmaePreset } from '../models/amae.js';
import type { PretrainOptions } from '../train/pretrain.js';
import { parseCommandLine } from './args.js';
import { UsageError } from './errors.js';
import { TRAINING_FLAGS, readers, trainingArgs, withProgress } from './training.js';

export const PRETRAIN_USAGE = `pretrain --data DATASET --preset tiny|demo|paper --out DIR [--epochs N] [--batch-size B]
      [--lr LR] [--min-lr LR] [--warmup EPOCHS] [--mask-ratio R] [--seed K] [--device cpu|cuda]
      [--checkpoint-every EPOCHS] [--max-grad-norm G] [--spacing MM] [--workers W] [--resume]
      pre-trains AMAE on the training, validation and unlabeled cases of DATASET (a dataset.json
      or its folder); DIR gets metrics.jsonl, checkpoints, amae.safetensors and recon.png.
      Defaults per preset: paper the paper's (500 epochs, batch 4, lr 1e-5 × B/4, warm-up 5 %),
      tiny 20 epochs, batch 2, lr 1e-3; demo 40, 4, 1e-3; mask ratio 0.7; seed 0; a checkpoint
      every epoch; the data's own voxel size. --resume
      continues the run in DIR from its last checkpoint, given the same options`;

// What a usage error ends with: the full usage is too long for its one line.
const SYNOPSIS = 'pretrain --data DATASET --preset tiny|demo|paper --out DIR [options] (amae pretrain --help lists them)';

function parse(args: string[]): PretrainOptions {
  const options = {
    ...TRAINING_FLAGS,
    preset: { type: 'string' },
    'mask-ratio': { type: 'string' },
    'checkpoint-every': { type: 'string' },
  } as const;
  const v = parseCommandLine(args, options, SYNOPSIS).values;
  for (const required of ['data', 'preset', 'out'] as const) {
    if (!v[required]) throw new UsageError(`--${required} is required; usage: amae ${SYNOPSIS}`);
  }
  const { int, num } = readers(v);
  return { ...trainingArgs(v), model: v.preset as AmaePreset, maskRatio: num('mask-ratio'), checkpointEvery: int('checkpoint-every', 1) };
}

export async function pretrain(args: string[]): Promise<void> {
  const options = parse(args);
  // Imported here, not above: it loads the native addon, which the other commands do without.
  const { pretrain: run } = await import('../train/pretrain.js');
  const { summary, seconds } = await withProgress('pretrain', (onProgress) => run({ ...options, onProgress }));
  const from = summary.resumedFrom !== undefined ? ` (resumed from step ${summary.resumedFrom})` : '';
  process.stdout.write(
    `pre-trained ${summary.epochs} epochs, ${summary.steps} steps${from} in ${seconds} s; final loss ${summary.finalLoss.toFixed(4)}\n` +
      `weights ${summary.files.weights}\nmetrics ${summary.files.metrics}\nfigure  ${summary.files.figure}\n`,
  );
}
