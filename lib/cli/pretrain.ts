// `amae pretrain --data D --preset P --out DIR [...]`: the pre-training run (lib/train/pretrain.ts)
// with a progress bar, then where its files went.

import type { AmaePreset } from '../models/amae.js';
import { createProgress, type Progress } from '../train/progress.js';
import type { PretrainOptions } from '../train/pretrain.js';
import { decimal, integer, parseCommandLine } from './args.js';
import { UsageError } from './errors.js';

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

const MAX = Number.MAX_SAFE_INTEGER;

function parse(args: string[]): PretrainOptions {
  const options = {
    data: { type: 'string' },
    preset: { type: 'string' },
    out: { type: 'string' },
    epochs: { type: 'string' },
    'batch-size': { type: 'string' },
    lr: { type: 'string' },
    'min-lr': { type: 'string' },
    warmup: { type: 'string' },
    'mask-ratio': { type: 'string' },
    seed: { type: 'string' },
    device: { type: 'string' },
    'checkpoint-every': { type: 'string' },
    'max-grad-norm': { type: 'string' },
    spacing: { type: 'string' },
    workers: { type: 'string' },
    resume: { type: 'boolean' },
  } as const;
  const v = parseCommandLine(args, options, SYNOPSIS).values;
  for (const required of ['data', 'preset', 'out'] as const) {
    if (!v[required]) throw new UsageError(`--${required} is required; usage: amae ${SYNOPSIS}`);
  }
  const int = (name: keyof typeof options, min: number) => (v[name] === undefined ? undefined : integer(name, v[name] as string, min, MAX));
  const num = (name: keyof typeof options) => (v[name] === undefined ? undefined : decimal(name, v[name] as string));
  const spacing = num('spacing');
  return {
    data: v.data!,
    model: v.preset as AmaePreset,
    out: v.out!,
    epochs: int('epochs', 1),
    batchSize: int('batch-size', 1),
    lr: num('lr'),
    minLr: num('min-lr'),
    warmupEpochs: int('warmup', 0),
    maskRatio: num('mask-ratio'),
    seed: int('seed', 0),
    device: v.device as PretrainOptions['device'],
    checkpointEvery: int('checkpoint-every', 1),
    maxGradNorm: num('max-grad-norm'),
    workers: int('workers', 1),
    ...(spacing !== undefined && { preprocess: { spacing } }),
    resume: v.resume ?? false,
  };
}

export async function pretrain(args: string[]): Promise<void> {
  const options = parse(args);
  // Imported here, not above: it loads the native addon, which the other commands do without.
  const { pretrain: run } = await import('../train/pretrain.js');
  let progress: Progress | undefined;
  const start = performance.now();
  let summary;
  try {
    summary = await run({
      ...options,
      onProgress: (p) => {
        progress ??= createProgress(p.totalSteps, 'pretrain');
        progress.update(p.step, { epoch: `${p.epoch + 1}/${p.epochs}`, loss: p.loss, lr: p.lr });
      },
    });
  } finally {
    progress?.stop();
  }
  const seconds = ((performance.now() - start) / 1000).toFixed(1);
  const from = summary.resumedFrom !== undefined ? ` (resumed from step ${summary.resumedFrom})` : '';
  process.stdout.write(
    `pre-trained ${summary.epochs} epochs, ${summary.steps} steps${from} in ${seconds} s; final loss ${summary.finalLoss.toFixed(4)}\n` +
      `weights ${summary.files.weights}\nmetrics ${summary.files.metrics}\nfigure  ${summary.files.figure}\n`,
  );
}
