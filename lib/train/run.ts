// The run folder every training loop (pre-training, fine-tuning) writes: metrics.jsonl (one JSON
// line per step), checkpoints (weights + AdamW moments per step), last.json pointing at the newest
// complete one, atomically replaced, and exact resume: a resumed run checks that every setting that
// decides its numbers is the checkpoint's, cuts the log back to the checkpoint's step, and reloads
// weights and moments. Every random draw of a run is a function of its seed and a place in it, so
// the seed and the step are all the generator state to keep.
import { access, mkdir, open, readdir, readFile, rm, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import type { Dataset } from '../data/dataset.js';
import type { PreprocessOptions } from '../data/preprocess.js';
import { cudaUnavailableReason, type Device } from '../device.js';
import type { Model } from '../models/model.js';
import { writeFileAtomic } from '../util/atomic.js';
import { TrainingError } from './errors.js';

export const METRICS_FILE = 'metrics.jsonl';
export const LAST_FILE = 'last.json';

/** last.json: the newest consistent checkpoint, with the run's record (what decides its numbers). */
export type LastCheckpoint<R> = R & {
  step: number;
  /** Epochs done. */
  epoch: number;
  /** File names in the run's folder. */
  weights: string;
  optimizer: string;
  /** What the loop keeps beside its step (fine-tuning: the best validation Dice so far). */
  state?: Record<string, unknown>;
};

// Names a run writes and may leave behind when killed: checkpoints (any step) and the temporary
// files of atomic writes. Older ones are removed once a newer checkpoint is in place.
const STALE = /^(checkpoint-\d+(\.optim)?\.safetensors$|.+\.partial-)/;

export class RunFolder<R extends object> {
  readonly out: string;
  private metrics?: FileHandle;

  constructor(out: string) {
    this.out = out;
  }

  file(name: string): string {
    return path.join(this.out, name);
  }

  /** A fresh run: refuses a folder that holds one, creates the folder and an empty log. */
  async create(): Promise<void> {
    if (await exists(this.file(LAST_FILE))) throw new TrainingError(`${this.out} already holds a run (${LAST_FILE}): resume it, or choose another folder`);
    await mkdir(this.out, { recursive: true });
    await writeFileAtomic(this.file(METRICS_FILE), new Uint8Array(0));
  }

  /** A resumed run: the checkpoint (its record equal to `record`, else the first difference is the
   * error), the log cut back to its step, and the last kept log line. */
  async resume(record: R): Promise<{ last: LastCheckpoint<R>; lastLine?: Record<string, unknown> }> {
    const last = await readLast<R>(this.file(LAST_FILE));
    checkSameRun(this.out, last as unknown as Record<string, unknown>, record);
    const lastLine = await truncateMetrics(this.file(METRICS_FILE), last.step);
    return { last, lastLine };
  }

  /** Appends one line to metrics.jsonl. */
  async log(line: object): Promise<void> {
    this.metrics ??= await open(this.file(METRICS_FILE), 'a');
    await this.metrics.write(`${JSON.stringify(line)}\n`);
  }

  /** Weights and moments of `step`, then last.json (atomically, last: until it is in place the
   * previous checkpoint, whose files are still there, is the run's), then older files go. */
  async checkpoint(model: Model, record: R, step: number, epoch: number, state?: Record<string, unknown>): Promise<void> {
    // The log up to the checkpoint reaches the disk before the checkpoint does.
    await this.metrics?.sync();
    const weights = `checkpoint-${step}.safetensors`;
    const optimizer = `checkpoint-${step}.optim.safetensors`;
    await model.save(this.file(weights));
    await model.saveOptimizer(this.file(optimizer));
    const last = { step, epoch, weights, optimizer, ...(state && { state }), ...record } as unknown as LastCheckpoint<R>;
    await writeFileAtomic(this.file(LAST_FILE), new TextEncoder().encode(`${JSON.stringify(last, null, 2)}\n`));
    for (const name of await readdir(this.out)) {
      if (STALE.test(name) && name !== weights && name !== optimizer) await rm(this.file(name), { force: true });
    }
  }

  async close(): Promise<void> {
    await this.metrics?.close();
    this.metrics = undefined;
  }
}

/** What every run reports after each step (runs add their own fields). */
export interface StepProgress {
  /** Steps done, of totalSteps. */
  step: number;
  totalSteps: number;
  /** The 0-based epoch of the step, of `epochs`. */
  epoch: number;
  epochs: number;
  loss: number;
  lr: number;
}

/** What every training run takes (pre-training, fine-tuning); each adds its own. */
export interface TrainingOptions<Progress> {
  /** A data set (a dataset.json, its folder, an ISLES'22 BIDS folder) or one already opened. */
  data: string | Dataset;
  /** The run's folder (see RunFolder). */
  out: string;
  /** Defaults: the preset's (its *_DEFAULTS table). */
  epochs?: number;
  /** Subjects per step. */
  batchSize?: number;
  /** Peak learning rate of the linear warm-up + cosine schedule. */
  lr?: number;
  /** Epochs of linear warm-up. */
  warmupEpochs?: number;
  /** Where the cosine ends; default 0. */
  minLr?: number;
  /** Seeds the initialisation, the data order and the augmentation; default 0. */
  seed?: number;
  /** Where the model trains: 'cpu' (the default) or 'cuda' (a TrainingError with cudaInfo()'s
   * reason where CUDA cannot run). Not part of the run's record: a run may resume on another
   * device (its numbers then follow that device's arithmetic). */
  device?: Device;
  /** Continue the run in `out` from its last checkpoint; every option that decides the run's
   * numbers must be as it was. */
  resume?: boolean;
  /** Clip the global gradient norm to this; default 0, no clipping. */
  maxGradNorm?: number;
  /** Loader worker threads (default: the loader's, one per core up to 8). */
  workers?: number;
  /**
   * Preprocessing (spec §5). Default spacing: null, each subject keeps its reference contrast's
   * voxel size. The synthetic data (`amae synth`) holds a whole head in 32–64 voxels of 3–8 mm,
   * the field of view the tiny and demo models are sized for; resampled to 1 mm it would be 200+
   * voxels a side, of which a model crop sees a sliver. For real scans pass a spacing (e.g. 1.5).
   * The patch size and the model's size as the smallest shape are always the model's.
   */
  preprocess?: Pick<PreprocessOptions, 'spacing' | 'clip' | 'maxShape'>;
  /** Called after every step. */
  onProgress?: (progress: Progress) => void;
}

/** A preset's defaults for the schedule (lr and warm-up may depend on the batch and the epochs). */
export interface ScheduleDefaults {
  epochs: number;
  batchSize: number;
  lr: (batch: number) => number;
  warmupEpochs: (epochs: number) => number;
}

/** The schedule, seed and preprocessing every run records, checked, defaults applied. */
export interface TrainingRecord {
  preprocess: PreprocessOptions;
  epochs: number;
  batchSize: number;
  lr: number;
  warmupEpochs: number;
  minLr: number;
  maxGradNorm: number;
  seed: number;
}

export function trainingSettings<P>(o: TrainingOptions<P>, d: ScheduleDefaults, model: { patch: number; size: readonly number[] }): TrainingRecord {
  const epochs = integerOption('epochs', o.epochs ?? d.epochs, 1);
  const batchSize = integerOption('batchSize', o.batchSize ?? d.batchSize, 1);
  const lr = realOption('lr', o.lr ?? d.lr(batchSize), (v) => v > 0 && Number.isFinite(v), 'a positive number');
  const warmupEpochs = integerOption('warmupEpochs', o.warmupEpochs ?? Math.min(epochs, d.warmupEpochs(epochs)), 0);
  if (warmupEpochs > epochs) throw new TrainingError(`warmupEpochs ${warmupEpochs} exceeds epochs ${epochs}`);
  const minLr = realOption('minLr', o.minLr ?? 0, (v) => v >= 0 && v <= lr, `from 0 to lr (${lr})`);
  const maxGradNorm = realOption('maxGradNorm', o.maxGradNorm ?? 0, (v) => v >= 0 && Number.isFinite(v), '≥ 0 (0: no clipping)');
  const seed = integerOption('seed', o.seed ?? 0, 0);
  if (o.workers !== undefined) integerOption('workers', o.workers, 1);
  const { spacing = null, clip, maxShape } = o.preprocess ?? {};
  // Checked here: in the loader's workers a bad spacing would fail subject by subject.
  const spacings = spacing === null ? [] : typeof spacing === 'number' ? [spacing] : spacing;
  if (!spacings.every((v) => v > 0 && Number.isFinite(v))) throw new TrainingError(`preprocess.spacing ${JSON.stringify(spacing)} must be positive (mm) or null`);
  const preprocess: PreprocessOptions = { spacing, ...(clip && { clip }), ...(maxShape && { maxShape }), patchSize: model.patch, minShape: [...model.size] as [number, number, number] };
  return { preprocess, epochs, batchSize, lr, warmupEpochs, minLr, maxGradNorm, seed };
}

/** 'cpu', or 'cuda' where CUDA can run: checked before anything is read or written. */
export function checkDevice(device: string): Device {
  if (device === 'cpu') return device;
  if (device !== 'cuda') throw new TrainingError(`device '${device}' must be 'cpu' or 'cuda'`);
  const reason = cudaUnavailableReason();
  if (reason !== null) throw new TrainingError(`device 'cuda': ${reason} (use device 'cpu')`);
  return device;
}

/** An integer option ≥ min, else a TrainingError naming it. */
export function integerOption(name: string, value: number, min: number): number {
  if (!(Number.isSafeInteger(value) && value >= min)) throw new TrainingError(`${name} ${value} must be an integer ≥ ${min}`);
  return value;
}

/** A number option passing `ok`, else a TrainingError naming it and saying what it must be. */
export function realOption(name: string, value: number, ok: (v: number) => boolean, what: string): number {
  if (!(typeof value === 'number' && ok(value))) throw new TrainingError(`${name} ${value} must be ${what}`);
  return value;
}

async function readLast<R>(file: string): Promise<LastCheckpoint<R>> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new TrainingError(`nothing to resume: ${file} does not exist (start the run without resume)`);
    throw e;
  }
  try {
    return JSON.parse(text) as LastCheckpoint<R>;
  } catch (e) {
    throw new TrainingError(`${file} is not valid JSON (${(e as Error).message})`);
  }
}

