// What `amae pretrain` and `amae finetune` share: the training flags, their reading into the
// run's options, and the run under a progress bar.

import type { Device } from '../device.js';
import { createProgress, type Progress } from '../train/progress.js';
import type { StepProgress, TrainingOptions } from '../train/run.js';
import { decimal, integer } from './args.js';

export const TRAINING_FLAGS = {
  data: { type: 'string' },
  out: { type: 'string' },
  epochs: { type: 'string' },
  'batch-size': { type: 'string' },
  lr: { type: 'string' },
  'min-lr': { type: 'string' },
  warmup: { type: 'string' },
  seed: { type: 'string' },
  device: { type: 'string' },
  'max-grad-norm': { type: 'string' },
  spacing: { type: 'string' },
  workers: { type: 'string' },
  resume: { type: 'boolean' },
} as const;

const MAX = Number.MAX_SAFE_INTEGER;

type Values = Record<string, string | boolean | undefined>;

/** Readers of one flag: an integer from min, a decimal. */
export function readers(v: Values) {
  return {
    int: (name: string, min: number) => (v[name] === undefined ? undefined : integer(name, v[name] as string, min, MAX)),
    num: (name: string) => (v[name] === undefined ? undefined : decimal(name, v[name] as string)),
  };
}

/** The options every run takes, from the flags above (data and out checked present by the caller). */
export function trainingArgs(v: Values): Omit<TrainingOptions<unknown>, 'onProgress'> {
  const { int, num } = readers(v);
  const spacing = num('spacing');
  return {
    data: v.data as string,
    out: v.out as string,
    epochs: int('epochs', 1),
    batchSize: int('batch-size', 1),
    lr: num('lr'),
    minLr: num('min-lr'),
    warmupEpochs: int('warmup', 0),
    seed: int('seed', 0),
    device: v.device as Device | undefined,
    maxGradNorm: num('max-grad-norm'),
    workers: int('workers', 1),
    ...(spacing !== undefined && { preprocess: { spacing } }),
    resume: (v.resume as boolean | undefined) ?? false,
  };
}

/** Runs `run` with a progress bar fed by its onProgress, and the seconds it took. */
export async function withProgress<P extends StepProgress, S>(
  label: string,
  run: (onProgress: (p: P) => void) => Promise<S>,
): Promise<{ summary: S; seconds: string }> {
  let progress: Progress | undefined;
  const start = performance.now();
  try {
    const summary = await run((p) => {
      progress ??= createProgress(p.totalSteps, label);
      progress.update(p.step, { epoch: `${p.epoch + 1}/${p.epochs}`, loss: p.loss, lr: p.lr });
    });
    return { summary, seconds: ((performance.now() - start) / 1000).toFixed(1) };
  } finally {
    progress?.stop();
  }
}
