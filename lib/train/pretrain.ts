// The pre-training run (spec §4): AMAE on every non-test case of a data set — training,
// validation and unlabelled alike, each with every contrast it has — for a number of epochs of
// seeded, augmented crops, AdamW under a warm-up + cosine schedule. It logs every step to
// metrics.jsonl, checkpoints so that a killed run resumes to the very same numbers, and ends with
// the weights (amae.safetensors) and the paper's Figure 2 (recon.png).
//
// Exact resume needs no saved generator state: every random draw is a function of the seed and
// a place in the run — the model's initialisation of (seed), an epoch's order and its samples of
// (seed, epoch, position) in the loader, a step's masks of (seed, 'mask', step) — so the seed and
// the step in last.json are the RNG state that spec §6 asks a run to keep beside its weights.

import { createHash } from 'node:crypto';
import { centredCropStart, extractCrop } from '../data/augment.js';
import { openDataset, type Dataset } from '../data/dataset.js';
import { createLoader } from '../data/loader.js';
import { encodePng } from '../data/png.js';
import { prepareSubject, type PreprocessOptions } from '../data/preprocess.js';
import { loadSubject, type SubjectSpec } from '../data/subject.js';
import type { Shape3 } from '../data/volume.js';
import { reconstructionFigure } from '../eval/figures.js';
import { Amae, createAmae, resolveConfig, type AmaeConfig, type AmaePreset, type ResolvedAmaeConfig } from '../models/amae.js';
import type { Device } from '../device.js';
import { writeFileAtomic } from '../util/atomic.js';
import { Random } from '../util/random.js';
import { TrainingError } from './errors.js';
import { LAST_FILE, METRICS_FILE, RunFolder, type StepProgress, type TrainingOptions, type TrainingRecord, checkDevice, integerOption as integer, realOption as real, trainingSettings } from './run.js';
import { lrAt } from './schedule.js';

export interface PretrainOptions extends TrainingOptions<PretrainProgress> {
  /** A preset name (spec §7) or a full configuration. */
  model: AmaePreset | AmaeConfig;
  /** Mask ratio r; default 0.7. */
  maskRatio?: number;
  /** Checkpoint every this many epochs (and always after the last); default 1. */
  checkpointEvery?: number;
}

export interface PretrainProgress extends StepProgress {
  gradNorm: number;
  samplesPerS: number;
}

/** One line of metrics.jsonl. */
export interface PretrainMetrics {
  /** Steps done after this one (1-based): the step count a checkpoint records. */
  step: number;
  /** 0-based. */
  epoch: number;
  loss: number;
  lr: number;
  /** The global gradient norm before clipping. */
  grad_norm: number;
  /** Subjects per second of wall time since the previous step ended (data loading included). */
  samples_per_s: number;
  /** False when the loss or a gradient was not finite and the step was skipped. */
  updated: boolean;
}

export interface PretrainSummary {
  /** Steps done, all sessions of the run together. */
  steps: number;
  epochs: number;
  /** The last step's loss. */
  finalLoss: number;
  /** The step the run was resumed from; absent for a fresh run. */
  resumedFrom?: number;
  files: { weights: string; metrics: string; checkpoint: string; figure: string };
}

/** Everything that decides the run's numbers: recorded in last.json, compared on resume. */
interface RunRecord extends TrainingRecord {
  config: ResolvedAmaeConfig;
  data: { name: string; cases: number; digest: string };
  maskRatio: number;
}

/**
 * Each preset's training defaults. The paper's (500 epochs, batch 4, lr 1e-5 scaled with the batch,
 * 5 % warm-up) are for ViT-B on 45 k studies; the small models on a small data set barely move at
 * that rate in a few epochs, so their presets train at 1e-3.
 */
export const PRETRAIN_DEFAULTS: Record<AmaePreset, { epochs: number; batchSize: number; lr: (batch: number) => number; warmupEpochs: (epochs: number) => number }> = {
  tiny: { epochs: 20, batchSize: 2, lr: () => 1e-3, warmupEpochs: () => 1 },
  demo: { epochs: 40, batchSize: 4, lr: () => 1e-3, warmupEpochs: (e) => Math.max(1, Math.floor(e / 20)) },
  paper: { epochs: 500, batchSize: 4, lr: (b) => (1e-5 * b) / 4, warmupEpochs: (e) => Math.floor(e / 20) },
};

export const PRETRAIN_FILES = { weights: 'amae.safetensors', metrics: METRICS_FILE, checkpoint: LAST_FILE, figure: 'recon.png' } as const;

// spec §4's training-time augmentation without the lesion-centred crops, which are for fine-tuning.
const AUGMENT = { crops: 'random', flips: true, intensity: true } as const;