/** Refuses a resume whose settings would not continue the checkpoint's run, naming the first
 * setting that differs. */
function checkSameRun<R extends object>(out: string, last: Record<string, unknown>, run: R): void {
  const diff = (a: unknown, b: unknown, at: string): string | null => {
    if (isRecord(a) && isRecord(b)) {
      for (const key of new Set([...Object.keys(a), ...Object.keys(b)])) {
        const d = diff(a[key], b[key], `${at}.${key}`);
        if (d) return d;
      }
      return null;
    }
    return JSON.stringify(a) === JSON.stringify(b) ? null : `${at} is ${JSON.stringify(b)} here but ${JSON.stringify(a)} in the checkpoint`;
  };
  for (const key of Object.keys(run) as (keyof R & string)[]) {
    const d = diff(last[key], (run as Record<string, unknown>)[key], key);
    if (d) throw new TrainingError(`cannot resume the run in ${out}: ${d}; resume with the run's own options, or start a new run in another folder`);
  }
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Cuts metrics.jsonl back to the steps the checkpoint holds (a killed run may have logged steps
 * after it, which the resumed run logs again) and returns the last kept line. A line cut short by
 * the kill ends the log.
 */
async function truncateMetrics(file: string, step: number): Promise<Record<string, unknown> | undefined> {
  const text = await readFile(file, 'utf8').catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT') return '';
    throw e;
  });
  const kept: string[] = [];
  let last: Record<string, unknown> | undefined;
  for (const line of text.split('\n')) {
    let record: Record<string, unknown>;
    try {
      record = JSON.parse(line);
    } catch {
      break;
    }
    if ((record.step as number) > step) break;
    kept.push(line);
    last = record;
  }
  await writeFileAtomic(file, new TextEncoder().encode(kept.map((l) => `${l}\n`).join('')));
  return last;
}

export async function exists(file: string): Promise<boolean> {
  return access(file).then(
    () => true,
    (e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOENT') return false;
      throw e;
    },
  );
}
