// `amae finetune --data D --model unetr|adaptive-unetr|unet --out DIR [...]`: the fine-tuning run
// (lib/train/finetune.ts) with a progress bar, then where its files went.

import type { SegmentationKind, SegmentationPreset } from '../models/segmentation.js';
import type { FinetuneOptions } from '../train/finetune.js';
import { parseCommandLine } from './args.js';
import { UsageError } from './errors.js';
import { TRAINING_FLAGS, readers, trainingArgs, withProgress } from './training.js';

export const FINETUNE_USAGE = `finetune --data DATASET --model unetr|adaptive-unetr|unet --out DIR [--preset tiny|demo|paper]
      [--init CKPT] [--epochs N] [--batch-size B] [--lr LR] [--min-lr LR] [--warmup EPOCHS]
      [--slots ADC,TRACE,T2] [--modality-dropout Q] [--val-every EPOCHS] [--seed K]
      [--device cpu|cuda] [--max-grad-norm G] [--spacing MM] [--workers W] [--resume]
      fine-tunes a segmentation model on the labelled training cases of DATASET with the soft Dice
      loss; --init takes an AMAE checkpoint (transferred) or one of the same model. Validates by
      sliding windows every --val-every epochs (the validation split, else the last fifth of the
      training cases); DIR gets metrics.jsonl, checkpoints, best.safetensors, model.safetensors.
      Defaults per preset (demo: 60 epochs, batch 2, lr 2e-3; paper: 200, 2, 1e-4)`;

const SYNOPSIS = 'finetune --data DATASET --model unetr|adaptive-unetr|unet --out DIR [options] (amae finetune --help lists them)';
function parse(args: string[]): FinetuneOptions {
  const options = {
    ...TRAINING_FLAGS,
    model: { type: 'string' },
    preset: { type: 'string' },
    init: { type: 'string' },
    slots: { type: 'string' },
    'modality-dropout': { type: 'string' },
    'val-every': { type: 'string' },
  } as const;
  const v = parseCommandLine(args, options, SYNOPSIS).values;
  for (const required of ['data', 'model', 'out'] as const) {
    if (!v[required]) throw new UsageError(`--${required} is required; usage: amae ${SYNOPSIS}`);
  }
  const { int, num } = readers(v);
  return {
    ...trainingArgs(v),
    model: v.model as SegmentationKind,
    preset: (v.preset ?? 'demo') as SegmentationPreset,
    ...(v.init && { init: v.init }),
    ...(v.slots && { slots: v.slots.split(',').map((s) => s.trim()) }),
    modalityDropout: num('modality-dropout'),
    valEvery: int('val-every', 1),
  };
}

export async function finetune(args: string[]): Promise<void> {
  const options = parse(args);
  // Imported here: it loads the native addon, which the other commands do without.
  const { finetune: run } = await import('../train/finetune.js');
  const { summary, seconds } = await withProgress('finetune', (onProgress) => run({ ...options, onProgress }));
  const from = summary.resumedFrom !== undefined ? ` (resumed from step ${summary.resumedFrom})` : '';
  const best = Number.isNaN(summary.bestDice) ? 'no validation cases: best = last' : `best validation Dice ${summary.bestDice.toFixed(4)} after epoch ${summary.bestEpoch}`;
  process.stdout.write(
    `fine-tuned ${summary.epochs} epochs, ${summary.steps} steps${from} in ${seconds} s; final loss ${summary.finalLoss.toFixed(4)}; ${best}\n` +
      `best    ${summary.files.best}\nfinal   ${summary.files.final}\nmetrics ${summary.files.metrics}\n`,
  );
}