export async function pretrain(options: PretrainOptions): Promise<PretrainSummary> {
  const device = checkDevice(options.device ?? 'cpu');
  const dataset = typeof options.data === 'string' ? await openDataset(options.data) : options.data;
  // Test cases are held out of everything that learns, pre-training included.
  const cases = [...dataset.training, ...dataset.validation, ...dataset.unlabeled];
  if (cases.length === 0) throw new TrainingError(`${dataset.source}: no training, validation or unlabeled case to pre-train on`);
  const { run, checkpointEvery } = settings(options, dataset, cases);
  const folder = new RunFolder<RunRecord>(options.out);
  const file = (name: string) => folder.file(name);

  const batchesPerEpoch = Math.ceil(cases.length / run.batchSize);
  const totalSteps = run.epochs * batchesPerEpoch;
  const schedule = { lr: run.lr, minLr: run.minLr, warmupSteps: run.warmupEpochs * batchesPerEpoch, totalSteps };

  let model: Amae;
  let step = 0;
  let epoch = 0;
  let finalLoss = NaN;
  let resumedFrom: number | undefined;
  if (options.resume) {
    const { last, lastLine } = await folder.resume(run);
    model = await Amae.load(file(last.weights), { device });
    await model.loadOptimizer(file(last.optimizer));
    ({ step, epoch } = last);
    resumedFrom = step;
    finalLoss = (lastLine?.loss as number | undefined) ?? NaN;
  } else {
    await folder.create();
    model = createAmae(run.config, { seed: run.seed, device });
  }

  if (epoch < run.epochs) {
    // Picks up at the epoch after the checkpoint with the batches an uninterrupted run would get.
    const loader = createLoader(cases, {
      roi: [...run.config.size],
      batchSize: run.batchSize,
      shuffle: true,
      seed: run.seed,
      epochs: run.epochs,
      startEpoch: epoch,
      augment: AUGMENT,
      preprocess: run.preprocess,
      load: { where: dataset.source },
      workers: options.workers,
    });
    try {
      let before = performance.now();
      for await (const batch of loader) {
        const lr = lrAt(step, schedule);
        // A stream per step, not one running through the run: a resumed run draws the masks the
        // uninterrupted one would have without any generator state to restore.
        const packed = model.pack(batch.subjects, { maskRatio: run.maskRatio, random: new Random(run.seed, 'mask', step) });
        // AdamW with spec §4's β and weight decay (the native defaults); the parameters exempt from
        // decay (biases, norms, embeddings, mask token) are flagged by the model itself.
        const result = await model.trainStep(packed, { lr, maxGradNorm: run.maxGradNorm });
        step++;
        const now = performance.now();
        const samplesPerS = batch.subjects.length / ((now - before) / 1000);
        before = now;
        const line: PretrainMetrics = {
          step,
          epoch: batch.epoch,
          loss: result.loss,
          lr,
          grad_norm: result.gradNorm,
          samples_per_s: Math.round(samplesPerS * 1000) / 1000,
          updated: result.updated,
        };
        await folder.log(line);
        finalLoss = result.loss;
        options.onProgress?.({ step, totalSteps, epoch: batch.epoch, epochs: run.epochs, loss: result.loss, lr, gradNorm: result.gradNorm, samplesPerS });
        if (batch.index === batchesPerEpoch - 1) {
          epoch = batch.epoch + 1;
          if (epoch % checkpointEvery === 0 || epoch === run.epochs) await folder.checkpoint(model, run, step, epoch);
        }
      }
    } finally {
      await folder.close();
    }
  }

  await model.save(file(PRETRAIN_FILES.weights));
  await writeFigure(model, dataset, run, file(PRETRAIN_FILES.figure));
  return {
    steps: step,
    epochs: run.epochs,
    finalLoss,
    ...(resumedFrom !== undefined && { resumedFrom }),
    files: {
      weights: file(PRETRAIN_FILES.weights),
      metrics: file(PRETRAIN_FILES.metrics),
      checkpoint: file(PRETRAIN_FILES.checkpoint),
      figure: file(PRETRAIN_FILES.figure),
    },
  };
}

/** The run's settings with their defaults, checked; how often to checkpoint is apart from the
 * record, as it decides no number. */
function settings(o: PretrainOptions, dataset: Dataset, cases: SubjectSpec[]): { run: RunRecord; checkpointEvery: number } {
  let config: ResolvedAmaeConfig;
  try {
    config = resolveConfig(o.model);
  } catch (e) {
    throw new TrainingError((e as Error).message);
  }
  // A preset brings its own training defaults; a configuration object gets the paper's.
  const d = typeof o.model === 'string' && Object.hasOwn(PRETRAIN_DEFAULTS, o.model) ? PRETRAIN_DEFAULTS[o.model] : PRETRAIN_DEFAULTS.paper;
  const common = trainingSettings(o, d, config);
  const maskRatio = real('maskRatio', o.maskRatio ?? 0.7, (v) => v > 0 && v < 1, 'above 0 and below 1 (r = 0 masks nothing and has no loss)');
  const checkpointEvery = integer('checkpointEvery', o.checkpointEvery ?? 1, 1);
  // Which cases with which contrasts, not where the files are: a data set moved elsewhere is the
  // same data.
  const digest = createHash('sha256')
    .update(JSON.stringify(cases.map((c) => [c.id, Object.keys(c.images)])))
    .digest('hex')
    .slice(0, 16);
  const data = { name: dataset.name, cases: cases.length, digest };
  return { run: { config, data, ...common, maskRatio }, checkpointEvery };
}

/**
 * The paper's Figure 2 for one subject — the first validation case, else the first training one
 * (else the first unlabelled): its model-size crop around the centre of the prepared (head-
 * cropped) volume, masked with the run's ratio and seed, every contrast a column.
 */
async function writeFigure(model: Amae, dataset: Dataset, run: RunRecord, file: string): Promise<void> {
  const spec = dataset.validation[0] ?? dataset.training[0] ?? dataset.unlabeled[0];
  const prepared = prepareSubject(await loadSubject(spec, { where: dataset.source }), run.preprocess);
  const size: Shape3 = [...run.config.size];
  const start = centredCropStart(prepared.shape, size, prepared.shape.map((n) => Math.floor(n / 2)) as Shape3);
  const contrasts = prepared.contrasts.map((c) => ({ id: c.id, data: extractCrop(c.data, prepared.shape, start, size, [false, false, false]) }));
  const columns = await model.reconstruct({ contrasts }, { maskRatio: run.maskRatio, seed: run.seed });
  const image = reconstructionFigure(columns, size, run.config.patch);
  await writeFileAtomic(file, encodePng(image.pixels, image.width, image.height));
}
